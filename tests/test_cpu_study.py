"""The CPU study's reading of results/: budgets, the sensitivity grid, verdicts and the figure."""

import os
import json
import pickle

import pytest

import plot
from pyimagesearch import cpu_study, studies
from pyimagesearch import results
from pyimagesearch.results import Difference, load_runs
from pyimagesearch.run_files import SETTINGS_LIMIT
from pyimagesearch.runs import budget_of, stem


def write_run(folder, optimizer, dataset, rate, seed, val_accuracy, test_accuracy, budget=studies.CPU_BUDGET,
              train_accuracy=0.9):
    folder.mkdir(parents=True, exist_ok=True)
    name = stem("minivggnet", optimizer, dataset, rate, seed)
    # As many epochs as the budget says; the validation accuracy as given, its last epochs.
    before = [1.0] * (budget["epochs"] - 1)
    history = dict(loss=[*before, 0.5], accuracy=[*before, train_accuracy], val_loss=[*before, 0.6],
                   val_accuracy=val_accuracy)
    (folder / f"{name}.pickle").write_bytes(pickle.dumps(history))
    (folder / f"{name}.txt").write_text(f"    accuracy                         {test_accuracy:.4f}     10000\n"
                                        "   macro avg     0.9000    0.9000    0.9000     10000\n")
    (folder / f"{name}.json").write_text(json.dumps(dict(budget, learning_rate=rate, optimizer=optimizer)))


def test_a_run_made_with_another_budget_is_never_read_as_one_of_a_folders_runs(tmp_path, capsys):
    folder = tmp_path / "cpu-study"
    write_run(folder, "adam", "fashion_mnist", 1e-3, 1, [0.5, 0.8], 0.79)
    write_run(folder, "adam", "fashion_mnist", 1e-3, 2, [0.5, 0.8], 0.78, budget=dict(studies.CPU_BUDGET, epochs=1))
    write_run(folder, "radam", "fashion_mnist", 1e-3, 1, [0.5, 0.8], 0.77)
    (folder / "minivggnet_radam_fashion_mnist_seed1.json").unlink()  # made by hand, settings unknown
    (folder / "manifest.json").write_text(json.dumps(dict(budget=budget_of(studies.CPU_BUDGET), runs={})))

    runs, unreadable = load_runs(str(folder))

    assert [run["path"] for run in runs] == [str(folder / "minivggnet_adam_fashion_mnist_seed1.pickle")]
    assert not unreadable
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 2 and all(" was not made with the budget of " in line for line in warnings)
    assert "minivggnet_adam_fashion_mnist_seed2.pickle" in warnings[0]
    # Without a manifest, a folder is whatever it holds.
    (folder / "manifest.json").unlink()
    assert len(load_runs(str(folder))[0]) == 3


def test_settings_larger_than_train_pys_are_not_read_so_the_run_is_left_out_of_a_folder_with_a_budget(tmp_path, capsys):
    # results/campaign.py reads no settings beyond run_files.SETTINGS_LIMIT, and refuses a finished
    # run without them in such a folder: the study leaves it out, as the campaign says it does.
    folder = tmp_path / "cpu-study"
    write_run(folder, "adam", "fashion_mnist", 1e-3, 1, [0.5, 0.8], 0.79)
    settings = folder / "minivggnet_adam_fashion_mnist_seed1.json"
    settings.write_text(json.dumps(dict(json.loads(settings.read_text()), padding="x" * SETTINGS_LIMIT)))
    (folder / "manifest.json").write_text(json.dumps(dict(budget=budget_of(studies.CPU_BUDGET), runs={})))

    assert load_runs(str(folder)) == ([], [])
    assert " was not made with the budget of " in capsys.readouterr().err


@pytest.mark.parametrize("difference, expected", [
    (Difference(2, 0.01, 0.001, 0.005, 0.015), ""),  # 2 pairs: too few for a verdict
    (Difference(3, 0.01, 0.0, 0.01, 0.01), ""),  # no spread: a degenerate interval
    (Difference(3, 0.01, 0.002, 0.005, 0.015), "higher"),
    (Difference(3, -0.01, 0.002, -0.015, -0.005), "lower"),
    (Difference(4, 0.0, 0.01, -0.01, 0.01), "no difference"),
])
def test_a_verdict_needs_three_pairs_and_a_spread(difference, expected):
    assert results.verdict(difference) == expected


def accuracy_difference(adam, radam):
    """Adam's test accuracies less RAdam's, paired by seed (1, 2, 3, ... in the order given)."""
    adam, radam = ([dict(seed=seed, path=f"{name}{seed}", test_accuracy=value) for seed, value in enumerate(values, 1)]
                   for name, values in (("adam", adam), ("radam", radam)))
    return results.paired_difference(adam, radam, "test_accuracy")


def test_differences_equal_to_the_reports_digits_have_no_spread_and_no_verdict():
    # 0.9104 - 0.9079, 0.9646 - 0.9621 and 0.7722 - 0.7697 are 0.0025 each, but not to the last bit.
    difference = accuracy_difference((0.9104, 0.9646, 0.7722), (0.9079, 0.9621, 0.7697))

    assert difference.pairs == 3 and difference.std == 0.0
    assert (difference.mean, difference.low, difference.high) == pytest.approx((0.0025, 0.0025, 0.0025))
    assert results.verdict(difference) == ""


def test_equal_differences_whose_mean_is_off_in_its_last_bit_have_no_spread_and_no_verdict():
    # 0.0009 three times: NumPy's mean of them is 0.0009000000000000001, and their std 1.3e-19.
    difference = accuracy_difference((0.8109, 0.8209, 0.8309), (0.8100, 0.8200, 0.8300))

    assert difference == (3, 0.0009, 0.0, 0.0009, 0.0009)
    assert results.verdict(difference) == ""


def full_grid(results, best):
    """Every grid run, validation accuracy peaking at `best[optimizer]`, test accuracy 0.01 below."""
    for optimizer in studies.GRID_OPTIMIZERS:
        for rate in studies.GRID_RATES:
            for seed in (1, 2):
                val = 0.85 if rate == best[optimizer] else 0.84 if rate in (1e-3, 3e-3) else 0.7
                write_run(results / "cpu-study", optimizer, "fashion_mnist", rate, seed, [0.4, val + seed / 1000],
                          val - 0.01 + seed / 1000)


