"""The sweep timed whole, as a user runs it, and the 60-epoch time it implies.

    KERAS_BACKEND=jax python benchmarks/whole_sweep.py --results FOLDER     # about 9 min, one H200

`combinations.py --runner parallel --epochs N` writes the script and the script runs, from the
project folder, all 24 runs (by default) with the scripts' defaults: augmentation on, validation
after every epoch, checkpoints as train.py makes them. The data are synthetic images with the
real data sets' counts and shapes, written into a Keras home of the benchmark's own in Keras'
cache formats; JAX's compilation cache starts empty there, as on a first sweep.

It reports the script's wall time, measured, and what 60 epochs a run would take. Each run's
start and end are the times sweep.py's output first and last names it; its history gives its
epoch times. Per run: steady epoch = the median of the epochs after the first (which compiles);
fixed = wall - N x steady epoch; a 60-epoch run = fixed + 60 x steady epoch. The estimate places
these runs, in the order they started, on as many lanes as ran at once (each run goes to the lane
that frees first, as sweep.py starts them), plus the script's time outside its runs. What a run
does between epochs outside the epoch time its history records (handing over a checkpoint) lands
in fixed, N times rather than 60: benchmarks/checkpoint_cost.py says what that leaves out.
"""

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (REPO, at_least, environment, environment_lines, last_line, read_epoch_times, report,
                               results_folder, table, write_keras_datasets)
from pyimagesearch import original
from pyimagesearch.errors import UserError, positive_int, run_main
from pyimagesearch.files import write_atomically
from pyimagesearch.original import (BUNDLED_DATASETS, DATASETS, MODELS, OPTIMIZERS, ORIGINAL_DATASETS,
                                 ORIGINAL_OPTIMIZERS)
from pyimagesearch.runs import makespan, option_value

FULL_EPOCHS = original.EPOCHS  # a full run, as the original trained it


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--epochs", type=positive_int, default=2,
                        help="epochs a run (default %(default)s: 24 runs in about 9 minutes on an H200)")  # fmt: skip
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--datasets", nargs="+", default=ORIGINAL_DATASETS, choices=DATASETS)
    parser.add_argument("--optimizers", nargs="+", default=ORIGINAL_OPTIMIZERS, choices=OPTIMIZERS)
    parser.add_argument("--runs-per-gpu", type=positive_int, help="combinations.py's default unless given")
    parser.add_argument("--mixed-precision", action="store_true", help="passed to every run")
    parser.add_argument("--train-images", type=at_least(original.BATCH_SIZE, "images, a batch of train.py's"),
                        help="synthetic training images a data set (default: as many as the real one)")  # fmt: skip
    parser.add_argument("--test-images", type=positive_int, help="likewise, test images")
    parser.add_argument("--results", type=results_folder, help="also write whole_sweep.md, .json and the sweep's log here")
    return parser.parse_args(argv)


def script_command(args, output, script):
    command = [sys.executable, "combinations.py", "--output", output, "--script", script,
               "--runner", "parallel", "--epochs", str(args.epochs), "--models", *args.models,
               "--datasets", *args.datasets, "--optimizers", *args.optimizers]  # fmt: skip
    if args.runs_per_gpu:
        command += ["--runs-per-gpu", str(args.runs_per_gpu)]
    if args.mixed_precision:
        command.append("--mixed-precision")
    return command


def history_paths(script):
    """The --history of every train.py line of a generated script, in the script's order."""
    paths = []
    with open(script) as file:
        for line in file:
            words = shlex.split(line) if "--history" in line else []
            if "train.py" in words:
                paths.append(option_value(words, "--history", "-i"))
    return paths


def failure_reasons(output):
    """The last line of the log of each run in `output` that wrote no report."""
    if not os.path.isdir(output):
        return []
    return [f"{name}: {last_line(os.path.join(output, name))}" for name in sorted(os.listdir(output))
            if name.endswith(".log") and not os.path.exists(os.path.join(output, name.removesuffix(".log") + ".txt"))]


