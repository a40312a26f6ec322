"""campaign.py: which runs a slot takes, and one real slot on digits through sweep.py and train.py."""

import json
import os
import tarfile

import pytest

import campaign
from conftest import REPO, run_script



def the_campaign(results, *arguments):
    return campaign.campaign_runs(campaign.parse_arguments(
        ["--minutes", "9", "--archive", "unused", "--results", str(results), *arguments]))


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


def test_a_slot_takes_the_most_runs_of_the_first_unfinished_configuration_that_fit(tmp_path):
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
    # so all 4 of the original's ResNet runs fit (169.4 x 2 on one lane).
    sharing, chosen = campaign.plan(resnets, 500, 3, {("resnet", 3): (2.0, 10.0)})
    assert (sharing, [run["configuration"] for run in chosen]) == (3, ["original"] * 4)


def test_the_makespan_is_sweep_pys_longest_first_on_free_lanes():
    assert campaign.makespan([4, 10, 5, 6], 2) == 14  # 10 + 4 on one lane, 6 + 5 on the other
    assert campaign.makespan([4, 10, 5, 6], 1) == 25
    assert campaign.makespan([7], 3) == 7


def test_one_slot_on_digits_runs_records_and_packs_the_first_runs(tmp_path):
    results, archive = tmp_path / "results", tmp_path / "slot.tar.gz"
    arguments = ["--results", str(results), "--datasets", "digits", "--models", "minivggnet", "--epochs", "1"]

    slot = run_script("campaign.py", "--minutes", "4", "--archive", archive, *arguments)

    assert slot.returncode == 0, slot.stdout + slot.stderr
    assert "0 of 21 runs are in" in slot.stdout and "runs 2 of the missing, 1 at a time" in slot.stdout
    stems = ["minivggnet_adam_digits", "minivggnet_radam_digits"]
    manifest = json.loads((results / "original" / "manifest.json").read_text())
    assert sorted(manifest["runs"]) == stems
    for entry in manifest["runs"].values():
        assert entry["device"] == f"CPU ({os.cpu_count()} cores)" and entry["precision"] == "float32"
        assert entry["runs_sharing_gpu"] == 1 and entry["slot"] == 1 and entry["wall_seconds"] > 0
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
    assert "2 of 21 runs are in" in plan.stdout and "seeds/minivggnet_adam_digits_seed1" in plan.stdout
    assert "original/" not in plan.stdout
    assert json.loads((results / "slots.json").read_text()) == [record]


def test_a_slot_too_short_for_any_missing_run_says_so(tmp_path):
    result = run_script("campaign.py", "--minutes", "0.5", "--archive", tmp_path / "a.tgz", "--results", tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "error: no missing run fits in a slot of 0.5 minutes; give it more --minutes")
    assert not os.path.exists(tmp_path / "a.tgz") and not os.path.exists(tmp_path / "slots.json")
