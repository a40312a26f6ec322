"""Write the shell script that runs every training run of the experiment.

    python combinations.py --output output --script experiments.sh
    ./experiments.sh

By default: the original 24 runs (4 data sets x 3 models x Adam/RAdam), one after the other. The
script can be run again after an interruption: finished runs are skipped, an interrupted run
resumes, a failed run does not stop the others, and the failures are named at the end.
`--runner parallel` writes a script that runs several runs at once on every GPU (sweep.py);
`--runner slurm` writes a Slurm job array, one task per run.
"""

import argparse
import os
import re
import shlex
import stat
import sys

from pyimagesearch.files import ensure_writable, write_atomically
from pyimagesearch.names import DATASETS, MODELS, OPTIMIZERS, ORIGINAL_DATASETS, ORIGINAL_OPTIMIZERS

# The scripts call train.py and write outputs by paths relative to the project folder.
IN_PROJECT_FOLDER = """\
if [ ! -f train.py ]; then
    echo "run this script from the project folder, where train.py is" >&2
    exit 1
fi

"""
SEQUENTIAL_HEAD = """\
# Each run below is skipped when its outputs exist, resumes when it was interrupted, and does not
# stop the others when it fails; the failed runs are listed at the end.
failed=""
run() {
    "$@" || failed="$failed
    $*"
}

"""
SEQUENTIAL_TAIL = """
if [ -n "$failed" ]; then
    printf 'These runs failed:%s\\n' "$failed" >&2
    exit 1
fi
"""


def warmup_steps(text):
    """argparse type of --warmup-steps: a whole number of steps, at least 1 (as train.py takes)."""
    if not re.fullmatch("[0-9]+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of steps, at least 1, not {text!r}")
    return int(text)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="folder for the runs' outputs")
    parser.add_argument("-s", "--script", required=True, help="path of the script to write")
    parser.add_argument("--datasets", nargs="+", default=ORIGINAL_DATASETS, choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--optimizers", nargs="+", default=ORIGINAL_OPTIMIZERS, choices=OPTIMIZERS)
    parser.add_argument("--epochs", type=int, help="passed to every run (train.py's default: 60)")
    parser.add_argument("--seeds", type=int, default=1, help="runs per combination, each with its own seed")
    parser.add_argument("--batch-size", type=int, help="passed to every run (train.py's default: 128)")
    parser.add_argument("--radam-total-steps", help="passed to every RAdam run: a number, or 'auto'")
    parser.add_argument("--warmup-steps", type=warmup_steps, metavar="N",
                        help="passed to every adam-warmup run (train.py's default: 2000)")
    parser.add_argument("--no-augmentation", dest="augmentation", action="store_false",
                        help="passed to every run")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="passed to every run: compute in bfloat16 (train.py's default: float32)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N",
                        help="passed to every run (train.py's default: 5 epochs)")
    parser.add_argument("--runner", choices=("sequential", "parallel", "slurm"), default="sequential")
    parser.add_argument("--runs-per-gpu", type=int, default=3, help="with --runner parallel")
    parser.add_argument("--max-running", type=int, default=8, help="with --runner slurm: array tasks at once")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.runs_per_gpu < 1 or args.max_running < 1:
        parser.error("--seeds, --runs-per-gpu and --max-running must be at least 1")
    # What train.py would refuse in every run.
    if any(value is not None and value < 1 for value in (args.epochs, args.batch_size, args.checkpoint_every)):
        parser.error("--epochs, --batch-size and --checkpoint-every must be at least 1")
    if args.radam_total_steps not in (None, "auto") and not re.fullmatch("[0-9]+", args.radam_total_steps):
        parser.error("--radam-total-steps takes a whole number or 'auto'")
    if not args.output.strip() or not args.script.strip():
        parser.error("--output and --script need a path")
    if args.runner == "slurm" and any(character in args.output for character in " \t'\""):
        parser.error(f"--output {args.output!r} has a space or quote, which an #SBATCH line cannot carry; choose a folder without one")
    return args


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 1


