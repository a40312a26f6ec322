"""What the CPU study's runs say (pyimagesearch/studies.py defines the study).

Every figure comes from the runs in results/cpu-study, results/cpu-study-2019 and
results/cpu-study-3000-steps:

- sensitivity: validation and test accuracy at each learning rate of the grid (Fashion-MNIST),
  mean and min-max over seeds;
- the tuned comparison: each optimizer at the rate chosen on validation accuracy, and at 1e-3
  (the 2019 setting), test accuracy mean ± sample std over seeds, and each minus RAdam, paired
  by seed, with the 95% confidence interval of the mean difference, and on Fashion-MNIST again on
  the seeds after the grid's alone, which played no part in choosing the rates;
- the longer budget: Adam and RAdam at their chosen rates for 3,000 steps, on each data set the
  same comparison, beside the 1,000-step one of the same seeds; the rates chosen again on
  validation after 3,000 steps (studies.longer_search), and the comparison at those;
- stability: the spread over seeds of the final test accuracy, and the mean absolute change of
  validation accuracy from one epoch to the next over the last LATE_EPOCHS epochs (the last half
  of the study's 10);
- generalization: the final training accuracy (as Keras reports it: on augmented batches, with
  dropout) minus the test accuracy;
- robustness to the rate: how many grid rates come within NEAR_BEST of the optimizer's best mean
  validation accuracy, after 1,000 steps and, for Adam and RAdam across the whole grid once their
  search is done, after 3,000.

A verdict ("higher", "lower") is given only from 3 pairs or more whose differences are not all
equal (results.verdict); otherwise the numbers stand alone. Each verdict comes from a 95% interval
of its own, so the report ends by counting those that find a difference beside how many would by
chance alone.
"""

import os
import sys

import numpy as np
from scipy import stats

from pyimagesearch import studies
from pyimagesearch.files import read_json
from pyimagesearch.results import VERDICT_PAIRS, described, paired_difference, verdict
from pyimagesearch.runs import rate_text

NAMES = {"adam": "Adam", "radam": "RAdam", "adam-warmup": "Adam + warmup", "sgd": "SGD", "radam-2019": "RAdam, 2019 schedule"}
NEAR_BEST = 0.02  # a rate is "near the best" within this much mean validation accuracy
LATE_EPOCHS = 5  # the fluctuation is measured over the last this many epochs


def read_study(results):
    """The study's finished runs: those of cpu-study as they are, those of cpu-study-2019 as the
    optimizer "radam-2019", those of cpu-study-3000-steps marked "longer" (select() leaves them
    out unless asked). UserError naming any run that cannot be read."""
    found = []
    for folder, renamed in ((studies.CPU_FOLDER, None), (studies.CPU_2019_FOLDER, "radam-2019"),
                            (studies.CPU_LONGER_FOLDER, None)):
        runs = studies.finished_runs(os.path.join(results, folder))
        for run in runs:
            run["final_val_accuracy"] = float(run["history"]["val_accuracy"][-1])
            run["fluctuation"], run["gap"] = fluctuation(run), gap(run)
            run["longer"] = folder == studies.CPU_LONGER_FOLDER
            if renamed:
                run["optimizer"] = renamed
        found += runs
    return found


def compared(chosen):
    """[(label, {optimizer: rate})]: each optimizer at its chosen rate (once the grid has chosen
    them), and each at 1e-3, the 2019 setting, with RAdam's 2019 schedule beside them."""
    at_2019 = {optimizer: studies.ORIGINAL_RATE for optimizer in studies.GRID_OPTIMIZERS}
    at_2019["radam-2019"] = studies.ORIGINAL_RATE
    return ([("at its chosen rate", dict(chosen))] if chosen else []) + [("at 1e-3, the 2019 setting", at_2019)]


def select(runs, optimizer, dataset, rate=None, seeds=None, longer=False):
    """The runs of `optimizer` on `dataset` (at `rate`, of `seeds`), of the 1,000-step budget or,
    `longer`, of the 3,000-step one."""
    return [run for run in runs if run["optimizer"] == optimizer and run["dataset"] == dataset
            and (rate is None or run["learning_rate"] == rate) and (seeds is None or run["seed"] in seeds)
            and run.get("longer", False) == longer]


def spread(values):
    """(mean, min, max) of the values that are known, or Nones."""
    known = [value for value in values if value is not None]
    return (float(np.mean(known)), min(known), max(known)) if known else (None, None, None)


