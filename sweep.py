"""Run many training runs at once: several on every visible GPU, the longest first.

    python combinations.py --output output --script parallel.sh --runner parallel
    ./parallel.sh        # which is: python sweep.py --runs-per-gpu 3 < (the train.py lines)

Reads the train.py commands on standard input, one a line, and starts the ResNet's runs first,
then MiniGoogLeNet's, then MiniVGGNet's (in the given order within each model), so that a sweep
does not end with one long run alone on a GPU. Each run's output goes to `<history stem>.log`.
Like experiments.sh: finished runs are skipped (train.py does that), interrupted runs resume, a
failed run does not stop the others. The runs that failed, and those that another process is
training (locked), are named at the end, and the exit code is then 1.
Without a GPU, `--cpu-runs N` runs N at once, each held to its own share of the cores (one at a
time on all of them by default).
SIGTERM or Ctrl-C stops the sweep: no new run starts, the running ones get SIGTERM, save a
checkpoint and exit (or are killed after --grace-seconds), and the same script resumes them. So
does losing whoever reads the sweep's output (a pipe whose reader was killed): nobody would see
or record what it does next.
"""

import argparse
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time

from pyimagesearch import interruptions
from pyimagesearch.errors import EXIT_LOCKED, EXIT_STOPPED, UserError, positive_int, run_main, seconds
from pyimagesearch.runs import longest_first, read_runs
from pyimagesearch.timings import RUNS_PER_GPU

# Seconds between SIGTERM and SIGKILL when the sweep stops. train.py saves its checkpoint at the
# next step boundary (its write takes well under a second), later only while it is compiling its
# first step.
GRACE_SECONDS = 60


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] + " Reads train.py commands, one a line, on standard input.",
        allow_abbrev=False,
    )
    parser.add_argument("--runs-per-gpu", type=positive_int, default=RUNS_PER_GPU,
                        help="exactly N runs share each GPU (default %(default)s; one at a time without a GPU)", metavar="N")
    parser.add_argument("--cpu-runs", type=positive_int, default=1, metavar="N",
                        help="without a GPU, N runs at once, each on its own share of the cores (default "
                        "%(default)s: one at a time on all of them)")
    parser.add_argument("--grace-seconds", type=seconds, default=GRACE_SECONDS,
                        help="when stopped, how long runs get to save a checkpoint before they are "
                        "killed (default %(default)s)")
    return parser.parse_args(argv)


