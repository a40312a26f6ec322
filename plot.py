"""Plot the training curves of the Adam-vs-RAdam runs and tabulate their results.

Usage: python plot.py --input output --plots plots
       python plot.py --cpu-study results --plots plots/cpu-study

Several --input folders are read as one (e.g. `--input results/original results/seeds`).

For each dataset x model pair this draws `{model}_{dataset}.png` (accuracy above, loss below,
one train and one validation line per optimizer), then writes a `summary.png` of every pair's
validation accuracy and learning rate, and the results tables `results.csv` (one row per run),
`results_mean.csv` (mean and std over seeds; the test accuracy's over the runs with a report),
`results_pairs.csv` (each other optimizer of a model/dataset minus RAdam, e.g. adam - radam or
adam-warmup - radam, paired by seed, with a 95% confidence interval) and `results.md` (the same
three, for reading).
With --cpu-study, it draws the CPU study's accuracy against the learning rate,
`learning_rates.png`, its comparison of the optimizers (test accuracy, stability, generalization),
`comparison.png`, and their validation curves, `curves.png`, and writes its tables and findings,
`study.md` (pyimagesearch/cpu_study.py).
A history it cannot read (damaged, not plain data, or holding NaN or infinity anywhere but in
its validation loss, which is drawn as far as it is finite) is named as it is read and left out,
and a report it cannot read leaves its run's test accuracy and F1 empty; plot.py draws and
tabulates the rest, then names them all again and exits with code 1.
"""

import argparse
import csv
import io
import itertools
import os
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from pyimagesearch import cpu_study, studies
from pyimagesearch import runs as run_names
from pyimagesearch.errors import UserError, folder, run_main
from pyimagesearch.files import ensure_writable, replaced_atomically, write_atomically
from pyimagesearch.original import DATASETS, DEFAULT_LEARNING_RATES, MODELS, OPTIMIZERS, SEED
from pyimagesearch.results import (by_optimizer, group, load_runs, mean_and_std, paired_difference, rounded,
                                   runs_by_seed, warn)

plt.style.use("ggplot")

# An optimizer without a name here is displayed part by part ("some-thing": "Some-thing").
DISPLAY_NAMES = {"adam": "Adam", "radam": "RAdam", "sgd": "SGD", "rmsprop": "RMSprop", "adam-warmup": "Adam + warmup"}
OPTIMIZER_COLORS = dict(zip(OPTIMIZERS, itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])))
LINESTYLES = ["-", "--", ":", "-.", (0, (3, 1, 1, 1, 1, 1))]
DATASET_LINESTYLES = dict(zip(DATASETS, LINESTYLES))
# The rates of one optimizer in the summary share its colour: its lowest rate solid, then the others.
RATE_LINESTYLES = LINESTYLES


def display_name(variant):
    """"Adam + warmup" for adam-warmup; a rate that is not the optimizer's default stays: "Adam lr=3e-04"."""
    optimizer, _, rate = variant.partition(" ")
    name = DISPLAY_NAMES.get(optimizer) or "-".join(DISPLAY_NAMES.get(part, part.capitalize())
                                                    for part in optimizer.split("-"))
    return f"{name} {rate}" if rate else name


# ## Drawing the curves


def draw_curve(axis, runs, key, **line_options):
    """The mean of the runs' `key` curves, with a min-max band when there are several seeds."""
    # Pad with NaN so that seeds which stopped at different epochs still average.
    longest = max(len(run["history"][key]) for run in runs)
    curves = np.array([np.pad(run["history"][key], (0, longest - len(run["history"][key])),
                              constant_values=np.nan) for run in runs])
    # Epochs count from 1, as in the results tables (the original script plotted from 0).
    epochs = np.arange(1, longest + 1)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))  # no epoch 1.5
    with warnings.catch_warnings():  # an epoch where every seed's value is NaN stays a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        # A line needs two finite values in a row: a value without a finite neighbour (a run of
        # one epoch, or one between gaps) is drawn as a dot, or it would not show at all.
        finite = np.isfinite(mean)
        alone = finite & ~np.r_[False, finite[:-1]] & ~np.r_[finite[1:], False]
        if alone.any():
            line_options = dict(marker="o", markevery=np.flatnonzero(alone).tolist(), **line_options)
        (line,) = axis.plot(epochs, mean, **line_options)
        if len(runs) > 1:
            axis.fill_between(epochs, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0),
                              color=line.get_color(), alpha=0.2, linewidth=0)
    return line


