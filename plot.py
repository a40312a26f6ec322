"""Plot the training curves of the Adam-vs-RAdam runs and tabulate their results.

Usage: python plot.py --input output --plots plots

For each dataset x model pair this draws `{model}_{dataset}.png` (accuracy above, loss below,
one train and one validation line per optimizer), then writes a `summary.png` of every pair's
validation accuracy and learning rate, and the results tables `results.csv` (one row per run),
`results_mean.csv` (mean and std over seeds), `results_pairs.csv` (Adam minus RAdam) and
`results.md` (the same three, for reading).
"""

import argparse
import csv
import io
import itertools
import os
import pickle
import re
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from pyimagesearch.files import ensure_writable, replaced_atomically, write_atomically
from pyimagesearch.names import DATASETS, MODELS, OPTIMIZERS

plt.style.use("ggplot")

DISPLAY_NAMES = {"adam": "Adam", "radam": "RAdam", "sgd": "SGD", "rmsprop": "RMSprop", "adam-warmup": "Adam + warmup"}
OPTIMIZER_COLORS = dict(zip(OPTIMIZERS, ["#E24A33", "#348ABD", "#988ED5", "#777777", "#FBC15E"]))
DATASET_LINESTYLES = dict(zip(DATASETS, ["-", "--", ":", "-.", (0, (3, 1, 1, 1, 1, 1))]))

HISTORY_NAME = re.compile(
    rf"^({'|'.join(MODELS)})_({'|'.join(OPTIMIZERS)})_({'|'.join(DATASETS)})(?:_seed(\d+))?\.pickle$"
)
# Keras 2 (the 2019 pickles) wrote the short names on the right.
KEY_ALIASES = {"accuracy": "acc", "val_accuracy": "val_acc", "learning_rate": "lr"}
REQUIRED_KEYS = ["loss", "val_loss", "accuracy", "val_accuracy"]
OPTIONAL_KEYS = ["learning_rate", "epoch_time"]


class Failure(Exception):
    """A problem the user can fix; main() prints it as one line and exits with code 1."""


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


# ## Loading the runs


def read_history(path):
    """The history pickle as {key: float array}, with the Keras 3 key names."""
    try:
        with open(path, "rb") as file:
            raw = pickle.load(file)
        if not isinstance(raw, dict):
            raise ValueError(f"it holds a {type(raw).__name__}, not a dict")
        history = {}
        for key in REQUIRED_KEYS + OPTIONAL_KEYS:
            values = raw.get(key, raw.get(KEY_ALIASES.get(key)))
            if values is None and key in REQUIRED_KEYS:
                raise ValueError(f"no '{key}' key")
            if values is not None:
                history[key] = np.asarray(values, dtype=float).reshape(-1)
        # Curves may differ in length (validation every few epochs); none may be empty.
        for key in REQUIRED_KEYS:
            if len(history[key]) == 0:
                raise ValueError("no epochs" if key == "loss" else f"no '{key}' values")
    except Exception as error:  # a pickle can fail in many ways; all mean the same to the user
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        raise Failure(
            f"{path} is not a readable training history ({reason}); "
            "delete it and re-run its train.py line"
        ) from None
    return history


def read_report(path):
    """(test accuracy, macro F1) from a classification_report text, or (None, None) with a warning."""
    accuracy = macro_f1 = None
    try:
        with open(path) as file:
            for line in file:
                fields = line.split()
                # A class may be called "accuracy" too; only the summary line has 3 fields.
                if len(fields) == 3 and fields[0] == "accuracy":
                    accuracy = float(fields[1])
                elif fields[:2] == ["macro", "avg"] and len(fields) == 6:
                    macro_f1 = float(fields[4])
    except (OSError, UnicodeDecodeError, ValueError) as error:
        warn(f"cannot read {path} ({error.__class__.__name__}); its test accuracy and F1 stay empty")
        return None, None
    if accuracy is None or macro_f1 is None:
        warn(f"{path} has no accuracy or macro avg line; its test accuracy and F1 stay empty")
        return None, None
    return accuracy, macro_f1


