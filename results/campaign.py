"""Advance a study of results/ by one slot: run its next missing runs for `--minutes`.

    python results/campaign.py --minutes 60 --archive slot.tar.gz               # the faithful runs, on a GPU
    python results/campaign.py --study cpu --minutes 120 --archive slot.tar.gz  # the CPU study

Run from the repository's root, as above: the runs' commands (`python train.py ...`) and their
paths (`results/...`) start there.

A slot is a fixed stretch of time on a machine, such as a cluster job's time limit; `--minutes`
gives its length, whatever it is. The studies and their folders are in
`pyimagesearch/studies.py`:

- `faithful` (the default): the experiment on MNIST and Fashion-MNIST as the original ran it
  (float32, 60 epochs, batch 128, augmentation on), repeated over seeds and with the controls an
  honest answer needs, in results/original, seeds, fair-schedule, warmup and baselines.
- `cpu`: MiniVGGNet at 1,000 steps a run, across learning rates, with each optimizer's rate
  chosen on a held-out validation split, in results/cpu-study and cpu-study-2019; then Adam and
  RAdam at their chosen rates for 3,000 steps, in results/cpu-study-3000-steps.

On a GPU the slot plans which missing runs will finish inside it (from each run's expected time:
this device's runs already in `results/`, else figures measured on an H200), several sharing the
GPU; a configuration's runs are taken only once every missing run of the ones before it is. On a
CPU it takes every missing run, `--cpu-runs` at once, each on its own share of the cores. Either
way sweep.py starts them the longest model's first (the ResNet's, then MiniGoogLeNet's, then
MiniVGGNet's), in the study's order within a model. A run still going when the slot
ends is stopped and keeps a checkpoint beside its outputs, and the same command, in the same
folder, resumes it in the next slot; a run that has a checkpoint is planned at what it has left.
Each finished run is recorded in its folder's `manifest.json`, the slot in `results/slots.json`,
and every run the slot finished, with the manifests, is packed into one archive: extract it in
the folder that holds `results/`. A run that finished while no slot followed it (a slot killed with
SIGKILL, or whose terminal hung up, while its runs went on) is recorded by the next slot, as
`recorded_late` and without the wall time that nobody measured, and packed into its archive.
Every run is a train.py command written by combinations.py.
SIGTERM or Ctrl-C (a cluster job cancelled or preempted, a `kill`) ends the slot at once in the
same way, and the exit code is then 75.

Each run's entry in its folder's manifest.json holds its train.py command, its budget, the
project's commit, the date, the device (the CPU's model where there is no GPU), the Keras and
backend versions, the slot it finished in, how many runs shared its GPU (or the CPU) while it ran
(runs_at_once: the most at one moment), its wall time in that slot (wall_seconds) and whether it resumed from a
checkpoint left by an earlier slot (resumed: then wall_seconds covers only its last part). A
folder's manifest also records the budget of its runs: a slot whose runs have another budget (a
trial with --epochs) is refused there, and so is one that finds there a finished run whose
settings give another budget (made by hand), which plot.py and readme_results.py leave out.
"""

import argparse
import csv
import datetime
import fcntl
import importlib.metadata
import io
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)  # a script of results/, run as `python results/campaign.py`
from pyimagesearch import runs, studies  # noqa: E402
from pyimagesearch.errors import EXIT_STOPPED, UserError, minutes, positive_int, run_main  # noqa: E402
from pyimagesearch.files import (ensure_writable, load_json, read_small_file, replaced_atomically,  # noqa: E402
                                  write_atomically)
from pyimagesearch.machine import device_name  # noqa: E402
from pyimagesearch.original import DATASETS, MODELS  # noqa: E402
from pyimagesearch.run_files import RunFiles  # noqa: E402
from pyimagesearch.runs import option_value  # noqa: E402
from pyimagesearch.timings import CPU_RUNS, MEASURED, RUNS_PER_GPU, TRAINING_IMAGES  # noqa: E402

