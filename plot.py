"""Plot the training curves of the Adam-vs-RAdam runs and tabulate their results.

Usage: python plot.py --input output --plots plots

Several --input folders are read as one (e.g. `--input results/original results/seeds`).

For each dataset x model pair this draws `{model}_{dataset}.png` (accuracy above, loss below,
one train and one validation line per optimizer), then writes a `summary.png` of every pair's
validation accuracy and learning rate, and the results tables `results.csv` (one row per run),
`results_mean.csv` (mean and std over seeds), `results_pairs.csv` (each other optimizer of a
model/dataset minus RAdam, e.g. adam - radam or adam-warmup - radam, paired by seed, with a 95%
confidence interval) and `results.md` (the same three, for reading).
A history it cannot read (damaged, not plain data, or holding NaN or infinity) is named as it is
read and left out, and a report it cannot read leaves its run's test accuracy and F1 empty;
plot.py draws and tabulates the rest, then names them all again and exits with code 1.
"""

import argparse
import collections
import csv
import io
import itertools
import os
import re
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from scipy import stats

from pyimagesearch.errors import UserError, run_main
from pyimagesearch.files import ensure_writable, replaced_atomically, write_atomically
from pyimagesearch.histories import read_history
from pyimagesearch.names import DATASETS, MODELS, OPTIMIZERS

plt.style.use("ggplot")

# An optimizer without a name here is displayed part by part ("some-thing": "Some-thing").
DISPLAY_NAMES = {"adam": "Adam", "radam": "RAdam", "sgd": "SGD", "rmsprop": "RMSprop", "adam-warmup": "Adam + warmup"}
OPTIMIZER_COLORS = dict(zip(OPTIMIZERS, itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])))
DATASET_LINESTYLES = dict(zip(DATASETS, ["-", "--", ":", "-.", (0, (3, 1, 1, 1, 1, 1))]))

HISTORY_NAME = re.compile(
    rf"^({'|'.join(MODELS)})_({'|'.join(OPTIMIZERS)})_({'|'.join(DATASETS)})(?:_seed(\d+))?\.pickle$"
)
DEFAULT_SEED = 42  # train.py's; a history without _seedN in its name ran with it
# Keras 2 (the 2019 pickles) wrote the short names on the right.
KEY_ALIASES = {"accuracy": "acc", "val_accuracy": "val_acc", "learning_rate": "lr"}
REQUIRED_KEYS = ["loss", "val_loss", "accuracy", "val_accuracy"]
OPTIONAL_KEYS = ["learning_rate", "epoch_time"]


def display_name(optimizer):
    return DISPLAY_NAMES.get(optimizer) or "-".join(DISPLAY_NAMES.get(part, part.capitalize()) for part in optimizer.split("-"))


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


# ## Loading the runs


def not_a_history(path, problem):
    return UserError(f"{path} is not a readable training history ({problem}); delete it and re-run its train.py line")


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
            # train.py records no epoch whose loss is not finite: such a history diverged elsewhere.
            (epochs,) = np.nonzero(~np.isfinite(curves[key]))
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
    if not os.path.isfile(path):  # a FIFO would block the read
        raise ValueError("it is not a regular file")
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_REPORT_BYTES + 1)
    except OSError as error:
        raise ValueError(error.strerror or str(error)) from None
    if len(data) > MAX_REPORT_BYTES:
        raise ValueError(f"it is larger than {MAX_REPORT_BYTES // 2**20} MiB, far more than a report")
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
    names = [name for name in names if HISTORY_NAME.match(name) and os.path.isfile(os.path.join(folder, name))]
    if not names:
        raise UserError(f"no training histories ({{model}}_{{optimizer}}_{{dataset}}.pickle) in {folder}")
    return names


