"""The studies whose runs live in results/: each configuration's folder, budget and runs.

    faithful  the experiment as the original ran it (float32, 60 epochs, batch 128, augmentation
              on, all training images, the test split as validation), on MNIST and Fashion-MNIST,
              repeated over seeds and with the controls an honest answer needs: for a GPU.
    cpu       MiniVGGNet at a budget a 2-core CPU affords (1,000 steps a run), across learning
              rates, with rates chosen on a held-out validation split; then Adam and RAdam at
              their chosen rates for 3,000 steps, past most of RAdam's warm-up, at the rates
              that validate best at 3,000 steps, and across the whole grid of rates.

A configuration is a folder of results/ and batches of runs, each the keyword arguments of
runs.train_commands (combinations.py's options). Every run in a folder has the folder's budget: a run whose settings (its `<stem>.json`, written by
train.py) have another is not one of the folder's runs. No Keras here.
"""

import os
import statistics

from pyimagesearch import original
from pyimagesearch.errors import UserError
from pyimagesearch.results import holds_histories, load_runs, warn
from pyimagesearch.runs import budget_of

FAITHFUL_BUDGET = dict(epochs=original.EPOCHS, batch_size=original.BATCH_SIZE, training_images=None, validation_images=0, augmentation=True,
                       mixed_precision=False)

# The data sets the faithful study runs by default (results/campaign.py --datasets adds CIFAR on a GPU box).
FAITHFUL_DATASETS = ("mnist", "fashion_mnist")
FAITHFUL = [  # (folder, [one batch of its runs, ...])
    ("original", [dict(optimizers=("adam", "radam"))]),
    ("seeds", [dict(optimizers=("adam", "radam"), seeds=2)]),
    ("fair-schedule", [dict(optimizers=("radam",), radam_total_steps="auto"),
                       dict(optimizers=("radam",), radam_total_steps="auto", seeds=2)]),
    ("warmup", [dict(optimizers=("adam-warmup", "radam"), radam_total_steps="0"),
                dict(optimizers=("adam-warmup", "radam"), radam_total_steps="0", seeds=2)]),
    ("baselines", [dict(optimizers=("sgd", "rmsprop")), dict(optimizers=("sgd", "rmsprop"), seeds=2)]),
]

# The CPU study: 12,800 training images in batches of 128 are 100 steps an epoch, 10 epochs are
# 1,000 steps; 5,000 held-out training images (500 a class) validate after every epoch.
CPU_BUDGET = dict(epochs=10, batch_size=original.BATCH_SIZE, training_images=12800, validation_images=5000, augmentation=True,
                  mixed_precision=False)
# The grid, in the order it runs: the 2019 rate first, then outwards, so that a study stopped
# early has its middle.
GRID_RATES = (1e-3, 3e-4, 3e-3, 1e-4, 1e-2)
# RAdam without its built-in schedule (--radam-total-steps 0), so that a rate means the same for
# it as for Adam; SGD (momentum 0.9) as the reference.
GRID_OPTIMIZERS = ("adam", "radam", "adam-warmup", "sgd")
GRID_DATASET = "fashion_mnist"  # the grid's, where the rates are chosen
CPU_DATASETS = (GRID_DATASET, "mnist")
GRID_SEEDS = 2  # seeds 1 and 2 at every grid point
FINAL_SEEDS = 5  # seeds 1 to 5 at each optimizer's chosen rate, and at 1e-3
FRESH_SEEDS = range(GRID_SEEDS + 1, FINAL_SEEDS + 1)  # those that played no part in choosing the rates
CPU_FOLDER = "cpu-study"
CPU_2019_FOLDER = "cpu-study-2019"  # RAdam with its built-in schedule, scaled to the run
# Three times the steps on three times the images (300 steps an epoch, each image seen 10 times as
# before): at step 1,000 RAdam's rectifier still scales its steps to about 0.6 of Adam's, at step
# 3,000 to about 0.9. Adam and RAdam at their chosen rates, on the grid's data set, then on MNIST;
# then the same at the rates chosen on validation after 3,000 steps (longer_search); then the rest
# of the grid for both.
LONGER_BUDGET = dict(CPU_BUDGET, training_images=3 * CPU_BUDGET["training_images"])
LONGER_OPTIMIZERS = ("adam", "radam")
CPU_LONGER_FOLDER = "cpu-study-3000-steps"
CPU_BUDGETS = {CPU_FOLDER: CPU_BUDGET, CPU_2019_FOLDER: CPU_BUDGET, CPU_LONGER_FOLDER: LONGER_BUDGET}
ORIGINAL_RATE = original.LEARNING_RATE
# The optimizers each folder of the CPU study runs, and RAdam's --radam-total-steps there.
CPU_FOLDER_RUNS = {CPU_FOLDER: (GRID_OPTIMIZERS, "0"), CPU_2019_FOLDER: (("radam",), "auto"),
                   CPU_LONGER_FOLDER: (LONGER_OPTIMIZERS, "0")}


