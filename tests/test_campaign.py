"""campaign.py: which runs a slot takes, what it says and records, and one real slot on digits through
sweep.py and train.py."""

import errno
import fcntl
import json
import os
import pickle
import re
import shlex
import signal
import subprocess
import tarfile
import time

import pytest

import campaign
import train
from support import REPO
from pyimagesearch import studies
from pyimagesearch.errors import EXIT_STOPPED, UserError
from pyimagesearch import runs as run_names
from pyimagesearch.runs import budget_of
from pyimagesearch.timings import CPU_RUNS

CPU = f"CPU ({os.cpu_count()} cores)"


def the_campaign(results, *arguments):
    return campaign.campaign_runs(campaign.parse_arguments(
        ["--minutes", "9", "--archive", "unused", "--results", str(results), *arguments]))


def write_finished(run, epoch_times, **entry):
    """A finished run as the campaign finds it: its history, its report, its settings as train.py
    writes them, its CSV log and its manifest entry."""
    os.makedirs(os.path.dirname(run["history"]), exist_ok=True)
    words = shlex.split(run["command"])
    settings = train.run_settings(train.parse_arguments(words[words.index("train.py") + 1:]))
    with open(os.path.splitext(run["history"])[0] + ".json", "w") as file:
        json.dump(settings, file)
    with open(run["history"], "wb") as file:
        pickle.dump({"epoch_time": epoch_times}, file)
    with open(run["report"], "w") as file:
        file.write("accuracy 0.99\n")
    with open(os.path.splitext(run["history"])[0] + ".csv", "w") as file:
        file.write("epoch,epoch_time\n" + "".join(f"{epoch},{seconds}\n" for epoch, seconds in enumerate(epoch_times, 1)))
    campaign.record(run, entry)


def test_the_campaign_is_the_original_sweep_then_seeds_then_the_controls(tmp_path):
    runs = the_campaign(tmp_path)

    configurations = [run["configuration"] for run in runs]
    assert configurations == sorted(configurations, key=[name for name, _ in studies.FAITHFUL].index)
    counts = {name: configurations.count(name) for name in dict.fromkeys(configurations)}
    assert counts == {"original": 12, "seeds": 24, "fair-schedule": 18, "warmup": 36, "baselines": 36}
    # The original's 12 runs are experiments.sh's MNIST and Fashion-MNIST lines, in its order.
    with open(os.path.join(REPO, "experiments.sh")) as script:
        original = [line.split("run ", 1)[1].replace("output/", f"{tmp_path}/original/")
                    for line in script.read().splitlines() if "--dataset mnist" in line or "--dataset fashion_mnist" in line]
    assert [run["command"] for run in runs[:12]] == original
    fair = [run["stem"] for run in runs if run["configuration"] == "fair-schedule"][:3]
    assert fair == ["resnet_radam_mnist", "googlenet_radam_mnist", "minivggnet_radam_mnist"]
    assert all("--radam-total-steps auto" in run["command"] for run in runs if run["configuration"] == "fair-schedule")
    seeds = {run["stem"].rsplit("_", 1)[-1] for run in runs if run["configuration"] == "seeds"}
    assert seeds == {"seed1", "seed2"}


def test_a_slot_takes_the_most_runs_that_fit_the_first_unfinished_configuration_first(tmp_path):
    missing = the_campaign(tmp_path)

    # By the measured figures with 3 sharing, stretched by 1.1: a ResNet run 780 s, MiniGoogLeNet
    # 262 s, MiniVGGNet 92 s. In 500 s, 3 lanes hold 3 MiniGoogLeNets and 4 MiniVGGNets
    # (262 + 92 + 92, 262 + 92, 262 + 92); alone, a ResNet run takes 1.1 x (35.7 + 60 x 5.05 x 1.2)
    # = 439.2 s, and nothing else fits beside it.
    sharing, chosen = campaign.plan(missing, 500, 3, {})
    assert sharing == 3
    assert [run["stem"] for run in chosen] == [
        "googlenet_adam_mnist", "googlenet_radam_mnist", "minivggnet_adam_mnist", "minivggnet_radam_mnist",
        "googlenet_adam_fashion_mnist", "minivggnet_adam_fashion_mnist", "minivggnet_radam_fashion_mnist"]

    resnets = [run for run in missing if run["model"] == "resnet"]
    assert campaign.expected_seconds(resnets[0], 1, {}) == pytest.approx(439.23)
    sharing, chosen = campaign.plan(resnets, 500, 3, {})
    assert (sharing, [run["stem"] for run in chosen]) == (1, ["resnet_adam_mnist"])
    assert campaign.plan(resnets, 430, 3, {}) == (3, [])
    # A run of the same kind measured on this device replaces the figures: 2 s an epoch of 50,000
    # images and 10 s outside its epochs make a ResNet MNIST run 1.1 x (10 + 60 x 2 x 1.2) = 169.4 s,
    # so all 4 of the original's ResNet runs fit, and 2 of seeds/ beside them (169.4 x 2 = 338.8 s
    # on each of 3 lanes; a 7th run would make one lane 508.2 s).
    sharing, chosen = campaign.plan(resnets, 500, 3, {("resnet", 3): (2.0, 10.0)})
    assert (sharing, [run["configuration"] for run in chosen]) == (3, ["original"] * 4 + ["seeds"] * 2)


def test_a_long_slot_goes_on_into_the_next_configurations(tmp_path):
    missing = the_campaign(tmp_path, "--models", "minivggnet")

    # A MiniVGGNet run takes 1.1 x (23.4 + 60 x 0.84 x 1.2) = 92.3 s with 3 sharing the GPU, so
    # 500 s hold 5 on each of 3 lanes (461.3 s; a 6th would end at 553.6 s): the original's 4 runs,
    # the 8 of seeds/, and the first 3 of fair-schedule/. Fewer sharing fit fewer: one at a time
    # 1.1 x (18.5 + 60 x 0.97 x 1.2) = 97.2 s, 5 runs; two, 94.7 s each, 10.
    assert campaign.expected_seconds(missing[0], 3, {}) == pytest.approx(92.268)
    sharing, chosen = campaign.plan(missing, 500, 3, {})
    assert sharing == 3
    assert [run["configuration"] for run in chosen] == ["original"] * 4 + ["seeds"] * 8 + ["fair-schedule"] * 3
    assert [run["stem"] for run in chosen[12:]] == [
        "minivggnet_radam_mnist", "minivggnet_radam_fashion_mnist", "minivggnet_radam_mnist_seed1"]
    assert [len(campaign.plan(missing, 500, most, {})[1]) for most in (1, 2)] == [5, 10]
    # A later configuration waits for every missing run of the earlier ones: beside the original's
    # two MiniVGGNet runs on MNIST, 3 lanes would hold seeds/' four in 500 s, but the original's
    # ResNet runs (1.1 x (63.8 + 60 x 8.96 x 1.2) = 779.8 s each with 3 sharing) do not fit, so
    # the slot takes no run of seeds/.
    both = the_campaign(tmp_path, "--models", "resnet", "minivggnet", "--datasets", "mnist")
    sharing, chosen = campaign.plan(both, 500, 3, {})
    assert (sharing, [run["stem"] for run in chosen]) == (3, ["minivggnet_adam_mnist", "minivggnet_radam_mnist"])