LEGEND_ROWS = 20  # entries in a column of the pair figure's legend, beside each panel
TITLE_INCHES = 6.9  # the width of a line of its titles beside a legend: about the original figure's


def draw_pair_figure(model, dataset, runs_by_optimizer):
    """The original two-panel figure, with one train and one val line per optimizer present."""
    names = " vs. ".join(display_name(optimizer) for optimizer in runs_by_optimizer)
    # Two optimizers keep the original figure, their legend inside each panel. More put it beside each
    # panel, in columns of up to LEGEND_ROWS entries, on a figure wide and tall enough for it and the
    # title (inside a 7 x 9 figure, 9 optimizers and rates ran out of it).
    columns = -(-2 * len(runs_by_optimizer) // LEGEND_ROWS) if len(runs_by_optimizer) > 2 else 0
    rows = -(-2 * len(runs_by_optimizer) // columns) if columns else 0
    figure, axes = plt.subplots(2, 1, figsize=(7, 9))
    panels = [("accuracy", "acc", "Accuracy", "lower right"), ("loss", "loss", "Loss", "upper right")]
    for axis, (key, short, name, legend_location) in zip(axes, panels):
        if len(runs_by_optimizer) > 2:  # ggplot's 7 colours run out; tab20 pairs dark train, light val
            # and past 10 optimizers and rates, its colours come again with other line styles.
            axis.set_prop_cycle(matplotlib.cycler(linestyle=["-", "--", ":", "-."]) * matplotlib.cycler(
                color=plt.cm.tab20.colors))
        for optimizer, runs in runs_by_optimizer.items():
            draw_curve(axis, runs, key, label=f"{optimizer}_train_{short}")
            draw_curve(axis, runs, f"val_{key}", label=f"{optimizer}_val_{short}")
        title = f"{names} for '{model}' on '{dataset}' ({name})"
        axis.set_xlabel("Epoch #")
        axis.set_ylabel(name)
        if columns:
            title = wrap_title(axis, title)
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), ncols=columns)
        else:
            axis.set_title(title, wrap=True)  # on two lines if need be
            axis.legend(loc=legend_location)
    if columns:
        figure.set_size_inches(7.5 + 3 * columns, 2 * max(4.5, 0.21 * rows + 0.25 * title.count("\n") + 1.5))
    figure.tight_layout()
    return figure


