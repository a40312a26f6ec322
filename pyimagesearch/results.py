"""The runs of one or more folders, read as plain data, and the statistics the project reports.

A run is a dict: its model, optimizer, data set, learning rate and seed (from its name, see
runs.py), its history's curves, and the test accuracy and macro F1 of its classification report.
Runs of one combination with different seeds give a mean and sample standard deviation; two
kinds of run are compared by the differences of their runs with the same seed, with the 95%
confidence interval of its mean (Student's t). No Keras here.
"""

import collections
import os
import sys

import numpy as np
from scipy import stats

from pyimagesearch import runs as run_names
from pyimagesearch.errors import UserError
from pyimagesearch.files import read_json, read_small_file
from pyimagesearch.histories import not_a_history, read_history
from pyimagesearch.original import DATASETS, DEFAULT_LEARNING_RATES, MODELS, OPTIMIZERS, SEED
from pyimagesearch.run_files import read_settings, settings_path

# Keras 2 (the 2019 pickles) wrote the short names on the right.
KEY_ALIASES = {"accuracy": "acc", "val_accuracy": "val_acc", "learning_rate": "lr"}
REQUIRED_KEYS = ["loss", "val_loss", "accuracy", "val_accuracy"]
FLOAT32_MAX = float(np.finfo(np.float32).max)
OPTIONAL_KEYS = ["learning_rate", "epoch_time"]


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


# ## Reading


def read_curves(path):
    """The history at `path` as {key: float array}, with the Keras 3 key names; UserError if not one."""
    history = read_history(path)  # plain data only: a pickle that would run code is refused
    curves = {}
    for key in REQUIRED_KEYS + OPTIONAL_KEYS:
        values = history.get(key, history.get(KEY_ALIASES.get(key)))
        if values is not None:
            try:
                curves[key] = np.asarray(values, dtype=float)
            except OverflowError:
                raise not_a_history(path, f"its '{key}' holds a number too large for a float") from None
            # train.py records no epoch whose training loss is not finite: such a history diverged
            # elsewhere. The validation loss may be (a training loss of 1e10 validates at inf), and
            # is drawn as far as it is finite. Keras records float32, so no history holds a finite
            # number beyond float32's (which would leave matplotlib no axis to draw).
            values = curves[key]
            beyond = ~(np.abs(values) <= FLOAT32_MAX) & (np.isfinite(values) | (key != "val_loss"))
            (epochs,) = np.nonzero(beyond)
            if len(epochs):
                raise not_a_history(path, f"its '{key}' is {curves[key][epochs[0]]} in epoch {epochs[0] + 1}")
    # Curves may differ in length (validation every few epochs); none may be empty.
    for key in REQUIRED_KEYS:
        if key not in curves:
            problem = f"no '{key}' key"
        elif len(curves[key]) == 0:
            problem = "no epochs" if key == "loss" else f"no '{key}' values"
        else:
            continue
        raise not_a_history(path, problem)
    return curves


MAX_REPORT_BYTES = 2**20  # a report of 1,000 classes takes 70 KB


def read_report(path):
    """(test accuracy, macro F1) from a classification_report text, or (None, None) with a warning
    if there is none. UserError, naming what is wrong, if there is one that cannot be read."""
    if not os.path.exists(path):
        warn(f"cannot read {path} (FileNotFoundError); its test accuracy and F1 stay empty")
        return None, None
    try:
        return summary_of(report_text(path))
    except ValueError as problem:
        raise UserError(f"{path} is not a readable classification report ({problem}); its test accuracy "
                        "and F1 stay empty") from None


def report_text(path):
    """The report at `path` as text; ValueError, in words, if it cannot be read as such."""
    try:
        data = read_small_file(path, MAX_REPORT_BYTES, "a report")
    except OSError as error:
        raise ValueError(error.strerror or str(error)) from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ValueError("it is not text") from None


def summary_of(text):
    """(accuracy, macro F1) from a report's summary lines; ValueError, in words, if it has none."""
    accuracy = micro_average = macro_f1 = None
    for line in text.splitlines():
        fields = line.split()
        # A class may be called "accuracy" too; only the summary line has 3 fields.
        if len(fields) == 3 and fields[0] == "accuracy":
            accuracy = fields[1]
        # scikit-learn before 0.22 (the 2019 reports) printed no accuracy line but a "micro avg",
        # whose precision, recall and F1 all equal the accuracy.
        elif fields[:2] == ["micro", "avg"] and len(fields) == 6:
            micro_average = fields[2]
        elif fields[:2] == ["macro", "avg"] and len(fields) == 6:
            macro_f1 = fields[4]
    accuracy = micro_average if accuracy is None else accuracy
    if accuracy is None or macro_f1 is None:
        raise ValueError("it has no accuracy (or micro avg) or macro avg line")
    return fraction(accuracy), fraction(macro_f1)