def test_the_study_report_says_what_the_grid_and_the_tuned_runs_hold(tmp_path):
    results = tmp_path / "results"
    best = {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2}
    full_grid(results, best)
    # Seed 3 at the chosen rates: Adam's test accuracy 0.02 above RAdam's with seeds 1 and 2 and
    # 0.03 with seed 3: 0.0233 ± 0.0058, interval 0.0233 ± 4.303 x 0.0058 / sqrt(3).
    for optimizer, rate in best.items():
        write_run(results / "cpu-study", optimizer, "fashion_mnist", rate, 3, [0.4, 0.85], 0.85)
    # On MNIST, validation accuracy changes by (0.4 + 0.01) / 2, (0.38 + 0.04) / 2, (0.4 + 0.05) / 2
    # from epoch to epoch for Adam, and by 0.2, 0.205, 0.205 for RAdam: +0.01 ± 0.0087 apart.
    for seed, accuracy, validation in ((1, 0.82, [0.5, 0.9, 0.91]), (2, 0.83, [0.5, 0.88, 0.92]),
                                       (3, 0.86, [0.5, 0.9, 0.95])):
        write_run(results / "cpu-study", "adam", "mnist", 1e-3, seed, validation, accuracy)
    for seed, accuracy, validation in ((1, 0.80, [0.5, 0.9, 0.9]), (2, 0.81, [0.5, 0.9, 0.91]),
                                       (3, 0.83, [0.5, 0.9, 0.91])):
        write_run(results / "cpu-study", "radam", "mnist", 3e-3, seed, validation, accuracy, train_accuracy=0.95)

    text, runs, table, chosen = cpu_study.report(str(results))

    assert studies.chosen_rates(studies.finished_runs(str(results / "cpu-study"))) == chosen == best
    assert table["adam"][1e-3] == dict(validation=pytest.approx((0.8515, 0.851, 0.852)),
                                       test=pytest.approx((0.8415, 0.841, 0.842)), seeds=2, reports=2)
    assert "| Adam | 0.7015 / 0.6915 (2) | 0.7015 / 0.6915 (2) | 0.8515 / 0.8415 (2) | 0.8415 / 0.8315 (2) | " \
           "0.7015 / 0.6915 (2) | 1e-03, 3e-03 |" in text
    assert "Robustness to the learning rate (Fashion-MNIST, mean final validation accuracy within 0.02 of the best): " \
           "Adam 2 of 5 rates, RAdam 2 of 5 rates, Adam + warmup 3 of 5 rates, SGD 3 of 5 rates." in text
    assert "Each optimizer at its chosen rate (Adam 1e-03, RAdam 3e-03, Adam + warmup 1e-02, SGD 1e-02):" in text
    row = next(line for line in text.splitlines() if line.startswith("| Adam | mnist | 1e-03 |"))
    assert row.split(" | ")[3:6] == ["0.8367 ± 0.0208 (3)", "+0.0233 [+0.0090, +0.0377] (3)", "higher"]
    radam_row = next(line for line in text.splitlines() if line.startswith("| RAdam | mnist | 3e-03 |"))
    assert radam_row.split(" | ")[-1] == "0.1367 ± 0.0153 (3) |"  # 0.95 - 0.8133: train minus test
    assert "On mnist, each at its chosen rate, Adam's test accuracy is higher than RAdam's: +0.0233 " \
           "[+0.0090, +0.0377] over 3 seeds." in text
    assert "On mnist, each at its chosen rate, Adam's validation accuracy changes not detectably more or less from " \
           "epoch to epoch than RAdam's (mean absolute change over the last 5 epochs, minus RAdam's: +0.0100 " \
           "[-0.0115, +0.0315])." in text
    # Train minus test: 0.9 - 0.82 against 0.95 - 0.80, and so on: -0.07, -0.07, -0.08.
    assert "On mnist, each at its chosen rate, Adam's final training accuracy minus its test accuracy is lower " \
           "than RAdam's (train - test, minus RAdam's: -0.0733 [-0.0877, -0.0590];" in text
    assert "On mnist, each at its chosen rate, the spread over 3 seeds of the final test accuracy (sample standard " \
           "deviation): Adam 0.0208, RAdam 0.0153. From 3 values a standard deviation is known only to within 0.52 " \
           "to 6.28 times itself (95%)" in text
    # At 1e-3 Adam runs as at its chosen rate but RAdam does not (3e-3): another comparison, of the
    # grid's seeds 1 and 2, Adam 0.841, 0.842 against RAdam 0.831, 0.832.
    assert "On fashion_mnist, each at 1e-3, the 2019 setting, Adam - RAdam has 2 pair(s) of seeds so far: too few " \
           "(or too alike) for a verdict." in text
    assert "each at 1e-3, the 2019 setting, Adam and RAdam are the runs compared above" not in text


def test_runs_compared_at_their_chosen_rates_are_not_compared_again_at_1e_3(tmp_path):
    results = tmp_path / "results"
    best = {"adam": 1e-3, "radam": 1e-3, "adam-warmup": 1e-2, "sgd": 1e-2}
    full_grid(results, best)
    # Seed 3: Adam 0.85 against RAdam 0.84, after two equal seeds: +0.0033, an interval across 0.
    for optimizer, accuracy in (("adam", 0.85), ("radam", 0.84), ("adam-warmup", 0.85), ("sgd", 0.85)):
        write_run(results / "cpu-study", optimizer, "fashion_mnist", best[optimizer], 3, [0.4, 0.85], accuracy)
    # One 3,000-step run on Fashion-MNIST, none on MNIST.
    write_run(results / "cpu-study-3000-steps", "adam", "fashion_mnist", 1e-3, 1, [0.4, 0.9], 0.9,
              budget=studies.LONGER_BUDGET)

    verdicts = {}
    text, runs, _, chosen = cpu_study.report(str(results), verdicts)

    assert text.count("On fashion_mnist, each at its chosen rate, Adam's test accuracy is not detectably higher or "
                      "lower than RAdam's: +0.0033 [") == 1
    assert "On fashion_mnist, each at 1e-3, the 2019 setting, Adam and RAdam are the runs compared above at their " \
           "chosen rates." in text
    assert "the 2019 setting, Adam's test accuracy" not in text
    # Adam + warmup's 1e-3 runs are not its chosen ones: compared again, with 2 pairs only.
    assert "On fashion_mnist, each at 1e-3, the 2019 setting, Adam + warmup - RAdam has 2 pair(s)" in text
    # On MNIST the study runs each optimizer at its chosen rate and Adam also at 1e-3: at 1e-3 the
    # rows of Adam + warmup and SGD (chosen 1e-2) are not the study's, and are left out, while
    # Adam's, not written here, waits as not yet run; so do Adam's and RAdam's 3,000-step rows.
    rows = [line.split(" | ")[:3] for line in text.splitlines() if " | mnist | 1e-03 |" in line]
    assert rows == [["| Adam", "mnist", "1e-03"], ["| RAdam", "mnist", "1e-03"], ["| Adam", "mnist", "1e-03"],
                    ["| RAdam", "mnist", "1e-03"], ["| RAdam, 2019 schedule", "mnist", "1e-03"],
                    ["| Adam", "mnist", "1e-03"], ["| RAdam", "mnist", "1e-03"]]
    assert "| Adam + warmup | fashion_mnist | 1e-03 |" in text
    # README's answer says what is missing: MNIST not run, Fashion-MNIST at 3,000 steps not paired.
    steps_1000, steps_3000 = cpu_study.answer(runs, chosen, verdicts).splitlines()[4:6]
    assert steps_1000.startswith("| 1,000 | +0.003 [") and steps_1000.endswith(" (3): no difference | not yet run |")
    assert steps_3000 == "| 3,000, past most of RAdam's warm-up, same rates | fewer than 2 pairs so far | not yet run |"