def sensitivity(runs, longer=False):
    """{optimizer: {rate: {"validation": (mean, min, max), "test": (...), "seeds": n, "reports": n}}}
    over the grid's seeds on Fashion-MNIST, for the grid rates with at least one finished run: the
    validation figures from its `seeds` runs, the test ones from the `reports` of them with a report.
    Of the grid's runs or, `longer`, of the 3,000-step ones (Adam's and RAdam's)."""
    table = {}
    grid_seeds = range(1, studies.GRID_SEEDS + 1)
    for optimizer in studies.LONGER_OPTIMIZERS if longer else studies.GRID_OPTIMIZERS:
        for rate in sorted(studies.GRID_RATES):
            found = select(runs, optimizer, studies.GRID_DATASET, rate, grid_seeds, longer=longer)
            if found:
                table.setdefault(optimizer, {})[rate] = dict(
                    validation=spread([run["final_val_accuracy"] for run in found]),
                    test=spread([run["test_accuracy"] for run in found]), seeds=len(found),
                    reports=sum(run["test_accuracy"] is not None for run in found))
    return table


def near_best(rates):
    """The rates whose mean validation accuracy is within NEAR_BEST of the best one's."""
    best = max(entry["validation"][0] for entry in rates.values())
    return [rate for rate, entry in rates.items() if entry["validation"][0] >= best - NEAR_BEST]


def fluctuation(run):
    """Mean absolute change of validation accuracy between consecutive epochs, last LATE_EPOCHS."""
    late = np.asarray(run["history"]["val_accuracy"][-(LATE_EPOCHS + 1):], dtype=float)
    return float(np.mean(np.abs(np.diff(late)))) if len(late) > 1 else None


def gap(run):
    if run["test_accuracy"] is None:
        return None
    return float(run["history"]["accuracy"][-1]) - run["test_accuracy"]


def with_spread(values):
    return described(values) or "not yet run"


def difference_text(first, second):
    found = paired_difference(first, second, "test_accuracy")
    if found.pairs < 2:
        return "", found
    return f"{interval_text(found)} ({found.pairs})", found


def interval_text(difference):
    return f"{difference.mean:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}]"


def planned(configurations, folders):
    """{(optimizer, data set, rate)} of every run the study's `configurations`
    (studies.cpu_configurations') make in `folders`; RAdam's 2019-schedule runs as "radam-2019",
    as read_study names them."""
    points = set()
    for folder, batches in configurations:
        if folder not in folders:
            continue
        for batch in batches:
            optimizers = ("radam-2019",) if folder == studies.CPU_2019_FOLDER else batch["optimizers"]
            points |= {(optimizer, dataset, rate) for optimizer in optimizers for dataset in batch["datasets"]
                       for rate in batch["learning_rates"]}
    return points


def comparison_rows(runs, rates, points=None, verdicts=None, longer=False):
    """One row per optimizer and data set at `rates[optimizer]`: (name, data set, rate, test
    accuracy, stability, generalization, minus RAdam, verdict), of the 1,000-step runs or, `longer`,
    of the 3,000-step ones. A row the study makes no run of (`points`, from planned()) is left out
    rather than shown as not yet run. Each verdict is also put in `verdicts`, where given, under
    what it compares."""
    rows = []
    for dataset in studies.CPU_DATASETS:
        radam = select(runs, "radam", dataset, rates.get("radam"), longer=longer)
        for optimizer, rate in rates.items():
            found = select(runs, optimizer, dataset, rate, longer=longer)
            if not found and points is not None and (optimizer, dataset, rate) not in points:
                continue
            words, difference = ("", None) if optimizer == "radam" else difference_text(found, radam)
            word = verdict(difference) if difference else ""
            if word and verdicts is not None:
                verdicts[(dataset, optimizer, rate, rates.get("radam"), "test_accuracy", longer)] = word
            rows.append(dict(
                optimizer=NAMES[optimizer], dataset=dataset, rate=rate_text(rate),
                test=with_spread([run["test_accuracy"] for run in found]),
                fluctuation=with_spread([run["fluctuation"] for run in found]),
                gap=with_spread([run["gap"] for run in found]),
                minus_radam=words, verdict=word))
    return rows


def markdown_table(rows, columns):
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[key]) for _, key in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


COMPARISON_COLUMNS = [("optimizer", "optimizer"), ("data set", "dataset"), ("learning rate", "rate"),
                      ("test accuracy", "test"), ("minus RAdam [95% CI] (pairs)", "minus_radam"),
                      ("verdict", "verdict"), ("epoch-to-epoch change of val. accuracy", "fluctuation"),
                      ("train - test accuracy", "gap")]