def leave_outputs(command):
    """What a finished run leaves for the campaign to find: its history and its report."""
    run = campaign.describe(command, "unused")
    os.makedirs(os.path.dirname(run["history"]), exist_ok=True)
    with open(run["history"], "wb") as file:
        pickle.dump({"epoch_time": [1.0]}, file)
    with open(run["report"], "w") as file:
        file.write("accuracy 0.99\n")


class FakeSweep:
    """sweep.py as run_slot starts and reads it (subprocess.Popen): each run given on its stdin
    starts, leaves its history and report, and is done."""

    def __init__(self, arguments, **options):
        self.given = []
        self.stdin = self
        self.stdout = self.lines()

    def write(self, text):
        self.given.append(text)

    def close(self):
        pass

    def lines(self):
        commands = "".join(self.given).splitlines()
        for index, command in enumerate(commands, 1):
            yield f"started: {command}  (log: unused.log)\n"
            leave_outputs(command)
            yield f"[{index}/{len(commands)}] done: {command}\n"

    def wait(self, timeout=None):
        return 0


def test_a_resumed_run_is_recorded_so_and_left_out_of_the_calibration(tmp_path, monkeypatch):
    adam, radam = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist")[:2]
    assert [adam["stem"], radam["stem"]] == ["minivggnet_adam_mnist", "minivggnet_radam_mnist"]
    # The Adam run's checkpoint is there when the slot starts: train.py resumes it. A checkpoint
    # folder without state.json (a run stopped before its first checkpoint) starts afresh.
    (tmp_path / "original" / "minivggnet_adam_mnist.pickle.checkpoint").mkdir(parents=True)
    (tmp_path / "original" / "minivggnet_adam_mnist.pickle.checkpoint" / "state.json").write_text("{}")
    (tmp_path / "original" / "minivggnet_radam_mnist.pickle.checkpoint").mkdir()
    monkeypatch.setattr(campaign.subprocess, "Popen", FakeSweep)

    assert campaign.run_slot([adam, radam], 1, 60, {"device": "D"}, 1) == ([adam["history"], radam["history"]], False)

    entries = json.loads((tmp_path / "original" / "manifest.json").read_text())["runs"]
    assert {stem: entry["resumed"] for stem, entry in entries.items()} == {
        "minivggnet_adam_mnist": True, "minivggnet_radam_mnist": False}
    # Epoch times come from the CSV logs, the resumed run's too: its median epoch, 7.5 s, is
    # 7.5 x 50,000 / 60,000 = 6.25 s an epoch of 50,000 images, the other's 5 s, and the median of
    # the two 5.625 s. The resumed run's 10 s of wall time would make its fixed seconds
    # 10 - 15 = -5: only the other's count, 100 - 12 = 88. An entry without the field is not resumed.
    write_finished(adam, [6.0, 9.0], device="D", runs_at_once=1, wall_seconds=10.0, resumed=True)
    write_finished(radam, [6.0, 6.0], device="D", runs_at_once=1, wall_seconds=100.0)
    assert campaign.calibration_from([adam, radam], "D") == {("minivggnet", 1): pytest.approx((5.625, 88.0))}


def test_a_run_with_a_slow_first_epoch_calibrates_to_its_own_wall_time(tmp_path):
    # A GPU run's first epoch holds its compilation: 46 s, then 5 s epochs, 70 s of wall time in
    # all. Its fixed seconds are 70 - 3 x 5 = 55, the first epoch's 41 s of compilation among
    # them; less the epochs' sum (70 - 56 = 14) would plan the same run at 14 + 3 x 5 = 29 s.
    run = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "cifar10", "--epochs", "3")[0]
    write_finished(run, [46.0, 5.0, 5.0], device="D", runs_at_once=3, wall_seconds=70.0)
    calibration = campaign.calibration_from([run], "D")
    assert calibration == {("minivggnet", 3): pytest.approx((5.0, 55.0))}
    # So a missing run like it is planned at its wall time, with the margin for a slot's end.
    assert campaign.expected_seconds(dict(run, history=str(tmp_path / "other.pickle")), 3, calibration) == (
        pytest.approx(campaign.MARGIN * 70.0))


