"""Write the shell script that runs every training run of the experiment.

    python combinations.py --output output --script experiments.sh
    ./experiments.sh

By default: the original 24 runs (4 data sets x 3 models x Adam/RAdam), one after the other,
after one `python fetch_data.py ...` that downloads the data sets they use. The script can be run
again after an interruption: finished runs are skipped, an interrupted run resumes, a failed run
does not stop the others, and the failures are named at the end. `--runner parallel` writes a
script that runs several runs at once on every GPU, the longest first (sweep.py); `--runner
slurm` writes a Slurm job array, one task per run, that requeues a task stopped by its time limit.
"""

import argparse
import os
import re
import shlex
import stat

from pyimagesearch import original, runs
from pyimagesearch.errors import (EXIT_LOCKED, EXIT_STOPPED, UserError, folder, learning_rate, positive_int,
                                  radam_total_steps, run_main, whole_number)
from pyimagesearch.files import ensure_writable, write_atomically
from pyimagesearch.original import BUNDLED_DATASETS, DATASETS, MODELS, OPTIMIZERS, ORIGINAL_DATASETS, ORIGINAL_OPTIMIZERS
from pyimagesearch.runs import longest_first, read_runs
from pyimagesearch.timings import RUNS_PER_GPU

# Seconds before a Slurm task's time limit at which train.py is asked to checkpoint and stop.
# Slurm may signal up to 60 s earlier; train.py stops at its next step (a ResNet step takes
# 10-20 ms), later only while it compiles (up to a minute).
SLURM_WARNING_SECONDS = 300

# The scripts call train.py and write outputs by paths relative to the project folder.
IN_PROJECT_FOLDER = """\
if [ ! -f train.py ]; then
    echo "run this script from the project folder, where train.py is" >&2
    exit 1
fi

"""
# The run, in the background, waited for: sh and bash run a trap only between commands, so a
# trap set for a run in the foreground would run after it had finished. A trap that cuts the
# wait short sets `signalled`, and the script waits again for the run's own exit status.
WAIT_FOR_RUN = """\
    signalled=""
    "$@" &
    child=$!
    wait "$child"
    status=$?
    while [ "$status" -gt 128 ] && [ -n "$signalled" ]; do  # a trap cut the wait short
        signalled=""
        wait "$child"
        status=$?
    done
"""
SEQUENTIAL_HEAD = f"""\
# Each run below is skipped when its outputs exist, resumes when it was interrupted, and does not
# stop the others when it fails. The runs that failed, and those that another process is training
# (locked: exit {EXIT_LOCKED}), are listed at the end. A run stopped by SIGTERM saves a checkpoint
# and exits {EXIT_STOPPED}: the script stops there, and running it again resumes. A SIGTERM sent to
# this script goes on to the run in progress; Ctrl-C reaches it from the terminal, and the script
# dies of it after the run does. sh runs a trap only between commands, so each run goes in the
# background and the script waits for it.
failed=""
locked=""
child=""
stop=""
interrupted=""
trap 'stop=yes; signalled=yes; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null' TERM
trap 'interrupted=yes; signalled=yes' INT
run() {{
    if [ -n "$stop" ]; then
        echo "stopped: run this script again to resume" >&2
        exit {EXIT_STOPPED}
    fi
{WAIT_FOR_RUN}    child=""
    if [ -n "$interrupted" ]; then
        trap - INT
        kill -INT $$
    fi
    if [ "$status" -eq {EXIT_STOPPED} ] || [ -n "$stop" ]; then
        echo "stopped: run this script again to resume" >&2
        exit {EXIT_STOPPED}
    elif [ "$status" -eq {EXIT_LOCKED} ]; then
        locked="$locked
    $*"
    elif [ "$status" -ne 0 ]; then
        failed="$failed
    $*"
    fi
}}

"""
SEQUENTIAL_TAIL = """
if [ -n "$locked" ]; then
    printf 'These runs are locked by another process, which is training them; ' >&2
    printf 'run this script again once it has finished:%s\\n' "$locked" >&2
fi
if [ -n "$failed" ]; then
    printf 'These runs failed:%s\\n' "$failed" >&2
fi
if [ -n "$failed$locked" ]; then
    exit 1
fi
"""
SLURM_HEAD = """\
#!/bin/bash
#SBATCH --job-name=adam-vs-radam
#SBATCH --array=0-{last_task}%{max_running}
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --output={log_folder}/slurm-%A_%a.log
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@{warning_seconds}

# One array task per run, the longest runs first. {before_sbatch}
# {warning_minutes} minutes before a task's time limit, Slurm sends this script USR1 (--signal
# above), which passes SIGTERM on to train.py: the run saves a checkpoint and exits {stopped}, and
# the script requeues its task, which resumes the run. A task run again skips or resumes its run
# like train.py does.
cd "${{SLURM_SUBMIT_DIR:-.}}" || exit 1
"""
SLURM_RUN = f"""\
requeue=""
run() {{
    child=""
    trap 'requeue=yes; signalled=yes; kill -TERM "$child" 2>/dev/null' USR1
    trap 'signalled=yes; kill -TERM "$child" 2>/dev/null' TERM
{WAIT_FOR_RUN}    if [ "$status" -eq {EXIT_LOCKED} ]; then
        echo "locked by another process, which is training this run: $*" >&2
    elif [ "$status" -eq {EXIT_STOPPED} ] && [ -n "$requeue" ]; then
        echo "stopped before the time limit after a checkpoint: requeueing this task, which resumes the run" >&2
        scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
    elif [ "$status" -eq {EXIT_STOPPED} ]; then
        echo "stopped after a checkpoint: run this task again to resume" >&2
    fi
    exit "$status"
}}

"""