def sensitivity_cell(entry):
    """'validation / test (runs)', each mean with its own count where a run has no report."""
    if entry is None:
        return "not yet run"
    validation = f"{entry['validation'][0]:.4f}"
    test = "no report" if entry["test"][0] is None else f"{entry['test'][0]:.4f}"
    if entry["reports"] == entry["seeds"]:
        return f"{validation} / {test} ({entry['seeds']})"
    return f"{validation} ({entry['seeds']}) / {test}" + (f" ({entry['reports']})" if entry["reports"] else "")


def sensitivity_table(table, complete, optimizers=studies.GRID_OPTIMIZERS):
    """The grid's table of `optimizers`; `complete` once every grid run of theirs is in."""
    rates = sorted(studies.GRID_RATES)
    lines = ["| optimizer | " + " | ".join(rate_text(rate) for rate in rates) + f" | rates within {NEAR_BEST} of its best |",
             "|---|" + "---|" * (len(rates) + 1)]
    for optimizer in optimizers:
        entries = table.get(optimizer, {})
        cells = [sensitivity_cell(entries.get(rate)) for rate in rates]
        near = ", ".join(map(rate_text, near_best(entries))) if complete else "grid not complete"
        lines.append(f"| {NAMES[optimizer]} | " + " | ".join(cells) + f" | {near} |")
    return "\n".join(lines) + "\n"


def longer_check(runs, chosen):
    """{optimizer: (the rates it is checked at after 3,000 steps, their sensitivity entries, the
    one chosen there or None)} for Adam and RAdam, as studies.longer_search searches from the rates
    `chosen` at 1,000 steps."""
    table, longer = sensitivity(runs, longer=True), [run for run in runs if run.get("longer", False)]
    checked = {}
    for optimizer in studies.LONGER_OPTIMIZERS:
        rates, best = studies.longer_search(longer, optimizer, chosen[optimizer])
        checked[optimizer] = rates, table.get(optimizer, {}), best
    return checked


def longer_chosen(runs, chosen):
    """{optimizer: rate} that Adam and RAdam validate best at after 3,000 steps (longer_check), or
    None until both are known."""
    found = {optimizer: best for optimizer, (_, _, best) in longer_check(runs, chosen).items()}
    return None if None in found.values() else found


def compared_again(runs, chosen):
    """longer_chosen's rates where they are not those `chosen` at 1,000 steps, else None: the rates
    of a comparison of its own after 3,000 steps."""
    rechosen = longer_chosen(runs, chosen)
    return rechosen if rechosen and rechosen != longer_rates(chosen) else None


def longer_grid(runs, chosen):
    """(Adam's and RAdam's sensitivity table after 3,000 steps, whether each has every grid rate
    with the grid's seeds) once the search has chosen both rates, as studies.longer_batches then
    runs the rest of the grid; None before."""
    if not longer_chosen(runs, chosen):
        return None
    longer = [run for run in runs if run["longer"]]
    complete = all(studies.best_rate(longer, optimizer, studies.GRID_RATES) is not None
                   for optimizer in studies.LONGER_OPTIMIZERS)
    return sensitivity(runs, longer=True), complete


def robustness(table, optimizers):
    """'Adam 2 of 5 rates, RAdam 2 of 5 rates': how many grid rates come within NEAR_BEST of each
    one's best mean validation accuracy in `table` (sensitivity's)."""
    return ", ".join(f"{NAMES[optimizer]} {len(near_best(table[optimizer]))} of {len(studies.GRID_RATES)} rates"
                     for optimizer in optimizers)


def longer_rates_table(runs, chosen):
    """At 3,000 steps, Adam's and RAdam's sensitivity cells at the rates longer_check checks, and
    the one of the highest mean validation accuracy."""
    checked = longer_check(runs, chosen)
    all_rates = sorted(set().union(*(rates for rates, _, _ in checked.values())))
    lines = ["| optimizer | " + " | ".join(rate_text(rate) for rate in all_rates) + " | highest validation accuracy |",
             "|---|" + "---|" * (len(all_rates) + 1)]
    for optimizer, (rates, entries, best) in checked.items():
        cells = [sensitivity_cell(entries.get(rate)) if rate in rates else "" for rate in all_rates]
        said = ("not all run yet" if best is None else
                rate_text(best) + (", the chosen rate" if best == chosen[optimizer] else ", not the chosen rate"))
        lines.append(f"| {NAMES[optimizer]} | " + " | ".join(cells) + f" | {said} |")
    return "\n".join(lines) + "\n"