def load_runs(folder):
    """Every run in `folder` as a dict, sorted dataset-major in the canonical orders."""
    if os.path.isfile(folder):
        raise Failure(f"--input {folder} is a file; give the folder that holds the .pickle files")
    if not os.path.isdir(folder):
        raise Failure(f"input folder {folder} does not exist; run the experiments first or fix --input")
    try:
        names = sorted(os.listdir(folder))
    except OSError as error:
        raise Failure(f"cannot read the input folder {folder} ({error.strerror}); fix its permissions or --input") from None
    runs = []
    for name in names:
        match = HISTORY_NAME.match(name)
        path = os.path.join(folder, name)
        if name.startswith(".") or not match or not os.path.isfile(path):
            continue
        model, optimizer, dataset, seed = match.groups()
        runs.append(dict(model=model, optimizer=optimizer, dataset=dataset,
                         seed=None if seed is None else int(seed), path=path,
                         history=read_history(path)))
    if not runs:
        raise Failure(f"no training histories ({{model}}_{{optimizer}}_{{dataset}}.pickle) in {folder}")
    runs.sort(key=lambda run: (DATASETS.index(run["dataset"]), MODELS.index(run["model"]),
                               OPTIMIZERS.index(run["optimizer"]), -1 if run["seed"] is None else run["seed"]))
    for run in runs:
        run["test_accuracy"], run["macro_f1"] = read_report(run["path"][: -len(".pickle")] + ".txt")
    return runs


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
    with warnings.catch_warnings():  # an epoch where every seed's value is NaN stays a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        (line,) = axis.plot(epochs, np.nanmean(curves, axis=0), **line_options)
        if len(runs) > 1:
            axis.fill_between(epochs, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0),
                              color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def draw_pair_figure(model, dataset, runs_by_optimizer):
    """The original two-panel figure, with one train and one val line per optimizer present."""
    names = " vs. ".join(DISPLAY_NAMES[optimizer] for optimizer in runs_by_optimizer)
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
            draw_curve(axis, optimizer_runs, "val_accuracy", color=OPTIMIZER_COLORS[optimizer])
    if runs_with_rate:
        axis = figure.add_subplot(grid[-1, :], title="Learning rate applied per epoch", yscale="log",
                                  xlabel="Epoch #", ylabel="Learning rate")
        # The rate depends on the dataset (steps per epoch), not on the model: one line per dataset.
        # Adam, SGD and RMSprop may share one constant rate, so earlier optimizers are drawn wider.
        for (dataset, optimizer), rate_runs in group(runs_with_rate, "dataset", "optimizer").items():
            draw_curve(axis, rate_runs[:1], "learning_rate", color=OPTIMIZER_COLORS[optimizer],
                       linestyle=DATASET_LINESTYLES[dataset], linewidth=5 - OPTIMIZERS.index(optimizer))
        dataset_keys = [plt.Line2D([], [], color="black", linestyle=DATASET_LINESTYLES[dataset], label=dataset)
                        for dataset in present(runs_with_rate, "dataset", DATASETS)]
        axis.legend(handles=dataset_keys, fontsize=8, loc="upper right")
    optimizer_keys = [plt.Line2D([], [], color=OPTIMIZER_COLORS[optimizer], label=DISPLAY_NAMES[optimizer])
                      for optimizer in present(runs, "optimizer", OPTIMIZERS)]
    figure.legend(handles=optimizer_keys, loc="outside upper center", ncols=4)
    return figure


def save(figure, path):
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def plot_pairs(runs, input_folder, plots_folder):
    for (dataset, model), pair_runs in group(runs, "dataset", "model").items():
        runs_by_optimizer = by_optimizer(pair_runs)
        if len(runs_by_optimizer) == 1:
            (alone,) = runs_by_optimizer
            partner = {"adam": "radam", "radam": "adam"}.get(alone)
            reason = (f"{os.path.join(input_folder, f'{model}_{partner}_{dataset}.pickle')} is missing"
                      if partner else f"only {alone} ran, nothing to compare")
            warn(f"skipping {model} on {dataset}: {reason}")
            continue
        save(draw_pair_figure(model, dataset, runs_by_optimizer),
             os.path.join(plots_folder, f"{model}_{dataset}.png"))


# ## Tabulating the results


def rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def run_row(run):
    history = run["history"]
    best = int(np.argmax(history["val_accuracy"]))
    seconds = history.get("epoch_time")
    return dict(model=run["model"], dataset=run["dataset"], optimizer=run["optimizer"],
                seed=run["seed"], epochs=len(history["loss"]),
                test_accuracy=run["test_accuracy"], macro_f1=run["macro_f1"],
                best_val_accuracy=rounded(history["val_accuracy"][best]), best_val_epoch=best + 1,
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


def pair_rows(mean_rows):
    """Adam minus RAdam per model/dataset, from the means over seeds."""
    rows = []
    for (dataset, model), found in group(mean_rows, "dataset", "model").items():
        by_optimizer = {row["optimizer"]: row for row in found}
        if "adam" not in by_optimizer or "radam" not in by_optimizer:
            continue
        row = dict(model=model, dataset=dataset)
        for key in ["test_accuracy", "best_val_accuracy"]:
            adam, radam = by_optimizer["adam"][f"{key}_mean"], by_optimizer["radam"][f"{key}_mean"]
            row.update({f"adam_{key}": adam, f"radam_{key}": radam,
                        f"{key}_difference": None if None in (adam, radam) else rounded(adam - radam)})
        rows.append(row)
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


def with_spread(row, key):
    """'mean ± std', or just the mean with a single seed."""
    return " ± ".join(str(value) for value in (row[f"{key}_mean"], row[f"{key}_std"]) if value is not None)


CSV_TABLES = ("results.csv", "results_mean.csv", "results_pairs.csv")


def write_tables(runs, plots_folder):
    runs_table = [run_row(run) for run in runs]
    means = [mean_row(rows) for rows in group(runs_table, "dataset", "model", "optimizer").values()]
    pairs = pair_rows(means)
    run_columns, mean_columns = list(runs_table[0]), list(means[0])
    pair_columns = ["model", "dataset", "adam_test_accuracy", "radam_test_accuracy", "test_accuracy_difference",
                    "adam_best_val_accuracy", "radam_best_val_accuracy", "best_val_accuracy_difference"]
    tables = zip(CSV_TABLES, (runs_table, means, pairs), (run_columns, mean_columns, pair_columns))
    for name, rows, columns in tables:
        write_atomically(os.path.join(plots_folder, name), as_csv(rows, columns))

    markdown = ["# Results\n", "## Runs\n", as_markdown(runs_table, run_columns)]
    if any(row["runs"] > 1 for row in means):
        spread = [dict(row, test_accuracy=with_spread(row, "test_accuracy"),
                       best_val_accuracy=with_spread(row, "best_val_accuracy")) for row in means]
        columns = ["model", "dataset", "optimizer", "runs", "test_accuracy", "best_val_accuracy"]
        markdown += ["## Mean ± std over seeds\n", as_markdown(spread, columns)]
    markdown += ["## Adam minus RAdam\n", as_markdown(pairs, pair_columns) if pairs else "No pair ran both.\n"]
    write_atomically(os.path.join(plots_folder, "results.md"), "\n".join(markdown))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", required=True, help="folder of training-history pickles")
    parser.add_argument("-p", "--plots", required=True, help="folder to write the figures and tables to")
    args = parser.parse_args()
    try:
        runs = load_runs(args.input)
        figures = [f"{model}_{dataset}.png" for dataset, model in group(runs, "dataset", "model")]
        # Checked before anything is drawn: a folder named like an output would stop it halfway.
        for name in figures + ["summary.png", *CSV_TABLES, "results.md"]:
            if os.path.isdir(os.path.join(args.plots, name)):
                raise Failure(f"{os.path.join(args.plots, name)} is a folder where plot.py writes a "
                              "file; move it away or choose another --plots folder")
        try:
            ensure_writable(os.path.join(args.plots, "results.csv"))
        except OSError as error:
            raise Failure(str(error)) from None
        plot_pairs(runs, args.input, args.plots)
        save(draw_summary_figure(runs), os.path.join(args.plots, "summary.png"))
        write_tables(runs, args.plots)
    except Failure as failure:
        sys.exit(f"error: {failure}")
    except OSError as error:
        path = error.filename2 or error.filename or args.plots  # os.replace names the output second
        sys.exit(f"error: cannot write {path}: {error.strerror or error}; choose a writable --plots folder")


if __name__ == "__main__":
    main()
