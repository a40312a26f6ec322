"""Runs on a CPU one after the other on all its cores, against several at once, each on its own
cores: the wall time of the same train.py runs through sweep.py with `--cpu-runs 1` and `N`.

    python benchmarks/cpu_runs.py [--kind study|demo] [--cpu-runs 2] [--epochs 2] [--results FOLDER]

- `study`: the CPU study's run (MiniVGGNet on Fashion-MNIST, 12,800 training images, 5,000
  held out, batch 128, augmentation on), seeds 1 to N; Fashion-MNIST must be in Keras' cache
  (`python fetch_data.py fashion_mnist`).
- `demo`: a ResNet run like the demo's (scikit-learn's digits, no augmentation) at batch 8,
  seeds 1 to N.

Each way trains the same N runs into a fresh temporary folder, so nothing is skipped or resumed;
the runs one after the other go first. The report gives both wall times, their ratio and each
run's test accuracy (from its report). Nothing else should run on the machine meanwhile. With
the defaults, `study` takes about 5 minutes on 2 cores and `demo` about 5.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (REPO, at_least, environment, environment_lines, last_line, report, results_folder,
                               table)
from pyimagesearch.errors import UserError, positive_int, run_main

KINDS = {
    "study": "--dataset fashion_mnist --model minivggnet --optimizer adam --training-images 12800 "
             "--validation-images 5000",
    "demo": "--dataset digits --model resnet --optimizer adam --batch-size 8 --no-augmentation",
}


def commands(kind, runs, epochs, folder):
    return [f"python train.py --history {folder}/run{seed}.pickle --report {folder}/run{seed}.txt "
            f"{KINDS[kind]} --seed {seed} --epochs {epochs}" for seed in range(1, runs + 1)]


def timed_sweep(lines, cpu_runs, folder):
    """Seconds sweep.py took to run `lines` (whose outputs go in `folder`) with `--cpu-runs
    cpu_runs`; UserError with the last line of each failed run's log if any failed."""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "sweep.py", "--cpu-runs", str(cpu_runs)], cwd=REPO,
                            input="".join(line + "\n" for line in lines), capture_output=True, text=True,
                            env=dict(os.environ, PATH=path, CUDA_VISIBLE_DEVICES=""))
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        failed = [name for name in sorted(os.listdir(folder))
                  if name.endswith(".log") and not os.path.exists(os.path.join(folder, name[: -len(".log")] + ".txt"))]
        reasons = [f"{name}: {last_line(os.path.join(folder, name))}" for name in failed]
        raise UserError(f"a run failed under sweep.py --cpu-runs {cpu_runs} ({'; '.join(reasons) or result.stderr.strip()})")
    return seconds


def test_accuracy(report_path):
    with open(report_path) as file:
        return float(re.search(r"^\s*accuracy\s+([0-9.]+)", file.read(), re.M).group(1))


def main():
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()), allow_abbrev=False)
    parser.add_argument("--kind", choices=KINDS, default="study")
    parser.add_argument("--cpu-runs", type=at_least(2, "runs at once, to time against one at a time"), default=2,
                        help="runs at once (default %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=2, help="of each run (default %(default)s)")
    parser.add_argument("--results", type=results_folder, help="also write cpu_runs.md and cpu_runs.json here")
    args = parser.parse_args()

    facts = environment("tensorflow")
    rows, data = [], dict(facts, kind=args.kind, cpu_runs=args.cpu_runs, epochs=args.epochs, ways={})
    for cpu_runs in (1, args.cpu_runs):
        with tempfile.TemporaryDirectory() as folder:
            lines = commands(args.kind, args.cpu_runs, args.epochs, folder)
            seconds = timed_sweep(lines, cpu_runs, folder)
            accuracies = [test_accuracy(f"{folder}/run{seed}.txt") for seed in range(1, args.cpu_runs + 1)]
        way = "one after the other, all cores each" if cpu_runs == 1 else f"{cpu_runs} at once, own cores each"
        data["ways"][cpu_runs] = dict(seconds=seconds, test_accuracies=accuracies)
        rows.append([way, f"{seconds:.1f}", " ".join(f"{accuracy:.4f}" for accuracy in accuracies)])
    ratio = data["ways"][1]["seconds"] / data["ways"][args.cpu_runs]["seconds"]
    markdown = "\n".join([
        f"## {args.cpu_runs} {args.kind} runs of {args.epochs} epochs on a CPU", "", environment_lines(facts), "",
        table(["runs", "wall s", "test accuracy"], rows), "",
        f"Side by side, each on its own cores: {ratio:.2f} times as fast.",
    ])  # fmt: skip
    report(args.results, "cpu_runs", markdown, data)
    return 0


if __name__ == "__main__":
    run_main(main)