# How the paired differences read, by verdict: of test accuracy and generalization, and of stability.
HIGHER_OR_LOWER = {"higher": "higher", "lower": "lower", "no difference": "not detectably higher or lower"}
MORE_OR_LESS = {"higher": "more", "lower": "less", "no difference": "not detectably more or less"}


def spread_sentence(runs, rates, dataset, label):
    """The spread over seeds of each optimizer's final test accuracy, and how little a few seeds
    can say about a spread (the 95% interval of a standard deviation from n values, chi-square
    with n - 1 degrees of freedom)."""
    spreads, seeds = [], set()
    for optimizer, rate in rates.items():
        accuracies = [run["test_accuracy"] for run in select(runs, optimizer, dataset, rate)
                      if run["test_accuracy"] is not None]
        if len(accuracies) >= VERDICT_PAIRS:
            spreads.append(f"{NAMES[optimizer]} {np.std(accuracies, ddof=1):.4f}")
            seeds.add(len(accuracies))
    if len(spreads) < 2 or len(seeds) != 1:
        return None
    (n,) = seeds
    low, high = (np.sqrt((n - 1) / stats.chi2.ppf(q, n - 1)) for q in (0.975, 0.025))
    return (f"On {dataset}, each {label}, the spread over {n} seeds of the final test accuracy (sample standard "
            f"deviation): {', '.join(spreads)}. From {n} values a standard deviation is known only to within "
            f"{low:.2f} to {high:.2f} times itself (95%), so these spreads do not rank the optimizers' stability.")


def sentences(runs, table, chosen, verdicts):
    """The answers, in words, to what the numbers here can say; where they cannot yet, that.
    `verdicts` holds those the tables gave; the sentences add theirs, and end by counting them."""
    said = []
    if chosen:
        said.append("Robustness to the learning rate (Fashion-MNIST, mean final validation accuracy within "
                    f"{NEAR_BEST} of the best): {robustness(table, studies.GRID_OPTIMIZERS)}.")
        grid_longer = longer_grid(runs, chosen)
        if grid_longer and grid_longer[1]:
            said.append(f"Robustness to the learning rate after {steps(studies.LONGER_BUDGET):,} steps (the same "
                        f"measure): {robustness(grid_longer[0], studies.LONGER_OPTIMIZERS)}.")
    else:
        grid = [run for run in runs if not run.get("longer", False)]  # the 3,000-step runs are none of the grid's
        done = sum(len(studies.grid_runs(grid, optimizer, rate)) >= studies.GRID_SEEDS
                   for optimizer in studies.GRID_OPTIMIZERS for rate in studies.GRID_RATES)
        said.append(f"The learning-rate grid has {done} of {len(studies.GRID_RATES) * len(studies.GRID_OPTIMIZERS)} "
                    "points so far; each optimizer's rate is chosen once all are in, so there is no tuned "
                    "comparison yet.")
    pairs_said = set()  # where a chosen rate is 1e-3, the 2019 setting compares the same runs again
    for label, rates in compared(chosen):
        for dataset in studies.CPU_DATASETS:
            radam = select(runs, "radam", dataset, rates["radam"])
            for optimizer in ("adam", "adam-warmup"):
                pair = (dataset, optimizer, rates[optimizer], rates["radam"])
                if pair in pairs_said:
                    said.append(f"On {dataset}, each {label}, {NAMES[optimizer]} and RAdam are the runs compared "
                                "above at their chosen rates.")
                    continue
                pairs_said.add(pair)
                found = select(runs, optimizer, dataset, rates[optimizer])
                _, difference = difference_text(found, radam)
                word = verdict(difference)
                if word:
                    said.append(f"On {dataset}, each {label}, {NAMES[optimizer]}'s test accuracy is {HIGHER_OR_LOWER[word]} "
                                f"than RAdam's: {interval_text(difference)} over {difference.pairs} seeds.")
                elif difference.pairs:
                    said.append(f"On {dataset}, each {label}, {NAMES[optimizer]} - RAdam has {difference.pairs} "
                                f"pair(s) of seeds so far: too few (or too alike) for a verdict.")
                if difference.pairs < VERDICT_PAIRS:
                    continue
                stability = paired_difference(found, radam, "fluctuation")
                if verdict(stability):
                    verdicts[pair + ("fluctuation",)] = verdict(stability)
                    said.append(f"On {dataset}, each {label}, {NAMES[optimizer]}'s validation accuracy changes {MORE_OR_LESS[verdict(stability)]} from epoch to "
                                f"epoch than RAdam's (mean absolute change over the last {LATE_EPOCHS} epochs, minus "
                                f"RAdam's: {interval_text(stability)}).")
                generalization = paired_difference(found, radam, "gap")
                if verdict(generalization):
                    verdicts[pair + ("gap",)] = verdict(generalization)
                    said.append(f"On {dataset}, each {label}, {NAMES[optimizer]}'s final training accuracy minus its test accuracy is "
                                f"{HIGHER_OR_LOWER[verdict(generalization)]} than RAdam's (train - test, minus "
                                f"RAdam's: {interval_text(generalization)}; training accuracy is Keras' on augmented "
                                "batches with dropout, so it can lie below the test accuracy).")
            spread = spread_sentence(runs, rates, dataset, label)
            if spread:
                said.append(spread)
    fresh = fresh_seeds_sentence(runs, chosen, verdicts)
    longer = [longer_sentence(runs, chosen, dataset) for dataset in studies.CPU_DATASETS] if chosen else []
    fresh_longer = fresh_seeds_sentence(runs, longer_chosen(runs, chosen), verdicts, longer=True) if chosen else None
    chance = chance_sentence(verdicts)
    return said + [sentence for sentence in (fresh, *longer, fresh_longer, chance) if sentence]