def run_script(script, environment):
    """Run the script from the project folder; its output lines, each with the seconds since the
    start, and the script's wall time."""
    started = time.perf_counter()
    process = subprocess.Popen([script], cwd=REPO, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    lines = []
    for line in process.stdout:
        lines.append((time.perf_counter() - started, line.rstrip("\n")))
        print(f"[{lines[-1][0]:7.1f} s] {lines[-1][1]}", flush=True)
    process.wait()
    return lines, time.perf_counter() - started, process.returncode


def timed_runs(paths, lines, epochs):
    """Each run's start, wall time and epoch times, and the steady epoch, fixed time and
    60-epoch time derived from them."""
    runs = []
    for path in paths:
        seen = [seconds for seconds, line in lines if path in line]
        if len(seen) < 2:
            raise UserError(f"sweep.py's output names {path} {len(seen)} time(s), not at its start "
                            "and its end: the run cannot be timed")  # fmt: skip
        epoch_s = read_epoch_times(path)
        steady = statistics.median(epoch_s[1:] or epoch_s)
        wall = seen[-1] - seen[0]
        fixed = wall - epochs * steady
        runs.append(dict(run=os.path.basename(path).removesuffix(".pickle"), start_s=seen[0],
                         wall_s=wall, epoch_s=epoch_s, steady_epoch_s=steady, fixed_s=fixed,
                         full_s=fixed + FULL_EPOCHS * steady))  # fmt: skip
    return sorted(runs, key=lambda run: run["start_s"])


def lanes_used(runs):
    """The most runs that ran at the same time."""
    events = sorted([(run["start_s"], 1) for run in runs] +
                    [(run["start_s"] + run["wall_s"], -1) for run in runs])  # fmt: skip
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def summary(runs, wall, epochs):
    lanes = lanes_used(runs)
    measured = makespan([run["wall_s"] for run in runs], lanes)
    outside = wall - measured
    full = makespan([run["full_s"] for run in runs], lanes)
    return dict(runs=len(runs), epochs=epochs, wall_s=wall, lanes=lanes,
                measured_schedule_s=measured, outside_runs_s=outside,
                full_schedule_s=full, full_estimate_s=outside + full)  # fmt: skip


def counted(number, noun):
    return f"{number} {noun}" + ("" if number == 1 else "s")


def markdown(runs, totals, facts, args):
    rows = [[run["run"], f"{run['start_s']:.1f}", f"{run['wall_s']:.1f}",
             " / ".join(f"{seconds:.2f}" for seconds in run["epoch_s"]),
             f"{run['steady_epoch_s']:.2f}", f"{run['fixed_s']:.1f}",
             f"{run['fixed_s']:.1f} + {FULL_EPOCHS} x {run['steady_epoch_s']:.2f} = {run['full_s']:,.0f}"]
            for run in runs]  # fmt: skip
    headers = ["run", "started at s", "wall s", "epochs s", "steady epoch s",
               f"fixed s (wall - {args.epochs} x steady)", f"{FULL_EPOCHS}-epoch run s"]  # fmt: skip
    t = totals
    return "\n\n".join([
        "## The sweep, timed whole",
        environment_lines(facts),
        f"{counted(t['runs'], 'run')} of {counted(t['epochs'], 'epoch')} through `combinations.py "
        f"--runner parallel`'s script, {t['lanes']} at a time; synthetic data with "
        + (f"{args.train_images or 'the real'} training and {args.test_images or 'the real'} "
           "test images a data set." if args.train_images or args.test_images
           else "the real data sets' image counts and shapes."),
        table(headers, rows),
        f"- **Measured: {t['wall_s']:,.0f} s ({t['wall_s'] / 60:.1f} min)** for the script, of "
        f"which its runs, placed on {counted(t['lanes'], 'lane')} in the order they started, take "
        f"{t['measured_schedule_s']:,.0f} s and the rest ({t['outside_runs_s']:,.0f} s) is the "
        "script's own: its start and its check of the data sets before the first run.",
        f"- **{FULL_EPOCHS} epochs a run: about {t['full_estimate_s']:,.0f} s "
        f"({t['full_estimate_s'] / 60:.1f} min)**: the {FULL_EPOCHS}-epoch runs above on the same "
        f"{counted(t['lanes'], 'lane')} in the same order, {t['full_schedule_s']:,.0f} s, + "
        f"{t['outside_runs_s']:,.0f} s outside the runs. An estimate: each run's steady epoch is "
        + (f"the median of its {counted(t['epochs'] - 1, 'epoch')} after the first."
           if t["epochs"] > 1 else "its one epoch, which compiles: an overestimate."),
    ])  # fmt: skip


def main(argv=None):
    args = parse_arguments(argv)
    workspace = tempfile.mkdtemp(prefix="whole-sweep-")
    try:
        keras_home = os.path.join(workspace, "keras")
        synthetic = [name for name in args.datasets if name not in BUNDLED_DATASETS]
        print(f"writing synthetic {', '.join(synthetic) or 'data sets: none needed'}", flush=True)
        write_keras_datasets(os.path.join(keras_home, "datasets"), synthetic,
                             args.train_images, args.test_images)  # fmt: skip
        script = os.path.join(workspace, "parallel.sh")
        written = subprocess.run(script_command(args, os.path.join(workspace, "output"), script), cwd=REPO)
        if written.returncode != 0:
            raise UserError(f"combinations.py could not write the script (exit {written.returncode})")

        # The runs' `python` is this one; train.py keeps its compilation cache in this Keras home.
        run_environment = dict(os.environ, KERAS_HOME=keras_home,
                               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))  # fmt: skip
        run_environment.pop("JAX_COMPILATION_CACHE_DIR", None)
        lines, wall, returncode = run_script(script, run_environment)
        if args.results:
            write_atomically(os.path.join(args.results, "whole_sweep.log"),
                             "".join(f"[{seconds:7.1f} s] {line}\n" for seconds, line in lines))  # fmt: skip
        if returncode != 0:
            # The runs' logs that its output points to go with the workspace: say what they end with.
            reasons = failure_reasons(os.path.join(workspace, "output"))
            raise UserError(f"the sweep's script failed (exit {returncode}); its output is above"
                            + "".join(f"; {reason}" for reason in reasons))
        runs = timed_runs(history_paths(script), lines, args.epochs)
        totals = summary(runs, wall, args.epochs)
        facts = environment(os.environ.get("KERAS_BACKEND", "Keras' default backend"),
                            os.environ.get("XLA_FLAGS") or "train.py's own")  # fmt: skip
        report(args.results, "whole_sweep", markdown(runs, totals, facts, args),
               dict(environment=facts, settings=vars(args), runs=runs, totals=totals))  # fmt: skip
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    run_main(main)
