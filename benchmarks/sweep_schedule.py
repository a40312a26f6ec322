"""How long a sweep keeps a GPU busy: the runs in their given order against the longest first.

    python benchmarks/sweep_schedule.py                      # the 24-run sweep, 3 runs at a time
    python benchmarks/sweep_schedule.py --runs-per-gpu 3 --gpus 2
    python benchmarks/sweep_schedule.py --runs-per-gpu 2 --seconds 4 5 6 10

sweep.py gives each of its places (--runs-per-gpu on every GPU) a run, and the next waiting run
to whichever place falls free first. This replays that without training: for the sweep that
`combinations.py --output output` writes (in its order, then in sweep.py's, the ResNet's runs
first), or for any list of run times (--seconds, in the given order, then longest first). It
prints what each place runs with the sums, and each schedule's makespan: when its last run ends.

Inputs, measured with train.py on one NVIDIA H200 on 2026-11-30 (Keras 3.15.1 on JAX 0.11.2,
float32, batch 128, CIFAR-10-shaped data, 3 runs sharing the GPU), per run: seconds per epoch /
fixed seconds (the run's time outside its epochs: starting, compiling, the final prediction):
ResNet 8.96 / 63.8, MiniGoogLeNet 2.58 / 52.4, MiniVGGNet 0.84 / 23.4. A run takes fixed +
epochs x epoch x scale, where scale is 1.2 for MNIST and Fashion-MNIST (60,000 training images)
and 1 for CIFAR-10 and CIFAR-100 (50,000).

What it leaves out: every run takes its time with 3 sharing the GPU, whatever runs beside it.
A run left with fewer companions runs faster (one ResNet alone on the same H200 trained 13,965
images/s: about 3.6 s per CIFAR-10 epoch of 49,920 images plus 0.15 s of validation, against
8.96 s with 3 sharing), so a schedule's tail is an upper bound. Run times with other numbers of
runs sharing a GPU were not measured on this H200: other --runs-per-gpu values show what the
order does, not how long such a sweep takes. (On an H100, 2026-11-26, 3 ResNets at once trained
1.93x as many images a second as one.)
"""

import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyimagesearch import original, runs as run_names
from pyimagesearch.errors import positive_int, seconds
from pyimagesearch.original import MODELS, ORIGINAL_DATASETS, ORIGINAL_OPTIMIZERS
from pyimagesearch.timings import MEASURED, RUNS_PER_GPU, TRAINING_IMAGES

# Seconds per epoch and fixed seconds per run, with 3 runs sharing one H200 (above).
EPOCH_AND_FIXED_SECONDS = {model: MEASURED[model][3] for model in MEASURED}
EPOCH_SCALE = {dataset: TRAINING_IMAGES[dataset] / 50000 for dataset in ORIGINAL_DATASETS}


def run_seconds(model, dataset, epochs=original.EPOCHS):
    epoch, fixed = EPOCH_AND_FIXED_SECONDS[model]
    return fixed + epochs * epoch * EPOCH_SCALE[dataset]


def print_schedule(title, seconds, names, places):
    print(f"{title}:")
    for place, runs in enumerate(run_names.schedule(seconds, places), start=1):
        terms = " + ".join(f"{seconds[index]:,.1f}{names[index]}" for index in runs) or "0"
        print(f"  place {place}: {terms} = {sum(seconds[index] for index in runs):,.1f} s")
    end = run_names.makespan(seconds, places)
    print(f"  makespan: {end:,.1f} s = {end / 60:.1f} min")


def the_sweep():
    """The runs of `combinations.py --output output`, as (run time, name, model), in its order."""
    commands = run_names.train_commands("output", ORIGINAL_DATASETS, MODELS, ORIGINAL_OPTIMIZERS)
    runs = []
    for command, log, model in run_names.read_runs(commands):
        dataset = run_names.option_value(shlex.split(command), "--dataset", "-d", "mnist")
        name = os.path.splitext(os.path.basename(log))[0]
        runs.append((run_seconds(model, dataset), f" ({name})", model))
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--runs-per-gpu", type=positive_int, default=RUNS_PER_GPU)
    parser.add_argument("--gpus", type=positive_int, default=1)
    parser.add_argument("--seconds", type=seconds, nargs="+", help="run times, instead of the sweep's")
    args = parser.parse_args(argv)
    places = args.runs_per_gpu * args.gpus

    if args.seconds:
        given = [(run, "", None) for run in args.seconds]
        longest = sorted(given, key=lambda run: -run[0])
        longest_title = "longest first"
    else:
        print(f"Run times (s) with 3 runs sharing one H200: fixed + {original.EPOCHS} epochs x epoch x scale")
        for model, (epoch, fixed) in EPOCH_AND_FIXED_SECONDS.items():
            for datasets, scale in (("mnist, fashion_mnist", 1.2), ("cifar10, cifar100", 1.0)):
                print(f"  {model} on {datasets}: {fixed} + {original.EPOCHS} x {epoch} x {scale} = "
                      f"{run_seconds(model, datasets.split(',')[0]):,.1f}")  # fmt: skip
        given = the_sweep()
        longest = run_names.longest_first(given)  # sweep.py's order: by model, as it reads it
        longest_title = "sweep.py's order (the ResNet's runs, then MiniGoogLeNet's, then MiniVGGNet's)"

    total = sum(run for run, _, _ in given)
    print(f"{len(given)} runs on {places} places ({args.runs_per_gpu} per GPU x {args.gpus} GPU(s)); "
          f"no schedule ends before all runs' seconds / places = {total:,.1f} / {places} = "
          f"{total / places:,.1f} s")  # fmt: skip
    for title, runs in (("given order", given), (longest_title, longest)):
        print_schedule(title, [run for run, _, _ in runs], [name for _, name, _ in runs], places)


if __name__ == "__main__":
    main()