def test_the_plan_says_which_expected_times_are_an_h200s(tmp_path, monkeypatch, capsys):
    original = the_campaign(tmp_path)[:12]
    h200 = "1 x NVIDIA H200"
    # The runs' own calibration holds only MiniGoogLeNet's with 3 sharing the GPU.
    assert campaign.estimates_note(original, 3, {("googlenet", 3): (1.0, 1.0)}, h200, "results") == (
        "expected times of resnet, minivggnet are an NVIDIA H200's (MEASURED in pyimagesearch/timings.py): "
        "results has no finished run of theirs on 1 x NVIDIA H200, 3 at a time")
    calibrated = {(model, 3): (1.0, 1.0) for model in ("resnet", "googlenet", "minivggnet")}
    assert campaign.estimates_note(original, 3, calibrated, h200, "results") is None
    googlenets = [run for run in original if run["model"] == "googlenet"]
    assert campaign.estimates_note(googlenets, 1, calibrated, "CPU (2 cores)", "runs") == (
        "expected times of googlenet are an NVIDIA H200's (MEASURED in pyimagesearch/timings.py): "
        "runs has no finished run of theirs on CPU (2 cores), 1 at a time")

    # The line comes before the plan: in 8.5 minutes, less 20 s, 3 lanes of an H200 hold the 7 runs
    # of MiniGoogLeNet and MiniVGGNet that the test above plans in 500 s (446.5 s on the longest).
    monkeypatch.setattr(campaign, "device_name", lambda: h200)
    arguments = ["--minutes", "8.5", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path)]
    assert campaign.main([*arguments, "--commit", "0" * 40, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "expected times of googlenet, minivggnet are an NVIDIA H200's (MEASURED in pyimagesearch/timings.py): "
        f"{tmp_path} has no finished run of theirs on 1 x NVIDIA H200, 3 at a time",
        f"0 of 126 runs are in {tmp_path}; this slot of 8.5 minutes runs 7 of the missing, 3 at a time:"]
    assert len(lines) == 9


def test_on_a_cpu_the_faithful_study_runs_only_with_epochs_and_never_into_results(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX2")
    arguments = ["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--commit", "0" * 40, "--dry-run"]
    with pytest.raises(UserError) as refused:
        campaign.main([*arguments, "--results", str(tmp_path)])
    assert str(refused.value) == (
        "the faithful study's runs of 60 epochs take hours each on a CPU: run --study cpu, or give --epochs "
        "(e.g. --epochs 1) to try the campaign here, or run it on a GPU")
    with pytest.raises(UserError) as refused:
        campaign.main([*arguments, "--epochs", "1"])
    assert str(refused.value) == (
        "--epochs makes runs of another budget than the study's: give the trial a --results folder of its "
        "own, not results")
    assert campaign.main([*arguments, "--results", str(tmp_path), "--epochs", "1"]) == 0
    assert "0 of 126 runs are in" in capsys.readouterr().out
    assert campaign.main([*arguments, "--results", str(tmp_path), "--study", "cpu"]) == 0
    at_once = min(CPU_RUNS, len(os.sched_getaffinity(0)))  # each run on its own share of the cores
    assert f"0 of 50 runs are in {tmp_path}; this slot of 60 minutes runs 50 of the missing, {at_once} at a time:" in (
        capsys.readouterr().out)


def test_a_folder_holds_runs_of_one_budget(tmp_path):
    arguments = ["--study", "cpu", "--minutes", "9", "--archive", "unused", "--results", str(tmp_path)]
    first = campaign.campaign_runs(campaign.parse_arguments(arguments))[0]
    os.makedirs(tmp_path / "cpu-study")
    settings = dict(studies.CPU_BUDGET, learning_rate=1e-3)
    (tmp_path / "cpu-study" / f"{first['stem']}.json").write_text(json.dumps(settings))
    campaign.record(first, dict(device="D"))
    manifest = json.loads((tmp_path / "cpu-study" / "manifest.json").read_text())
    assert manifest["budget"] == manifest["runs"][first["stem"]]["budget"] == budget_of(studies.CPU_BUDGET)
    assert manifest["runs"][first["stem"]]["command"] == first["command"]
    assert manifest["runs"][first["stem"]]["learning_rate"] == 1e-3
    runs = campaign.campaign_runs(campaign.parse_arguments(arguments))
    campaign.check_budgets(runs, campaign.parse_arguments(arguments))
    trial = campaign.parse_arguments([*arguments, "--epochs", "2"])
    with pytest.raises(UserError, match=f"^{tmp_path}/cpu-study holds runs of another budget .*'epochs': 10.* "
                                        r"than this slot's .*'epochs': 2.*: give a trial \(--epochs\) a --results"):
        campaign.check_budgets(campaign.campaign_runs(trial), trial)


def write_grid_run(folder, optimizer, rate, seed, validation_accuracy, test_accuracy, budget=studies.CPU_BUDGET):
    stem = os.path.join(folder, run_names.stem("minivggnet", optimizer, "fashion_mnist", rate, seed))
    os.makedirs(folder, exist_ok=True)
    with open(stem + ".pickle", "wb") as file:
        epochs = studies.CPU_BUDGET["epochs"] - 1  # before the last
        pickle.dump(dict(loss=[2.0] * epochs + [1.0], accuracy=[0.1] * epochs + [0.5], val_loss=[2.0] * epochs + [1.0],
                         val_accuracy=[0.1] * epochs + [validation_accuracy]), file)
    with open(stem + ".txt", "w") as file:
        file.write(f"    accuracy                         {test_accuracy}     10000\n"
                   "   macro avg     0.5000    0.5000    0.5000     10000\n")
    with open(stem + ".json", "w") as file:  # as train.py writes them: the folder's budget
        json.dump(dict(budget, learning_rate=rate, optimizer=optimizer, radam_total_steps="0"), file)


def test_the_cpu_study_chooses_each_rate_on_validation_then_runs_it_on_both_data_sets(tmp_path):
    arguments = campaign.parse_arguments(["--study", "cpu", "--minutes", "9", "--archive", "a", "--results",
                                          str(tmp_path)])
    runs = campaign.campaign_runs(arguments)
    # Before the grid is complete: its 5 rates x 4 optimizers x 2 seeds, 1e-3 first, then the 2019 row.
    assert len(runs) == 50 and [run["configuration"] for run in runs] == ["cpu-study"] * 40 + ["cpu-study-2019"] * 10
    assert [run["stem"] for run in runs[:8:2]] == ["minivggnet_adam_fashion_mnist_seed1",
        "minivggnet_radam_fashion_mnist_seed1", "minivggnet_adam-warmup_fashion_mnist_seed1",
        "minivggnet_sgd_fashion_mnist_lr1e-03_seed1"]  # fmt: skip
    assert all(" --radam-total-steps 0" in run["command"] for run in runs[:40] if "_radam_" in run["stem"])
    assert all(" --epochs 10 --batch-size 128 --training-images 12800 --validation-images 5000" in run["command"]
               for run in runs)
    assert all(" --radam-total-steps auto" in run["command"] for run in runs[40:])
    # Validation accuracy chooses: highest at 3e-4 for Adam, at 1e-2 for every other optimizer,
    # whose test accuracy is highest at 1e-4 instead, which plays no part.
    folder = tmp_path / "cpu-study"
    for optimizer in studies.GRID_OPTIMIZERS:
        for rate in studies.GRID_RATES:
            for seed in (1, 2):
                best = 3e-4 if optimizer == "adam" else 1e-2
                write_grid_run(folder, optimizer, rate, seed, 0.9 if rate == best else 0.5 + seed / 10,
                               0.95 if rate == 1e-4 else 0.6)
    chosen = studies.chosen_rates(studies.finished_runs(str(folder)))
    assert chosen == {"adam": 3e-4, "radam": 1e-2, "adam-warmup": 1e-2, "sgd": 1e-2}
    runs = [run for run in campaign.campaign_runs(arguments) if not campaign.finished(run)]
    stems = [run["stem"] for run in runs]
    # Fashion-MNIST: seeds 3 to 5 at the chosen rate and at 1e-3 (SGD's default is 1e-2, so its 1e-2
    # runs have no rate in their names); MNIST: seeds 1 to 5 at the chosen rate, and Adam's at 1e-3 too.
    assert stems[:17] == [
        "minivggnet_adam_fashion_mnist_lr3e-04_seed3", "minivggnet_adam_fashion_mnist_lr3e-04_seed4",
        "minivggnet_adam_fashion_mnist_lr3e-04_seed5", "minivggnet_adam_fashion_mnist_seed3",
        "minivggnet_adam_fashion_mnist_seed4", "minivggnet_adam_fashion_mnist_seed5",
        *[f"minivggnet_adam_mnist_lr3e-04_seed{seed}" for seed in range(1, 6)],
        *[f"minivggnet_adam_mnist_seed{seed}" for seed in range(1, 6)], "minivggnet_radam_fashion_mnist_seed3"]
    assert "minivggnet_sgd_fashion_mnist_seed5" in stems and "minivggnet_sgd_mnist_seed1" in stems
    # Last, Adam and RAdam at their chosen rates for 3,000 steps, Fashion-MNIST then MNIST, seed after
    # seed; then, on Fashion-MNIST with seeds 1 and 2, at the grid rates either side of each chosen
    # one (RAdam's 1e-2 is the grid's highest: 3e-3 only), RAdam's first.
    longer = [run for run in runs if run["configuration"] == "cpu-study-3000-steps"]
    assert [run["stem"] for run in longer] == [
        stem for dataset in ("fashion_mnist", "mnist") for stem in (
            f"minivggnet_adam_{dataset}_lr3e-04_seed1", f"minivggnet_adam_{dataset}_lr3e-04_seed2",
            f"minivggnet_radam_{dataset}_lr1e-02_seed1", f"minivggnet_radam_{dataset}_lr1e-02_seed2",
            *[f"minivggnet_{optimizer}_{dataset}_{rate}_seed{seed}" for seed in range(3, 6)
              for optimizer, rate in (("adam", "lr3e-04"), ("radam", "lr1e-02"))])] + [
        f"minivggnet_{optimizer}_fashion_mnist_{rate}seed{seed}"  # Adam's default rate, 1e-3, is not in its names
        for optimizer, rate in (("radam", "lr3e-03_"), ("adam", "lr1e-04_"), ("adam", "")) for seed in (1, 2)]
    assert all("--training-images 38400 --validation-images 5000" in run["command"]
               and run["training_images"] == 38400 and run["epochs"] == 10 for run in longer)
    assert runs[-26:] == longer
    # Fashion-MNIST, Adam on MNIST, the others on MNIST, 2019, 3,000 steps at the chosen rates, and either side
    assert len(runs) == 24 + 10 + 3 * 5 + 10 + 20 + 6
    # The second stage names the grid's seeds 1 and 2 at the chosen rates again: each run is listed once.
    assert len(campaign.campaign_runs(arguments)) == 40 + 24 + 10 + 3 * 5 + 10 + 20 + 6


def test_at_3000_steps_the_rates_are_chosen_again_searching_outwards_from_an_edge_then_compared(tmp_path):
    arguments = campaign.parse_arguments(["--study", "cpu", "--minutes", "9", "--archive", "a", "--results",
                                          str(tmp_path)])
    for optimizer in studies.GRID_OPTIMIZERS:  # the grid chooses 1e-3 for Adam and RAdam
        for rate in studies.GRID_RATES:
            for seed in (1, 2):
                write_grid_run(tmp_path / "cpu-study", optimizer, rate, seed, 0.9 if rate == 1e-3 else 0.5, 0.6)
    longer = tmp_path / "cpu-study-3000-steps"

    def check(optimizer, rate, validation_accuracy):
        for seed in (1, 2):
            write_grid_run(longer, optimizer, rate, seed, validation_accuracy, 0.6, budget=studies.LONGER_BUDGET)

    def planned():
        return [run["stem"] for run in campaign.campaign_runs(arguments) if run["configuration"] == longer.name
                and not campaign.finished(run)]

    # Adam validates best at its chosen 1e-3, between the rates either side; RAdam at 3e-4, the
    # lowest of its three, so 1e-4 is run next, before any comparison.
    for optimizer, validation in (("adam", (0.80, 0.85, 0.70)), ("radam", (0.86, 0.82, 0.83))):
        for rate, accuracy in zip((3e-4, 1e-3, 3e-3), validation):
            check(optimizer, rate, accuracy)
    found = studies.finished_runs(str(longer))
    assert studies.longer_search(found, "adam", 1e-3) == ((3e-4, 1e-3, 3e-3), 1e-3)
    assert studies.longer_search(found, "radam", 1e-3) == ((1e-4, 3e-4, 1e-3, 3e-3), None)
    # Left of the comparison at the rates chosen at 1,000 steps: all but the seeds the check ran
    # (seeds 1 and 2 come together).
    comparison = [f"minivggnet_{optimizer}_{dataset}_seed{seed}" for dataset, seeds in (
        ("fashion_mnist", ((3,), (4,), (5,))), ("mnist", ((1, 2), (3,), (4,), (5,))))
        for together in seeds for optimizer in ("adam", "radam") for seed in together]
    assert planned() == comparison + ["minivggnet_radam_fashion_mnist_lr1e-04_seed1",
                                      "minivggnet_radam_fashion_mnist_lr1e-04_seed2"]
    # 1e-4 validates lower: 3e-4 it is, and both are compared at their rates chosen at 3,000 steps
    # on seeds 1 to 5, a data set after the other; the runs already made are not made again. Then
    # each runs, on the grid's seeds, at the grid rates its search left out: Adam at 1e-4 and
    # 1e-2, RAdam at 1e-2, in the grid's order.
    check("radam", 1e-4, 0.84)
    assert studies.longer_search(studies.finished_runs(str(longer)), "radam", 1e-3) == ((1e-4, 3e-4, 1e-3, 3e-3), 3e-4)
    rest_of_grid = [f"minivggnet_{optimizer}_fashion_mnist_{rate}_seed{seed}" for optimizer, rate in (
        ("adam", "lr1e-04"), ("adam", "lr1e-02"), ("radam", "lr1e-02")) for seed in (1, 2)]
    assert planned() == comparison + [
        "minivggnet_radam_fashion_mnist_lr3e-04_seed3", "minivggnet_radam_fashion_mnist_lr3e-04_seed4",
        "minivggnet_radam_fashion_mnist_lr3e-04_seed5",
        *[f"minivggnet_radam_mnist_lr3e-04_seed{seed}" for seed in range(1, 6)]] + rest_of_grid
    # At the grid's edge the search stops: 1e-4 validating best is RAdam's rate.
    check("radam", 1e-4, 0.95)
    assert studies.longer_search(studies.finished_runs(str(longer)), "radam", 1e-3) == ((1e-4, 3e-4, 1e-3, 3e-3), 1e-4)
    assert planned()[-14:] == [*[f"minivggnet_radam_fashion_mnist_lr1e-04_seed{seed}" for seed in range(3, 6)],
                               *[f"minivggnet_radam_mnist_lr1e-04_seed{seed}" for seed in range(1, 6)], *rest_of_grid]


def test_a_plan_times_its_runs_in_the_order_sweep_py_starts_them(tmp_path):
    missing = the_campaign(tmp_path, "--models", "resnet", "minivggnet")
    taken = [missing[0], missing[1], next(run for run in missing if run["model"] == "minivggnet")]
    assert [run["stem"] for run in taken] == ["resnet_adam_mnist", "resnet_radam_mnist", "minivggnet_adam_mnist"]
    # Measured on this device (no epoch time, so only the fixed time counts): ResNet runs of
    # 1.1 x 20 = 22 s, a MiniVGGNet run of 1.1 x 30 = 33 s. sweep.py starts the ResNets first, on
    # both lanes, and the MiniVGGNet after one of them: 22 + 33 = 55 s. Longest first by time it
    # would be 33 s beside 22 + 22, 44 s.
    calibration = {(model, sharing): (0.0, fixed) for model, fixed in (("resnet", 20.0), ("minivggnet", 30.0))
                   for sharing in (1, 2)}  # fmt: skip
    assert campaign.plan(taken, 50, 2, calibration) == (2, taken[:2])
    assert campaign.plan(taken, 55.5, 2, calibration) == (2, taken)


def test_one_slot_on_digits_runs_records_and_packs_the_first_runs(tmp_path, monkeypatch, capsys):
    results, archive = tmp_path / "results", tmp_path / "slot.tar.gz"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]
    # On a GPU box the slot plans: a finished run of this device times the slot's runs, the
    # campaign's last, 90 s of which its one epoch took 10 s, makes each run of one epoch
    # 1.1 x 90 = 99 s, so 2 of the 3 missing fit in 4 minutes less 20 s (3 would take 297 s), and
    # no line says the times are an H200's. Once they are done the slot plans again, timed by its
    # own runs, and goes on with what fits in the time left. The other runs were finished on
    # another device, which times nothing here.
    runs = the_campaign(results, *arguments)
    last, missing = runs[-1], runs[:3]
    device = "1 x Some GPU"
    write_finished(last, [10.0], device=device, runs_at_once=1, wall_seconds=90.0, resumed=False)
    for run in runs[3:-1]:
        write_finished(run, [1.0], device="1 x Another GPU", runs_at_once=1, wall_seconds=2.0, resumed=False)
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(campaign, "device_name", lambda: device)

    assert campaign.main(["--minutes", "4", "--archive", str(archive), "--most-runs-per-gpu", "1", *arguments]) == 0

    plan = capsys.readouterr().out
    assert "18 of 21 runs are in" in plan and "runs 2 of the missing, 1 at a time:" in plan
    assert "original/minivggnet_adam_digits  (expected 99 s)" in plan and "H200" not in plan
    stems = ["minivggnet_adam_digits", "minivggnet_radam_digits"]
    manifest = json.loads((results / "original" / "manifest.json").read_text())
    assert sorted(manifest["runs"]) == stems
    assert manifest["budget"] == dict(studies.FAITHFUL_BUDGET, epochs=1)
    for stem, entry in manifest["runs"].items():
        assert entry["device"] == device and entry["budget"] == manifest["budget"]
        assert entry["runs_at_once"] == 1 and entry["slot"] == 1 and entry["wall_seconds"] > 0
        assert entry["resumed"] is False and entry["learning_rate"] == 1e-3
        assert f"--history {results}/original/{stem}.pickle" in entry["command"]
        assert len(entry["commit"]) >= 40 and entry["keras"] and entry["backend"]
    (record,) = json.loads((results / "slots.json").read_text())
    assert record["finished"][:2] == [f"original/{stem}" for stem in stems]
    # The runs it took, in the campaign's order, none skipped: those it finished, then any it did
    # not (stopped by the slot's end with a checkpoint, or not started), which the next slot takes.
    taken = record["finished"] + record["unfinished"]
    assert taken == [campaign.name(run) for run in missing][:len(taken)] and record["minutes"] == 4
    with tarfile.open(archive) as tar:
        packed = sorted(tar.getnames())
    files = [f"results/{name}{ending}" for name in record["finished"]
             for ending in (".csv", ".json", ".log", ".pickle", ".txt")]
    manifests = sorted({f"results/{name.split('/')[0]}/manifest.json" for name in record["finished"]})
    assert packed == sorted(files + manifests + ["results/slots.json"])


def test_a_slot_too_short_for_any_run_starts_the_first_which_keeps_its_checkpoint(tmp_path, monkeypatch, capsys):
    # The shortest run, a MiniVGGNet's of one epoch, is expected to take 1.1 x (18.5 + 0.97 x 1.2) =
    # 21.6 s, and 30 s less 20 s leave 10: none fits, so the first starts all the same.
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    arguments = ["--minutes", "0.5", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path),
                 "--epochs", "1", "--commit", "0" * 40, "--dry-run"]
    assert campaign.main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"0 of 126 runs are in {tmp_path}; this slot of 0.5 minutes runs 1 of the missing, 1 at a time:"
    assert lines[2].startswith("    original/resnet_adam_mnist  (expected ")