def wrap_title(axis, text):
    """Set `text` as the axis' title, on as many lines as TITLE_INCHES need; return it. (matplotlib's
    own wrap=True wraps only as it draws, after tight_layout has made room for one line.)"""
    title = axis.set_title(text)
    inches = title.get_window_extent(axis.figure.canvas.get_renderer()).width / axis.figure.dpi
    if inches > TITLE_INCHES:
        title.set_text(textwrap.fill(text, int(len(text) * TITLE_INCHES / inches)))
    return title.get_text()


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
        for variant, variant_runs in by_optimizer(selected).items():
            optimizer = variant_runs[0]["optimizer"]
            draw_curve(axis, variant_runs, "val_accuracy", color=OPTIMIZER_COLORS[optimizer],
                       linestyle=rate_linestyle(runs, optimizer, variant_runs[0]["learning_rate"]),
                       label=display_name(variant))
    if runs_with_rate:
        axis = figure.add_subplot(grid[-1, :], title="Learning rate applied per epoch", yscale="log",
                                  xlabel="Epoch #", ylabel="Learning rate")
        # The rate depends on the dataset (steps per epoch) and the run's length, not on the model:
        # one line per dataset and optimizer at each of its rates, from its longest run. Adam, SGD
        # and RMSprop may share one constant rate, so earlier optimizers are drawn wider.
        for (dataset, variant), rate_runs in group(runs_with_rate, "dataset", "variant").items():
            longest = max(rate_runs, key=lambda run: len(run["history"]["learning_rate"]))
            optimizer = longest["optimizer"]
            draw_curve(axis, [longest], "learning_rate", color=OPTIMIZER_COLORS[optimizer],
                       linestyle=DATASET_LINESTYLES[dataset], label=f"{display_name(variant)} on {dataset}",
                       linewidth=len(OPTIMIZERS) - OPTIMIZERS.index(optimizer))
        dataset_keys = [plt.Line2D([], [], color="black", linestyle=DATASET_LINESTYLES[dataset], label=dataset)
                        for dataset in present(runs_with_rate, "dataset", DATASETS)]
        axis.legend(handles=dataset_keys, fontsize=8, loc="upper right")
    variants = sorted(((found[0]["optimizer"], found[0]["learning_rate"], variant)
                       for variant, found in by_optimizer(runs).items()),
                      key=lambda key: (OPTIMIZERS.index(key[0]), key[1]))
    variant_keys = [plt.Line2D([], [], color=OPTIMIZER_COLORS[optimizer], label=display_name(variant),
                               linestyle=rate_linestyle(runs, optimizer, rate))
                    for optimizer, rate, variant in variants]
    # As many columns as the figure's width holds (4 inches a model, a label of rates takes 2.5).
    figure.legend(handles=variant_keys, loc="outside upper center", ncols=min(4, (4 * len(models) + 1) * 2 // 5))
    return figure


def rate_linestyle(runs, optimizer, rate):
    """The line style of `optimizer` at `rate` in the summary: by the rate's rank among those
    `runs` give the optimizer."""
    rates = sorted({run["learning_rate"] for run in runs if run["optimizer"] == optimizer})
    return RATE_LINESTYLES[rates.index(rate) % len(RATE_LINESTYLES)]


def draw_sensitivity_figure(table, longer_table=None):
    """Final validation and test accuracy against the learning rate, a line per optimizer: the
    mean over seeds with a min-max band (the CPU study's grid), and dashed, the same after 3,000
    steps where `longer_table` (cpu_study.sensitivity's of those runs) has any."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
    lines = [(table, "-", "")] + ([(longer_table, "--", ", 3,000 steps")] if longer_table else [])
    for axis, (key, title) in zip(axes, [("validation", "Validation accuracy"), ("test", "Test accuracy")]):
        for its_table, style, budget in lines:
            for optimizer, entries in its_table.items():
                rates = sorted(entries)
                mean, low, high = (np.array([entries[rate][key][index] for rate in rates], dtype=float)
                                   for index in range(3))
                (line,) = axis.plot(rates, mean, style, marker="o", color=OPTIMIZER_COLORS[optimizer],
                                    label=display_name(optimizer) + budget)
                axis.fill_between(rates, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        axis.set(xscale="log", xlabel="Learning rate", title=f"{title} after the run")
    axes[0].set_ylabel("Accuracy (mean, min-max over seeds)")
    axes[0].legend(loc="lower left")
    return figure


# The CPU study's RAdam with its 2019 schedule, beside the optimizers' own colours.
STUDY_COLORS = dict(OPTIMIZER_COLORS, **{"radam-2019": "black"})
STUDY_MEASURES = [("test_accuracy", "Test accuracy"), ("fluctuation", "Epoch-to-epoch change of val. accuracy"),
                  ("gap", "Train - test accuracy")]


def study_panels(runs, chosen):
    """[(label, {optimizer: rate}, data set, longer)]: each setting on each data set at 1,000 steps,
    then, once the grid has chosen the rates, Adam and RAdam at 3,000 steps on each, and again at
    the rates chosen at 3,000 steps where they differ."""
    panels = [(label, rates, dataset, False) for label, rates in cpu_study.compared(chosen)
              for dataset in studies.CPU_DATASETS]
    if chosen:
        panels += [("at its chosen rate, 3,000 steps", cpu_study.longer_rates(chosen), dataset, True)
                   for dataset in studies.CPU_DATASETS]
        rechosen = cpu_study.compared_again(runs, chosen)
        if rechosen:
            panels += [("at the rate chosen at 3,000 steps", rechosen, dataset, True) for dataset in studies.CPU_DATASETS]
    return panels


@plt.rc_context(SMALL_TEXT)
def draw_comparison_figure(runs, chosen):
    """The CPU study's comparison: per setting and data set, each optimizer's final test accuracy
    (the tuned comparison), the epoch-to-epoch change of its validation accuracy over the last
    epochs (stability) and its final training minus test accuracy (generalization), a dot per
    seed and a bar at the mean."""
    panels = study_panels(runs, chosen)
    figure, axes = plt.subplots(len(panels), len(STUDY_MEASURES), figsize=(13, 2.8 * len(panels) + 0.5),
                                layout="constrained", squeeze=False)
    for row, (label, rates, dataset, longer) in enumerate(panels):
        for axis, (key, title) in zip(axes[row], STUDY_MEASURES):
            for x, (optimizer, rate) in enumerate(rates.items()):
                values = [run[key] for run in cpu_study.select(runs, optimizer, dataset, rate, longer=longer)
                          if run[key] is not None]
                if values:
                    axis.scatter([x] * len(values), values, color=STUDY_COLORS[optimizer], alpha=0.7, s=16)
                    axis.hlines(np.mean(values), x - 0.3, x + 0.3, color=STUDY_COLORS[optimizer])
            axis.set_xticks(range(len(rates)), [cpu_study.NAMES[optimizer] for optimizer in rates], rotation=15)
            axis.set_title(f"{title}\n{dataset}, {label}")
            if not axis.collections:
                not_yet_run(axis)
    return figure


def not_yet_run(axis):
    axis.text(0.5, 0.5, "not yet run", transform=axis.transAxes, ha="center", va="center")


@plt.rc_context(SMALL_TEXT)
def draw_study_curves_figure(runs, chosen):
    """Validation accuracy after every epoch, per setting and data set: a line per optimizer, the
    mean over seeds with a min-max band."""
    panels = study_panels(runs, chosen)
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 3 * len(panels) + 0.5), layout="constrained",
                                squeeze=False)
    for axis, (label, rates, dataset, longer) in zip(axes[:, 0], panels):
        for optimizer, rate in rates.items():
            found = cpu_study.select(runs, optimizer, dataset, rate, longer=longer)
            if found:
                draw_curve(axis, found, "val_accuracy", color=STUDY_COLORS[optimizer],
                           label=f"{cpu_study.NAMES[optimizer]} ({len(found)})")
        axis.set(title=f"Validation accuracy, {dataset}, {label}", xlabel="Epoch #", ylabel="Val accuracy")
        if axis.lines:
            axis.legend(loc="lower right")
        else:
            not_yet_run(axis)
    return figure


def save(figure, path):
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def plot_pairs(runs, plots_folder, unreadable=()):
    unread = {run_names.parse_stem(os.path.basename(path)[: -len(".pickle")])[:3] for path in unreadable
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


def run_row(run):
    history = run["history"]
    seconds = history.get("epoch_time")
    return dict(model=run["model"], dataset=run["dataset"], optimizer=run["optimizer"],
                learning_rate=run["learning_rate"], seed=run["seed"], epochs=len(history["loss"]),
                test_accuracy=run["test_accuracy"], macro_f1=run["macro_f1"],
                best_val_accuracy=rounded(run["best_val_accuracy"]),
                best_val_epoch=int(np.argmax(history["val_accuracy"])) + 1,
                final_val_loss=rounded(history["val_loss"][-1]),
                training_seconds=None if seconds is None else rounded(seconds.sum(), 1))


def mean_row(combination_runs):
    """Mean and sample std over the seeds of one combination, of the runs' own values (not the
    runs table's, rounded to 4 digits); the test accuracy's over the `reports`, the runs with one."""
    first = combination_runs[0]
    row = dict(model=first["model"], dataset=first["dataset"], optimizer=first["optimizer"],
               learning_rate=first["learning_rate"], runs=len(combination_runs),
               reports=sum(run["test_accuracy"] is not None for run in combination_runs))
    for key in ["test_accuracy", "best_val_accuracy"]:
        row[f"{key}_mean"], row[f"{key}_std"] = mean_and_std([run[key] for run in combination_runs])
    return row


PAIRED_WITH = "radam"  # every other optimizer of a model/dataset is paired with it


def pair_rows(runs):
    """Each other optimizer minus RAdam per model/dataset, paired by seed, in OPTIMIZERS' order:
    RAdam at the same learning rate where it ran at it, else at its default rate.

    A model/dataset without RAdam, or with RAdam alone, gives no row.
    """
    rows = []
    for (dataset, model), found in group(runs, "dataset", "model").items():
        radam = {rate: rate_runs for (optimizer, rate), rate_runs in group(found, "optimizer", "learning_rate").items()
                 if optimizer == PAIRED_WITH}
        for variant, variant_runs in by_optimizer(found).items():
            rate = variant_runs[0]["learning_rate"]
            partner = radam.get(rate, radam.get(DEFAULT_LEARNING_RATES[PAIRED_WITH]))
            if variant_runs[0]["optimizer"] == PAIRED_WITH or partner is None:
                continue
            test, best_val = (paired_difference(variant_runs, partner, key) for key in ["test_accuracy", "best_val_accuracy"])
            rows.append(dict(model=model, dataset=dataset, difference=f"{variant} - {partner[0]['variant']}",
                             pairs=test.pairs, test_accuracy_difference=rounded(test.mean),
                             test_accuracy_difference_std=rounded(test.std),
                             test_accuracy_difference_low=rounded(test.low),
                             test_accuracy_difference_high=rounded(test.high),
                             best_val_accuracy_difference=rounded(best_val.mean)))
    order = {name: index for index, name in enumerate(OPTIMIZERS)}
    return sorted(rows, key=lambda row: (DATASETS.index(row["dataset"]), MODELS.index(row["model"]),
                                         order[row["difference"].split()[0]]))


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
    f"each seed both ran (no _seedN: seed {SEED}), its test accuracy minus RAdam's: "
    "the mean ± sample std of these differences over the pairs, and the 95% confidence interval "
    "of the mean (Student's t, pairs - 1 degrees of freedom). Pairs whose test accuracy is "
    "unknown (no report) are left out; the best validation accuracy difference is the mean over "
    "every seed both ran.\n"
)


def write_tables(runs, plots_folder):
    runs_table = [run_row(run) for run in runs]
    means = [mean_row(found) for found in group(runs, "dataset", "model", "optimizer", "learning_rate").values()]
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
        columns = ["model", "dataset", "optimizer", "learning_rate", "runs", "reports", "test_accuracy",
                   "best_val_accuracy"]
        markdown += ["## Mean ± std over seeds\n", as_markdown(spread, columns)]
    markdown += ["## Each optimizer minus RAdam, paired by seed\n", PAIRS_EXPLAINED]
    readable_pairs = [dict(row, interval_95=interval(row), test_accuracy_difference=with_spread(
        row["test_accuracy_difference"], row["test_accuracy_difference_std"])) for row in pairs]
    columns = ["model", "dataset", "difference", "pairs", "test_accuracy_difference", "interval_95",
               "best_val_accuracy_difference"]
    markdown += [as_markdown(readable_pairs, columns) if pairs
                 else "No model/data set ran RAdam and another optimizer at the same learning rate or at "
                      "RAdam's default.\n"]
    write_atomically(os.path.join(plots_folder, "results.md"), "\n".join(markdown))


def check_outputs(runs, plots_folder):
    """Raise UserError before anything is drawn if an output cannot be written or two runs of a
    combination share a seed (so that the pairs table would fail after the figures)."""
    for combination_runs in group(runs, "dataset", "model", "variant").values():
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


def plot_cpu_study(results, plots_folder):
    if not os.path.isdir(results):
        raise UserError(f"--cpu-study {results!r} is not a folder; give the campaign's folder, such as results")
    text, runs, table, chosen = cpu_study.report(results)
    if not table:
        raise UserError(f"{results} holds no run of the CPU study's grid yet; run results/campaign.py --study cpu")
    try:
        ensure_writable(os.path.join(plots_folder, "study.md"))
    except OSError as error:  # one line that says what to do already
        raise UserError(str(error)) from None
    try:
        save(draw_sensitivity_figure(table, cpu_study.sensitivity(runs, longer=True)),
             os.path.join(plots_folder, "learning_rates.png"))
        save(draw_comparison_figure(runs, chosen), os.path.join(plots_folder, "comparison.png"))
        save(draw_study_curves_figure(runs, chosen), os.path.join(plots_folder, "curves.png"))
        write_atomically(os.path.join(plots_folder, "study.md"), "# The CPU study\n\n" + text)
    except OSError as error:
        raise UserError(f"cannot write in {plots_folder}: {error.strerror or error}; choose a writable --plots folder") from None
    return 0


def main(arguments=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--cpu-study", metavar="RESULTS",
                        help="instead of --input: the CPU study's figure and tables from its folders in RESULTS "
                        "(e.g. results): learning_rates.png, comparison.png, curves.png and study.md")
    inputs.add_argument("--input", nargs="+", metavar="FOLDER",
                        help="the folder(s) that hold the training histories ({model}_{optimizer}_{dataset}"
                             "[_lrRATE][_seedN].pickle) and their reports (.txt), e.g. output, or results/original "
                             "results/seeds for three seeds; folders, not one history file as train.py's --history")
    parser.add_argument("-p", "--plots", type=folder, required=True, help="folder to write the figures and tables to")
    args = parser.parse_args(arguments)
    if args.cpu_study is not None:
        return plot_cpu_study(args.cpu_study, args.plots)
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
