"""A run: its name, `{model}_{optimizer}_{dataset}[_lr{rate}][_seed{N}]`, and its train.py command
line, each written and read back, and the order and lanes a sweep runs them in.

The rate is in the name only when it is not the optimizer's default (DEFAULT_LEARNING_RATES), and
the seed only when the run names one (a run without ran with train.py's default, original.SEED),
so that the original's runs keep their 2019 names. No Keras here: plot.py reads names without
starting it.
"""

import itertools
import os
import re
import shlex

from pyimagesearch.errors import UserError
from pyimagesearch.original import DATASETS, DEFAULT_LEARNING_RATES, MODELS, OPTIMIZERS
from pyimagesearch.timings import LONGEST_FIRST

_STEM = re.compile(
    rf"({'|'.join(MODELS)})_({'|'.join(OPTIMIZERS)})_({'|'.join(DATASETS)})"
    r"(?:_lr([0-9]+(?:\.[0-9]+)?e[-+][0-9]+))?(?:_seed([0-9]+))?"
)


def rate_text(rate):
    """The shortest scientific notation that reads back as `rate` exactly: 3e-04, 2.5e-04."""
    for digits in range(17):
        text = f"{rate:.{digits}e}"
        if float(text) == rate:
            return text
    return repr(rate)


def stem(model, optimizer, dataset, learning_rate=None, seed=None):
    """The run's name without a file suffix; a `learning_rate` of None or the optimizer's default,
    and a `seed` of None, add nothing."""
    name = f"{model}_{optimizer}_{dataset}"
    if learning_rate is not None and learning_rate != DEFAULT_LEARNING_RATES[optimizer]:
        name += f"_lr{rate_text(learning_rate)}"
    if seed is not None:
        name += f"_seed{seed}"
    return name


def parse_stem(name):
    """(model, optimizer, dataset, learning rate, seed) of a run's name, the default rate filled
    in and the seed None where the name has none; None if `name` is not one."""
    match = _STEM.fullmatch(name)
    if match is None:
        return None
    model, optimizer, dataset, rate, seed = match.groups()
    rate = DEFAULT_LEARNING_RATES[optimizer] if rate is None else float(rate)
    return model, optimizer, dataset, rate, None if seed is None else int(seed)


# The budget of a run: train.py's settings that say how much it trains and on what.
BUDGET_KEYS = ("epochs", "batch_size", "training_images", "validation_images", "augmentation", "mixed_precision")


def budget_of(settings):
    """The budget in a run's settings (train.py's `<stem>.json`, or a study's budget)."""
    return {key: settings.get(key) for key in BUDGET_KEYS}


# ## Command lines


def train_commands(output, datasets, models, optimizers, seeds=1, learning_rates=None, no_download=False, **settings):
    """One train.py command line per run, in the original's order: data set, model, optimizer,
    then learning rate and seed. `seeds` 1 runs train.py's default seed; N > 1 seeds 1 to N.
    `settings` are train.py's (epochs, batch_size, training_images, validation_images,
    augmentation, mixed_precision, checkpoint_every, radam_total_steps, warmup_steps): those left
    out or None keep train.py's default, and a RAdam or adam-warmup setting reaches only those runs."""
    unknown = set(settings) - set(SIZES) - {"augmentation", "mixed_precision", "checkpoint_every",
                                            "radam_total_steps", "warmup_steps"}
    if unknown:
        raise TypeError(f"train_commands() got unknown settings: {', '.join(sorted(unknown))}")
    commands = []
    for dataset, model, optimizer in itertools.product(datasets, models, optimizers):
        for rate, seed in itertools.product(learning_rates or [None], range(1, seeds + 1)):
            seed = seed if seeds > 1 else None
            # Joined with "/" rather than os.path.join: the commands are for a POSIX shell.
            path = f"{output.rstrip('/')}/{stem(model, optimizer, dataset, rate, seed)}"
            words = ["python", "train.py", "--history", f"{path}.pickle", "--report", f"{path}.txt"]
            words += ["--dataset", dataset, "--model", model, "--optimizer", optimizer]
            if rate is not None and rate != DEFAULT_LEARNING_RATES[optimizer]:
                words += ["--learning-rate", rate_text(rate)]
            if seed is not None:
                words += ["--seed", str(seed)]
            for name, flag in SIZES.items():
                if settings.get(name):  # None, or 0 validation images: train.py's default
                    words += [flag, str(settings[name])]
            if not settings.get("augmentation", True):
                words.append("--no-augmentation")
            if settings.get("mixed_precision"):
                words.append("--mixed-precision")
            if settings.get("checkpoint_every") is not None:
                words += ["--checkpoint-every", str(settings["checkpoint_every"])]
            if settings.get("radam_total_steps") is not None and optimizer == "radam":
                words += ["--radam-total-steps", str(settings["radam_total_steps"])]
            if settings.get("warmup_steps") is not None and optimizer == "adam-warmup":
                words += ["--warmup-steps", str(settings["warmup_steps"])]
            if no_download:
                words.append("--no-download")
            commands.append(shlex.join(words))
    return list(dict.fromkeys(commands))  # a value given twice (digits digits, 1e-3 0.001) is one run


# train.py's options that size a run, in the order the commands give them.
SIZES = {"epochs": "--epochs", "batch_size": "--batch-size", "training_images": "--training-images",
         "validation_images": "--validation-images"}


def option_value(words, long, short=None, default=None):
    """The value a command line gives an option: `--model X`, `--model=X`, `-m X` or `-mX`
    (`short` None for an option without a short form).

    The last one wins, as in argparse.
    """
    value = default
    for index, word in enumerate(words):
        if word in (long, short) and index + 1 < len(words):
            value = words[index + 1]
        elif word.startswith(long + "="):
            value = word[len(long) + 1 :]
        elif short and word.startswith(short) and not word.startswith("--") and len(word) > len(short):
            value = word[len(short) :]
    return value


def read_runs(lines):
    """(command, log path, model) for each train.py command; the log is `<history stem>.log`."""
    runs = []
    for line in lines:
        command = line.strip()
        if not command or command.startswith("#"):
            continue
        if "\0" in command:  # no program can be given it: refused before any run starts, not as one ends
            raise UserError(f"cannot read {command!r} (it holds a NUL character); every line must be a train.py "
                            "command")
        try:
            words = shlex.split(command)
        except ValueError as error:  # an unbalanced quote
            raise UserError(f"cannot read {command!r} ({error}); every line must be a train.py command")
        history = option_value(words, "--history", "-i")
        if history is None:
            raise UserError(f"no --history in {command!r}; every line must be a train.py command")
        model = option_value(words, "--model", "-m", default="resnet")  # train.py's default
        runs.append((command, os.path.splitext(history)[0] + ".log", model))
    return runs


def longest_first(runs, model=lambda run: run[2]):
    """The runs ordered by their `model(run)` (by default a `read_runs` tuple's), the longest
    model first; the given order within a model."""
    def rank(run):
        name = model(run)
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    return sorted(runs, key=rank)


def schedule(seconds, lanes):
    """sweep.py's schedule for runs that take `seconds`, in the order given: each run goes to the
    lane that falls free first (the lowest-numbered of those free at once). Each lane's run indices."""
    ends = [0.0] * lanes
    taken = [[] for _ in range(lanes)]
    for index, run_seconds in enumerate(seconds):
        lane = ends.index(min(ends))
        taken[lane].append(index)
        ends[lane] += run_seconds
    return taken


def makespan(seconds, lanes):
    """When the last run of that schedule ends."""
    return max(sum(seconds[index] for index in taken) for taken in schedule(seconds, lanes))