def visible_gpus():
    """The GPUs to spread runs over: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        # As CUDA reads it: indices or UUIDs, up to the first that is neither ("-1", Slurm's
        # "NoDevFiles" and "" hide every GPU).
        gpus = []
        for gpu in os.environ["CUDA_VISIBLE_DEVICES"].split(","):
            gpu = gpu.strip()
            if not ((gpu.isascii() and gpu.isdigit()) or gpu.startswith(("GPU-", "MIG-"))):
                break
            gpus.append(gpu)
        return gpus
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    # "GPU 0: NVIDIA H200 (UUID: GPU-...)", each GPU's MIG devices listed indented below it.
    return re.findall(r"^GPU (\d+):", listing.stdout, re.MULTILINE)


def core_shares(runs):
    """The machine's cores split into `runs` shares as even as they come; UserError if fewer cores
    or no way to hold a process to its cores (only Linux has one)."""
    if not hasattr(os, "sched_setaffinity"):
        raise UserError(f"--cpu-runs {runs} needs a way to hold each run to its cores, which only Linux "
                        "has; leave --cpu-runs out to run one at a time")
    cores = sorted(os.sched_getaffinity(0))
    if runs > len(cores):
        raise UserError(f"--cpu-runs {runs} needs as many cores, and this machine gives {len(cores)}; "
                        f"give --cpu-runs {len(cores)} or fewer")
    return [cores[share * len(cores) // runs:(share + 1) * len(cores) // runs] for share in range(runs)]


def run_environment(gpu, runs_per_gpu, cores=None):
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    if cores is not None:
        # Held to its cores (start), each library sizes its thread pools to them; OpenMP's, used
        # by oneDNN and PyTorch, by this.
        environment["OMP_NUM_THREADS"] = str(len(cores))
    if gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = gpu
        # JAX takes 75% of the GPU and TensorFlow all of it by default: share it between runs.
        environment["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / runs_per_gpu:.2f}"
        environment["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return environment


def open_log(path):
    """The log at `path`, opened to append; OSError saying what to do where it is no regular file
    (opening a FIFO would wait for a reader, deaf to SIGTERM)."""
    # Read and write: a FIFO opens at once.
    log = open(path, "a", opener=lambda name, flags: os.open(name, flags & ~os.O_WRONLY | os.O_RDWR, 0o666))
    if not stat.S_ISREG(os.fstat(log.fileno()).st_mode):
        log.close()
        raise OSError(f"{path} is not a regular file, where this run's log goes; move it away")
    return log


def start(command, path, environment, cores=None):
    """Start one run with its output going to the log at `path`, held to `cores` if given;
    OSError if it cannot start."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    log = open_log(path)
    try:
        # In a process group of its own, so that Ctrl-C at the terminal reaches the sweep alone,
        # which then asks the run to save a checkpoint (SIGTERM) instead of letting it die.
        process = subprocess.Popen(
            shlex.split(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=environment, process_group=0,
            preexec_fn=None if cores is None else lambda: os.sched_setaffinity(0, cores),
        )
    except OSError as error:
        print(f"could not start: {error}", file=log)
        log.close()
        raise
    return process, log


def outcome(returncode):
    if returncode == 0:
        return "done"
    if returncode == EXIT_LOCKED:
        return "locked by another process"
    if returncode == EXIT_STOPPED:
        return "stopped after a checkpoint (the same script resumes it)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-returncode}"
        return f"FAILED (killed by {name})"
    return f"FAILED ({returncode})"


# The longest line read: a train.py command takes a few hundred characters.
MAX_LINE = 1 << 16


def command_lines(stream):
    """The lines of `stream`, each read within MAX_LINE characters: input without line ends
    (/dev/zero) is refused rather than read into memory whole."""
    for line in iter(lambda: stream.readline(MAX_LINE + 1), ""):
        if len(line) > MAX_LINE:
            raise UserError(f"a line of standard input is longer than {MAX_LINE:,} characters; every line must "
                            "be a train.py command")
        yield line


def main(argv=None):
    args = parse_arguments(argv)
    if sys.stdin.isatty():
        raise UserError(
            "give the train.py commands on standard input: "
            "combinations.py --runner parallel writes a script that does"
        )
    waiting = longest_first(read_runs(command_lines(sys.stdin)))
    total = len(waiting)
    gpus = visible_gpus()
    if gpus:
        slots = [(gpu, None) for _ in range(args.runs_per_gpu) for gpu in gpus]
        where = f"{len(gpus)} GPU(s)"
    elif args.cpu_runs > 1:
        slots = [(None, cores) for cores in core_shares(args.cpu_runs)]
        where = f"no GPU, {min(len(cores) for _, cores in slots)} or more cores each"
    else:
        slots, where = [(None, None)], "no GPU"

    stop = []  # the signal that stops the sweep, once one has come
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stop.append(signum))

    def say(text):
        try:
            print(text, flush=True)
        except BrokenPipeError:  # the reader is gone: stop as on SIGTERM
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left to write goes nowhere
            stop.append(signal.SIGTERM)

    say(f"{total} run{'s' if total != 1 else ''}, {len(slots)} at a time on {where}, the longest first")

    running = {}  # slot index -> (process, command, log file)
    failed, locked = [], []
    ended = 0
    kill_at = None
    while running or (waiting and not stop):
        for slot, (gpu, cores) in enumerate(slots):
            if slot in running or not waiting or stop:
                continue
            command, path, _ = waiting.pop(0)
            try:
                process, log = start(command, path, run_environment(gpu, args.runs_per_gpu, cores), cores)
            except OSError as error:  # a misspelt program, a log folder it cannot write
                ended += 1
                failed.append(f"{command}  (could not start: {error})")
                say(f"[{ended}/{total}] FAILED to start: {command}")
                continue
            running[slot] = (process, command, log)
            where = f" on GPU {gpu}" if gpu is not None else f" on cores {','.join(map(str, cores))}" if cores else ""
            say(f"started{where}: {command}  (log: {path})")

        time.sleep(0.5)
        if stop and kill_at is None:
            for process, _, _ in running.values():
                process.send_signal(signal.SIGTERM)
            kill_at = time.monotonic() + args.grace_seconds
        if kill_at is not None and time.monotonic() >= kill_at:
            for process, command, _ in running.values():
                if process.poll() is None:
                    process.kill()
                    print(f"killed after {args.grace_seconds:g} s without exiting: {command}",
                          file=sys.stderr, flush=True)  # fmt: skip
            kill_at = float("inf")

        for slot, (process, command, log) in list(running.items()):
            if process.poll() is None:
                continue
            log.close()
            del running[slot]
            ended += 1
            if process.returncode == EXIT_LOCKED:
                locked.append(command)
            elif process.returncode != 0 and not stop:
                failed.append(f"{command}  (see {log.name})")
            say(f"[{ended}/{total}] {outcome(process.returncode)}: {command}")

    if stop:
        print("stopped: run the same script again to resume", file=sys.stderr)
        if stop[0] == signal.SIGINT:
            raise KeyboardInterrupt
        return EXIT_STOPPED
    say(f"{total - len(failed) - len(locked)} done, {len(failed)} failed, "
        f"{len(locked)} locked by another process")  # fmt: skip
    if locked:
        print("These runs are locked by another process, which is training them; run the script again "
              "once it has finished:\n    " + "\n    ".join(locked), file=sys.stderr)  # fmt: skip
    if failed:
        print("These runs failed:\n    " + "\n    ".join(failed), file=sys.stderr)
    return 1 if failed or locked else 0


if __name__ == "__main__":
    try:
        run_main(main)
    except KeyboardInterrupt:
        interruptions.die_of_sigint()  # as train.py does: a shell running the sweep's script stops too
