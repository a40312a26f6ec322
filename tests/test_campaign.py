"""campaign.py: which runs a slot takes, what it says and records, and one real slot on digits through
sweep.py and train.py."""

import json
import os
import pickle
import tarfile

import pytest

import campaign
from conftest import REPO, run_script
from pyimagesearch.errors import UserError

CPU = f"CPU ({os.cpu_count()} cores)"


def the_campaign(results, *arguments):
    return campaign.campaign_runs(campaign.parse_arguments(
        ["--minutes", "9", "--archive", "unused", "--results", str(results), *arguments]))


def write_finished(run, epoch_times, **entry):
    """A finished run as the campaign finds it: its history, its report and its manifest entry."""
    os.makedirs(os.path.dirname(run["history"]), exist_ok=True)
    with open(run["history"], "wb") as file:
        pickle.dump({"epoch_time": epoch_times}, file)
    with open(run["report"], "w") as file:
        file.write("accuracy 0.99\n")
    campaign.record(run, entry)


def test_the_campaign_is_the_original_sweep_then_seeds_then_the_controls(tmp_path):
    runs = the_campaign(tmp_path)

    configurations = [run["configuration"] for run in runs]
    assert configurations == sorted(configurations, key=[name for name, _ in campaign.CONFIGURATIONS].index)
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
            run = campaign.describe(command, "unused")
            with open(run["history"], "wb") as file:
                pickle.dump({"epoch_time": [1.0]}, file)
            with open(run["report"], "w") as file:
                file.write("accuracy 0.99\n")
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

    assert campaign.run_slot([adam, radam], 1, 60, {"device": "D"}, 1) == (
        ["minivggnet_adam_mnist", "minivggnet_radam_mnist"], False)

    entries = json.loads((tmp_path / "original" / "manifest.json").read_text())["runs"]
    assert {stem: entry["resumed"] for stem, entry in entries.items()} == {
        "minivggnet_adam_mnist": True, "minivggnet_radam_mnist": False}
    # Two epochs of 6 s each: 6 x 50,000 / 60,000 = 5 s an epoch of 50,000 images. The resumed
    # run's 10 s of wall time would make its fixed seconds 10 - 12 = -2 (and the median of the two
    # 43); only the other's count: 100 - 12 = 88. An entry without the field is not resumed.
    write_finished(adam, [6.0, 6.0], device="D", runs_sharing_gpu=1, wall_seconds=10.0, resumed=True)
    write_finished(radam, [6.0, 6.0], device="D", runs_sharing_gpu=1, wall_seconds=100.0)
    assert campaign.calibration_from([adam, radam], "D") == {("minivggnet", 1): pytest.approx((5.0, 88.0))}