def test_a_slot_whose_time_left_fits_no_more_runs_says_so_and_packs_what_it_finished(tmp_path, monkeypatch, capsys):
    # The first plan takes one run; once it is done, none of the others would finish in the time left.
    plans = iter([lambda missing: (1, missing[:1]), lambda missing: (1, [])])
    monkeypatch.setattr(campaign, "plan", lambda missing, *_: next(plans)(missing))
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    monkeypatch.setattr(campaign.subprocess, "Popen", FakeSweep)
    archive = tmp_path / "a.tgz"
    assert campaign.main(["--minutes", "9", "--archive", str(archive), "--results", str(tmp_path / "results"),
                          "--datasets", "digits", "--models", "minivggnet", "--epochs", "1", "--commit", "0" * 40]) == 0
    plan = [line for line in capsys.readouterr().out.splitlines() if " runs are in " in line]
    assert plan[0].endswith("this slot of 9 minutes runs 1 of the missing, 1 at a time:")
    assert re.fullmatch(rf"1 of 21 runs are in {tmp_path}/results; none of the 20 missing would finish in the "
                        r"8\.\d minutes left of this slot", plan[1])
    (record,) = json.loads((tmp_path / "results" / "slots.json").read_text())
    assert record["finished"] == ["original/minivggnet_adam_digits"] and record["unfinished"] == []
    assert archive.exists()