def output_folder(text):
    """argparse type: a folder path that a line of a script can carry."""
    folder(text)
    if "\n" in text or "\r" in text:
        raise argparse.ArgumentTypeError(f"{text!r} has a line break; choose a folder without one")
    if text.startswith("-"):
        raise argparse.ArgumentTypeError(f"{text!r} starts with '-', which train.py would read as an option; "
                                         f"give ./{text}")
    try:
        text.encode()
    except UnicodeEncodeError:  # bytes of another encoding, which a UTF-8 script cannot hold
        raise argparse.ArgumentTypeError(f"{text!r} is not UTF-8 text; choose a folder whose name is") from None
    return text


MAX_SEEDS = 1000


def seeds(text):
    """argparse type: how many seeds, 1 to MAX_SEEDS."""
    count = positive_int(text)
    if count > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"takes a whole number from 1 to {MAX_SEEDS}, not {text!r}")
    return count


def script_path(text):
    """argparse type: a path that is not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a path")
    return text


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--output", required=True, type=output_folder,
                        help="the folder for the runs' outputs")
    parser.add_argument("-s", "--script", required=True, type=script_path, help="path of the script to write")
    parser.add_argument("--datasets", nargs="+", default=ORIGINAL_DATASETS, choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--optimizers", nargs="+", default=ORIGINAL_OPTIMIZERS, choices=OPTIMIZERS)
    parser.add_argument("--epochs", type=positive_int, help=f"passed to every run (train.py's default: {original.EPOCHS})")
    parser.add_argument("--seeds", type=seeds, default=1, help=f"runs per combination: 1 runs train.py's default seed, {original.SEED}; N > 1 runs seeds 1 to N, "
                        "named ..._seed1 to ..._seedN")
    parser.add_argument("--batch-size", type=positive_int, help=f"passed to every run (train.py's default: {original.BATCH_SIZE})")
    parser.add_argument("--learning-rates", type=learning_rate, nargs="+", metavar="LR",
                        help="one run per rate, named ..._lr3e-04 where the rate is not the optimizer's "
                        "default (train.py's default: 1e-3, SGD 0.01)")
    parser.add_argument("--training-images", type=positive_int, metavar="N",
                        help="passed to every run: a fixed, stratified subset to train on (default: all)")
    parser.add_argument("--validation-images", type=whole_number, metavar="N",
                        help="passed to every run: training images held out to validate on (train.py's "
                        "default: 0, the test split validates)")
    parser.add_argument("--radam-total-steps", type=radam_total_steps,
                        help="passed to every RAdam run: a whole number, or 'auto'")
    parser.add_argument("--warmup-steps", type=positive_int, metavar="N",
                        help="passed to every adam-warmup run (train.py's default: 2000)")
    parser.add_argument("--no-augmentation", dest="augmentation", action="store_false",
                        help="passed to every run")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="passed to every run: compute in bfloat16 (train.py's default: float32)")
    parser.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                        help="passed to every run (train.py's default: 1, every epoch)")
    parser.add_argument("--runner", choices=("sequential", "parallel", "slurm"), default="sequential")
    parser.add_argument("--runs-per-gpu", type=positive_int, default=RUNS_PER_GPU,
                        help="with --runner parallel (default %(default)s)")
    parser.add_argument("--cpu-runs", type=positive_int, default=1, metavar="N",
                        help="with --runner parallel on a machine without a GPU: N runs at once, each on "
                        "its own share of the cores (default %(default)s)")
    parser.add_argument("--max-running", type=positive_int, default=8,
                        help="with --runner slurm: array tasks at once (default %(default)s)")
    return parser.parse_args(argv)


def train_commands(args):
    """One train.py command line per run (runs.train_commands), from this script's arguments."""
    return runs.train_commands(
        args.output, args.datasets, args.models, args.optimizers, args.seeds, args.learning_rates,
        no_download=args.runner == "slurm",  # the data sets are fetched before sbatch
        epochs=args.epochs, batch_size=args.batch_size, training_images=args.training_images,
        validation_images=args.validation_images, augmentation=args.augmentation,
        mixed_precision=args.mixed_precision, checkpoint_every=args.checkpoint_every,
        radam_total_steps=args.radam_total_steps, warmup_steps=args.warmup_steps)