def cpu_configurations(results):
    """The CPU study's configurations; its second stage (the chosen rates) only once the grid in
    `results` is complete."""
    common = dict(models=("minivggnet",), radam_total_steps="0", **CPU_BUDGET)
    grid = [dict(datasets=(GRID_DATASET,), optimizers=GRID_OPTIMIZERS, learning_rates=(rate,), seeds=GRID_SEEDS,
                 **common) for rate in GRID_RATES]
    configurations = [(CPU_FOLDER, grid)]
    chosen = chosen_rates(finished_runs(os.path.join(results, CPU_FOLDER)))
    if chosen is not None:
        final = []
        for optimizer in GRID_OPTIMIZERS:
            both = sorted({chosen[optimizer], ORIGINAL_RATE})
            final.append(dict(datasets=(GRID_DATASET,), optimizers=(optimizer,), learning_rates=both,
                              seeds=FINAL_SEEDS, **common))
            # MNIST at the rate chosen on Fashion-MNIST; Adam also at 1e-3, for the 2019 row.
            final.append(dict(datasets=("mnist",), optimizers=(optimizer,), seeds=FINAL_SEEDS, **common,
                              learning_rates=both if optimizer == "adam" else (chosen[optimizer],)))
        configurations.append((CPU_FOLDER, final))
    configurations.append((CPU_2019_FOLDER, [
        dict(datasets=CPU_DATASETS, models=("minivggnet",), optimizers=("radam",),
             radam_total_steps="auto", learning_rates=(ORIGINAL_RATE,), seeds=FINAL_SEEDS, **CPU_BUDGET)]))
    if chosen is not None:
        longer = dict(common, **LONGER_BUDGET)
        configurations.append((CPU_LONGER_FOLDER, longer_batches(chosen, longer_choices(results, chosen), longer)))
    return configurations


def longer_batches(chosen, choices, longer):
    """The 3,000-step folder's batches: Adam and RAdam at the `chosen` rates; the search for the
    best rate at 3,000 steps (`choices`, longer_choices'); once it has found both, the two at those,
    and then at every grid rate the search did not check, so that both have the whole grid at
    3,000 steps, as at 1,000, to say how sensitive to the rate each is past RAdam's warm-up."""
    def compared(rates):
        # A data set after the other, seed after seed, both optimizers (seeds 1 and 2 come together:
        # train_commands names a single seed as the default one), so that a slot that stops early
        # leaves pairs. A run already made at the chosen rates is listed again, and made once.
        return [dict(datasets=(dataset,), optimizers=(optimizer,), learning_rates=(rates[optimizer],), seeds=seeds, **longer)
                for dataset in CPU_DATASETS for seeds in range(2, FINAL_SEEDS + 1) for optimizer in LONGER_OPTIMIZERS]

    def on_grid(optimizer, rate):  # the grid's data set and seeds
        return dict(datasets=(GRID_DATASET,), optimizers=(optimizer,), learning_rates=(rate,), seeds=GRID_SEEDS, **longer)
    # The search, RAdam's first.
    search = [on_grid(optimizer, rate) for optimizer in LONGER_OPTIMIZERS[::-1] for rate in choices[optimizer][0]
              if rate != chosen[optimizer]]
    found = {optimizer: best for optimizer, (_, best) in choices.items()}
    if None in found.values():
        return compared(chosen) + search
    rest_of_grid = [on_grid(optimizer, rate) for rate in GRID_RATES for optimizer in LONGER_OPTIMIZERS
                    if rate not in choices[optimizer][0]]
    return compared(chosen) + search + compared(found) + rest_of_grid


def longer_choices(results, chosen):
    """{optimizer: longer_search's (rates, best)} for Adam and RAdam, from the 3,000-step runs in
    `results` and the rates `chosen` at 1,000 steps."""
    found = finished_runs(os.path.join(results, CPU_LONGER_FOLDER))
    return {optimizer: longer_search(found, optimizer, chosen[optimizer]) for optimizer in LONGER_OPTIMIZERS}


