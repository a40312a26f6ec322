"""combinations.py's scripts, and the sweeps they run: sequential, parallel (sweep.py) and Slurm."""

import os
import pickle
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL_ORDER = [
    (dataset, model, optimizer)
    for dataset in ("mnist", "fashion_mnist", "cifar10", "cifar100")
    for model in ("resnet", "googlenet", "minivggnet")
    for optimizer in ("adam", "radam")
]


def combinations(*arguments):
    return subprocess.run(
        [sys.executable, "combinations.py", *arguments], cwd=REPO, capture_output=True, text=True
    )


def shell_environment():
    # The scripts call `python`, as the original's did: make it this interpreter.
    return dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])


def run_lines(script_text):
    return [line for line in script_text.splitlines() if "python train.py" in line]


def test_default_script_is_the_original_sweep_line_for_line(tmp_path):
    script = tmp_path / "experiments.sh"
    result = combinations("--output", "output", "--script", str(script))
    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n\n")
    expected = [
        f"run python train.py --history output/{m}_{o}_{d}.pickle --report output/{m}_{o}_{d}.txt "
        f"--dataset {d} --model {m} --optimizer {o}"
        for d, m, o in ORIGINAL_ORDER
    ]
    assert run_lines(text) == expected
    assert os.stat(script).st_mode & 0o111 == 0o111
    assert "wrote 24 runs" in result.stdout


def test_committed_experiments_sh_is_what_the_default_command_writes(tmp_path):
    script = tmp_path / "experiments.sh"
    assert combinations("--output", "output", "--script", str(script)).returncode == 0
    with open(os.path.join(REPO, "experiments.sh")) as committed:
        assert committed.read() == script.read_text()
    assert os.access(os.path.join(REPO, "experiments.sh"), os.X_OK)


def test_subsets_seeds_epochs_and_schedule_pass_through(tmp_path):
    script = tmp_path / "s.sh"
    result = combinations(
        "-o", "out", "-s", str(script), "--datasets", "cifar10", "--models", "minivggnet",
        "--optimizers", "radam", "sgd", "--seeds", "2", "--epochs", "5", "--radam-total-steps", "auto",
        "--batch-size", "32", "--no-augmentation", "--mixed-precision",
    )
    assert result.returncode == 0, result.stderr
    assert run_lines(script.read_text()) == [
        "run python train.py --history out/minivggnet_radam_cifar10_seed1.pickle --report "
        "out/minivggnet_radam_cifar10_seed1.txt --dataset cifar10 --model minivggnet --optimizer radam "
        "--seed 1 --epochs 5 --batch-size 32 --no-augmentation --mixed-precision --radam-total-steps auto",
        "run python train.py --history out/minivggnet_radam_cifar10_seed2.pickle --report "
        "out/minivggnet_radam_cifar10_seed2.txt --dataset cifar10 --model minivggnet --optimizer radam "
        "--seed 2 --epochs 5 --batch-size 32 --no-augmentation --mixed-precision --radam-total-steps auto",
        "run python train.py --history out/minivggnet_sgd_cifar10_seed1.pickle --report "
        "out/minivggnet_sgd_cifar10_seed1.txt --dataset cifar10 --model minivggnet --optimizer sgd "
        "--seed 1 --epochs 5 --batch-size 32 --no-augmentation --mixed-precision",
        "run python train.py --history out/minivggnet_sgd_cifar10_seed2.pickle --report "
        "out/minivggnet_sgd_cifar10_seed2.txt --dataset cifar10 --model minivggnet --optimizer sgd "
        "--seed 2 --epochs 5 --batch-size 32 --no-augmentation --mixed-precision",
    ]


def test_bad_arguments_exit_2_with_argparse_message(tmp_path):
    result = combinations("-o", "out", "-s", str(tmp_path / "s.sh"), "--models", "alexnet")
    assert result.returncode == 2
    assert "invalid choice: 'alexnet'" in result.stderr
    assert not (tmp_path / "s.sh").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--epochs", "0"], "--epochs, --batch-size and --checkpoint-every must be at least 1"),
    (["--batch-size", "-3"], "--epochs, --batch-size and --checkpoint-every must be at least 1"),
    (["--checkpoint-every", "0"], "--epochs, --batch-size and --checkpoint-every must be at least 1"),
    (["--radam-total-steps", "banana"], "--radam-total-steps takes a whole number or 'auto'"),
    (["--radam-total-steps", "\u00b2"], "--radam-total-steps takes a whole number or 'auto'"),
    (["--runner", "slurm", "-o", "my out"], "--output 'my out' has a space or quote, which an "
     "#SBATCH line cannot carry; choose a folder without one"),
])  # fmt: skip
def test_what_every_run_would_refuse_is_refused_before_writing(tmp_path, arguments, message):
    result = combinations("-o", "out", "-s", str(tmp_path / "s.sh"), *arguments)
    assert result.returncode == 2
    assert result.stderr.endswith(f"error: {message}\n")
    assert not (tmp_path / "s.sh").exists()


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for output, reason in ((blocker, "it is a file"), (blocker / "sub", "part of it is a file")):
        result = combinations("-o", str(output), "-s", str(tmp_path / "s.sh"))
        assert result.returncode == 1
        assert result.stderr == f"error: cannot make the --output folder {output}: {reason}; choose another folder\n"
        assert not (tmp_path / "s.sh").exists()