def test_a_checkpointed_run_is_planned_at_the_epochs_it_has_left(tmp_path):
    (run,) = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist")[:1]
    full = campaign.expected_seconds(run, 1, {("minivggnet", 1): (1.0, 10.0)})
    assert full == pytest.approx(1.1 * (10 + 60 * 1.2))
    os.makedirs(run["history"] + ".checkpoint")
    (tmp_path / "original" / "minivggnet_adam_mnist.pickle.checkpoint" / "state.json").write_text("{}")
    (tmp_path / "original" / "minivggnet_adam_mnist.csv").write_text(
        "epoch,epoch_time\n" + "".join(f"{epoch},1.2\n" for epoch in range(1, 51)))
    assert campaign.expected_seconds(run, 1, {("minivggnet", 1): (1.0, 10.0)}) == pytest.approx(1.1 * (10 + 10 * 1.2))


def test_runs_at_once_counts_the_runs_that_really_overlapped(tmp_path, monkeypatch):
    runs = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist")[:3]
    commands = [run["command"] for run in runs]

    class OverlappingSweep(FakeSweep):
        def lines(self):  # the first two run together, the third alone after them
            for command in commands[:2]:
                yield f"started: {command}  (log: unused.log)\n"
            for index, command in enumerate(commands, 1):
                if index == 3:
                    yield f"started: {command}  (log: unused.log)\n"
                leave_outputs(command)
                yield f"[{index}/3] done: {command}\n"

    monkeypatch.setattr(campaign.subprocess, "Popen", OverlappingSweep)
    ended, stopped = campaign.run_slot(runs, 2, 60, {"device": "D"}, 1)
    assert (ended, stopped) == ([run["history"] for run in runs], False)
    entries = {**json.loads((tmp_path / "original" / "manifest.json").read_text())["runs"],
               **json.loads((tmp_path / "seeds" / "manifest.json").read_text())["runs"]}
    assert [entries[run["stem"]]["runs_at_once"] for run in runs] == [2, 2, 1]


def test_runs_at_once_is_the_most_at_one_moment_not_every_run_met(tmp_path, monkeypatch):
    runs = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist")[:3]
    first, second, third = [run["command"] for run in runs]

    class RelaySweep(FakeSweep):
        def lines(self):  # two at a time: the third starts as the first ends, while the second goes on
            yield f"started: {first}  (log: unused.log)\n"
            yield f"started: {second}  (log: unused.log)\n"
            for index, (done, then) in enumerate(((first, third), (second, None), (third, None)), 1):
                leave_outputs(done)
                yield f"[{index}/3] done: {done}\n"
                if then:
                    yield f"started: {then}  (log: unused.log)\n"

    monkeypatch.setattr(campaign.subprocess, "Popen", RelaySweep)
    campaign.run_slot(runs, 2, 60, {"device": "D"}, 1)
    entries = {**json.loads((tmp_path / "original" / "manifest.json").read_text())["runs"],
               **json.loads((tmp_path / "seeds" / "manifest.json").read_text())["runs"]}
    assert [entries[run["stem"]]["runs_at_once"] for run in runs] == [2, 2, 2]  # the second met 2 others
    assert campaign.most_at_once(0.0, 10.0, [(0.0, 10.0), (2.0, 4.0), (3.0, None), (10.0, 12.0)]) == 3