# Estimates are stretched by this much: a run cut off at the end of a slot is lost there.
MARGIN = 1.1
# The studies' folder, where only runs of each study's own budget go.
RESULTS = os.path.join(REPOSITORY, "results")
# Seconds kept at the end of the slot for stopping, the manifests and the archive.
RESERVE_SECONDS = 20
# The most bytes read of a manifest.json, slots.json or a run's CSV log: a manifest of the faithful
# study's 126 runs takes 100 KB, a log of 60 epochs 10 KB.
READ_LIMIT = 1 << 20
# Set by SIGTERM or Ctrl-C (a cluster job cancelled or at its time limit, a `kill`): the slot
# ends at once as if its time were up, and still records and packs what it finished.
stop_requested = threading.Event()
# (a manifest, the OSError of writing it) where a run that finished could not be recorded (a full
# disk): the slot then ends as if its time were up, and the next slot records the run late.
unwritable_manifests = []


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--minutes", type=minutes, required=True, help="the slot's length, everything included")
    parser.add_argument("--archive", required=True, help="the .tar.gz to write the finished runs into")
    parser.add_argument("--study", choices=("faithful", "cpu"), default="faithful",
                        help="which study's runs (default %(default)s; see pyimagesearch/studies.py)")
    parser.add_argument("--results", default="results", help="the campaign's folder (default %(default)s)")
    parser.add_argument("--most-runs-per-gpu", type=positive_int, default=RUNS_PER_GPU, metavar="N",
                        help="at most N runs share a GPU: fewer where fewer fit the slot (default %(default)s)")
    parser.add_argument("--cpu-runs", type=positive_int, metavar="N",
                        help=f"without a GPU, N runs at once, each on its own share of the cores (default: "
                        f"{CPU_RUNS}, or one a core where there are fewer)")
    parser.add_argument("--datasets", nargs="+", default=list(studies.FAITHFUL_DATASETS), choices=DATASETS,
                        help="the faithful study's data sets (default %(default)s)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="the faithful study's models (default: all three)")
    parser.add_argument("--epochs", type=positive_int,
                        help="to try the campaign itself: passed to every run, which then has another budget "
                        "than the study's, so it needs a --results folder of its own")
    parser.add_argument("--commit", help="the project's commit, where the folder is not a git checkout")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    return parser.parse_args(argv)


# ## The runs: what the campaign holds and what is missing


def campaign_runs(args):
    """Every run of the study as a dict, once each, in the configurations' order (the CPU study's
    second stage names again the grid's seeds 1 and 2 at the chosen rates)."""
    found = {}
    for folder, budget, batches in studies.configurations(args.study, args.results):
        for batch in batches:
            batch = dict(dict(datasets=args.datasets, models=args.models), **batch)
            if args.epochs is not None:
                batch["epochs"] = args.epochs
            for command in runs.train_commands(folder, **batch):
                run = describe(command, os.path.basename(folder))
                found.setdefault(run["history"], run)
    return list(found.values())


def describe(command, configuration):
    words = shlex.split(command)
    history = option_value(words, "--history", "-i")
    dataset = option_value(words, "--dataset", "-d")
    return dict(command=command, configuration=configuration, model=option_value(words, "--model", "-m"),
                dataset=dataset, epochs=int(option_value(words, "--epochs", default=60)),
                training_images=int(option_value(words, "--training-images", default=TRAINING_IMAGES[dataset])),
                stem=os.path.splitext(os.path.basename(history))[0], history=history,
                report=option_value(words, "--report", "-r"))


def finished(run):
    return RunFiles(run["history"], run["report"]).finished()


def unrecorded(candidates, args):
    """The finished runs among `candidates` that no manifest records, and whose settings give no
    other budget than their folder's: those that finished while no campaign followed them (a slot
    killed with SIGKILL, whose sweep went on to the run's end, or a disk that filled)."""
    budgets, manifests, found = planned_budgets(args), {}, []
    for run in candidates:
        folder = os.path.dirname(run["history"])
        if not finished(run):
            continue
        if folder not in manifests:
            manifests[folder] = read_manifest(folder)
        if run["stem"] in manifests[folder]["runs"]:
            continue
        settings = RunFiles(run["history"], run["report"]).recorded_settings()
        if settings is None or runs.budget_of(settings) == budgets.get(folder):
            found.append(run)
    return found


def has_checkpoint(run):
    """Whether train.py will resume the run: its checkpoint folder holds a state.json (the
    checkpoints module's STATE_FILE; that module is not imported here, as it imports Keras)."""
    return os.path.isfile(os.path.join(RunFiles(run["history"], run["report"]).checkpoint_folder, "state.json"))


def epoch_times(run):
    """The seconds of each epoch the run's CSV log shows (a resumed run's too); [] without one."""
    log = RunFiles(run["history"], run["report"]).log
    try:
        text = read_small_file(log, READ_LIMIT).decode()
        return [float(row["epoch_time"]) for row in csv.DictReader(io.StringIO(text, newline=""))]
    except (OSError, KeyError, TypeError, ValueError, csv.Error):
        return []


# ## The plan: which runs finish inside the slot


def expected_seconds(run, sharing, calibration):
    """The run's expected wall time with `sharing` runs on its device: its own kind's, else
    measured; a run with a checkpoint, for the epochs its log does not show yet."""
    epoch, fixed = calibration.get((run["model"], sharing)) or measured(run["model"], sharing)
    epochs_left = run["epochs"] - (len(epoch_times(run)) if has_checkpoint(run) else 0)
    return MARGIN * (fixed + max(epochs_left, 1) * epoch * run["training_images"] / 50000)


def measured(model, sharing):
    (alone_epoch, alone_fixed), (shared_epoch, shared_fixed) = MEASURED[model][1], MEASURED[model][3]
    weight = (sharing - 1) / 2  # 0 alone, 1 with 3 sharing; more than 3 extrapolates
    return (alone_epoch + weight * (shared_epoch - alone_epoch), alone_fixed + weight * (shared_fixed - alone_fixed))


def plan(missing, seconds, most_sharing, calibration):
    """(runs sharing the GPU, runs): the most missing runs that finish in `seconds`, trying every
    number of runs sharing the GPU up to `most_sharing`. Runs are taken in the campaign's order,
    each one that still fits beside those taken; a configuration's runs are considered only once
    every missing run of the configurations before it is taken."""
    best = (most_sharing, [])
    for sharing in range(most_sharing, 0, -1):
        chosen, configuration, left_out = [], None, False
        for run in missing:
            if run["configuration"] != configuration:
                if left_out:
                    break
                configuration = run["configuration"]
            # In the order sweep.py takes them: by model, the longest first.
            taken = runs.longest_first(chosen + [run], model=lambda other: other["model"])
            durations = [expected_seconds(other, sharing, calibration) for other in taken]
            if runs.makespan(durations, sharing) <= seconds:
                chosen.append(run)
            else:
                left_out = True
        if len(chosen) > len(best[1]):
            best = (sharing, chosen)
    return best


def estimates_note(chosen, sharing, calibration, device, results):
    """The line that says which of the plan's expected times are from the H200's figures, not from
    this device's runs in the folder `results` (None when none is)."""
    models = [model for model in MODELS
              if any(run["model"] == model for run in chosen) and (model, sharing) not in calibration]
    if not models:
        return None
    return (f"expected times of {', '.join(models)} are an NVIDIA H200's (MEASURED in pyimagesearch/timings.py): "
            f"{results} has no finished run of theirs on {device}, {sharing} at a time")


def calibration_from(runs, device):
    """(model, runs at once) -> (epoch seconds per 50,000 images, fixed seconds), from the runs
    of this device that the manifests describe: the medians over such runs. Epoch seconds come
    from the CSV logs, of resumed runs too; fixed seconds (wall time less that many median epochs,
    so that the first epoch's compilation counts as fixed, as in MEASURED) only from runs that
    ran whole in one slot, and are 0 while there is none."""
    epochs, fixed, manifests = {}, {}, {}
    for run in runs:
        folder = os.path.dirname(run["history"])
        if folder not in manifests:
            manifests[folder] = read_manifest(folder)
        entry = manifests[folder]["runs"].get(run["stem"])
        seconds = epoch_times(run)
        if not (finished(run) and isinstance(entry, dict) and entry.get("device") == device and seconds):
            continue
        at_once, wall = entry.get("runs_at_once", 1), entry.get("wall_seconds")
        if not (type(at_once) is int and at_once >= 1):
            continue
        key = (run["model"], at_once)
        epochs.setdefault(key, []).append(statistics.median(seconds) * 50000 / run["training_images"])
        if not entry.get("resumed") and type(wall) in (int, float) and 0 < wall <= sys.float_info.max:
            fixed.setdefault(key, []).append(wall - len(seconds) * statistics.median(seconds))
    return {key: (statistics.median(values), statistics.median(fixed.get(key, [0.0]))) for key, values in epochs.items()}


# ## Where and with what the runs ran


def environment_facts(commit):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
    return dict(commit=commit or git_commit(), device=device_name(),
                keras=importlib.metadata.version("keras"),
                backend=f"{backend} {importlib.metadata.version(package)}",
                python=platform.python_version())


def git_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise UserError("this folder is not a git checkout: give --commit with the project's commit") from None
    return commit + ("-modified" if dirty else "")


def manifest_path(run):
    """The manifest.json of the folder that holds `run`."""
    return os.path.join(os.path.dirname(run["history"]), "manifest.json")


def read_manifest(folder):
    path = os.path.join(folder, "manifest.json")
    manifest = read_json(path, {"configuration": os.path.basename(folder), "runs": {}})
    if not (isinstance(manifest, dict) and isinstance(manifest.get("runs"), dict)):
        raise UserError(f"cannot read {path} (it holds no object with the runs); restore it from git or the last "
                        "archive")
    return manifest


def planned_budgets(args):
    """{folder: the budget of this slot's runs there}: the study's, with --epochs where given."""
    return {folder: dict(budget, epochs=args.epochs or budget["epochs"])
            for folder, budget, _ in studies.configurations(args.study, args.results)}


def check_budgets(found, args):
    """UserError if a folder's manifest records another budget than its planned runs have, or a
    finished run's settings do, or a finished run has none in a folder whose manifest records a
    budget: plot.py and readme_results.py leave such a run out, and a slot, finding its files,
    would never run it again."""
    budgets = planned_budgets(args)
    recorded = {folder: read_manifest(folder).get("budget") for folder in budgets}
    for folder, planned in budgets.items():
        if recorded[folder] is not None and recorded[folder] != planned:
            raise UserError(
                f"{folder} holds runs of another budget ({recorded[folder]}) than this slot's ({planned}): "
                "give a trial (--epochs) a --results folder of its own"
            )
    for run in filter(finished, found):
        folder = os.path.dirname(run["history"])
        planned = budgets[folder]
        run_files = RunFiles(run["history"], run["report"])
        settings = run_files.recorded_settings()
        if settings is None:
            if recorded[folder] is None:
                continue
            raise UserError(f"{run['history']} has no settings beside it ({run_files.settings}), so the study cannot "
                            "tell its budget and leaves it out: restore the file from git or the slot's archive, or "
                            "delete the run's files so that a slot runs it again")
        differing = [f"{key} {value!r} where its folder's runs have {planned[key]!r}"
                     for key, value in runs.budget_of(settings).items() if value != planned[key]]
        if differing:
            raise UserError(f"{run['history']} was made with another budget ({', '.join(differing)}), so the study "
                            "leaves it out: move its files to a folder of its own, or delete them so that a slot "
                            "runs it again")


def read_json(path, default):
    try:
        return load_json(path, READ_LIMIT)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path} ({error}); restore it from git or the last archive") from None