def fresh_differences(runs, chosen, longer=False):
    """{optimizer: its test accuracy minus RAdam's on Fashion-MNIST, each at its `chosen` rate,
    over studies.FRESH_SEEDS alone}, for every optimizer with 2 pairs or more; of the 1,000-step
    runs or, `longer`, of the 3,000-step ones."""
    if not chosen:
        return {}
    seeds = studies.FRESH_SEEDS
    radam = select(runs, "radam", studies.GRID_DATASET, chosen["radam"], seeds, longer)
    found = {}
    for optimizer, rate in chosen.items():
        if optimizer == "radam":
            continue
        difference = paired_difference(select(runs, optimizer, studies.GRID_DATASET, rate, seeds, longer), radam,
                                       "test_accuracy")
        if difference.pairs >= 2:
            found[optimizer] = difference
    return found


def seeds_text(seeds):
    return f"{seeds[0]} to {seeds[-1]}" if len(seeds) > 2 else " and ".join(map(str, seeds))


def fresh_seeds_sentence(runs, chosen, verdicts, longer=False):
    """The tuned comparison on Fashion-MNIST again, without the grid's runs that chose the rates:
    they were chosen for their validation accuracy, which may flatter their test accuracy too.
    Of the 1,000-step runs or, `longer`, of the 3,000-step ones at the rates chosen there. Its
    verdicts go in `verdicts`."""
    differences = fresh_differences(runs, chosen, longer)
    if not differences:
        return None
    for optimizer, difference in differences.items():
        if verdict(difference):
            verdicts[("fresh seeds", optimizer) + (("longer",) if longer else ())] = verdict(difference)
    each = [f"{NAMES[optimizer]} {interval_text(difference)} ({difference.pairs}, {verdict(difference) or 'no verdict'})"
            for optimizer, difference in differences.items()]
    where = (f"{studies.GRID_DATASET} after {steps(studies.LONGER_BUDGET):,} steps, each at the rate chosen there"
             if longer else f"{studies.GRID_DATASET}, each at its chosen rate")
    return (f"On {where}, the grid's seeds "
            f"{seeds_text(range(1, studies.GRID_SEEDS + 1))} are the runs that chose the rate, so their accuracy may "
            f"flatter it; on seeds {seeds_text(studies.FRESH_SEEDS)} alone, which played no part in the choice, test "
            f"accuracy minus RAdam's [95% CI] (pairs): {'; '.join(each)}.")


def longer_rates(chosen):
    """{optimizer: rate} of the 3,000-step runs: Adam and RAdam at their chosen rates."""
    return {optimizer: chosen[optimizer] for optimizer in studies.LONGER_OPTIMIZERS}