def test_scripts_run_elsewhere_say_where_to_run_them(tmp_path):
    for runner in ("sequential", "parallel"):
        script = tmp_path / f"{runner}.sh"
        assert combinations("-o", "out", "-s", str(script), "--runner", runner).returncode == 0
        result = subprocess.run([str(script)], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 1
        assert result.stderr == "run this script from the project folder, where train.py is\n"
        assert not (tmp_path / "out").exists()


def test_unwritable_script_path_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = combinations("-o", str(tmp_path / "out"), "-s", str(blocker / "s.sh"))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"error: cannot write {blocker / 's.sh'}")


def wait_for(condition, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def csv_rows(path):
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def test_interrupted_sweep_finishes_only_what_is_missing_and_names_failures(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "sweep.sh"
    assert combinations(
        "-o", str(out), "-s", str(script), "--datasets", "digits", "--models", "minivggnet",
        "--optimizers", "adam", "radam", "sgd", "--epochs", "2", "--checkpoint-every", "1",
    ).returncode == 0
    (out / "minivggnet_sgd_digits.txt").mkdir(parents=True)  # this run cannot write its report

    sweep = subprocess.Popen(
        [str(script)], cwd=REPO, env=shell_environment(), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for(lambda: csv_rows(out / "minivggnet_radam_digits.csv") >= 1)
    os.killpg(sweep.pid, signal.SIGKILL)  # the radam run dies after its first epoch
    sweep.wait()
    assert (out / "minivggnet_adam_digits.pickle").exists()
    assert not (out / "minivggnet_radam_digits.pickle").exists()

    rerun = subprocess.run([str(script)], cwd=REPO, env=shell_environment(), capture_output=True, text=True)
    assert rerun.returncode == 1
    assert "minivggnet_adam_digits.txt exist already: skipping" in rerun.stdout
    assert "resuming" in rerun.stdout and "minivggnet_radam_digits.pickle after epoch" in rerun.stdout
    failures = rerun.stderr.split("These runs failed:")[1].strip().splitlines()
    assert len(failures) == 1 and "--optimizer sgd" in failures[0]
    with open(out / "minivggnet_radam_digits.pickle", "rb") as file:
        assert len(pickle.load(file)["loss"]) == 2
    assert csv_rows(out / "minivggnet_radam_digits.csv") == 2
    assert not (out / "minivggnet_radam_digits.pickle.checkpoint").exists()


def test_parallel_runner_shares_a_gpu_and_names_failures(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "parallel.sh"
    assert combinations(
        "-o", str(out), "-s", str(script), "--runner", "parallel", "--runs-per-gpu", "2",
        "--datasets", "digits", "--models", "minivggnet", "--epochs", "1",
    ).returncode == 0
    assert script.read_text().startswith("#!/bin/sh\n")
    (out / "minivggnet_radam_digits.txt").mkdir(parents=True)

    # A made-up GPU index: the runs train on the CPU, but the runner still starts two at once.
    environment = dict(shell_environment(), CUDA_VISIBLE_DEVICES="0")
    result = subprocess.run([str(script)], cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 1
    assert "2 runs, 2 at a time on 1 GPU(s)" in result.stdout
    failed = result.stderr.split("These runs failed:")[1].strip().splitlines()
    assert len(failed) == 1 and "--optimizer radam" in failed[0]
    assert (out / "minivggnet_adam_digits.pickle").exists()
    assert "10/10 - " in (out / "minivggnet_adam_digits.log").read_text()  # its one epoch
    assert "is a folder" in (out / "minivggnet_radam_digits.log").read_text()


def test_slurm_array_tasks_each_run_one_training(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "slurm.sh"
    assert combinations(
        "-o", str(out), "-s", str(script), "--runner", "slurm", "--max-running", "5",
        "--datasets", "digits", "--models", "minivggnet", "--epochs", "1",
    ).returncode == 0
    text = script.read_text()
    assert "#SBATCH --array=0-1%5\n" in text and "#SBATCH --gres=gpu:1\n" in text
    assert f"#SBATCH --output={out}/slurm-%A_%a.log\n" in text
    assert out.is_dir()  # Slurm needs the log folder before the task starts
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0

    for task, optimizer in enumerate(("adam", "radam")):
        environment = dict(shell_environment(), SLURM_ARRAY_TASK_ID=str(task), SLURM_SUBMIT_DIR=REPO)
        result = subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert (out / f"minivggnet_{optimizer}_digits.pickle").exists()
    environment = dict(shell_environment(), SLURM_ARRAY_TASK_ID="2", SLURM_SUBMIT_DIR=REPO)
    result = subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "no run for array task 2\n"


def test_seeds_multiply_the_runs_and_each_run_gets_its_own_seed(tmp_path):
    script = tmp_path / "s.sh"
    result = combinations("-o", "out", "-s", str(script), "--datasets", "digits", "mnist",
                          "--optimizers", "adam", "radam", "sgd", "rmsprop", "--seeds", "3")
    assert result.returncode == 0 and "wrote 72 runs" in result.stdout
    lines = run_lines(script.read_text())
    assert len(lines) == 2 * 3 * 4 * 3
    histories = [line.split("--history ")[1].split()[0] for line in lines]
    assert len(set(histories)) == len(lines)
    assert lines[0].startswith("run python train.py --history out/resnet_adam_digits_seed1.pickle ")
    assert [line.split("--seed ")[1].split()[0] for line in lines[:3]] == ["1", "2", "3"]
    assert lines[-1].split("--history ")[1].split()[0] == "out/minivggnet_rmsprop_mnist_seed3.pickle"