def write_json(path, data):
    write_atomically(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ## The slot


def run_slot(chosen, sharing, seconds, facts, slot, on_cpu=False):
    """Run `chosen` through sweep.py for at most `seconds`, recording each run in its folder's
    manifest as it finishes; (the histories of the finished runs, whether the slot stopped some)."""
    by_command = {run["command"]: run for run in chosen}
    resumed = {run["command"] for run in chosen if has_checkpoint(run)}
    ended = []
    # The runs' `python` is this one, as when a sweep script runs inside an activated venv.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    sweep = subprocess.Popen([sys.executable, os.path.join(REPOSITORY, "sweep.py"),
                              "--cpu-runs" if on_cpu else "--runs-per-gpu", str(sharing), "--grace-seconds", "10"],
                             env=dict(os.environ, PATH=path),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sweep.stdin.write("".join(run["command"] + "\n" for run in chosen))
    sweep.stdin.close()

    def follow():  # sweep.py says "started[ on GPU g]...: COMMAND  (log: ...)" and "[i/n] done: COMMAND"
        started_at, ended_at, gpu_of = {}, {}, {}
        for line in sweep.stdout:
            print(line, end="", flush=True)
            head, _, rest = line.partition(": ")
            command = rest.split("  (log:")[0].strip()
            if command not in by_command:
                continue
            run = by_command[command]
            if line.startswith("started"):
                started_at[command] = time.monotonic()
                # On a box of several GPUs, only the runs on its own GPU share a run's device.
                gpu_of[command] = head.partition(" on GPU ")[2] or None
                continue
            ended_at[command] = time.monotonic()
            if finished(run) and command in started_at and not unwritable_manifests:
                began, end = started_at[command], ended_at[command]
                spans = [(other_began, ended_at.get(other)) for other, other_began in started_at.items()
                         if gpu_of[other] == gpu_of[command]]
                try:
                    record(run, dict(facts, date=now(), slot=slot, runs_at_once=most_at_once(began, end, spans),
                                     wall_seconds=round(end - began, 1), resumed=command in resumed))
                except OSError as error:  # the slot stops; the next one records the run late
                    unwritable_manifests.append((manifest_path(run), error))
                    continue
                ended.append(run["history"])

    follower = threading.Thread(target=follow)
    follower.start()
    deadline = time.monotonic() + max(seconds, 0)
    while True:
        try:
            sweep.wait(timeout=min(1.0, max(deadline - time.monotonic(), 0)))
            stopped = False
            break
        except subprocess.TimeoutExpired:
            if stop_requested.is_set() or unwritable_manifests or time.monotonic() >= deadline:
                why = ("stopped by a signal" if stop_requested.is_set() else "a manifest cannot be written"
                       if unwritable_manifests else "the slot is over")
                print(f"{why}: stopping the runs still going (each keeps a checkpoint)", flush=True)
                sweep.send_signal(signal.SIGTERM)
                sweep.wait()
                stopped = True
                break
    follower.join()
    return ended, stopped or bool(unwritable_manifests)