def longer_sentence(runs, chosen, dataset):
    """Adam minus RAdam in test accuracy on `dataset` after 3,000 steps, beside the same seeds'
    after 1,000."""
    rates = longer_rates(chosen)
    longer = {optimizer: select(runs, optimizer, dataset, rate, longer=True) for optimizer, rate in rates.items()}
    difference = paired_difference(longer["adam"], longer["radam"], "test_accuracy")
    if difference.pairs < 2:
        return None
    seeds = set.intersection(*({run["seed"] for run in found if run["test_accuracy"] is not None}
                               for found in longer.values()))
    shorter = paired_difference(*(select(runs, optimizer, dataset, rate, seeds)
                                  for optimizer, rate in rates.items()), "test_accuracy")
    word = verdict(difference)
    said = (f"Adam's test accuracy is {HIGHER_OR_LOWER[word]} than RAdam's" if word else
            "Adam - RAdam has too few pairs (or too alike) for a verdict")
    return (f"On {dataset}, each at its chosen rate for {steps(studies.LONGER_BUDGET):,} steps, {said}: "
            f"{interval_text(difference)} over {difference.pairs} seeds; the same seeds after "
            f"{steps(studies.CPU_BUDGET):,} steps: " + (f"{interval_text(shorter)} ({shorter.pairs} pairs)."
                                                        if shorter.pairs >= 2 else "fewer than 2 pairs."))


ANSWER_WORDS = {"higher": "Adam higher", "lower": "RAdam higher", "no difference": "no difference"}


def difference_cell(difference):
    """'+0.018 [+0.006, +0.030] (5): Adam higher', the paired difference Adam - RAdam to 3 decimals."""
    return (f"{difference.mean:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}] ({difference.pairs}): "
            + ANSWER_WORDS.get(verdict(difference), "no verdict"))


def answer(runs, chosen, verdicts):
    """README's answer: Adam's test accuracy minus RAdam's, each at its chosen rate, on each data
    set after 1,000 steps and after 3,000, the mean over seeds [95% interval] (pairs) and its
    verdict, and after 3,000 at the rates chosen there where they differ (longer_chosen); the rates
    chosen at 3,000 steps as they are found; the same differences on Fashion-MNIST on the seeds
    that played no part in choosing the rates; and how many of
    `verdicts` (those report() gives) find a difference. A sentence instead while the grid has not
    chosen the rates."""
    if not chosen:
        return "The learning-rate grid has not chosen the rates yet, so there is no answer so far.\n"
    lines = [f"Chosen: Adam {rate_text(chosen['adam'])}, RAdam {rate_text(chosen['radam'])}. Adam's test accuracy "
             "minus RAdam's, the mean over seeds [95% interval] (pairs):", "",
             "| steps a run | " + " | ".join(studies.CPU_DATASETS) + " |", "|---|" + "---|" * len(studies.CPU_DATASETS)]
    rows = [(f"{steps(studies.CPU_BUDGET):,}", chosen, False),
            (f"{steps(studies.LONGER_BUDGET):,}, past most of RAdam's warm-up, same rates", chosen, True)]
    rechosen = compared_again(runs, chosen)
    if rechosen:
        rows.append((f"{steps(studies.LONGER_BUDGET):,}, at the rates chosen there: Adam {rate_text(rechosen['adam'])}, "
                     f"RAdam {rate_text(rechosen['radam'])}", rechosen, True))
    for label, rates, longer in rows:
        cells = []
        for dataset in studies.CPU_DATASETS:
            adam, radam = (select(runs, optimizer, dataset, rates[optimizer], longer=longer) for optimizer in ("adam", "radam"))
            difference = paired_difference(adam, radam, "test_accuracy")
            if difference.pairs < 2:
                cells.append("not yet run" if not adam and not radam else "fewer than 2 pairs so far")
            else:
                cells.append(difference_cell(difference))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    checked = {optimizer: best for optimizer, (_, _, best) in longer_check(runs, chosen).items() if best is not None}
    if checked:
        lines += ["", f"Chosen again at {steps(studies.LONGER_BUDGET):,} steps on {studies.GRID_DATASET} (seeds "
                  f"{seeds_text(range(1, studies.GRID_SEEDS + 1))}), the rate of the highest validation accuracy, of "
                  "the one chosen at 1,000 steps, the grid rates either side and further out while the best is at "
                  "an edge: " + "; ".join(
                      f"{NAMES[optimizer]} {rate_text(best)}" + (" (the same)" if best == chosen[optimizer] else "")
                      for optimizer, best in checked.items()) + "."]
    robust = (f"Robustness to the learning rate on {studies.GRID_DATASET}, the grid rates whose mean validation "
              f"accuracy comes within {NEAR_BEST} of the best: after {steps(studies.CPU_BUDGET):,} steps "
              f"{robustness(sensitivity(runs), studies.LONGER_OPTIMIZERS)}")
    grid_longer = longer_grid(runs, chosen)
    if grid_longer:
        robust += f"; after {steps(studies.LONGER_BUDGET):,} steps " + (
            robustness(grid_longer[0], studies.LONGER_OPTIMIZERS) if grid_longer[1] else "not all run yet")
    lines += ["", robust + "."]
    for budget, rates, longer in ((studies.CPU_BUDGET, chosen, False), (studies.LONGER_BUDGET, longer_chosen(runs, chosen), True)):
        fresh = fresh_differences(runs, rates, longer).get("adam")
        if fresh:
            lines += ["", f"On {studies.GRID_DATASET} at {steps(budget):,} steps, Adam - RAdam on seeds "
                      f"{seeds_text(studies.FRESH_SEEDS)} alone, which played no part in choosing the rates: "
                      f"{difference_cell(fresh)}."]
    if verdicts:
        lines += ["", f"Of the {len(verdicts)} verdicts of the study's report (Results), {differences_found(verdicts)} "
                  f"find a difference, where chance alone would give about {len(verdicts) / 20:.2g}."]
    return "\n".join(lines) + "\n"