def load_runs(*folders):
    """(every readable run in `folders` as a dict, sorted dataset-major in the canonical orders,
    the paths of the histories and reports that could not be read, each named on stderr as it is read)."""
    runs, unreadable = [], []
    for folder in folders:
        for name in history_names(folder):
            model, optimizer, dataset, seed = HISTORY_NAME.match(name).groups()
            path = os.path.join(folder, name)
            try:
                history = read_curves(path)
            except UserError as error:
                warn(error)
                unreadable.append(path)
                continue
            report = path[: -len(".pickle")] + ".txt"
            try:
                test_accuracy, macro_f1 = read_report(report)
            except UserError as error:
                warn(error)
                unreadable.append(report)
                test_accuracy = macro_f1 = None
            runs.append(dict(model=model, optimizer=optimizer, dataset=dataset,
                             seed=None if seed is None else int(seed), path=path, history=history,
                             test_accuracy=test_accuracy, macro_f1=macro_f1,
                             best_val_accuracy=float(np.max(history["val_accuracy"]))))
    runs.sort(key=lambda run: (DATASETS.index(run["dataset"]), MODELS.index(run["model"]),
                               OPTIMIZERS.index(run["optimizer"]), -1 if run["seed"] is None else run["seed"]))
    return runs, unreadable


def group(runs, *fields):
    """{tuple of `fields` values: [runs]}, in the runs' (canonical) order."""
    groups = {}
    for run in runs:
        groups.setdefault(tuple(run[field] for field in fields), []).append(run)
    return groups


def by_optimizer(runs):
    return {optimizer: found for (optimizer,), found in group(runs, "optimizer").items()}


# ## Drawing the curves


def draw_curve(axis, runs, key, **line_options):
    """The mean of the runs' `key` curves, with a min-max band when there are several seeds."""
    # Pad with NaN so that seeds which stopped at different epochs still average.
    longest = max(len(run["history"][key]) for run in runs)
    curves = np.array([np.pad(run["history"][key], (0, longest - len(run["history"][key])),
                              constant_values=np.nan) for run in runs])
    # Epochs count from 1, as in the results tables (the original script plotted from 0).
    epochs = np.arange(1, longest + 1)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # no epoch 1.5
    with warnings.catch_warnings():  # an epoch where every seed's value is NaN stays a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        (line,) = axis.plot(epochs, np.nanmean(curves, axis=0), **line_options)
        if len(runs) > 1:
            axis.fill_between(epochs, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0),
                              color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def draw_pair_figure(model, dataset, runs_by_optimizer):
    """The original two-panel figure, with one train and one val line per optimizer present."""
    names = " vs. ".join(display_name(optimizer) for optimizer in runs_by_optimizer)
    figure, axes = plt.subplots(2, 1, figsize=(7, 9))
    panels = [("accuracy", "acc", "Accuracy", "lower right"), ("loss", "loss", "Loss", "upper right")]
    for axis, (key, short, name, legend_location) in zip(axes, panels):
        if len(runs_by_optimizer) > 2:  # ggplot's 7 colours run out; tab20 pairs dark train, light val
            axis.set_prop_cycle(color=plt.cm.tab20.colors)
        for optimizer, runs in runs_by_optimizer.items():
            draw_curve(axis, runs, key, label=f"{optimizer}_train_{short}")
            draw_curve(axis, runs, f"val_{key}", label=f"{optimizer}_val_{short}")
        axis.set_title(f"{names} for '{model}' on '{dataset}' ({name})")
        axis.set_xlabel("Epoch #")
        axis.set_ylabel(name)
        axis.legend(loc=legend_location)
    figure.tight_layout()
    return figure


def present(runs, field, order):
    return [value for value in order if any(run[field] == value for run in runs)]