def test_runs_at_once_counts_the_runs_on_the_same_gpu_of_a_box_of_several(tmp_path, monkeypatch):
    runs = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist")[:3]
    commands = [run["command"] for run in runs]

    class TwoGpuSweep(FakeSweep):
        def lines(self):  # all three at once: two sharing GPU 0, the third alone on GPU 1
            for command, gpu in zip(commands, (0, 1, 0)):
                yield f"started on GPU {gpu}: {command}  (log: unused.log)\n"
            for index, command in enumerate(commands, 1):
                leave_outputs(command)
                yield f"[{index}/3] done: {command}\n"

    monkeypatch.setattr(campaign.subprocess, "Popen", TwoGpuSweep)
    campaign.run_slot(runs, 2, 60, {"device": "2 x D"}, 1)
    entries = {**json.loads((tmp_path / "original" / "manifest.json").read_text())["runs"],
               **json.loads((tmp_path / "seeds" / "manifest.json").read_text())["runs"]}
    assert [entries[run["stem"]]["runs_at_once"] for run in runs] == [2, 1, 2]


def test_runs_of_two_folders_with_one_name_are_told_apart(tmp_path, monkeypatch):
    runs = campaign.campaign_runs(campaign.parse_arguments(
        ["--study", "cpu", "--minutes", "9", "--archive", "a", "--results", str(tmp_path)]))
    grid_radam = next(run for run in runs if run["stem"] == "minivggnet_radam_fashion_mnist_seed1")
    scheduled_radam = next(run for run in runs if run["configuration"] == "cpu-study-2019")
    assert grid_radam["stem"] == scheduled_radam["stem"] and grid_radam["history"] != scheduled_radam["history"]

    class FirstOnly(FakeSweep):
        def lines(self):  # the first run finishes, the second is stopped
            command = "".join(self.given).splitlines()[0]
            yield f"started: {command}  (log: unused.log)\n"
            leave_outputs(command)
            yield f"[1/2] done: {command}\n"

    monkeypatch.setattr(campaign.subprocess, "Popen", FirstOnly)
    assert campaign.run_slot([grid_radam, scheduled_radam], 1, 60, {"device": "D"}, 1) == ([grid_radam["history"]], False)
    assert campaign.name(scheduled_radam) == "cpu-study-2019/minivggnet_radam_fashion_mnist_seed1"


def test_sigterm_ends_the_slot_at_once_and_still_records_and_packs_what_it_finished(tmp_path, monkeypatch):
    arguments = ["--study", "cpu", "--minutes", "60", "--archive", str(tmp_path / "slot.tar.gz"),
                 "--results", str(tmp_path / "results")]
    first, second = [run["command"] for run in campaign.campaign_runs(campaign.parse_arguments(arguments))[:2]]
    signalled, started_with = [], []

    class SignalledSweep(FakeSweep):
        """The first run finishes, then the campaign gets SIGTERM while the second trains: the
        sweep goes on until the campaign passes the signal on."""

        def __init__(self, arguments, **options):
            started_with.append(arguments)
            super().__init__(arguments, **options)

        def lines(self):
            yield f"started: {first}  (log: unused.log)\n"
            leave_outputs(first)
            yield f"[1/2] done: {first}\n"
            yield f"started: {second}  (log: unused.log)\n"
            os.kill(os.getpid(), signal.SIGTERM)
            while not signalled:
                time.sleep(0.05)
            yield f"[2/2] stopped after a checkpoint (the same script resumes it): {second}\n"

        def wait(self, timeout=None):
            if not signalled:
                time.sleep(timeout or 0)
                raise subprocess.TimeoutExpired("sweep.py", timeout)
            return 75

        def send_signal(self, signum):
            signalled.append(signum)

    monkeypatch.setattr(campaign.subprocess, "Popen", SignalledSweep)
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX-512")
    before = signal.getsignal(signal.SIGTERM)

    assert campaign.main([*arguments, "--commit", "0" * 40]) == EXIT_STOPPED == 75

    assert signalled == [signal.SIGTERM]
    at_once = min(CPU_RUNS, len(os.sched_getaffinity(0)))
    assert started_with[0][2:4] == ["--cpu-runs", str(at_once)]  # on a CPU, runs share out its cores
    assert signal.getsignal(signal.SIGTERM) is before  # the campaign's handler is gone with it
    (slot,) = json.loads((tmp_path / "results" / "slots.json").read_text())
    first_name = "cpu-study/" + campaign.describe(first, "unused")["stem"]
    assert slot["finished"] == [first_name]
    assert slot["unfinished"][0] == "cpu-study/" + campaign.describe(second, "unused")["stem"]  # resumed next
    manifest = json.loads((tmp_path / "results" / "cpu-study" / "manifest.json").read_text())
    assert list(manifest["runs"]) == [campaign.describe(first, "unused")["stem"]]
    with tarfile.open(tmp_path / "slot.tar.gz") as archive:
        assert "results/cpu-study/manifest.json" in archive.getnames()


def test_what_would_stop_a_slot_is_refused_before_it_runs_or_records_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX-512")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    results = tmp_path / "results"
    arguments = ["--study", "cpu", "--minutes", "60", "--results", str(results), "--commit", "0" * 40]
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(UserError) as refused:
        campaign.main([*arguments, "--archive", str(tmp_path / "a.tgz"), "--cpu-runs", str(cores + 1)])
    assert str(refused.value) == (f"--cpu-runs {cores + 1} needs as many cores, and this machine gives {cores}; "
                                  f"give --cpu-runs {cores} or fewer")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError) as refused:
        campaign.main([*arguments, "--archive", str(tmp_path / "a-file" / "a.tgz")])
    assert str(refused.value) == (f"cannot write {tmp_path / 'a-file' / 'a.tgz'}: part of {tmp_path / 'a-file'} "
                                  "is a file, not a folder; choose another path")
    with pytest.raises(UserError) as refused:  # an unset shell variable, say: the archive would fail at the end
        campaign.main([*arguments, "--archive", ""])
    assert str(refused.value) == "cannot write '': it names no file; give a file path"
    results.mkdir()
    with open(results / ".campaign.lock", "a") as held:  # another slot of the same results, under way
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(UserError) as refused:
            campaign.main([*arguments, "--archive", str(tmp_path / "a.tgz")])
    assert str(refused.value) == f"another results/campaign.py is advancing {results}; let it finish first"
    assert sorted(os.listdir(results)) == [".campaign.lock"] and not (tmp_path / "a.tgz").exists()


def test_a_slot_no_longer_than_the_time_it_keeps_at_its_end_is_refused(tmp_path, monkeypatch):
    # 0.3 minutes are 18 s, and a slot keeps its last 20 s: it would plan its runs, run none and exit 0.
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX-512")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    with pytest.raises(UserError) as refused:
        campaign.main(["--study", "cpu", "--minutes", "0.3", "--archive", str(tmp_path / "a.tgz"),
                       "--results", str(tmp_path / "results"), "--commit", "0" * 40])  # fmt: skip
    assert str(refused.value) == (
        "a slot of 0.3 minutes leaves no time for a run: its last 20 s are kept for stopping the runs, the "
        "manifests and the archive; give --minutes 1 or more")
    assert os.listdir(tmp_path) == []