def steps(budget):
    """A run's training steps at `budget` (a study's)."""
    return budget["epochs"] * budget["training_images"] // budget["batch_size"]


def differences_found(verdicts):
    """How many of `verdicts` ({what it compares: verdict}) find a difference (higher, lower, more or less)."""
    return sum(word != "no difference" for word in verdicts.values())


def chance_sentence(verdicts):
    """How many of the report's `verdicts` ({what it compares: verdict}) find a difference, beside
    how many would by chance alone: each comes from a 95% interval of its own, none adjusted for
    the others."""
    if not verdicts:
        return None
    return (f"Of the {len(verdicts)} comparisons above that give a verdict, {differences_found(verdicts)} find a difference (higher, "
            f"lower, more or less). Each is a 95% interval of its own, not adjusted for the others: with no "
            f"difference anywhere, one in 20 would leave out zero by chance alone ({len(verdicts) / 20:.2g} of "
            f"these {len(verdicts)} on average), so read any one verdict with that in mind.")


def machine_time(runs):
    """What the finished runs cost, from their folders' manifests: ({device: seconds of it}, the
    runs counted, the resumed among them). A run's seconds are its wall time divided by the runs
    that shared the machine with it; a resumed run's wall time covers its last part."""
    seconds, counted, resumed = {}, 0, 0
    manifests = {}
    for run in runs:
        folder = os.path.dirname(run["path"])
        if folder not in manifests:
            manifest = read_json(os.path.join(folder, "manifest.json"))
            entries = manifest.get("runs") if isinstance(manifest, dict) else None
            manifests[folder] = entries if isinstance(entries, dict) else {}
        entry = manifests[folder].get(os.path.basename(run["path"])[: -len(".pickle")])
        if not isinstance(entry, dict):
            continue
        wall, at_once = entry.get("wall_seconds"), entry.get("runs_at_once")
        wall_is_seconds = isinstance(wall, (int, float)) and 0 <= wall <= sys.float_info.max  # not Infinity, not 1e400
        if wall_is_seconds and isinstance(at_once, int) and at_once >= 1:
            device = str(entry.get("device"))
            seconds[device] = seconds.get(device, 0.0) + wall / at_once
            counted += 1
            resumed += entry.get("resumed") is True
    return dict(sorted(seconds.items())), counted, resumed


def machine_time_sentence(runs):
    seconds, counted, resumed = machine_time(runs)
    if not counted:
        return None
    return (f"Machine time: the {counted} runs recorded in the manifests took "
            + " and ".join(f"{total / 3600:.1f} hours of {device}" for device, total in seconds.items())
            + " (each run's wall time divided by the runs that shared the machine with it"
            + (f"; {resumed} resumed from a checkpoint count only their last part" if resumed else "") + ").")