SMALL_TEXT = {"axes.titlesize": 10, "axes.labelsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8}


@plt.rc_context(SMALL_TEXT)  # a 4x3 grid stays readable with smaller text
def draw_summary_figure(runs):
    """Validation accuracy of every dataset x model pair, and the learning rates applied."""
    datasets, models = present(runs, "dataset", DATASETS), present(runs, "model", MODELS)
    runs_with_rate = [run for run in runs if "learning_rate" in run["history"]]
    rows = len(datasets) + bool(runs_with_rate)
    figure = plt.figure(figsize=(4 * len(models) + 1, 2.8 * rows + 0.8), layout="constrained")
    grid = figure.add_gridspec(rows, len(models))
    for (row, dataset), (column, model) in itertools.product(enumerate(datasets), enumerate(models)):
        # A shared 0-1 scale, so that a flat line at chance does not fill the panel.
        axis = figure.add_subplot(grid[row, column], title=f"{model} on {dataset}",
                                  xlabel="Epoch #", ylabel="Val accuracy", ylim=(0, 1.02))
        selected = [run for run in runs if run["dataset"] == dataset and run["model"] == model]
        for optimizer, optimizer_runs in by_optimizer(selected).items():
            draw_curve(axis, optimizer_runs, "val_accuracy", color=OPTIMIZER_COLORS[optimizer],
                       label=display_name(optimizer))
    if runs_with_rate:
        axis = figure.add_subplot(grid[-1, :], title="Learning rate applied per epoch", yscale="log",
                                  xlabel="Epoch #", ylabel="Learning rate")
        # The rate depends on the dataset (steps per epoch) and the run's length, not on the model:
        # one line per dataset, from its longest run. Adam, SGD and RMSprop may share one constant
        # rate, so earlier optimizers are drawn wider.
        for (dataset, optimizer), rate_runs in group(runs_with_rate, "dataset", "optimizer").items():
            longest = max(rate_runs, key=lambda run: len(run["history"]["learning_rate"]))
            draw_curve(axis, [longest], "learning_rate", color=OPTIMIZER_COLORS[optimizer],
                       linestyle=DATASET_LINESTYLES[dataset], label=f"{display_name(optimizer)} on {dataset}",
                       linewidth=len(OPTIMIZERS) - OPTIMIZERS.index(optimizer))
        dataset_keys = [plt.Line2D([], [], color="black", linestyle=DATASET_LINESTYLES[dataset], label=dataset)
                        for dataset in present(runs_with_rate, "dataset", DATASETS)]
        axis.legend(handles=dataset_keys, fontsize=8, loc="upper right")
    optimizer_keys = [plt.Line2D([], [], color=OPTIMIZER_COLORS[optimizer], label=display_name(optimizer))
                      for optimizer in present(runs, "optimizer", OPTIMIZERS)]
    figure.legend(handles=optimizer_keys, loc="outside upper center", ncols=4)
    return figure


def save(figure, path):
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def plot_pairs(runs, plots_folder, unreadable=()):
    unread = {HISTORY_NAME.match(os.path.basename(path)).groups()[:3] for path in unreadable
              if path.endswith(".pickle")}
    for (dataset, model), pair_runs in group(runs, "dataset", "model").items():
        runs_by_optimizer = by_optimizer(pair_runs)
        if len(runs_by_optimizer) == 1:
            (alone,) = runs_by_optimizer
            partner = {"adam": "radam", "radam": "adam"}.get(alone)
            folder, name = os.path.split(runs_by_optimizer[alone][0]["path"])
            partner_path = os.path.join(folder, name.replace(f"_{alone}_", f"_{partner}_", 1))
            reason = (f"only {alone} ran, nothing to compare" if partner is None else
                      f"{partner}'s history could not be read" if (model, partner, dataset) in unread else
                      f"{partner_path} is missing")
            warn(f"skipping {model} on {dataset}: {reason}")
            continue
        save(draw_pair_figure(model, dataset, runs_by_optimizer),
             os.path.join(plots_folder, f"{model}_{dataset}.png"))


# ## Tabulating the results


def rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def run_row(run):
    history = run["history"]
    seconds = history.get("epoch_time")
    return dict(model=run["model"], dataset=run["dataset"], optimizer=run["optimizer"],
                seed=run["seed"], epochs=len(history["loss"]),
                test_accuracy=run["test_accuracy"], macro_f1=run["macro_f1"],
                best_val_accuracy=rounded(run["best_val_accuracy"]),
                best_val_epoch=int(np.argmax(history["val_accuracy"])) + 1,
                final_val_loss=rounded(history["val_loss"][-1]),
                training_seconds=None if seconds is None else rounded(seconds.sum(), 1))


def mean_and_std(values):
    """(mean, sample std) of the known values; std is None for fewer than two."""
    known = [value for value in values if value is not None]
    if not known:
        return None, None
    std = np.std(known, ddof=1) if len(known) > 1 else None
    return rounded(np.mean(known)), rounded(std)


def mean_row(combination_rows):
    first = combination_rows[0]
    row = dict(model=first["model"], dataset=first["dataset"], optimizer=first["optimizer"],
               runs=len(combination_rows))
    for key in ["test_accuracy", "best_val_accuracy"]:
        row[f"{key}_mean"], row[f"{key}_std"] = mean_and_std([r[key] for r in combination_rows])
    return row


Difference = collections.namedtuple("Difference", "pairs mean std low high")


def paired_difference(first_runs, second_runs, key):
    """First minus second in `key` (a run's field), over the runs that share a seed.

    Returns the number of pairs, the mean difference, its sample std and the 95% confidence
    interval of the mean (Student's t with pairs - 1 degrees of freedom); None where there are
    too few pairs. A run without a partner, or whose `key` is unknown (None), is left out; a
    history without _seedN in its name ran with train.py's default seed, 42.
    """
    first, second = runs_by_seed(first_runs), runs_by_seed(second_runs)
    differences = [first[seed][key] - second[seed][key] for seed in sorted(first.keys() & second.keys())
                   if first[seed][key] is not None and second[seed][key] is not None]
    pairs = len(differences)
    if pairs < 2:
        return Difference(pairs, differences[0] if differences else None, None, None, None)
    mean, std = np.mean(differences), np.std(differences, ddof=1)
    half_width = stats.t.ppf(0.975, pairs - 1) * std / np.sqrt(pairs)
    return Difference(pairs, float(mean), float(std), float(mean - half_width), float(mean + half_width))


def runs_by_seed(runs):
    found = {}
    for run in runs:
        seed = DEFAULT_SEED if run["seed"] is None else run["seed"]
        if seed in found:
            raise UserError(f"{found[seed]['path']} and {run['path']} both ran with seed {seed}, so they cannot "
                            "be paired by seed; move one of them away")
        found[seed] = run
    return found


PAIRED_WITH = "radam"  # every other optimizer of a model/dataset is paired with it


def pair_rows(runs):
    """Each other optimizer minus RAdam per model/dataset, paired by seed, in OPTIMIZERS' order.

    A model/dataset without RAdam, or with RAdam alone, gives no row.
    """
    rows = []
    for (dataset, model), found in group(runs, "dataset", "model").items():
        runs_by_optimizer = by_optimizer(found)
        if PAIRED_WITH not in runs_by_optimizer:
            continue
        for optimizer in [name for name in OPTIMIZERS if name != PAIRED_WITH and name in runs_by_optimizer]:
            test, best_val = (paired_difference(runs_by_optimizer[optimizer], runs_by_optimizer[PAIRED_WITH], key)
                              for key in ["test_accuracy", "best_val_accuracy"])
            rows.append(dict(model=model, dataset=dataset, difference=f"{optimizer} - {PAIRED_WITH}",
                             pairs=test.pairs, test_accuracy_difference=rounded(test.mean),
                             test_accuracy_difference_std=rounded(test.std),
                             test_accuracy_difference_low=rounded(test.low),
                             test_accuracy_difference_high=rounded(test.high),
                             best_val_accuracy_difference=rounded(best_val.mean)))
    return rows


def as_csv(rows, columns):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if row[key] is None else row[key] for key in columns} for row in rows)
    return text.getvalue()