def test_a_run_that_finished_with_no_slot_to_record_it_is_recorded_and_packed_by_the_next(tmp_path, monkeypatch,
                                                                                            capsys):
    # A slot killed with SIGKILL leaves its sweep going on to the end of a run: the run's outputs
    # are there, and no manifest records it.
    results, archive = tmp_path / "results", tmp_path / "slot.tar.gz"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]
    adam = the_campaign(results, *arguments)[0]
    leave_outputs(adam["command"])
    (results / "original" / f"{adam['stem']}.json").write_text(
        json.dumps(dict(studies.FAITHFUL_BUDGET, epochs=1, learning_rate=1e-3)))
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    # The slot's time runs out before any of its runs finishes.
    monkeypatch.setattr(campaign, "run_slot", lambda chosen, sharing, seconds, facts, slot, on_cpu: ([], True))

    assert campaign.main(["--minutes", "60", "--archive", str(archive), *arguments, "--commit", "0" * 40]) == 0

    assert f"0 runs finished, 1 recorded late; {archive} holds them (" in capsys.readouterr().out
    manifest = json.loads((results / "original" / "manifest.json").read_text())
    assert manifest["budget"] == dict(studies.FAITHFUL_BUDGET, epochs=1)
    (entry,) = manifest["runs"].values()
    assert entry == dict(date=entry["date"], slot=1, recorded_late=True, command=adam["command"],
                         budget=manifest["budget"], learning_rate=1e-3)
    (record,) = json.loads((results / "slots.json").read_text())
    assert record["recorded_late"] == ["original/minivggnet_adam_digits"] and record["finished"] == []
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [
            "results/original/manifest.json", "results/original/minivggnet_adam_digits.json",
            "results/original/minivggnet_adam_digits.pickle", "results/original/minivggnet_adam_digits.txt",
            "results/slots.json"]