def train_commands(args):
    """One train.py command line per run, in the original's order: data set, model, optimizer."""
    commands = []
    for dataset in args.datasets:
        for model in args.models:
            for optimizer in args.optimizers:
                for seed in range(1, args.seeds + 1):
                    stem = f"{model}_{optimizer}_{dataset}"
                    if args.seeds > 1:
                        stem += f"_seed{seed}"
                    # Joined with "/" rather than os.path.join: the script is for a POSIX shell.
                    path = f"{args.output.rstrip('/')}/{stem}"
                    words = ["python", "train.py", "--history", f"{path}.pickle", "--report", f"{path}.txt"]
                    words += ["--dataset", dataset, "--model", model, "--optimizer", optimizer]
                    if args.seeds > 1:
                        words += ["--seed", str(seed)]
                    if args.epochs is not None:
                        words += ["--epochs", str(args.epochs)]
                    if args.batch_size is not None:
                        words += ["--batch-size", str(args.batch_size)]
                    if not args.augmentation:
                        words.append("--no-augmentation")
                    if args.mixed_precision:
                        words.append("--mixed-precision")
                    if args.checkpoint_every is not None:
                        words += ["--checkpoint-every", str(args.checkpoint_every)]
                    if args.radam_total_steps is not None and optimizer == "radam":
                        words += ["--radam-total-steps", args.radam_total_steps]
                    if args.warmup_steps is not None and optimizer == "adam-warmup":
                        words += ["--warmup-steps", str(args.warmup_steps)]
                    commands.append(shlex.join(words))
    return commands


def sequential_script(commands):
    lines = "".join(f"run {command}\n" for command in commands)
    return "#!/bin/sh\n\n" + IN_PROJECT_FOLDER + SEQUENTIAL_HEAD + lines + SEQUENTIAL_TAIL


def parallel_script(commands, runs_per_gpu):
    lines = "".join(f"{command}\n" for command in commands)
    return (
        "#!/bin/sh\n\n"
        + IN_PROJECT_FOLDER
        + f"# {runs_per_gpu} runs at a time on every visible GPU; see sweep.py.\n"
        f"exec python sweep.py --runs-per-gpu {runs_per_gpu} <<'RUNS'\n{lines}RUNS\n"
    )


def slurm_script(commands, max_running, log_folder):
    cases = "".join(f"    {task}) {command} ;;\n" for task, command in enumerate(commands))
    return (
        "#!/bin/bash\n"
        "#SBATCH --job-name=adam-vs-radam\n"
        f"#SBATCH --array=0-{len(commands) - 1}%{max_running}\n"
        "#SBATCH --gres=gpu:1\n"
        "#SBATCH --cpus-per-task=4\n"
        f"#SBATCH --output={log_folder}/slurm-%A_%a.log\n"
        "\n"
        "# One array task per run; submit from the project folder with `sbatch <this file>`.\n"
        "# A task that is requeued or run again resumes or skips its run like train.py does.\n"
        'cd "${SLURM_SUBMIT_DIR:-.}" || exit 1\n'
        f"{IN_PROJECT_FOLDER}"
        'case "$SLURM_ARRAY_TASK_ID" in\n'
        f"{cases}"
        '    *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 1 ;;\n'
        "esac\n"
    )


def main(argv=None):
    args = parse_arguments(argv)
    commands = train_commands(args)
    if args.runner == "sequential":
        script = sequential_script(commands)
    elif args.runner == "parallel":
        script = parallel_script(commands, args.runs_per_gpu)
    else:
        script = slurm_script(commands, args.max_running, args.output.rstrip("/"))
    try:
        os.makedirs(args.output, exist_ok=True)  # Slurm cannot start a task whose log folder is missing
    except OSError as error:
        reason = {FileExistsError: "it is a file", NotADirectoryError: "part of it is a file"}
        return fail(
            f"cannot make the --output folder {args.output}: "
            f"{reason.get(type(error), error.strerror)}; choose another folder"
        )
    try:
        ensure_writable(args.script)
        write_atomically(args.script, script)
        mode = os.stat(args.script).st_mode
        os.chmod(args.script, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as error:  # ensure_writable's errors are one line already
        return fail(error if error.errno is None else f"cannot write {args.script}: {error.strerror}")
    print(f"wrote {len(commands)} runs to {args.script}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