def test_the_machine_time_is_each_runs_wall_time_over_the_runs_sharing_the_machine(tmp_path):
    folder = tmp_path / "results" / "cpu-study"
    for seed in (1, 2, 3):
        write_run(folder, "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.8], 0.79)
    device = "CPU: AMD EPYC, 2 cores, AVX-512"
    (folder / "manifest.json").write_text(json.dumps(dict(runs={
        "minivggnet_adam_fashion_mnist_seed1": dict(wall_seconds=3600.0, runs_at_once=1, device=device),
        "minivggnet_adam_fashion_mnist_seed2": dict(wall_seconds=7200.0, runs_at_once=2, device=device, resumed=True),
        "minivggnet_adam_fashion_mnist_seed3": dict(wall_seconds="?", runs_at_once=2, device=device),  # not counted
        "minivggnet_adam_fashion_mnist_seed4": dict(wall_seconds=60.0, runs_at_once=1, device="other"),  # no run
        "minivggnet_adam_fashion_mnist_seed5": dict(wall_seconds=1800.0, runs_at_once=2, device="CPU: Intel Xeon"),
    })))
    write_run(folder, "adam", "fashion_mnist", 1e-3, 5, [0.4, 0.8], 0.79)
    text, runs, _, _ = cpu_study.report(str(tmp_path / "results"))
    assert cpu_study.machine_time(runs) == ({device: 7200.0, "CPU: Intel Xeon": 900.0}, 3, 1)
    assert text.endswith(f"Machine time: the 3 runs recorded in the manifests took 2.0 hours of {device} and 0.2 "
                         "hours of CPU: Intel Xeon (each run's wall time divided by the runs that shared the "
                         "machine with it; 1 resumed from a checkpoint count only their last part).\n")


def test_the_report_says_how_many_verdicts_find_a_difference_and_how_many_would_by_chance(tmp_path):
    # The grid incomplete, so only the 1e-3 comparison: Adam - RAdam on MNIST, 3 seeds. Test
    # accuracy +0.10, +0.11, +0.12: higher. Fluctuation (one change of validation accuracy) 0.4,
    # 0.3, 0.35 against 0.1, 0.2, 0.12: +0.21 ± 0.10, an interval across zero. Train (0.9) - test:
    # -0.10, -0.11, -0.12: lower. Adam + warmup has 2 seeds: no verdict, not counted.
    folder = tmp_path / "results" / "cpu-study"
    for seed, adam, radam, adam_validation, radam_validation in (
            (1, 0.90, 0.80, 0.9, 0.6), (2, 0.91, 0.80, 0.8, 0.7), (3, 0.93, 0.81, 0.85, 0.62)):
        write_run(folder, "adam", "mnist", 1e-3, seed, [0.5, adam_validation], adam)
        write_run(folder, "radam", "mnist", 1e-3, seed, [0.5, radam_validation], radam)
    for seed in (1, 2):
        write_run(folder, "adam-warmup", "mnist", 1e-3, seed, [0.5, 0.9], 0.9 + seed / 100)

    text = cpu_study.report(str(tmp_path / "results"))[0]

    assert text.endswith(
        "Of the 3 comparisons above that give a verdict, 2 find a difference (higher, lower, more or less). Each "
        "is a 95% interval of its own, not adjusted for the others: with no difference anywhere, one in 20 would "
        "leave out zero by chance alone (0.15 of these 3 on average), so read any one verdict with that in mind.\n")
    # Adam's seed 3 without its report: 2 pairs of test accuracy, so the sentences say no more of
    # this comparison, and its 3 pairs of stability, which would give a verdict, are not counted.
    (folder / "minivggnet_adam_mnist_seed3.txt").unlink()
    text = cpu_study.report(str(tmp_path / "results"))[0]
    assert "On mnist, each at 1e-3, the 2019 setting, Adam - RAdam has 2 pair(s) of seeds so far: too few (or too " \
           "alike) for a verdict." in text
    assert "validation accuracy changes" not in text
    assert "comparisons above that give a verdict" not in text


def test_the_tuned_comparison_is_given_again_on_the_seeds_that_did_not_choose_the_rates(tmp_path):
    results = tmp_path / "results"
    best = {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2}
    full_grid(results, best)  # seeds 1 and 2: Adam and RAdam both 0.841 and 0.842 at their chosen rates
    # Seeds 3 to 5: Adam 0.01, 0.02 and 0.03 above RAdam, +0.02 ± 0.01, interval 0.02 ± 4.303 x 0.01 /
    # sqrt(3). Adam + warmup 0.01 below RAdam with seeds 3 and 4: too few for a verdict. SGD has no
    # runs beyond the grid's, and RAdam's at 1e-3 play no part.
    for seed, adam, radam in ((3, 0.85, 0.84), (4, 0.86, 0.84), (5, 0.88, 0.85)):
        write_run(results / "cpu-study", "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.85], adam)
        write_run(results / "cpu-study", "radam", "fashion_mnist", 3e-3, seed, [0.4, 0.85], radam)
        write_run(results / "cpu-study", "radam", "fashion_mnist", 1e-3, seed, [0.4, 0.85], 0.5)
    for seed in (3, 4):
        write_run(results / "cpu-study", "adam-warmup", "fashion_mnist", 1e-2, seed, [0.4, 0.85], 0.83)

    text, runs, _, chosen = cpu_study.report(str(results))

    # README's answer gives Adam's on the fresh seeds too, and counts the verdicts it is handed.
    assert cpu_study.answer(runs, chosen, {"a": "higher", "b": "no difference", "c": "less"}).splitlines()[-4:] == [
        "", "On fashion_mnist at 1,000 steps, Adam - RAdam on seeds 3 to 5 alone, which played no part in choosing the "
            "rates: +0.020 [-0.005, +0.045] (3): no difference.",
        "", "Of the 3 verdicts of the study's report (Results), 2 find a difference, where chance alone would give "
            "about 0.15."]
    assert ("On fashion_mnist, each at its chosen rate, the grid's seeds 1 and 2 are the runs that chose the rate, "
            "so their accuracy may flatter it; on seeds 3 to 5 alone, which played no part in the choice, test "
            "accuracy minus RAdam's [95% CI] (pairs): Adam +0.0200 [-0.0048, +0.0448] (3, no difference); "
            "Adam + warmup -0.0100 [-0.0100, -0.0100] (2, no verdict).") in text
    # Over all five seeds, Adam's 0, 0 and these three: +0.012 ± 0.013, interval 0.012 ± 2.776 x 0.013
    # / sqrt(5), a verdict of its own; the count of verdicts holds the fresh seeds' one too (7 + 1).
    assert "On fashion_mnist, each at its chosen rate, Adam's test accuracy is not detectably higher or lower than " \
           "RAdam's: +0.0120 [-0.0042, +0.0282] over 5 seeds." in text
    assert "Of the 8 comparisons above that give a verdict, 0 find a difference" in text


def test_a_wall_time_beyond_a_float_is_not_counted(tmp_path):
    folder = tmp_path / "results" / "cpu-study"
    for seed in (1, 2, 3):
        write_run(folder, "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.8], 0.79)
    device = "CPU: AMD EPYC, 2 cores, AVX-512"
    (folder / "manifest.json").write_text(json.dumps(dict(runs={
        "minivggnet_adam_fashion_mnist_seed1": dict(wall_seconds=3600.0, runs_at_once=1, device=device),
        "minivggnet_adam_fashion_mnist_seed2": dict(wall_seconds=10**400, runs_at_once=1, device=device),
        "minivggnet_adam_fashion_mnist_seed3": dict(wall_seconds=float("inf"), runs_at_once=1, device=device),
    })))
    text, runs, _, _ = cpu_study.report(str(tmp_path / "results"))
    assert cpu_study.machine_time(runs) == ({device: 3600.0}, 1, 0)
    assert text.endswith(f"Machine time: the 1 runs recorded in the manifests took 1.0 hours of {device} (each run's "
                         "wall time divided by the runs that shared the machine with it).\n")


def test_an_incomplete_grid_says_so_and_plot_draws_what_there_is(tmp_path):
    results = tmp_path / "results"
    for seed in (1, 2):
        write_run(results / "cpu-study", "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.8], 0.79)
        write_run(results / "cpu-study", "radam", "fashion_mnist", 1e-3, seed, [0.4, 0.78], 0.77)
    plots = tmp_path / "plots"

    assert plot.main(["--cpu-study", str(results), "--plots", str(plots)]) == 0

    study = (plots / "study.md").read_text()
    assert "The learning-rate grid has 2 of 20 points so far; each optimizer's rate is chosen once all are in" in study
    assert "On fashion_mnist, each at 1e-3, the 2019 setting, Adam - RAdam has 2 pair(s) of seeds so far: too few" in study
    assert "chosen rate" not in study  # none is chosen before the grid is complete
    assert "| Adam | not yet run | not yet run | 0.8000 / 0.7900 (2) | not yet run | not yet run | grid not complete |" in study
    for figure in ("learning_rates.png", "comparison.png", "curves.png"):
        assert (plots / figure).stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    with pytest.raises(plot.UserError, match="holds no run of the CPU study's grid yet; run results/campaign.py --study cpu"):
        plot.main(["--cpu-study", str(tmp_path / "empty"), "--plots", str(plots)])


@pytest.mark.parametrize("results", ["", "missing", "a-file"])
def test_a_cpu_study_folder_that_is_not_one_is_refused_in_one_line(tmp_path, results):
    (tmp_path / "a-file").write_text("")
    results = str(tmp_path / results) if results else ""
    with pytest.raises(plot.UserError) as refused:
        plot.main(["--cpu-study", results, "--plots", str(tmp_path / "plots")])
    assert str(refused.value) == f"--cpu-study {results!r} is not a folder; give the campaign's folder, such as results"
    assert os.listdir(tmp_path) == ["a-file"]


def test_a_plots_folder_that_cannot_be_written_is_refused_in_one_line_before_drawing(tmp_path):
    results = tmp_path / "results"
    write_run(results / "cpu-study", "adam", "fashion_mnist", 1e-3, 1, [0.4, 0.8], 0.79)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(plot.UserError) as refused:
        plot.main(["--cpu-study", str(results), "--plots", str(tmp_path / "a-file" / "plots")])
    assert str(refused.value) == (f"cannot write {tmp_path / 'a-file' / 'plots' / 'study.md'}: part of "
                                  f"{tmp_path / 'a-file' / 'plots'} is a file, not a folder; choose another path")


def test_a_grid_run_without_its_report_counts_only_where_it_is_used_and_leaves_the_grid_incomplete(tmp_path):
    results = tmp_path / "results"
    full_grid(results, {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    (results / "cpu-study" / "minivggnet_adam_fashion_mnist_seed2.txt").unlink()

    text, _, table, chosen = cpu_study.report(str(results))

    assert table["adam"][1e-3]["seeds"] == 2 and table["adam"][1e-3]["reports"] == 1
    assert "| Adam | 0.7015 / 0.6915 (2) | 0.7015 / 0.6915 (2) | 0.8515 (2) / 0.8410 (1) | " in text
    assert chosen is None and "chosen rate" not in text
    assert "The learning-rate grid has 19 of 20 points so far; each optimizer's rate is chosen once all are in" in text


def test_a_grid_point_missing_its_report_is_not_made_up_by_a_3000_step_run_of_the_same_seed(tmp_path):
    results = tmp_path / "results"
    full_grid(results, {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    for seed in (1, 2):  # the longer stage's first runs, made while the grid was complete
        write_run(results / "cpu-study-3000-steps", "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.9], 0.9,
                  budget=studies.LONGER_BUDGET)
    (results / "cpu-study" / "minivggnet_adam_fashion_mnist_seed2.txt").unlink()

    text, _, _, chosen = cpu_study.report(str(results))

    assert chosen is None
    assert "The learning-rate grid has 19 of 20 points so far; each optimizer's rate is chosen once all are in" in text


def test_a_grid_run_of_another_budget_plays_no_part_in_choosing_the_rates(tmp_path, capsys):
    results = tmp_path / "results"
    full_grid(results, {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    manifest = dict(budget=budget_of(studies.CPU_BUDGET), runs={})
    (results / "cpu-study" / "manifest.json").write_text(json.dumps(manifest))
    # Made with 1 epoch, and the best validation accuracy of the grid: not one of the study's runs.
    write_run(results / "cpu-study", "adam", "fashion_mnist", 1e-4, 1, [0.4, 0.99], 0.98,
              budget=dict(studies.CPU_BUDGET, epochs=1))

    found = studies.finished_runs(str(results / "cpu-study"))

    assert studies.chosen_rates(found) is None
    warnings = capsys.readouterr().err
    assert "minivggnet_adam_fashion_mnist_lr1e-04_seed1.pickle was not made with the budget of" in warnings
    assert cpu_study.report(str(results))[3] is None


def test_a_run_kept_under_two_spellings_of_its_rate_is_not_counted_as_two_seeds(tmp_path):
    results = tmp_path / "results"
    full_grid(results, {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    folder = results / "cpu-study"
    # Seed 2 of Adam at 3e-4 never ran, and seed 1's files are there twice, once as 3.0e-04: read
    # as two seeds, they would complete the grid and choose the rates.
    for suffix in ("pickle", "txt", "json"):
        (folder / f"minivggnet_adam_fashion_mnist_lr3e-04_seed2.{suffix}").unlink()
        (folder / f"minivggnet_adam_fashion_mnist_lr3.0e-04_seed1.{suffix}").write_bytes(
            (folder / f"minivggnet_adam_fashion_mnist_lr3e-04_seed1.{suffix}").read_bytes())

    with pytest.raises(plot.UserError) as error:
        cpu_study.report(str(results))
    assert str(error.value) == (f"{folder / 'minivggnet_adam_fashion_mnist_lr3.0e-04_seed1.pickle'} and "
                                f"{folder / 'minivggnet_adam_fashion_mnist_lr3e-04_seed1.pickle'} both ran with seed 1, "
                                "so they cannot be paired by seed; move one of them away")


def test_a_run_of_another_optimizer_or_radam_schedule_than_its_folders_is_named_and_left_out(tmp_path, capsys):
    results = tmp_path / "results"
    write_run(results / "cpu-study", "adam", "mnist", 1e-3, 1, [0.4, 0.9], 0.96)
    write_run(results / "cpu-study", "radam", "mnist", 1e-3, 1, [0.4, 0.9], 0.95)
    settings = results / "cpu-study" / "minivggnet_radam_mnist_seed1.json"
    settings.write_text(json.dumps(dict(json.loads(settings.read_text()), radam_total_steps="auto")))
    write_run(results / "cpu-study-2019", "radam", "mnist", 1e-3, 1, [0.4, 0.9], 0.94)
    # An Adam run in the 2019 schedule's folder: read as it is, the table would call it RAdam's.
    write_run(results / "cpu-study-2019", "adam", "mnist", 1e-3, 2, [0.4, 0.9], 0.97)

    runs = cpu_study.read_study(str(results))

    assert [(run["optimizer"], run["test_accuracy"]) for run in runs] == [("adam", 0.96), ("radam-2019", 0.94)]
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {settings.with_suffix('.pickle')} is not one of {results / 'cpu-study'}'s runs, which are adam, "
        "radam, adam-warmup, sgd with RAdam's --radam-total-steps 0; left out: move it to a folder of its own",
        f"warning: {results / 'cpu-study-2019' / 'minivggnet_adam_mnist_seed2.pickle'} is not one of "
        f"{results / 'cpu-study-2019'}'s runs, which are radam with RAdam's --radam-total-steps auto; left out: move it "
        "to a folder of its own"]


def test_a_study_run_that_cannot_be_read_is_named_and_nothing_is_published(tmp_path):
    results = tmp_path / "results"
    full_grid(results, {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    broken = results / "cpu-study" / "minivggnet_radam_fashion_mnist_lr3e-03_seed1.pickle"
    write_run(results / "cpu-study", "radam", "fashion_mnist", 3e-3, 1, [float("nan"), 0.9], 0.85)
    plots = tmp_path / "plots"

    with pytest.raises(plot.UserError, match=f"^cannot read {broken}; restore them from git, or delete each "
                                             "such run's files so that results/campaign.py runs it again$"):
        plot.main(["--cpu-study", str(results), "--plots", str(plots)])
    assert not plots.exists()
    with pytest.raises(plot.UserError, match=f"^cannot read {broken}"):
        studies.configurations("cpu", str(results))


def grid_run(optimizer, rate, seed, val_accuracy, dataset="fashion_mnist", test_accuracy=0.8):
    """A finished run as finished_runs gives it, its last validation accuracy `val_accuracy`."""
    return dict(model="minivggnet", optimizer=optimizer, dataset=dataset, learning_rate=rate, seed=seed,
                test_accuracy=test_accuracy, history=dict(val_accuracy=[0.4, val_accuracy], accuracy=[0.5, 0.9]),
                final_val_accuracy=val_accuracy)


def test_the_grid_chooses_on_fashion_mnist_alone_and_a_tie_goes_to_the_lower_rate():
    # Every optimizer's mean is 0.85 at 1e-3 and at 3e-3 (a tie), 0.7 elsewhere.
    found = [grid_run(optimizer, rate, seed, 0.85 if rate in (1e-3, 3e-3) else 0.7)
             for optimizer in studies.GRID_OPTIMIZERS for rate in studies.GRID_RATES for seed in (1, 2)]
    assert studies.chosen_rates(found) == dict.fromkeys(studies.GRID_OPTIMIZERS, 1e-3)
    # Runs on MNIST (the second stage's) or of another model play no part, however well they validate.
    for other in (dict(dataset="mnist"), dict(model="resnet")):
        more = [dict(grid_run(optimizer, 3e-3, seed, 0.99), **other) for optimizer in studies.GRID_OPTIMIZERS
                for seed in (1, 2)]
        assert studies.chosen_rates(found + more) == dict.fromkeys(studies.GRID_OPTIMIZERS, 1e-3)


@pytest.mark.parametrize("tied, lower", [((1e-3, 3e-4), 3e-4), ((3e-3, 1e-4), 1e-4), ((1e-2, 1e-3), 1e-3)])
def test_a_tie_goes_to_the_lower_rate_whichever_the_grid_runs_first(tied, lower):
    # GRID_RATES runs 1e-3, 3e-4, 3e-3, 1e-4, 1e-2: in each tie here the higher rate runs first.
    found = [grid_run(optimizer, rate, seed, 0.85 if rate in tied else 0.7)
             for optimizer in studies.GRID_OPTIMIZERS for rate in studies.GRID_RATES for seed in (1, 2)]
    assert studies.chosen_rates(found) == dict.fromkeys(studies.GRID_OPTIMIZERS, lower)


def test_the_rates_near_the_best_include_the_bound_and_come_in_ascending_order():
    runs = [grid_run("adam", rate, seed, value) for rate, value in ((1e-3, 0.5), (3e-4, 0.48), (3e-3, 0.47))
            for seed in (1, 2)]
    assert cpu_study.near_best(cpu_study.sensitivity(runs)["adam"]) == [3e-4, 1e-3]  # 0.48 is 0.02 below 0.5


def test_a_run_without_a_report_or_a_second_epoch_has_no_gap_or_fluctuation():
    run = dict(history=dict(val_accuracy=[0.8], accuracy=[0.9]), test_accuracy=None)
    assert cpu_study.gap(run) is None and cpu_study.fluctuation(run) is None
    assert cpu_study.sensitivity_cell(dict(validation=(0.8, 0.8, 0.8), test=(None, None, None), seeds=2,
                                           reports=0)) == "0.8000 (2) / no report"


def test_spreads_are_told_only_for_optimizers_with_three_seeds_and_as_many_each():
    rates = {"adam": 1e-3, "radam": 1e-3}
    two_each = [grid_run(optimizer, 1e-3, seed, 0.8, test_accuracy=0.8 + seed / 100)
                for optimizer in rates for seed in (1, 2)]
    assert cpu_study.spread_sentence(two_each, rates, "fashion_mnist", "at 1e-3") is None
    three_and_four = [grid_run("adam", 1e-3, seed, 0.8, test_accuracy=0.8 + seed / 100) for seed in (1, 2, 3)]
    three_and_four += [grid_run("radam", 1e-3, seed, 0.8, test_accuracy=0.8 + seed / 100) for seed in (1, 2, 3, 4)]
    assert cpu_study.spread_sentence(three_and_four, rates, "fashion_mnist", "at 1e-3") is None
    # Adam's 3 seeds alone: a spread with nothing to compare it with.
    three_and_two = three_and_four[:3] + [run for run in two_each if run["optimizer"] == "radam"]
    assert cpu_study.spread_sentence(three_and_two, rates, "fashion_mnist", "at 1e-3") is None


def test_rows_the_study_will_run_wait_as_not_yet_run_before_and_after_the_grid_chooses(tmp_path):
    results = tmp_path / "results"
    for seed in (1, 2):
        write_run(results / "cpu-study", "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.8], 0.79)
    text = cpu_study.report(str(results))[0]  # no rate chosen yet: every row at 1e-3 waits
    assert "| Adam | mnist | 1e-03 | not yet run |" in text and "| SGD | mnist | 1e-03 | not yet run |" in text
    full_grid(results, {"adam": 3e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    text = cpu_study.report(str(results))[0]  # Adam runs at 3e-3 on MNIST too, once the grid chooses it
    assert "| Adam | mnist | 3e-03 | not yet run |" in text


@pytest.mark.parametrize("difference", [Difference(3, 0.01, 0.01, 0.0, 0.02), Difference(3, -0.01, 0.01, -0.02, 0.0)])
def test_an_interval_that_reaches_zero_is_no_difference(difference):
    assert results.verdict(difference) == "no difference"


def test_two_pairs_show_their_difference_and_interval_in_the_table_without_a_verdict():
    # Adam 0.82, 0.85 and RAdam 0.80, 0.81 by seed: differences 0.02 and 0.04, mean 0.03, sample
    # std 0.014142; t(0.975, 1) = 12.706205, half-width 12.706205 x 0.014142 / sqrt(2) = 0.127062.
    runs = [dict(grid_run(optimizer, 1e-3, seed, 0.8, dataset="mnist", test_accuracy=accuracy),
                 path=f"{optimizer}{seed}", fluctuation=0.01, gap=0.05)
            for optimizer, accuracies in (("adam", (0.82, 0.85)), ("radam", (0.80, 0.81)))
            for seed, accuracy in zip((1, 2), accuracies)]
    (adam, radam) = [row for row in cpu_study.comparison_rows(runs, {"adam": 1e-3, "radam": 1e-3})
                     if row["dataset"] == "mnist"]
    assert (adam["test"], adam["minus_radam"], adam["verdict"]) == (
        "0.8350 ± 0.0212 (2)", "+0.0300 [-0.0971, +0.1571] (2)", "")
    assert (radam["minus_radam"], radam["verdict"]) == ("", "")


def test_a_runs_measures_come_from_its_last_epochs_of_a_history_that_goes_up_and_down(tmp_path):
    folder = tmp_path / studies.CPU_FOLDER
    write_run(folder, "adam", "fashion_mnist", 1e-3, 1, [0.0], 0.85)
    early = studies.CPU_BUDGET["epochs"] - 6
    history = dict(loss=[1.0] * (early + 6), val_loss=[1.0] * (early + 6),
                   val_accuracy=[0.1] * early + [0.9, 0.5, 0.6, 0.4, 0.7, 0.65],
                   accuracy=[0.3] * early + [0.95, 0.9, 0.85, 0.9, 0.92, 0.8])
    (folder / f"{stem('minivggnet', 'adam', 'fashion_mnist', 1e-3, 1)}.pickle").write_bytes(pickle.dumps(history))
    (run,) = cpu_study.read_study(str(tmp_path))
    assert run["final_val_accuracy"] == 0.65  # the last epoch's, not the best
    # The last 5 changes, 0.9 -> 0.5 -> 0.6 -> 0.4 -> 0.7 -> 0.65: (0.4 + 0.1 + 0.2 + 0.3 + 0.05) / 5.
    assert run["fluctuation"] == pytest.approx(0.21)
    assert run["gap"] == pytest.approx(0.8 - 0.85)  # the last epoch's training accuracy, not its best


def test_the_grid_chooses_on_the_mean_of_its_seeds_final_validation_accuracy():
    def run(optimizer, rate, seed, val_accuracy):
        return dict(grid_run(optimizer, rate, seed, val_accuracy[-1]), history=dict(val_accuracy=val_accuracy))

    found = [run(optimizer, rate, seed, [0.4, 0.5]) for optimizer in studies.GRID_OPTIMIZERS
             for rate in studies.GRID_RATES for seed in (1, 2) if (optimizer, rate) not in
             {("adam", 1e-3), ("adam", 3e-4), ("adam", 3e-3)}]
    found += [run("adam", 1e-3, 1, [0.4, 0.9]), run("adam", 1e-3, 2, [0.4, 0.5])]  # mean 0.7, min 0.5
    found += [run("adam", 3e-4, seed, [0.4, 0.99, 0.6]) for seed in (1, 2)]  # the best epoch, not the last
    found += [run("adam", 3e-3, seed, [0.4, 0.68]) for seed in (1, 2)]  # mean and min 0.68
    found.append(run("adam", 3e-3, 3, [0.4, 0.99]))  # a third seed, a tuned run: not the grid's
    assert studies.chosen_rates(found)["adam"] == 1e-3
    table = cpu_study.sensitivity(found)
    assert table["adam"][3e-3]["seeds"] == 2 and table["adam"][3e-3]["validation"] == (0.68, 0.68, 0.68)
    assert table["adam"][1e-3]["validation"] == pytest.approx((0.7, 0.5, 0.9))


def test_the_longer_budget_compares_adam_and_radam_beside_the_same_seeds_at_1000_steps(tmp_path):
    results = tmp_path / "results"
    best = {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2}
    full_grid(results, best)  # seeds 1 and 2: Adam and RAdam both 0.841 and 0.842 at their chosen rates
    write_run(results / "cpu-study", "adam", "fashion_mnist", 1e-3, 3, [0.4, 0.85], 0.86)
    write_run(results / "cpu-study", "radam", "fashion_mnist", 3e-3, 3, [0.4, 0.85], 0.84)
    # 3,000 steps: Adam 0.01, 0.02 and 0.03 above RAdam, +0.02 ± 0.01, interval 0.02 ± 4.303 x 0.01 /
    # sqrt(3); RAdam's seed 4 has no partner. The same seeds at 1,000 steps: 0, 0 and 0.02.
    longer = results / "cpu-study-3000-steps"
    for seed, adam, radam in ((1, 0.90, 0.89), (2, 0.91, 0.89), (3, 0.93, 0.90)):
        write_run(longer, "adam", "fashion_mnist", 1e-3, seed, [0.4, 0.9], adam, budget=studies.LONGER_BUDGET)
        write_run(longer, "radam", "fashion_mnist", 3e-3, seed, [0.4, 0.9], radam, budget=studies.LONGER_BUDGET)
    write_run(longer, "radam", "fashion_mnist", 3e-3, 4, [0.4, 0.9], 0.5, budget=studies.LONGER_BUDGET)
    # MNIST, 3,000 steps: 0.01, 0 and 0.02 above RAdam, +0.01 ± 0.01; at 1,000 steps seeds 1 and 2
    # only: 0.01 and 0, +0.005 ± 0.00707, interval 0.005 ± 12.706 x 0.00707 / sqrt(2).
    for seed, adam, radam in ((1, 0.99, 0.98), (2, 0.98, 0.98), (3, 0.99, 0.97)):
        write_run(longer, "adam", "mnist", 1e-3, seed, [0.4, 0.9], adam, budget=studies.LONGER_BUDGET)
        write_run(longer, "radam", "mnist", 3e-3, seed, [0.4, 0.9], radam, budget=studies.LONGER_BUDGET)
    for seed, adam, radam in ((1, 0.97, 0.96), (2, 0.96, 0.96)):
        write_run(results / "cpu-study", "adam", "mnist", 1e-3, seed, [0.4, 0.9], adam)
        write_run(results / "cpu-study", "radam", "mnist", 3e-3, seed, [0.4, 0.9], radam)

    verdicts = {}
    text, runs, _, chosen = cpu_study.report(str(results), verdicts)

    assert chosen == best and len(runs) == 40 + 2 + 4 + 7 + 6
    assert "Adam and RAdam at their chosen rates for 3,000 steps, on 38,400 training images (10 epochs of 300 " \
           "steps), past most of RAdam's warm-up" in text
    section = text.split("for 3,000 steps, on")[1].split("Whether the rates chosen")[0]
    assert [line.split(" | ")[:6] for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:] == [
        ["| Adam", "fashion_mnist", "1e-03", "0.9133 ± 0.0153 (3)", "+0.0200 [-0.0048, +0.0448] (3)", "no difference"],
        ["| RAdam", "fashion_mnist", "3e-03", "0.7950 ± 0.1967 (4)", "", ""],
        ["| Adam", "mnist", "1e-03", "0.9867 ± 0.0058 (3)", "+0.0100 [-0.0148, +0.0348] (3)", "no difference"],
        ["| RAdam", "mnist", "3e-03", "0.9767 ± 0.0058 (3)", "", ""]]
    assert "On fashion_mnist, each at its chosen rate for 3,000 steps, Adam's test accuracy is not detectably higher " \
           "or lower than RAdam's: +0.0200 [-0.0048, +0.0448] over 3 seeds; the same seeds after 1,000 steps: " \
           "+0.0067 [-0.0220, +0.0354] (3 pairs)." in text
    assert "On mnist, each at its chosen rate for 3,000 steps, Adam's test accuracy is not detectably higher or " \
           "lower than RAdam's: +0.0100 [-0.0148, +0.0348] over 3 seeds; the same seeds after 1,000 steps: " \
           "+0.0050 [-0.0585, +0.0685] (2 pairs)." in text
    # README's answer: the same differences to 3 decimals, per data set and budget.
    assert cpu_study.answer(runs, chosen, verdicts).splitlines() == [
        "Chosen: Adam 1e-03, RAdam 3e-03. Adam's test accuracy minus RAdam's, the mean over seeds [95% interval] (pairs):",
        "", "| steps a run | fashion_mnist | mnist |", "|---|---|---|",
        "| 1,000 | +0.007 [-0.022, +0.035] (3): no difference | +0.005 [-0.059, +0.069] (2): no verdict |",
        "| 3,000, past most of RAdam's warm-up, same rates | +0.020 [-0.005, +0.045] (3): no difference "
        "| +0.010 [-0.015, +0.035] (3): no difference |",
        "", "Robustness to the learning rate on fashion_mnist, the grid rates whose mean validation accuracy comes "
            "within 0.02 of the best: after 1,000 steps Adam 2 of 5 rates, RAdam 2 of 5 rates.",
        "", "Of the 4 verdicts of the study's report (Results), 0 find a difference, where chance alone would give "
            "about 0.2."]
    # The 1,000-step tables hold none of the longer runs: Adam's seeds 1 to 3 at its chosen rate.
    row = next(line for line in text.splitlines() if line.startswith("| Adam | fashion_mnist | 1e-03 |"))
    assert row.split(" | ")[3] == "0.8477 ± 0.0107 (3)"
    assert [run["test_accuracy"] for run in cpu_study.select(runs, "adam", "fashion_mnist", 1e-3, longer=True)] \
        == [0.90, 0.91, 0.93]
    # plot.py's figures end with a row of the 3,000-step runs on each data set: on Fashion-MNIST the
    # curves of Adam's 3 seeds and RAdam's 4.
    curves = plot.draw_study_curves_figure(runs, chosen)
    fashion, mnist = curves.axes[-2:]
    assert fashion.get_title() == "Validation accuracy, fashion_mnist, at its chosen rate, 3,000 steps"
    assert [text.get_text() for text in fashion.get_legend().get_texts()] == ["Adam (3)", "RAdam (4)"]
    assert mnist.get_title() == "Validation accuracy, mnist, at its chosen rate, 3,000 steps"
    assert [text.get_text() for text in mnist.get_legend().get_texts()] == ["Adam (3)", "RAdam (3)"]
    assert len(plot.draw_comparison_figure(runs, chosen).axes) == 3 * (4 + 2)
    # Counted once each: the 1,000-step table's Adam - RAdam at the chosen rates on Fashion-MNIST (MNIST's
    # has 2 pairs: no verdict), the two of the 3,000-step one, and the generalization sentence of the
    # 1,000-step one (its stability differences are all 0: no verdict).
    assert "Of the 4 comparisons above that give a verdict" in text


def test_the_rates_are_chosen_again_on_validation_at_3000_steps_and_compared_there(tmp_path):
    results = tmp_path / "results"
    best = {"adam": 1e-3, "radam": 3e-3, "adam-warmup": 1e-2, "sgd": 1e-2}
    full_grid(results, best)
    longer = results / "cpu-study-3000-steps"

    def write_longer(optimizer, rate, seeds, validation, test, dataset="fashion_mnist"):
        for seed in seeds:
            write_run(longer, optimizer, dataset, rate, seed, [0.4, validation + seed / 100], test + seed / 100,
                      budget=studies.LONGER_BUDGET)

    # Adam's best validation accuracy at 3,000 steps is at 3e-4, the lowest of the three it is
    # checked at, so 1e-4 is checked next; RAdam's 1e-3 has one seed and its 1e-2 none. Test
    # accuracy plays no part: Adam's is highest at 1e-3.
    for rate, validation, test in ((3e-4, 0.85, 0.80), (1e-3, 0.80, 0.90), (3e-3, 0.70, 0.70)):
        write_longer("adam", rate, (1, 2), validation, test)
    write_longer("radam", 1e-3, (1,), 0.89, 0.88)
    write_longer("radam", 3e-3, (1, 2), 0.89, 0.88)

    text, runs, table, chosen = cpu_study.report(str(results))

    def check_table(text):
        section = text.split("Whether the rates chosen at 1,000 steps are still the best at 3,000")[1]
        return [line for line in section.split("\n\n")[1].splitlines() if line.startswith("| ")]

    assert check_table(text) == [
        "| optimizer | 1e-04 | 3e-04 | 1e-03 | 3e-03 | 1e-02 | highest validation accuracy |",
        "| Adam | not yet run | 0.8650 / 0.8150 (2) | 0.8150 / 0.9150 (2) | 0.7150 / 0.7150 (2) |  | not all run yet |",
        "| RAdam |  |  | 0.9000 / 0.8900 (1) | 0.9050 / 0.8950 (2) | not yet run | not all run yet |"]
    # The grid's own table is the 1,000-step runs' alone.
    assert table == cpu_study.sensitivity([run for run in runs if not run["longer"]])
    # plot.py draws the 3,000-step ones dashed beside the grid's lines.
    validation = plot.draw_sensitivity_figure(table, cpu_study.sensitivity(runs, longer=True)).axes[0]
    dashed = [(line.get_label(), list(line.get_xdata())) for line in validation.lines if line.get_linestyle() == "--"]
    assert dashed == [("Adam, 3,000 steps", [3e-4, 1e-3, 3e-3]), ("RAdam, 3,000 steps", [1e-3, 3e-3])]
    assert len(validation.lines) == 4 + 2
    assert cpu_study.longer_chosen(runs, chosen) is None
    assert not any(line.startswith("Chosen again") for line in cpu_study.answer(runs, chosen, {}).splitlines())
    # 1e-4 validates below 3e-4: Adam's rate at 3,000 steps is 3e-4.
    write_longer("adam", 1e-4, (1, 2), 0.75, 0.75)
    text, runs, _, _ = cpu_study.report(str(results))
    assert check_table(text)[1] == ("| Adam | 0.7650 / 0.7650 (2) | 0.8650 / 0.8150 (2) | 0.8150 / 0.9150 (2) | "
                                    "0.7150 / 0.7150 (2) |  | 3e-04, not the chosen rate |")
    chosen_again = ("Chosen again at 3,000 steps on fashion_mnist (seeds 1 and 2), the rate of the highest validation "
                    "accuracy, of the one chosen at 1,000 steps, the grid rates either side and further out while the "
                    "best is at an edge: ")
    assert chosen_again + "Adam 3e-04." in cpu_study.answer(runs, chosen, {}).splitlines()
    # RAdam's land: its 3e-3 ties with 1e-3, and as in choosing the rates, the lower rate wins a
    # tie; 1e-3 is the lowest checked, so 3e-4 next, which validates below it.
    write_longer("radam", 1e-3, (2,), 0.89, 0.88)
    write_longer("radam", 1e-2, (1, 2), 0.5, 0.5)
    runs = cpu_study.report(str(results))[1]
    assert studies.longer_search([run for run in runs if run["longer"]], "radam", 3e-3) == ((3e-4, 1e-3, 3e-3, 1e-2), None)
    write_longer("radam", 3e-4, (1, 2), 0.6, 0.6)
    verdicts = {}
    text, runs, _, _ = cpu_study.report(str(results), verdicts)
    assert check_table(text)[2] == ("| RAdam |  | 0.6150 / 0.6150 (2) | 0.9050 / 0.8950 (2) | 0.9050 / 0.8950 (2) | "
                                    "0.5150 / 0.5150 (2) | 1e-03, not the chosen rate |")
    assert cpu_study.longer_chosen(runs, chosen) == {"adam": 3e-4, "radam": 1e-3}
    # Both are compared at those rates: seeds 1 and 2 on Fashion-MNIST so far, Adam 0.08 below RAdam.
    section = text.split("Adam and RAdam at the rates chosen at 3,000 steps (Adam 3e-04, RAdam 1e-03), 3,000 steps "
                         "as above:")[1].split("\n\n")[1]
    assert [line.split(" | ")[:6] for line in section.splitlines()[2:]] == [
        ["| Adam", "fashion_mnist", "3e-04", "0.8150 ± 0.0071 (2)", "-0.0800 [-0.0800, -0.0800] (2)", ""],
        ["| RAdam", "fashion_mnist", "1e-03", "0.8950 ± 0.0071 (2)", "", ""],
        ["| Adam", "mnist", "3e-04", "not yet run", "", ""], ["| RAdam", "mnist", "1e-03", "not yet run", "", ""]]
    answer = cpu_study.answer(runs, chosen, verdicts).splitlines()
    assert answer[4:7] == [
        "| 1,000 | +0.000 [+0.000, +0.000] (2): no verdict | not yet run |",
        "| 3,000, past most of RAdam's warm-up, same rates | +0.020 [+0.020, +0.020] (2): no verdict | not yet run |",
        "| 3,000, at the rates chosen there: Adam 3e-04, RAdam 1e-03 | -0.080 [-0.080, -0.080] (2): no verdict "
        "| not yet run |"]
    assert chosen_again + "Adam 3e-04; RAdam 1e-03." in answer
    # Seeds 3 to 5 land: they played no part in the choice, and are compared alone too, Adam
    # 0.03, 0.02 and 0.04 above RAdam: +0.03 ± 0.01, interval 0.03 ± 4.303 x 0.01 / sqrt(3).
    write_longer("adam", 3e-4, (3, 4, 5), 0.85, 0.87)  # 0.90, 0.91, 0.92
    for seed, test in ((3, 0.87), (4, 0.89), (5, 0.88)):
        write_longer("radam", 1e-3, (seed,), 0.85, test - seed / 100)
    verdicts = {}
    text, runs, _, _ = cpu_study.report(str(results), verdicts)
    assert ("On fashion_mnist after 3,000 steps, each at the rate chosen there, the grid's seeds 1 and 2 are the runs "
            "that chose the rate, so their accuracy may flatter it; on seeds 3 to 5 alone, which played no part in the "
            "choice, test accuracy minus RAdam's [95% CI] (pairs): Adam +0.0300 [+0.0052, +0.0548] (3, higher).") in text
    assert verdicts[("fresh seeds", "adam", "longer")] == "higher"
    assert ("On fashion_mnist at 3,000 steps, Adam - RAdam on seeds 3 to 5 alone, which played no part in choosing the "
            "rates: +0.030 [+0.005, +0.055] (3): Adam higher.") in cpu_study.answer(runs, chosen, verdicts).splitlines()
    # plot.py's figures end with a row at those rates on each data set.
    panels = plot.study_panels(runs, chosen)
    assert [(label, rates, dataset) for label, rates, dataset, _ in panels[-2:]] == [
        ("at the rate chosen at 3,000 steps", {"adam": 3e-4, "radam": 1e-3}, dataset) for dataset in ("fashion_mnist", "mnist")]
    # Where the rates chosen at 3,000 steps are those chosen at 1,000, the comparison is the one above.
    write_longer("adam", 1e-3, (1, 2), 0.95, 0.9)
    write_longer("radam", 3e-3, (1, 2), 0.95, 0.9)
    text, runs, _, _ = cpu_study.report(str(results))
    assert cpu_study.longer_chosen(runs, chosen) == {"adam": 1e-3, "radam": 3e-3}
    assert ("The rates chosen at 3,000 steps are those chosen at 1,000: the 3,000-step comparison above is the one "
            "at them.") in text
    assert "Adam and RAdam at the rates chosen at 3,000 steps (" not in text
    assert chosen_again + "Adam 1e-03 (the same); RAdam 3e-03 (the same)." in cpu_study.answer(runs, chosen, {}).splitlines()
    assert not any(line.startswith("| 3,000, at the rates chosen there") for line in cpu_study.answer(runs, chosen, {}).splitlines())
    assert len(plot.study_panels(runs, chosen)) == 3 * 2


def test_once_both_rates_are_chosen_at_3000_steps_the_whole_grid_is_read_and_its_robustness_counted(tmp_path):
    results = tmp_path / "results"
    full_grid(results, {"adam": 1e-3, "radam": 1e-3, "adam-warmup": 1e-2, "sgd": 1e-2})
    longer = results / "cpu-study-3000-steps"

    def write_longer(optimizer, rate, validation):
        for seed in (1, 2):
            write_run(longer, optimizer, "fashion_mnist", rate, seed, [0.4, validation], validation - 0.01,
                      budget=studies.LONGER_BUDGET)

    def grid_table(text):
        section = text.split("Learning-rate sensitivity on fashion_mnist after 3,000 steps, Adam and RAdam across "
                             "the whole grid")[1]
        return [line for line in section.split("\n\n")[1].splitlines() if line.startswith("| ")]

    def robustness_line(answer):
        return next(line for line in answer.splitlines() if line.startswith("Robustness"))

    robust_1000 = ("Robustness to the learning rate on fashion_mnist, the grid rates whose mean validation accuracy "
                   "comes within 0.02 of the best: after 1,000 steps Adam 2 of 5 rates, RAdam 2 of 5 rates")
    # The searches check 3e-4, 1e-3 and 3e-3: Adam validates best at 1e-3, RAdam at 3e-4 with 1e-4
    # not yet run, so neither the whole grid nor its count is there.
    for optimizer, validations in (("adam", (0.85, 0.86, 0.845)), ("radam", (0.86, 0.82, 0.83))):
        for rate, validation in zip((3e-4, 1e-3, 3e-3), validations):
            write_longer(optimizer, rate, validation)
    text, runs, _, chosen = cpu_study.report(str(results))
    assert cpu_study.longer_grid(runs, chosen) is None
    assert "across the whole grid" not in text and "after 3,000 steps (the same measure)" not in text
    assert robustness_line(cpu_study.answer(runs, chosen, {})) == robust_1000 + "."
    # RAdam's 1e-4 validates lower: both rates are chosen, and the rest of the grid waits to be run.
    write_longer("radam", 1e-4, 0.80)
    text, runs, _, chosen = cpu_study.report(str(results))
    assert cpu_study.longer_chosen(runs, chosen) == {"adam": 1e-3, "radam": 3e-4}
    assert grid_table(text) == [
        "| optimizer | 1e-04 | 3e-04 | 1e-03 | 3e-03 | 1e-02 | rates within 0.02 of its best |",
        "| Adam | not yet run | 0.8500 / 0.8400 (2) | 0.8600 / 0.8500 (2) | 0.8450 / 0.8350 (2) | not yet run | "
        "grid not complete |",
        "| RAdam | 0.8000 / 0.7900 (2) | 0.8600 / 0.8500 (2) | 0.8200 / 0.8100 (2) | 0.8300 / 0.8200 (2) | not yet run | "
        "grid not complete |"]
    assert robustness_line(cpu_study.answer(runs, chosen, {})) == robust_1000 + "; after 3,000 steps not all run yet."
    # Adam at 1e-4 and 1e-2, RAdam at 1e-2 land: Adam's best is 0.86, and 0.84 and up is within
    # 0.02 of it (1e-4 at 0.841 is, 1e-2 at 0.839 is not); RAdam's best is 0.86, 3e-4 alone.
    write_longer("adam", 1e-4, 0.841)
    write_longer("adam", 1e-2, 0.839)
    write_longer("radam", 1e-2, 0.70)
    text, runs, _, chosen = cpu_study.report(str(results))
    assert cpu_study.longer_grid(runs, chosen)[1] is True
    assert [line.split(" | ")[-1] for line in grid_table(text)[1:]] == ["1e-04, 3e-04, 1e-03, 3e-03 |", "3e-04 |"]
    assert "Robustness to the learning rate after 3,000 steps (the same measure): Adam 4 of 5 rates, RAdam 1 of 5 " \
           "rates." in text
    assert robustness_line(cpu_study.answer(runs, chosen, {})) == (
        robust_1000 + "; after 3,000 steps Adam 4 of 5 rates, RAdam 1 of 5 rates.")
    # The search's table is still the search's: the rates it checked, and its choice.
    assert "| Adam |  | 0.8500 / 0.8400 (2) | 0.8600 / 0.8500 (2) | 0.8450 / 0.8350 (2) | 1e-03, the chosen rate |" in text


def test_the_rectification_the_longer_budgets_text_gives_is_radams_own():
    import keras

    from pyimagesearch.radam import RAdam

    optimizer = RAdam(learning_rate=1e-3)
    optimizer.build([keras.Variable(0.0)])
    found = []
    for step in (1000, 3000):
        optimizer.iterations.assign(step - 1)
        found.append(round(float(optimizer.step_terms(1e-3, "float32")["r_t"]), 2))
    assert found == [0.65, 0.92]
    assert "its rectifier scales its steps to 0.65 of Adam's at step 1,000, 0.92 at step 3,000" in \
        open(cpu_study.__file__).read()


def test_a_run_of_the_other_budget_in_a_study_folder_without_a_manifest_is_named_and_left_out(tmp_path, capsys):
    # Copied by hand, no manifest: the folder's budget is the study's declared one for it.
    longer = tmp_path / "results" / "cpu-study-3000-steps"
    write_run(longer, "adam", "fashion_mnist", 1e-3, 1, [0.4, 0.9], 0.9, budget=studies.LONGER_BUDGET)
    write_run(longer, "adam", "fashion_mnist", 1e-3, 2, [0.4, 0.9], 0.8)  # a 1,000-step run
    write_run(longer, "radam", "fashion_mnist", 1e-3, 1, [0.4, 0.9], 0.9, budget=studies.LONGER_BUDGET)
    (longer / "minivggnet_radam_fashion_mnist_seed1.json").unlink()  # settings unknown

    runs = studies.finished_runs(str(longer))

    assert [os.path.basename(run["path"]) for run in runs] == ["minivggnet_adam_fashion_mnist_seed1.pickle"]
    errors = capsys.readouterr().err
    assert f"{longer / 'minivggnet_adam_fashion_mnist_seed2.pickle'} was not made with the budget of {longer} (" in errors
    assert f"{longer / 'minivggnet_radam_fashion_mnist_seed1.pickle'} was not made with the budget of {longer} (" in errors