def test_a_finished_run_of_another_budget_is_named_and_nothing_runs(tmp_path, monkeypatch):
    # A run made by hand with other settings: plot.py leaves it out, so the slot may not count it as done.
    results = tmp_path / "results"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]
    radam = the_campaign(results, *arguments)[1]
    leave_outputs(radam["command"])
    (results / "original" / f"{radam['stem']}.json").write_text(json.dumps(dict(studies.FAITHFUL_BUDGET, epochs=2)))
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    with pytest.raises(UserError) as refused:
        campaign.main(["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), *arguments, "--commit", "0" * 40])
    assert str(refused.value) == (
        f"{radam['history']} was made with another budget (epochs 2 where its folder's runs have 1), so the study "
        "leaves it out: move its files to a folder of its own, or delete them so that a slot runs it again")
    assert not (results / "slots.json").exists() and not (tmp_path / "a.tgz").exists()


def test_a_finished_run_without_its_settings_in_a_folder_with_a_budget_is_named_and_nothing_runs(tmp_path, monkeypatch):
    # plot.py leaves out a run whose settings are gone from a folder whose manifest records a
    # budget, as it cannot tell the run's budget: the slot may not count it as done either.
    results = tmp_path / "results"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]
    radam = the_campaign(results, *arguments)[1]
    leave_outputs(radam["command"])
    budget = budget_of(dict(studies.FAITHFUL_BUDGET, epochs=1))
    (results / "original" / "manifest.json").write_text(json.dumps(dict(budget=budget, runs={})))
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    with pytest.raises(UserError) as refused:
        campaign.main(["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), *arguments, "--commit", "0" * 40])
    settings = results / "original" / f"{radam['stem']}.json"
    assert str(refused.value) == (
        f"{radam['history']} has no settings beside it ({settings}), so the study cannot tell its budget and leaves "
        "it out: restore the file from git or the slot's archive, or delete the run's files so that a slot runs it again")
    assert not (results / "slots.json").exists() and not (tmp_path / "a.tgz").exists()


def test_a_results_path_that_is_no_folder_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX-512")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    (tmp_path / "notes.txt").write_text("notes")
    arguments = ["--study", "cpu", "--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--commit", "0" * 40]
    with pytest.raises(UserError) as refused:
        campaign.main([*arguments, "--results", str(tmp_path / "notes.txt")])
    assert str(refused.value) == (f"--results {tmp_path / 'notes.txt'} is not a folder; give the campaign's folder, "
                                  "such as results")
    with pytest.raises(UserError) as refused:
        campaign.main([*arguments, "--results", str(tmp_path / "notes.txt" / "results")])
    assert str(refused.value) == (f"cannot write in {tmp_path / 'notes.txt' / 'results'} (Not a directory); give "
                                  "--results a folder it can write in")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


@pytest.mark.parametrize("full", ["manifest.json", "slots.json"])
def test_a_full_disk_ends_the_slot_in_one_line_and_the_next_records_what_finished(tmp_path, monkeypatch, full):
    results, archive = tmp_path / "results", tmp_path / "slot.tar.gz"
    arguments = ["--minutes", "60", "--archive", str(archive), "--results", str(results), "--datasets", "digits",
                 "--models", "minivggnet", "--epochs", "1", "--commit", "0" * 40]
    write = campaign.write_atomically

    def on_a_full_disk(path, data):
        if path.endswith(full):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(path, data)

    monkeypatch.setattr(campaign, "write_atomically", on_a_full_disk)
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    monkeypatch.setattr(campaign.subprocess, "Popen", FakeSweep)  # every run it is given finishes
    with pytest.raises(UserError) as refused:
        campaign.main(arguments)
    if full == "manifest.json":
        # The first run's entry cannot be written: the slot records no more, ends, and still packs.
        assert str(refused.value) == (
            f"cannot write {results}/original/manifest.json (No space left on device); free some space, then "
            "give the same command again: it records the run that finished")
        (record,) = json.loads((results / "slots.json").read_text())
        assert record["finished"] == [] and record["unfinished"][0] == "original/minivggnet_adam_digits"
        assert archive.exists()
        # Once there is space, the next slot records every run that finished, late.
        monkeypatch.setattr(campaign, "write_atomically", write)
        assert campaign.main(arguments) == 0
        entries = json.loads((results / "original" / "manifest.json").read_text())["runs"]
        assert len(entries) == 2 and all(entry["recorded_late"] for entry in entries.values())
    else:
        assert str(refused.value) == (f"cannot write {results}/slots.json (No space left on device); free some "
                                      f"space: the slot's runs are in {results}, recorded in its manifests")
        assert len(json.loads((results / "original" / "manifest.json").read_text())["runs"]) == 2
        assert not archive.exists()


def test_a_slot_outside_the_repositorys_root_is_refused_before_its_runs_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX-512")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as refused:
        campaign.main(["--study", "cpu", "--minutes", "60", "--archive", "a.tgz", "--commit", "0" * 40])
    assert str(refused.value) == (f"no train.py in {tmp_path}: run results/campaign.py from the repository's root, "
                                  "where its runs' commands (python train.py ...) start")
    assert os.listdir(tmp_path) == []


def test_a_sigterm_before_any_run_starts_exits_75(tmp_path, monkeypatch, capsys):
    facts = campaign.environment_facts

    def signalled_while_starting(commit):
        os.kill(os.getpid(), signal.SIGTERM)
        return facts(commit)

    monkeypatch.setattr(campaign, "environment_facts", signalled_while_starting)
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 2 cores, AVX-512")
    monkeypatch.setattr(campaign.subprocess, "Popen", None)  # no run may start
    arguments = ["--study", "cpu", "--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--results",
                 str(tmp_path / "results"), "--commit", "0" * 40]
    assert campaign.main(arguments) == EXIT_STOPPED
    assert capsys.readouterr().err == "stopped by a signal before any run: the same command starts the slot again\n"
    assert not (tmp_path / "a.tgz").exists() and not (tmp_path / "results" / "slots.json").exists()


def test_a_checkpointed_run_whose_log_shows_every_epoch_is_planned_at_one_epoch(tmp_path):
    # Killed after its last epoch, before its outputs were written: it still has an epoch's work.
    (run,) = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist")[:1]
    os.makedirs(run["history"] + ".checkpoint")
    (tmp_path / "original" / "minivggnet_adam_mnist.pickle.checkpoint" / "state.json").write_text("{}")
    (tmp_path / "original" / "minivggnet_adam_mnist.csv").write_text(
        "epoch,epoch_time\n" + "".join(f"{epoch},1.2\n" for epoch in range(1, 61)))
    assert campaign.expected_seconds(run, 1, {("minivggnet", 1): (1.0, 10.0)}) == pytest.approx(1.1 * (10 + 1.2))


def test_on_a_cpu_as_many_runs_go_at_once_as_there_are_cores_untimed_by_an_h200(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU: AMD EPYC, 1 cores, AVX2")
    monkeypatch.setattr(campaign.os, "sched_getaffinity", lambda pid: {0})
    arguments = ["--study", "cpu", "--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path),
                 "--commit", "0" * 40, "--dry-run"]  # fmt: skip
    for more in ([], ["--cpu-runs", "1"]):  # by default CPU_RUNS, or one a core where there are fewer
        assert campaign.main([*arguments, *more]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == (f"0 of 50 runs are in {tmp_path}; this slot of 60 minutes runs 50 of the missing, "
                            "1 at a time:")
        assert len(lines) == 51
        assert all(line.startswith("    cpu-study") and "expected" not in line for line in lines[1:])


@pytest.mark.parametrize("name", ["slots.json", "original/manifest.json"])
def test_a_damaged_record_of_the_campaign_is_named_in_one_line(tmp_path, monkeypatch, name):
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    (tmp_path / "original").mkdir()
    (tmp_path / name).write_text('{"runs": ')  # cut short
    with pytest.raises(UserError) as refused:
        campaign.main(["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path),
                       "--epochs", "1", "--commit", "0" * 40, "--dry-run"])  # fmt: skip
    assert str(refused.value) == (f"cannot read {tmp_path / name} (Expecting value: line 1 column 10 (char 9)); "
                                  "restore it from git or the last archive")


@pytest.mark.parametrize("name, content, problem", [
    ("slots.json", "{}", "it holds no list of slots"),
    ("slots.json", "5", "it holds no list of slots"),
    ("original/manifest.json", "[]", "it holds no object with the runs"),
    ("original/manifest.json", "{}", "it holds no object with the runs"),
    ("original/manifest.json", '{"runs": []}', "it holds no object with the runs"),
    ("slots.json", None, "it is not a regular file"),  # a FIFO: a read would wait for a writer
    ("original/manifest.json", None, "it is not a regular file"),
    ("original/manifest.json", "large", "it is larger than 1 MiB, far more than such a file holds"),
])
def test_a_record_of_the_campaign_of_another_kind_is_named_in_one_line(tmp_path, monkeypatch, name, content, problem):
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    (tmp_path / "original").mkdir()
    content = " " * 2**20 + "{}" if content == "large" else content  # 1 MiB of spaces, then JSON
    os.mkfifo(tmp_path / name) if content is None else (tmp_path / name).write_text(content)
    with pytest.raises(UserError) as refused:
        campaign.main(["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path),
                       "--epochs", "1", "--commit", "0" * 40, "--dry-run"])  # fmt: skip
    assert str(refused.value) == f"cannot read {tmp_path / name} ({problem}); restore it from git or the last archive"


def test_manifest_entries_and_logs_that_cannot_time_a_run_are_left_out_of_the_calibration(tmp_path):
    runs = the_campaign(tmp_path, "--models", "minivggnet", "--datasets", "mnist", "fashion_mnist")[:8]
    assert [run["configuration"] for run in runs] == ["original"] * 4 + ["seeds"] * 4
    entries = [dict(runs_at_once=[1]), dict(wall_seconds="?"), dict(wall_seconds=10**400), {}, {}, {}, {}, {}]
    for run, entry in zip(runs, entries):
        write_finished(run, [5.0], **dict(dict(device="D", runs_at_once=1, wall_seconds=10.0), **entry))
    manifest = json.loads((tmp_path / "seeds" / "manifest.json").read_text())
    manifest["runs"][runs[4]["stem"]] = 5  # no object
    (tmp_path / "seeds" / "manifest.json").write_text(json.dumps(manifest))
    # One log's field is longer than csv reads, another is a FIFO (a read would wait for a writer).
    (tmp_path / "seeds" / f"{runs[5]['stem']}.csv").write_text("epoch,epoch_time\n1," + "5" * 200_000 + "\n")
    os.remove(tmp_path / "seeds" / f"{runs[6]['stem']}.csv")
    os.mkfifo(tmp_path / "seeds" / f"{runs[6]['stem']}.csv")
    assert [campaign.epoch_times(run) for run in runs] == [[5.0]] * 5 + [[], [], [5.0]]
    # The epochs of 50,000 images of the runs whose entry is an object that says how many ran at
    # once and whose log can be read: 5 x 50,000 / 60,000 s; their fixed seconds only from those
    # whose wall time is a number, 10 - 5.
    assert campaign.calibration_from(runs, "D") == {("minivggnet", 1): pytest.approx((5 * 50000 / 60000, 5.0))}


@pytest.mark.parametrize("stopped, code", [(True, 0), (False, 1)])
def test_a_slot_whose_time_ran_out_exits_0_and_one_whose_run_failed_exits_1(tmp_path, monkeypatch, stopped, code):
    # Either way the runs are left for the next slot, which resumes or retries them.
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    monkeypatch.setattr(campaign, "run_slot", lambda chosen, sharing, seconds, facts, slot, on_cpu: ([], stopped))
    results = tmp_path / "results"
    assert campaign.main(["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--results", str(results),
                          "--epochs", "1", "--models", "minivggnet", "--commit", "0" * 40]) == code  # fmt: skip
    (record,) = json.loads((results / "slots.json").read_text())
    assert record["finished"] == [] and record["unfinished"][0] == "original/minivggnet_adam_mnist"


def test_a_study_with_every_run_in_says_so_and_records_no_slot(tmp_path, monkeypatch, capsys):
    results, archive = tmp_path / "results", tmp_path / "slot.tar.gz"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]
    runs = the_campaign(results, *arguments)
    for run in runs:
        write_finished(run, [1.0], device="1 x Some GPU", runs_at_once=1, wall_seconds=2.0, resumed=False)
    monkeypatch.setattr(campaign, "device_name", lambda: "1 x Some GPU")
    assert campaign.main(["--minutes", "60", "--archive", str(archive), *arguments]) == 0
    assert capsys.readouterr().out == f"all {len(runs)} runs are in {results}: the study has none left to run\n"
    assert not archive.exists() and not (results / "slots.json").exists()