def fraction(text):
    """The number from 0 to 1 that `text` writes; ValueError, in words, if it writes none."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1:
        raise ValueError(f"it says {text!r} where a number from 0 to 1 belongs")
    return value


def history_names(folder):
    """The names of the training histories in `folder`; UserError if it holds none."""
    if os.path.isfile(folder):
        raise UserError(f"--input {folder} is a file; give the folder that holds the .pickle files")
    if not os.path.isdir(folder):
        raise UserError(f"input folder {folder} does not exist; run the experiments first or fix --input")
    try:
        names = sorted(os.listdir(folder))
    except OSError as error:
        raise UserError(f"cannot read the input folder {folder} ({error.strerror}); "
                        "fix its permissions or --input") from None
    names = [name for name in names if is_history_name(name) and os.path.isfile(os.path.join(folder, name))]
    if not names:
        raise UserError(f"no training histories ({{model}}_{{optimizer}}_{{dataset}}.pickle) in {folder}")
    return names


def load_runs(*folders, budget=None):
    """(every readable run in `folders` as a dict, sorted dataset-major in the canonical orders,
    the paths of the histories and reports that could not be read, each named on stderr as it is
    read).

    A folder whose manifest.json records a budget (results/campaign.py's), or else any folder
    where `budget` is given (a study's), holds only runs of that budget: a run whose settings
    (`<stem>.json`) say another, or that has none, is named on stderr and left out, as not one of
    the folder's runs. A history of another number of epochs than its settings say is named and
    counted as unreadable. UserError where two runs of one combination ran with one seed
    (`_lr3e-04_seed1` and `_lr3.0e-04_seed1`): each would count as a seed.
    """
    runs, unreadable = [], []
    for folder in folders:
        required = folder_budget(folder) or budget
        for name in history_names(folder):
            model, optimizer, dataset, learning_rate, seed = run_names.parse_stem(name[: -len(".pickle")])
            path = os.path.join(folder, name)
            settings = read_settings(path)
            if required is not None and (settings is None or run_names.budget_of(settings) != required):
                warn(f"{path} was not made with the budget of {folder} ({required}); left out")
                continue
            misnamed = name_contradictions(path, settings, model, optimizer, dataset, learning_rate, seed)
            if misnamed:
                warn(misnamed)
                unreadable.append(path)
                continue
            try:
                history = read_curves(path)
            except UserError as error:
                warn(error)
                unreadable.append(path)
                continue
            mismatch = epochs_contradiction(path, settings, history)
            if mismatch:
                warn(mismatch)
                unreadable.append(path)
                continue
            report = path[: -len(".pickle")] + ".txt"
            try:
                test_accuracy, macro_f1 = read_report(report)
            except UserError as error:
                warn(error)
                unreadable.append(report)
                test_accuracy = macro_f1 = None
            runs.append(dict(model=model, optimizer=optimizer, dataset=dataset, learning_rate=learning_rate,
                             variant=variant(optimizer, learning_rate), seed=seed, path=path, settings=settings,
                             history=history, test_accuracy=test_accuracy, macro_f1=macro_f1,
                             best_val_accuracy=float(np.max(history["val_accuracy"]))))
    runs.sort(key=lambda run: (DATASETS.index(run["dataset"]), MODELS.index(run["model"]),
                               OPTIMIZERS.index(run["optimizer"]), run["learning_rate"],
                               -1 if run["seed"] is None else run["seed"]))
    for combination in group(runs, "model", "optimizer", "dataset", "learning_rate").values():
        runs_by_seed(combination)
    return runs, unreadable


def name_contradictions(history_path, settings, model, optimizer, dataset, learning_rate, seed):
    """What a run's `settings` (`run_files.read_settings` of its history) say against its name, in words, or
    None: the tables and the pairing by seed go by the name, so a run that train.py made with
    another rate or seed than its name says would be tabulated and paired as another run."""
    if settings is None:
        return None
    settings_file = settings_path(history_path)
    named = dict(model=model, optimizer=optimizer, dataset=dataset, learning_rate=learning_rate,
                 seed=SEED if seed is None else seed)
    said = {key: settings.get(key, value) for key, value in named.items()}
    if said == named or not names_a_run(**said):  # the name's run, or settings train.py did not write
        return None
    differences = [f"{key} {said[key]!r} where the name says {value!r}"
                   for key, value in named.items() if said[key] != value]
    stem = run_names.stem(said["model"], said["optimizer"], said["dataset"], said["learning_rate"],
                          None if said["seed"] == SEED else said["seed"])
    return (f"{history_path} is named as another run than its settings ({settings_file}) say: "
            f"{', '.join(differences)}; left out: rename the run's files to {stem}.*, or delete them")


def epochs_contradiction(history_path, settings, history):
    """What a run's `settings` say against the epochs its history holds, in words, or None:
    train.py writes a history only once every epoch is done, so one of another length is another
    run's, copied over this one's."""
    epochs = settings.get("epochs") if settings is not None else None
    if type(epochs) is not int or len(history["loss"]) == epochs:
        return None
    return (f"{history_path} holds {len(history['loss'])} epochs where its settings "
            f"({settings_path(history_path)}) say {epochs}: it is another run's history; left out: "
            "delete the run's files and train it again")


def names_a_run(model, optimizer, dataset, learning_rate, seed):
    """Whether these are settings that train.py takes (and a name can hold)."""
    return (model in MODELS and optimizer in OPTIMIZERS and dataset in DATASETS
            and type(learning_rate) in (int, float) and 0 < learning_rate <= 10 and type(seed) is int)


def variant(optimizer, learning_rate):
    """The optimizer's name, with its rate where that is not the optimizer's default: "adam lr=3e-04"."""
    if learning_rate == DEFAULT_LEARNING_RATES[optimizer]:
        return optimizer
    return f"{optimizer} lr={run_names.rate_text(learning_rate)}"


def is_history_name(name):
    return name.endswith(".pickle") and run_names.parse_stem(name[: -len(".pickle")]) is not None


def holds_histories(folder):
    """Whether `folder` is a folder that holds a file named as a training history (none yet: a
    study's folder before its first run)."""
    return os.path.isdir(folder) and any(is_history_name(name) for name in os.listdir(folder))


def folder_budget(folder):
    """The budget that `folder`'s manifest.json records for its runs, or None."""
    manifest = read_json(os.path.join(folder, "manifest.json"))
    budget = manifest.get("budget") if isinstance(manifest, dict) else None
    return budget if isinstance(budget, dict) else None


def group(runs, *fields):
    """{tuple of `fields` values: [runs]}, in the runs' (canonical) order."""
    groups = {}
    for run in runs:
        groups.setdefault(tuple(run[field] for field in fields), []).append(run)
    return groups


def by_optimizer(runs):
    """{variant (optimizer and learning rate): [runs]}, in the runs' order."""
    return {name: found for (name,), found in group(runs, "variant").items()}


# ## Statistics


def rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def mean_and_std(values):
    """(mean, sample std) of the known values; std is None for fewer than two."""
    known = [value for value in values if value is not None]
    if not known:
        return None, None
    std = np.std(known, ddof=1) if len(known) > 1 else None
    return rounded(np.mean(known)), rounded(std)


Difference = collections.namedtuple("Difference", "pairs mean std low high")


def paired_difference(first_runs, second_runs, key):
    """First minus second in `key` (a run's field), over the runs that share a seed.

    Returns the number of pairs, the mean difference, its sample std and the 95% confidence
    interval of the mean (Student's t with pairs - 1 degrees of freedom); None where there are
    too few pairs. A run without a partner, or whose `key` is unknown (None), is left out; a
    history without _seedN in its name ran with train.py's default seed, SEED.
    """
    first, second = runs_by_seed(first_runs), runs_by_seed(second_runs)
    # Rounded to 12 decimals: reports give 4, and 0.9104 - 0.9079 and 0.9646 - 0.9621 differ in their
    # last bits, which would make equal differences a spread.
    differences = [round(first[seed][key] - second[seed][key], 12) for seed in sorted(first.keys() & second.keys())
                   if first[seed][key] is not None and second[seed][key] is not None]
    pairs = len(differences)
    if pairs < 2:
        return Difference(pairs, differences[0] if differences else None, None, None, None)
    if len(set(differences)) == 1:  # NumPy's mean of equal values can be off in its last bit: a spread of 1e-19
        mean, std = differences[0], 0.0
    else:
        mean, std = np.mean(differences), np.std(differences, ddof=1)
    half_width = stats.t.ppf(0.975, pairs - 1) * std / np.sqrt(pairs)
    return Difference(pairs, float(mean), float(std), float(mean - half_width), float(mean + half_width))


def runs_by_seed(runs):
    found = {}
    for run in runs:
        seed = SEED if run["seed"] is None else run["seed"]
        if seed in found:
            raise UserError(f"{found[seed]['path']} and {run['path']} both ran with seed {seed}, so they cannot "
                            "be paired by seed; move one of them away")
        found[seed] = run
    return found


def described(values, digits=4):
    """'mean ± std (n)' of the known values (n of them), or None where none is known."""
    mean, std = mean_and_std(values)
    if mean is None:
        return None
    count = len([value for value in values if value is not None])
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}") + f" ({count})"


# A verdict on a paired difference needs this many pairs, whose differences are not all equal.
VERDICT_PAIRS = 3


def verdict(difference):
    """'higher', 'lower' or 'no difference' by whether the 95% interval lies above 0, below 0 or
    across it; '' where the pairs cannot say (fewer than VERDICT_PAIRS, or no spread)."""
    if difference.pairs < VERDICT_PAIRS or not difference.std:
        return ""
    if difference.low > 0:
        return "higher"
    if difference.high < 0:
        return "lower"
    return "no difference"