def test_the_plan_says_which_expected_times_are_an_h200s(tmp_path, monkeypatch, capsys):
    original = the_campaign(tmp_path)[:12]
    h200 = "1 x NVIDIA H200"
    # The runs' own calibration holds only MiniGoogLeNet's with 3 sharing the GPU.
    assert campaign.estimates_note(original, 3, {("googlenet", 3): (1.0, 1.0)}, h200, "results") == (
        "expected times of resnet, minivggnet are an NVIDIA H200's (MEASURED in campaign.py): "
        "results has no finished run of theirs on 1 x NVIDIA H200, 3 at a time")
    calibrated = {(model, 3): (1.0, 1.0) for model in ("resnet", "googlenet", "minivggnet")}
    assert campaign.estimates_note(original, 3, calibrated, h200, "results") is None
    googlenets = [run for run in original if run["model"] == "googlenet"]
    assert campaign.estimates_note(googlenets, 1, calibrated, "CPU (2 cores)", "runs") == (
        "expected times of googlenet are an NVIDIA H200's (MEASURED in campaign.py): "
        "runs has no finished run of theirs on CPU (2 cores), 1 at a time")

    # The line comes before the plan: in 8.5 minutes, less 20 s, 3 lanes of an H200 hold the 7 runs
    # of MiniGoogLeNet and MiniVGGNet that the test above plans in 500 s (446.5 s on the longest).
    monkeypatch.setattr(campaign, "device_name", lambda: h200)
    arguments = ["--minutes", "8.5", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path)]
    assert campaign.main([*arguments, "--commit", "0" * 40, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "expected times of googlenet, minivggnet are an NVIDIA H200's (MEASURED in campaign.py): "
        f"{tmp_path} has no finished run of theirs on 1 x NVIDIA H200, 3 at a time",
        f"0 of 126 runs are in {tmp_path}; this slot of 8.5 minutes runs 7 of the missing, 3 at a time:"]
    assert len(lines) == 9


def test_on_a_cpu_the_campaign_runs_only_with_epochs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(campaign, "device_name", lambda: "CPU (2 cores)")
    arguments = ["--minutes", "60", "--archive", str(tmp_path / "a.tgz"), "--results", str(tmp_path),
                 "--commit", "0" * 40, "--dry-run"]
    with pytest.raises(UserError) as refused:
        campaign.main(arguments)
    assert str(refused.value) == (
        "the campaign's runs of 60 epochs take hours each on a CPU: give --epochs (e.g. --epochs 1) "
        "to try the campaign here, or run it on a GPU")
    assert campaign.main([*arguments, "--epochs", "1"]) == 0
    assert "0 of 126 runs are in" in capsys.readouterr().out


def test_the_makespan_is_sweep_pys_longest_first_on_free_lanes():
    assert campaign.makespan([4, 10, 5, 6], 2) == 14  # 10 + 4 on one lane, 6 + 5 on the other
    assert campaign.makespan([4, 10, 5, 6], 1) == 25
    assert campaign.makespan([7], 3) == 7


def test_one_slot_on_digits_runs_records_and_packs_the_first_runs(tmp_path):
    results, archive = tmp_path / "results", tmp_path / "slot.tar.gz"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]
    # A finished run of this device times the slot's runs: the campaign's last, 90 s of which its
    # one epoch took 10 s, makes each run of one epoch 1.1 x 90 = 99 s, so 2 fit in 4 minutes less
    # 20 s (3 would take 297 s), and no line says the times are an H200's.
    last = the_campaign(results, *arguments)[-1]
    write_finished(last, [10.0], device=CPU, runs_sharing_gpu=1, wall_seconds=90.0, resumed=False)

    slot = run_script("campaign.py", "--minutes", "4", "--archive", archive, *arguments)

    assert slot.returncode == 0, slot.stdout + slot.stderr
    assert slot.stdout.startswith("1 of 21 runs are in") and "runs 2 of the missing, 1 at a time" in slot.stdout
    assert "original/minivggnet_adam_digits  (expected 99 s)" in slot.stdout
    stems = ["minivggnet_adam_digits", "minivggnet_radam_digits"]
    manifest = json.loads((results / "original" / "manifest.json").read_text())
    assert sorted(manifest["runs"]) == stems
    for entry in manifest["runs"].values():
        assert entry["device"] == CPU and entry["precision"] == "float32"
        assert entry["runs_sharing_gpu"] == 1 and entry["slot"] == 1 and entry["wall_seconds"] > 0
        assert entry["resumed"] is False
        assert len(entry["commit"]) >= 40 and entry["keras"] and entry["backend"]
    (record,) = json.loads((results / "slots.json").read_text())
    assert record["finished"] == stems and record["unfinished"] == [] and record["minutes"] == 4
    with tarfile.open(archive) as tar:
        packed = sorted(tar.getnames())
    files = [f"results/original/{stem}{ending}" for stem in stems for ending in (".csv", ".log", ".pickle", ".txt")]
    assert packed == sorted(files + ["results/original/manifest.json", "results/slots.json"])

    # The next slot goes on with the next configuration, timed by the runs of this one.
    plan = run_script("campaign.py", "--minutes", "4", "--archive", archive, "--dry-run", *arguments)
    assert plan.returncode == 0, plan.stderr
    assert "3 of 21 runs are in" in plan.stdout and "seeds/minivggnet_adam_digits_seed1" in plan.stdout
    assert "original/" not in plan.stdout
    assert json.loads((results / "slots.json").read_text()) == [record]


def test_a_slot_too_short_for_any_missing_run_says_so(tmp_path):
    # Runs of one epoch, so that a CPU plans too: the shortest, a MiniVGGNet's, is expected to take
    # 1.1 x (18.5 + 0.97 x 1.2) = 21.6 s, and 30 s less 20 s leave 10.
    result = run_script("campaign.py", "--minutes", "0.5", "--archive", tmp_path / "a.tgz", "--results", tmp_path,
                        "--epochs", "1")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "error: no missing run fits in a slot of 0.5 minutes; give it more --minutes")
    assert not os.path.exists(tmp_path / "a.tgz") and not os.path.exists(tmp_path / "slots.json")