def as_markdown(rows, columns):
    cells = [[str(row[key]) if row[key] is not None else "" for key in columns] for row in rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in [columns, ["---"] * len(columns), *cells]) + "\n"


def with_spread(mean, std):
    """'mean ± std', or just the mean with a single seed (or pair)."""
    return " ± ".join(str(value) for value in (mean, std) if value is not None)


def interval(row):
    low, high = row["test_accuracy_difference_low"], row["test_accuracy_difference_high"]
    return None if low is None else f"{low} to {high}"


CSV_TABLES = ("results.csv", "results_mean.csv", "results_pairs.csv")
PAIR_COLUMNS = ["model", "dataset", "difference", "pairs", "test_accuracy_difference",
                "test_accuracy_difference_std", "test_accuracy_difference_low", "test_accuracy_difference_high",
                "best_val_accuracy_difference"]
PAIRS_EXPLAINED = (
    "For each optimizer that ran beside RAdam in a model/data set (the difference column), and "
    "each seed both ran (no _seedN: seed 42), its test accuracy minus RAdam's: "
    "the mean ± sample std of these differences over the pairs, and the 95% confidence interval "
    "of the mean (Student's t, pairs - 1 degrees of freedom). Pairs whose test accuracy is "
    "unknown (no report) are left out; the best validation accuracy difference is the mean over "
    "every seed both ran.\n"
)