def neighbours(rate):
    """The grid rates either side of `rate` (one where it is the grid's lowest or highest)."""
    rates = sorted(GRID_RATES)
    at = rates.index(rate)
    return tuple(rates[max(at - 1, 0):at] + rates[at + 1:at + 2])


def configurations(study, results):
    """[(folder path, budget, [batch of runs, ...])] of `study` in `results`, in order."""
    if study == "faithful":
        return [(os.path.join(results, folder), FAITHFUL_BUDGET, batches) for folder, batches in FAITHFUL]
    return [(os.path.join(results, folder), CPU_BUDGETS[folder], batches)
            for folder, batches in cpu_configurations(results)]


def faithful_folders(optimizer, radam_total_steps=None):
    """The folders of the faithful study that hold runs of `optimizer` (RAdam's with this
    `--radam-total-steps`; None: the original's), in the study's order."""
    return tuple(folder for folder, batches in FAITHFUL
                 if any(optimizer in batch["optimizers"] and batch.get("radam_total_steps") == radam_total_steps
                        for batch in batches))


def finished_runs(folder):
    """The runs of `folder` as results.load_runs reads them (so only the folder's own: those of its
    budget, the one its manifest records or else CPU_BUDGETS', and in a folder of the CPU study
    those of its optimizers and RAdam schedule), none while it holds no history; UserError naming
    any that cannot be read."""
    if not holds_histories(folder):
        return []
    declared = CPU_BUDGETS.get(os.path.basename(os.path.normpath(folder)))
    found, unreadable = load_runs(folder, budget=None if declared is None else budget_of(declared))
    if unreadable:
        raise UserError(f"cannot read {', '.join(unreadable)}; restore them from git, or delete each such run's "
                        "files so that results/campaign.py runs it again")
    return [run for run in found if is_folders_run(folder, run)]


def is_folders_run(folder, run):
    """Whether `run` is one that `folder` of the CPU study holds (CPU_FOLDER_RUNS; RAdam's schedule
    as its settings say, where they do); named on stderr if not, as cpu_study.py would label it so."""
    optimizers, schedule = CPU_FOLDER_RUNS.get(os.path.basename(os.path.normpath(folder)), (None, None))
    if optimizers is None:
        return True
    settings = run["settings"] or {}
    if run["optimizer"] in optimizers and (run["optimizer"] != "radam"
                                           or settings.get("radam_total_steps", schedule) == schedule):
        return True
    warn(f"{run['path']} is not one of {folder}'s runs, which are {', '.join(optimizers)} with RAdam's "
         f"--radam-total-steps {schedule}; left out: move it to a folder of its own")
    return False


def grid_runs(found, optimizer, rate):
    """The grid's runs of `optimizer` at `rate` among `found` (finished_runs'), those with a report."""
    return [run for run in found if run["model"] == "minivggnet" and run["optimizer"] == optimizer
            and run["dataset"] == GRID_DATASET and run["learning_rate"] == rate
            and run["seed"] in range(1, GRID_SEEDS + 1) and run["test_accuracy"] is not None]


def best_rate(found, optimizer, rates):
    """The one of `rates` where `optimizer`'s runs among `found` have the highest mean final
    validation accuracy over the grid's seeds (the lower rate of a tie), or None while one of them
    lacks a seed. Test accuracy plays no part."""
    means = {}
    for rate in sorted(rates):
        accuracies = [run["history"]["val_accuracy"][-1] for run in grid_runs(found, optimizer, rate)]
        if len(accuracies) < GRID_SEEDS:
            return None
        means[rate] = statistics.mean(accuracies)
    return max(means, key=lambda rate: means[rate])


def chosen_rates(found):
    """{optimizer: its best_rate of the grid} from `found` (finished_runs' of the CPU study's
    folder), or None while a grid run is missing."""
    chosen = {optimizer: best_rate(found, optimizer, GRID_RATES) for optimizer in GRID_OPTIMIZERS}
    return None if None in chosen.values() else chosen


def longer_search(found, optimizer, start):
    """(the rates `optimizer` is checked at after 3,000 steps, sorted, and the best_rate of them or
    None) from `found` (finished_runs' of the 3,000-step folder): `start`, its rate chosen at 1,000
    steps, and the grid rates either side; while the best of these is the lowest or the highest and
    the grid goes further, the next grid rate out as well."""
    rates = {start, *neighbours(start)}
    while True:
        best = best_rate(found, optimizer, rates)
        if best is None or set(neighbours(best)) <= rates:
            return tuple(sorted(rates)), best
        rates |= set(neighbours(best))