def most_at_once(began, end, spans):
    """The most runs going at one moment between `began` and `end`, of `spans`: (start, end, or
    None while it runs), this run's included. A run that started as another ended replaced it."""
    moments = [began] + [start for start, _ in spans if began < start < end]
    return max(sum(1 for start, stop in spans if start <= moment and (stop is None or stop > moment))
               for moment in moments)


def name(run):
    """The run's folder and name: runs of two folders may share a name (RAdam with and without its
    schedule)."""
    return f"{run['configuration']}/{run['stem']}"


def record(run, entry):
    """Add the finished `run` to its folder's manifest, with its command and its budget."""
    folder = os.path.dirname(run["history"])
    manifest = read_manifest(folder)
    settings = RunFiles(run["history"], run["report"]).recorded_settings() or {}
    budget = runs.budget_of(settings) if settings else None
    if budget:
        manifest.setdefault("budget", budget)
    manifest["runs"][run["stem"]] = dict(entry, command=run["command"], budget=budget,
                                         learning_rate=settings.get("learning_rate"))
    write_json(manifest_path(run), manifest)


def pack(archive, results, runs):
    """The slot's finished runs (history, report, CSV log, sweep log), every manifest and the
    slots' record, as one .tar.gz to extract in the folder that holds `results/` (its paths start
    with `results/`)."""
    names = [os.path.join(results, "slots.json")]
    names += sorted({manifest_path(run) for run in runs})
    for run in runs:
        stem = os.path.splitext(run["history"])[0]
        names += [run["history"], run["report"], stem + ".json", stem + ".csv", stem + ".log"]
    with replaced_atomically(archive) as temporary, tarfile.open(temporary, "w:gz") as tar:
        for name in names:
            if os.path.isfile(name):
                tar.add(name, arcname=os.path.relpath(name, os.path.dirname(os.path.abspath(results))))
    return os.path.getsize(archive)