def fetch_command(datasets):
    """`python fetch_data.py ...` for the data sets that need downloading, or "" if none does."""
    to_fetch = [dataset for dataset in dict.fromkeys(datasets) if dataset not in BUNDLED_DATASETS]
    return shlex.join(["python", "fetch_data.py", *to_fetch]) if to_fetch else ""


def fetch_first(datasets):
    """The scripts' lines that fetch the data sets once, before any run, and stop if that fails."""
    command = fetch_command(datasets)
    return f"# The data sets, downloaded once before any run.\n{command} || exit 1\n\n" if command else ""


def sequential_script(commands, datasets):
    lines = "".join(f"run {command}\n" for command in commands)
    return "#!/bin/sh\n\n" + IN_PROJECT_FOLDER + fetch_first(datasets) + SEQUENTIAL_HEAD + lines + SEQUENTIAL_TAIL


def parallel_script(commands, datasets, runs_per_gpu, cpu_runs=1):
    lines = "".join(f"{command}\n" for command in commands)
    on_cpu = f" --cpu-runs {cpu_runs}" if cpu_runs > 1 else ""
    where = f"; {cpu_runs} at a time, each on its own cores, without one" if cpu_runs > 1 else ""
    return (
        "#!/bin/sh\n\n"
        + IN_PROJECT_FOLDER
        + fetch_first(datasets)
        + f"# {runs_per_gpu} run{'s' if runs_per_gpu != 1 else ''} at a time on every visible GPU{where}, the longest "
        "first; see sweep.py.\n"
        f"exec python sweep.py --runs-per-gpu {runs_per_gpu}{on_cpu} <<'RUNS'\n{lines}RUNS\n"
    )


def slurm_script(commands, datasets, max_running, log_folder):
    fetch = fetch_command(datasets)
    if fetch:
        before_sbatch = (
            "The tasks do not download: first fetch the\n"
            f"# data sets on the login node, from the project folder:\n#     {fetch}\n"
            "# then submit from there with `sbatch <this file>`."
        )
    else:
        before_sbatch = (
            "Its data set ships with scikit-learn: submit\n# from the project folder with `sbatch <this file>`."
        )
    cases = "".join(f"    {task}) run {command} ;;\n" for task, command in enumerate(commands))
    return SLURM_HEAD.format(
        last_task=len(commands) - 1,
        max_running=max_running,
        log_folder=log_folder.replace("%", "%%"),  # Slurm's "%" in a file name; %A and %a are its own
        warning_seconds=SLURM_WARNING_SECONDS,
        warning_minutes=SLURM_WARNING_SECONDS // 60,
        before_sbatch=before_sbatch,
        stopped=EXIT_STOPPED,
    ) + (
        IN_PROJECT_FOLDER
        + SLURM_RUN
        + 'case "$SLURM_ARRAY_TASK_ID" in\n'
        + cases
        + '    *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 1 ;;\n'
        + "esac\n"
    )


def main(argv=None):
    args = parse_arguments(argv)
    if args.runner == "slurm" and re.search(r"[\s'\"\\]", args.output):
        raise UserError(
            f"--output {args.output!r} has a space, quote or backslash, which an #SBATCH line cannot "
            "carry; choose a folder without one"
        )
    commands = train_commands(args)
    if args.runner == "sequential":
        script = sequential_script(commands, args.datasets)
    elif args.runner == "parallel":
        script = parallel_script(commands, args.datasets, args.runs_per_gpu, args.cpu_runs)
    else:
        # Slurm starts array tasks about in index order: the longest runs first, as sweep.py does.
        commands = [command for command, _, _ in longest_first(read_runs(commands))]
        script = slurm_script(commands, args.datasets, args.max_running, args.output.rstrip("/"))
    # The script's path first: a command refused for it makes no --output folder.
    try:
        ensure_writable(args.script)
    except OSError as error:
        raise UserError(str(error)) from None  # one line already
    try:
        os.makedirs(args.output, exist_ok=True)  # Slurm cannot start a task whose log folder is missing
    except OSError as error:
        reason = {FileExistsError: "it is a file", NotADirectoryError: "part of it is a file"}
        raise UserError(
            f"cannot make the --output folder {args.output}: "
            f"{reason.get(type(error), error.strerror)}; choose another folder"
        ) from None
    try:
        write_atomically(args.script, script)
        mode = os.stat(args.script).st_mode
        os.chmod(args.script, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as error:
        raise UserError(f"cannot write {args.script}: {error.strerror}") from None
    print(f"wrote {len(commands)} run{'s' if len(commands) != 1 else ''} to {args.script}")
    return 0


if __name__ == "__main__":
    run_main(main)