def report(results, verdicts=None):
    """The study's section of README and of plot.py's study.md, tables and sentences, with what
    they come from: (text, the runs, the sensitivity table, the chosen rates or None). Every
    verdict it gives is also put in `verdicts`, where given, under what it compares."""
    runs = read_study(results)
    table = sensitivity(runs)
    chosen = studies.chosen_rates([run for run in runs if not run["longer"]])
    parts = ["Learning-rate sensitivity on Fashion-MNIST: final validation / test accuracy, mean over "
             f"the grid's seeds (runs). Validation is {studies.CPU_BUDGET['validation_images']:,} held-out "
             "training images; rates are chosen on it alone.\n\n", sensitivity_table(table, chosen is not None)]
    at_2019 = compared(chosen)[-1][1]
    verdicts = {} if verdicts is None else verdicts  # every verdict the report gives, once each, for the count at its end
    # Before the grid chooses, the second stage is unknown; once it has, the configurations hold it.
    configurations = studies.cpu_configurations(results) if chosen else None
    points = planned(configurations, (studies.CPU_FOLDER, studies.CPU_2019_FOLDER)) if chosen else None
    if chosen:
        parts += ["\nEach optimizer at its chosen rate (" + ", ".join(
            f"{NAMES[optimizer]} {rate_text(rate)}" for optimizer, rate in chosen.items()) + "):\n\n",
            markdown_table(comparison_rows(runs, chosen, points, verdicts), COMPARISON_COLUMNS)]
    parts += ["\nEach optimizer at 1e-3, the 2019 setting (RAdam without its schedule, and with it scaled to the run):\n\n",
              markdown_table(comparison_rows(runs, at_2019, points, verdicts), COMPARISON_COLUMNS)]
    if chosen:
        parts += [f"\nAdam and RAdam at their chosen rates for {steps(studies.LONGER_BUDGET):,} steps, on "
                  f"{studies.LONGER_BUDGET['training_images']:,} training images ({studies.LONGER_BUDGET['epochs']} epochs of "
                  f"{studies.LONGER_BUDGET['training_images'] // studies.LONGER_BUDGET['batch_size']} steps), past most of "
                  # RAdam.step_terms' r_t at those steps (tests/test_cpu_study.py checks them)
                  "RAdam's warm-up: its rectifier scales its steps to 0.65 of Adam's at step 1,000, 0.92 at step 3,000:\n\n",
                  markdown_table(comparison_rows(runs, longer_rates(chosen),
                                                 planned(configurations, (studies.CPU_LONGER_FOLDER,)), verdicts,
                                                 longer=True), COMPARISON_COLUMNS),
                  f"\nWhether the rates chosen at {steps(studies.CPU_BUDGET):,} steps are still the best at "
                  f"{steps(studies.LONGER_BUDGET):,}: final validation / test accuracy on {studies.GRID_DATASET} after "
                  f"{steps(studies.LONGER_BUDGET):,} steps, mean over the grid's seeds (runs), at each one's chosen rate, "
                  "the grid rates either side and the next one out while the best is at an edge; validation alone "
                  "says which is highest, and that is the rate chosen at "
                  f"{steps(studies.LONGER_BUDGET):,} steps:\n\n", longer_rates_table(runs, chosen)]
        rechosen = compared_again(runs, chosen)
        if rechosen:
            parts += [f"\nAdam and RAdam at the rates chosen at {steps(studies.LONGER_BUDGET):,} steps ("
                      + ", ".join(f"{NAMES[optimizer]} {rate_text(rate)}" for optimizer, rate in rechosen.items())
                      + f"), {steps(studies.LONGER_BUDGET):,} steps as above:\n\n",
                      markdown_table(comparison_rows(runs, rechosen,
                                                     planned(configurations, (studies.CPU_LONGER_FOLDER,)), verdicts,
                                                     longer=True), COMPARISON_COLUMNS)]
        elif longer_chosen(runs, chosen):
            parts += [f"\nThe rates chosen at {steps(studies.LONGER_BUDGET):,} steps are those chosen at "
                      f"{steps(studies.CPU_BUDGET):,}: the {steps(studies.LONGER_BUDGET):,}-step comparison above is "
                      "the one at them.\n"]
        grid_longer = longer_grid(runs, chosen)
        if grid_longer:
            parts += [f"\nLearning-rate sensitivity on {studies.GRID_DATASET} after {steps(studies.LONGER_BUDGET):,} "
                      "steps, Adam and RAdam across the whole grid (the rates their search left out run last): "
                      "final validation / test accuracy, mean over the grid's seeds (runs):\n\n",
                      sensitivity_table(*grid_longer, optimizers=studies.LONGER_OPTIMIZERS)]
    parts += [f"\nTest accuracy is the mean ± sample standard deviation over seeds (runs). The epoch-to-epoch "
              f"change is the mean absolute change of validation accuracy over the last {LATE_EPOCHS} epochs. "
              "Train - test is the last epoch's training accuracy as Keras reports it, averaged over the "
              "epoch on augmented batches with dropout on, minus the test accuracy: it is below zero where "
              "augmentation and dropout make the training batches harder than the test images.\n",
              "\n" + "\n\n".join(sentences(runs, table, chosen, verdicts) + [machine_time_sentence(runs) or ""]).rstrip()
              + "\n"]
    return "".join(parts), runs, table, chosen