def write_tables(runs, plots_folder):
    runs_table = [run_row(run) for run in runs]
    means = [mean_row(rows) for rows in group(runs_table, "dataset", "model", "optimizer").values()]
    pairs = pair_rows(runs)
    run_columns = list(runs_table[0])
    tables = zip(CSV_TABLES, (runs_table, means, pairs), (run_columns, list(means[0]), PAIR_COLUMNS))
    for name, rows, columns in tables:
        write_atomically(os.path.join(plots_folder, name), as_csv(rows, columns))

    markdown = ["# Results\n", "## Runs\n", as_markdown(runs_table, run_columns)]
    if any(row["runs"] > 1 for row in means):
        spread = [dict(row, test_accuracy=with_spread(row["test_accuracy_mean"], row["test_accuracy_std"]),
                       best_val_accuracy=with_spread(row["best_val_accuracy_mean"], row["best_val_accuracy_std"]))
                  for row in means]
        columns = ["model", "dataset", "optimizer", "runs", "test_accuracy", "best_val_accuracy"]
        markdown += ["## Mean ± std over seeds\n", as_markdown(spread, columns)]
    markdown += ["## Each optimizer minus RAdam, paired by seed\n", PAIRS_EXPLAINED]
    readable_pairs = [dict(row, interval_95=interval(row), test_accuracy_difference=with_spread(
        row["test_accuracy_difference"], row["test_accuracy_difference_std"])) for row in pairs]
    columns = ["model", "dataset", "difference", "pairs", "test_accuracy_difference", "interval_95",
               "best_val_accuracy_difference"]
    markdown += [as_markdown(readable_pairs, columns) if pairs
                 else "No model/data set ran RAdam and another optimizer.\n"]
    write_atomically(os.path.join(plots_folder, "results.md"), "\n".join(markdown))


def check_outputs(runs, plots_folder):
    """Raise UserError before anything is drawn if an output cannot be written or two runs of a
    combination share a seed (so that the pairs table would fail after the figures)."""
    for combination_runs in group(runs, "dataset", "model", "optimizer").values():
        runs_by_seed(combination_runs)
    figures = [f"{model}_{dataset}.png" for dataset, model in group(runs, "dataset", "model")]
    # A folder named like an output would stop plot.py halfway.
    for name in figures + ["summary.png", *CSV_TABLES, "results.md"]:
        if os.path.isdir(os.path.join(plots_folder, name)):
            raise UserError(f"{os.path.join(plots_folder, name)} is a folder where plot.py writes a "
                            "file; move it away or choose another --plots folder")
    try:
        ensure_writable(os.path.join(plots_folder, "results.csv"))
    except OSError as error:
        raise UserError(str(error)) from None


def main(arguments=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", required=True, nargs="+", metavar="FOLDER",
                        help="the folder(s) that hold the training histories ({model}_{optimizer}_{dataset}"
                             "[_seedN].pickle) and their reports (.txt), e.g. output, or results/original "
                             "results/seeds for three seeds; folders, not one history file as train.py's -i")
    parser.add_argument("-p", "--plots", required=True, help="folder to write the figures and tables to")
    args = parser.parse_args(arguments)
    runs, unreadable = load_runs(*args.input)
    if runs:
        check_outputs(runs, args.plots)
        try:
            plot_pairs(runs, args.plots, unreadable)
            save(draw_summary_figure(runs), os.path.join(args.plots, "summary.png"))
            write_tables(runs, args.plots)
        except OSError as error:
            path = error.filename2 or error.filename or args.plots  # os.replace names the output second
            raise UserError(f"cannot write {path}: {error.strerror or error}; "
                            "choose a writable --plots folder") from None
    if unreadable:
        raise UserError(not_read(runs, unreadable))


def not_read(runs, unreadable):
    """The error that names the histories and reports that could not be read, and what it cost."""
    histories = [path for path in unreadable if path.endswith(".pickle")]
    reports = [path for path in unreadable if not path.endswith(".pickle")]
    parts = []
    if histories:
        outcome = "left out of the figures and tables" if runs else "the only ones, so nothing was drawn"
        parts.append(f"these histories could not be read and are {outcome}: {', '.join(histories)}")
    if reports:
        parts.append("these reports could not be read, so their runs have no test accuracy or F1: "
                     + ", ".join(reports))
    return "; ".join(parts) + "; delete them and re-run their train.py lines"


if __name__ == "__main__":
    run_main(main)