def main(argv=None):
    stop_requested.clear()
    unwritable_manifests.clear()
    handlers = {signum: signal.signal(signum, lambda signum, frame: stop_requested.set())
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return advance(argv)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def advance(argv):
    """Advance the study by one slot: main's work, with SIGTERM and Ctrl-C ending the slot early."""
    started = time.monotonic()
    args = parse_arguments(argv)
    if args.minutes * 60 <= RESERVE_SECONDS:
        raise UserError(f"a slot of {args.minutes:g} minutes leaves no time for a run: its last {RESERVE_SECONDS} s "
                        "are kept for stopping the runs, the manifests and the archive; give --minutes 1 or more")
    facts = environment_facts(args.commit)
    on_cpu = facts["device"].startswith("CPU")
    if on_cpu and args.study == "faithful" and args.epochs is None:
        raise UserError("the faithful study's runs of 60 epochs take hours each on a CPU: run --study cpu, "
                        "or give --epochs (e.g. --epochs 1) to try the campaign here, or run it on a GPU")
    if os.path.exists(args.results) and not os.path.isdir(args.results):
        raise UserError(f"--results {args.results} is not a folder; give the campaign's folder, such as results")
    if args.epochs is not None and os.path.abspath(args.results) == os.path.abspath(RESULTS):
        raise UserError(f"--epochs makes runs of another budget than the study's: give the trial a --results "
                        f"folder of its own, not {args.results}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1  # only Linux says
    if on_cpu and args.cpu_runs and args.cpu_runs > cores:
        raise UserError(f"--cpu-runs {args.cpu_runs} needs as many cores, and this machine gives {cores}; "
                        f"give --cpu-runs {cores} or fewer")
    if args.dry_run:
        return one_slot(args, facts, cores, started)
    if not os.path.isfile("train.py"):
        raise UserError(f"no train.py in {os.getcwd()}: run results/campaign.py from the repository's root, where "
                        "its runs' commands (python train.py ...) start")
    try:
        ensure_writable(args.archive)
    except OSError as error:
        raise UserError(str(error)) from None
    lock = lock_results(args.results)
    try:
        return one_slot(args, facts, cores, started)
    finally:
        lock.close()


def lock_results(results):
    """The open lock file of `results`, locked: two slots at once would take one slot number and
    overwrite each other's manifest entries. UserError while another slot holds it."""
    try:
        os.makedirs(results, exist_ok=True)
        lock = open(os.path.join(results, ".campaign.lock"), "a+")
    except OSError as error:
        raise UserError(f"cannot write in {results} ({error.strerror or error}); give --results a folder it can "
                        "write in") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise UserError(f"another results/campaign.py is advancing {results}; let it finish first") from None
    except OSError:  # a file system without locks
        pass
    return lock


def one_slot(args, facts, cores, started):
    """advance's slot: plan, run, record and pack."""
    on_cpu = facts["device"].startswith("CPU")
    slots_path = os.path.join(args.results, "slots.json")
    slots = read_json(slots_path, [])
    if not isinstance(slots, list):
        raise UserError(f"cannot read {slots_path} (it holds no list of slots); restore it from git or the last "
                        "archive")
    slot = len(slots) + 1
    finished_runs, planned, stopped, late = [], [], False, None

    def seconds_left():
        return args.minutes * 60 - RESERVE_SECONDS - (time.monotonic() - started)

    # A slot goes on while it has time: a stage of the CPU study is planned once the one before is done.
    while not stopped:
        runs = campaign_runs(args)
        check_budgets(runs, args)
        if late is None and not args.dry_run:
            # Runs that finished with no campaign to record them are recorded now, without the wall
            # time that nobody measured, and packed with this slot's.
            late = unrecorded(runs, args)
            for run in late:
                try:
                    record(run, dict(date=now(), slot=slot, recorded_late=True))
                except OSError as error:
                    raise UserError(f"cannot write {manifest_path(run)} ({error.strerror or error}); free some space, "
                                    "then give the same command again") from None
        missing = [run for run in runs if not finished(run)]
        if not missing:
            print(f"all {len(runs)} runs are in {args.results}: the study has none left to run")
            break
        calibration = calibration_from(runs, facts["device"])
        if on_cpu:  # in order, a few at once; the runs in flight at the end keep their checkpoints
            sharing = args.cpu_runs or min(CPU_RUNS, cores)
            chosen = missing
        else:
            sharing, chosen = plan(missing, seconds_left(), args.most_runs_per_gpu, calibration)
            if missing and not chosen and not (finished_runs or planned):
                # None finishes in this slot: the first goes as far as it can and keeps its
                # checkpoint, so that a later slot plans it at what it has left.
                sharing, chosen = 1, missing[:1]
        note = estimates_note(chosen, sharing, calibration, facts["device"], args.results)
        if note and not on_cpu:
            print(note)
        done = f"{len(runs) - len(missing)} of {len(runs)} runs are in {args.results}"
        if not chosen:
            print(f"{done}; none of the {len(missing)} missing would finish in the "
                  f"{max(seconds_left(), 0) / 60:.1f} minutes left of this slot")
            break
        print(f"{done}; this slot of {args.minutes:g} minutes runs {len(chosen)} of the missing, {sharing} at a time:")
        for run in chosen:
            known = not on_cpu or (run["model"], sharing) in calibration  # the H200's figures are no CPU's
            expected = f"  (expected {expected_seconds(run, sharing, calibration):.0f} s)" if known else ""
            print(f"    {run['configuration']}/{run['stem']}{expected}")
        if args.dry_run or seconds_left() <= 0 or stop_requested.is_set():
            break
        ended, stopped = run_slot(chosen, sharing, seconds_left(), facts, slot, on_cpu)
        finished_runs += [run for run in chosen if run["history"] in ended]
        planned += [run for run in chosen if run["history"] not in ended]
        if len(ended) < len(chosen):
            break  # a run failed or was stopped: the next slot tries it again
    late = late or []
    if args.dry_run or not (finished_runs or planned or late):
        if stop_requested.is_set() and not args.dry_run:
            print("stopped by a signal before any run: the same command starts the slot again", file=sys.stderr)
            return EXIT_STOPPED
        return 0

    slots.append(dict(facts, slot=slot, date=now(), minutes=args.minutes, study=args.study,
                      wall_seconds=round(time.monotonic() - started, 1),
                      finished=[name(run) for run in finished_runs], unfinished=[name(run) for run in planned],
                      **(dict(recorded_late=[name(run) for run in late]) if late else {})))
    try:
        write_json(slots_path, slots)
    except OSError as error:
        raise UserError(f"cannot write {slots_path} ({error.strerror or error}); free some space: the slot's runs "
                        f"are in {args.results}, recorded in its manifests") from None
    try:
        size = pack(args.archive, args.results, finished_runs + late)
    except OSError as error:
        raise UserError(f"cannot write {args.archive} ({error.strerror or error}); the slot's runs are in "
                        f"{args.results}, recorded in its manifests and slots.json") from None
    print(f"{len(finished_runs)} runs finished" + (f", {len(late)} recorded late" if late else "")
          + f"; {args.archive} holds them ({size / 2**20:.2f} MiB)")
    if unwritable_manifests:
        manifest, error = unwritable_manifests[0]
        raise UserError(f"cannot write {manifest} ({error.strerror or error}); free some space, then give the same "
                        "command again: it records the run that finished")
    if stop_requested.is_set():
        print("stopped by a signal: the same command resumes the study", file=sys.stderr)
        return EXIT_STOPPED
    return 0 if not planned or stopped else 1


if __name__ == "__main__":
    run_main(main)
