"""Run many training runs at once: several on every visible GPU.

    python combinations.py --output output --script parallel.sh --runner parallel
    ./parallel.sh        # which is: python sweep.py --runs-per-gpu 3 < (the train.py lines)

Reads the train.py commands on standard input, one a line. Each run's output goes to
`<history stem>.log`.
Like experiments.sh: finished runs are skipped (train.py does that), interrupted runs resume, a
failed run does not stop the others, and the failed ones are named at the end (exit code 1).
Small networks leave most of a modern GPU idle, so sharing it between runs raises throughput
(docs/benchmarks.md has the measurements behind the default of 3).
"""

import argparse
import os
import shlex
import subprocess
import sys
import time


def visible_gpus():
    """The GPUs to spread runs over: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [gpu for gpu in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if gpu.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return [str(index) for index, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU")]


def run_environment(gpu, runs_per_gpu):
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    if gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = gpu
        # JAX takes 75% of the GPU and TensorFlow all of it by default: share it between runs.
        environment["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / runs_per_gpu:.2f}"
        environment["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return environment


def log_path(command):
    """`<history stem>.log` for a train.py command, so each run's output lies beside its results."""
    words = shlex.split(command)
    for index, word in enumerate(words):
        if word in ("--history", "-i") and index + 1 < len(words):
            history = words[index + 1]
        elif word.startswith("--history="):
            history = word.split("=", 1)[1]
        else:
            continue
        return os.path.splitext(history)[0] + ".log"
    raise ValueError(f"no --history in {command!r}")


def start(command, path, environment):
    """Start one run with its output going to the log at `path`; OSError if it cannot start."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    log = open(path, "a")
    try:
        return subprocess.Popen(shlex.split(command), stdout=log, stderr=subprocess.STDOUT, env=environment), log
    except OSError as error:
        print(f"could not start: {error}", file=log)
        log.close()
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] + " Reads train.py commands, one a line, on standard input."
    )
    parser.add_argument("--runs-per-gpu", type=int, default=3)
    args = parser.parse_args(argv)
    if args.runs_per_gpu < 1:
        parser.error("--runs-per-gpu must be at least 1")
    if sys.stdin.isatty():
        parser.error("give the train.py commands on standard input: combinations.py --runner parallel writes a script that does")
    commands = [line.strip() for line in sys.stdin if line.strip() and not line.startswith("#")]
    try:
        logs = [log_path(command) for command in commands]
    except ValueError as error:
        print(f"error: {error}; every line must be a train.py command", file=sys.stderr)
        return 2

    gpus = visible_gpus()
    slots = [gpu for _ in range(args.runs_per_gpu) for gpu in gpus] or [None]  # no GPU: one at a time
    print(f"{len(commands)} runs, {len(slots)} at a time on {len(gpus) or 'no'} GPU(s)", flush=True)

    waiting = list(zip(commands, logs))
    running = {}  # slot index -> (process, command, log file)
    failed = []
    finished = 0
    try:
        while waiting or running:
            for slot, gpu in enumerate(slots):
                if slot not in running and waiting:
                    command, path = waiting.pop(0)
                    try:
                        process, log = start(command, path, run_environment(gpu, args.runs_per_gpu))
                    except OSError as error:  # a misspelt program, a log folder it cannot write
                        finished += 1
                        failed.append(f"{command}  (could not start: {error})")
                        print(f"[{finished}/{len(commands)}] FAILED to start: {command}", flush=True)
                        continue
                    running[slot] = (process, command, log)
                    where = "" if gpu is None else f" on GPU {gpu}"
                    print(f"started{where}: {command}  (log: {path})", flush=True)
            time.sleep(1)
            for slot, (process, command, log) in list(running.items()):
                if process.poll() is None:
                    continue
                log.close()
                del running[slot]
                finished += 1
                if process.returncode != 0:
                    failed.append(f"{command}  (see {log.name})")
                status = "done" if process.returncode == 0 else f"FAILED ({process.returncode})"
                print(f"[{finished}/{len(commands)}] {status}: {command}", flush=True)
    except KeyboardInterrupt:
        for process, _, _ in running.values():
            process.terminate()
        print("interrupted: run the same script again to resume", file=sys.stderr)
        return 130

    if failed:
        print("These runs failed:\n    " + "\n    ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
