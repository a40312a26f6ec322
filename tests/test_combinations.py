"""combinations.py's scripts, and the sweeps they run: sequential, parallel (sweep.py) and Slurm."""

import os
import signal
import subprocess
import sys

import pytest

from pyimagesearch.histories import read_history
from support import REPO, csv_lines, run_script, wait_for
from standins import environment, fake_programs, files_under, make_project, records
ORIGINAL_ORDER = [
    (dataset, model, optimizer)
    for dataset in ("mnist", "fashion_mnist", "cifar10", "cifar100")
    for model in ("resnet", "googlenet", "minivggnet")
    for optimizer in ("adam", "radam")
]


def combinations(*arguments):
    return run_script("combinations.py", *arguments)


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
        "--output", "out", "-s", str(script), "--datasets", "cifar10", "--models", "minivggnet",
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
    result = combinations("--output", "out", "-s", str(tmp_path / "s.sh"), "--models", "alexnet")
    assert result.returncode == 2
    assert "invalid choice: 'alexnet'" in result.stderr
    assert not (tmp_path / "s.sh").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--epochs", "0"], "argument --epochs: takes a whole number of at least 1, not '0'"),
    (["--batch-size", "-3"], "argument --batch-size: takes a whole number of at least 1, not '-3'"),
    (["--checkpoint-every", "0"], "argument --checkpoint-every: takes a whole number of at least 1, not '0'"),
    (["--seeds", "\u00b2"], "argument --seeds: takes a whole number of at least 1, not '\u00b2'"),
    (["--runs-per-gpu", "0"], "argument --runs-per-gpu: takes a whole number of at least 1, not '0'"),
    (["--max-running", "1.5"], "argument --max-running: takes a whole number of at least 1, not '1.5'"),
    (["--radam-total-steps", "banana"], "argument --radam-total-steps: takes a whole number or 'auto', not 'banana'"),
    (["--radam-total-steps", "\u00b2"], "argument --radam-total-steps: takes a whole number or 'auto', not '\u00b2'"),
    (["--output", "a\nb"], "argument --output: 'a\\nb' has a line break; choose a folder without one"),
    (["--output", "a\rb"], "argument --output: 'a\\rb' has a line break; choose a folder without one"),
    (["--output", " "], "argument --output: needs a folder"),
    (["-s", ""], "argument -s/--script: needs a path"),
    (["-s", " "], "argument -s/--script: needs a path"),
    (["--output=-out"], "argument --output: '-out' starts with '-', which train.py would read as an option; give "
                        "./-out"),
    (["--output", "out\udcff"], "argument --output: 'out\\udcff' is not UTF-8 text; choose a folder whose name is"),
    (["--seeds", "2147483647"], "argument --seeds: takes a whole number from 1 to 1000, not '2147483647'"),
    (["--seed", "7"], "unrecognized arguments: --seed 7"),  # not --seeds 7: no option is abbreviated
])  # fmt: skip
def test_what_every_run_would_refuse_is_refused_before_writing(tmp_path, arguments, message):
    result = combinations("--output", "out", "-s", str(tmp_path / "s.sh"), *arguments)
    assert result.returncode == 2
    assert result.stderr.endswith(f"combinations.py: error: {message}\n")
    assert not (tmp_path / "s.sh").exists()


@pytest.mark.parametrize("output", ["my out", "it's", 'say"what', "back\\slash", "tab\there"])
def test_slurm_refuses_an_output_folder_that_an_sbatch_line_cannot_carry(tmp_path, output):
    result = combinations("--runner", "slurm", "--output", str(tmp_path / output), "-s", str(tmp_path / "s.sh"))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: --output {str(tmp_path / output)!r} has a space, quote or backslash, which an #SBATCH "
        "line cannot carry; choose a folder without one\n"
    )
    assert os.listdir(tmp_path) == []


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for output, reason in ((blocker, "it is a file"), (blocker / "sub", "part of it is a file")):
        result = combinations("--output", str(output), "-s", str(tmp_path / "s.sh"))
        assert result.returncode == 1
        assert result.stderr == f"error: cannot make the --output folder {output}: {reason}; choose another folder\n"
        assert not (tmp_path / "s.sh").exists()


def test_scripts_run_elsewhere_say_where_to_run_them(tmp_path):
    for runner in ("sequential", "parallel"):
        script = tmp_path / f"{runner}.sh"
        assert combinations("--output", "out", "-s", str(script), "--runner", runner).returncode == 0
        result = subprocess.run([str(script)], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 1
        assert result.stderr == "run this script from the project folder, where train.py is\n"
        assert not (tmp_path / "out").exists()


def test_interrupted_sweep_finishes_only_what_is_missing_and_names_failures(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "sweep.sh"
    assert combinations(
        "--output", str(out), "-s", str(script), "--datasets", "digits", "--models", "minivggnet",
        "--optimizers", "adam", "radam", "sgd", "--epochs", "2", "--training-images", "512", "--checkpoint-every", "1",
    ).returncode == 0
    (out / "minivggnet_sgd_digits.txt").mkdir(parents=True)  # this run cannot write its report

    sweep = subprocess.Popen(
        [str(script)], cwd=REPO, env=environment(), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for(lambda: len(csv_lines(out / "minivggnet_radam_digits.csv")) >= 1)
    os.killpg(sweep.pid, signal.SIGKILL)  # the radam run dies after its first epoch
    sweep.wait()
    assert (out / "minivggnet_adam_digits.pickle").exists()
    assert not (out / "minivggnet_radam_digits.pickle").exists()

    rerun = subprocess.run([str(script)], cwd=REPO, env=environment(), capture_output=True, text=True)
    assert rerun.returncode == 1
    assert "minivggnet_adam_digits.txt exist already: skipping" in rerun.stdout
    assert "resuming" in rerun.stdout and "minivggnet_radam_digits.pickle after epoch" in rerun.stdout
    failures = rerun.stderr.split("These runs failed:")[1].strip().splitlines()
    assert len(failures) == 1 and "--optimizer sgd" in failures[0]
    assert len(read_history(out / "minivggnet_radam_digits.pickle")["loss"]) == 2
    assert len(csv_lines(out / "minivggnet_radam_digits.csv")) == 2
    assert not (out / "minivggnet_radam_digits.pickle.checkpoint").exists()


def test_parallel_runner_shares_a_gpu_and_names_failures(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "parallel.sh"
    assert combinations(
        "--output", str(out), "-s", str(script), "--runner", "parallel", "--runs-per-gpu", "2",
        "--datasets", "digits", "--models", "minivggnet", "--epochs", "1",
    ).returncode == 0
    assert script.read_text().startswith("#!/bin/sh\n")
    (out / "minivggnet_radam_digits.txt").mkdir(parents=True)

    # A made-up GPU index: the runs train on the CPU, but the runner still starts two at once.
    env = dict(environment(), CUDA_VISIBLE_DEVICES="0")
    result = subprocess.run([str(script)], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "2 runs, 2 at a time on 1 GPU(s)" in result.stdout
    failed = result.stderr.split("These runs failed:")[1].strip().splitlines()
    assert len(failed) == 1 and "--optimizer radam" in failed[0]
    assert (out / "minivggnet_adam_digits.pickle").exists()
    assert "10/10 - " in (out / "minivggnet_adam_digits.log").read_text()  # its one epoch
    assert "is a folder" in (out / "minivggnet_radam_digits.log").read_text()


def test_parallel_runner_without_a_gpu_shares_out_the_cores(tmp_path):
    script = tmp_path / "parallel.sh"
    assert combinations("--output", str(tmp_path / "out"), "-s", str(script), "--runner", "parallel",
                        "--cpu-runs", "2", "--datasets", "digits", "--models", "minivggnet").returncode == 0
    text = script.read_text()
    assert "# 3 runs at a time on every visible GPU; 2 at a time, each on its own cores, without one" in text
    assert "exec python sweep.py --runs-per-gpu 3 --cpu-runs 2 <<'RUNS'\n" in text
    # Without --cpu-runs, the script is as before.
    assert combinations("--output", str(tmp_path / "out"), "-s", str(script), "--runner", "parallel",
                        "--datasets", "digits", "--models", "minivggnet").returncode == 0
    assert "exec python sweep.py --runs-per-gpu 3 <<'RUNS'\n" in script.read_text()


def test_slurm_array_tasks_each_run_one_training(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "slurm.sh"
    assert combinations(
        "--output", str(out), "-s", str(script), "--runner", "slurm", "--max-running", "5",
        "--datasets", "digits", "--models", "minivggnet", "--epochs", "1", "--training-images", "256",
    ).returncode == 0
    text = script.read_text()
    assert "#SBATCH --array=0-1%5\n" in text and "#SBATCH --gres=gpu:1\n" in text
    assert f"#SBATCH --output={out}/slurm-%A_%a.log\n" in text
    assert out.is_dir()  # Slurm needs the log folder before the task starts
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0

    for task, optimizer in enumerate(("adam", "radam")):
        env = dict(environment(), SLURM_ARRAY_TASK_ID=str(task), SLURM_SUBMIT_DIR=REPO)
        result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert (out / f"minivggnet_{optimizer}_digits.pickle").exists()
    env = dict(environment(), SLURM_ARRAY_TASK_ID="2", SLURM_SUBMIT_DIR=REPO)
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "no run for array task 2\n"


def test_seeds_multiply_the_runs_and_each_run_gets_its_own_seed(tmp_path):
    script = tmp_path / "s.sh"
    result = combinations("--output", "out", "-s", str(script), "--datasets", "digits", "mnist",
                          "--optimizers", "adam", "radam", "sgd", "rmsprop", "--seeds", "3")
    assert result.returncode == 0 and "wrote 72 runs" in result.stdout
    lines = run_lines(script.read_text())
    assert len(lines) == 2 * 3 * 4 * 3
    histories = [line.split("--history ")[1].split()[0] for line in lines]
    assert len(set(histories)) == len(lines)
    assert lines[0].startswith("run python train.py --history out/resnet_adam_digits_seed1.pickle ")
    assert [line.split("--seed ")[1].split()[0] for line in lines[:3]] == ["1", "2", "3"]
    assert lines[-1].split("--history ")[1].split()[0] == "out/minivggnet_rmsprop_mnist_seed3.pickle"


def test_short_flags_mean_what_they_mean_in_train_py_or_nothing():
    result = combinations("--help")
    assert "  --output OUTPUT  " in result.stdout and "-o OUTPUT" not in result.stdout
    # train.py's -o is --optimizer and its -i --history: here they are nothing.
    result = combinations("-o", "out", "-s", "s.sh")
    assert result.returncode == 2 and result.stderr.endswith("error: the following arguments are required: --output\n")
    result = run_script("plot.py", "-i", "output", "-p", "plots")
    assert result.returncode == 2 and result.stderr.endswith("error: one of the arguments --cpu-study --input is required\n")


# The scripts below run for real, in a copy of the project folder whose train.py and
# fetch_data.py are stand-ins (tests/standins.py): no run trains.


def write_script(project, runner, *arguments):
    """combinations.py run in `project`, writing `project/script.sh`; its text."""
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "combinations.py"), "-s", "script.sh", "--runner", runner, *arguments],
        cwd=project, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open(os.path.join(project, "script.sh")) as file:
        return file.read()


def run_slurm_task(project, task, programs=None, **options):
    """The Slurm script as array task `task` of job 4242 would run it, fake programs first on PATH."""
    env = environment(programs) if programs else environment()
    env.update(SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(task), SLURM_SUBMIT_DIR=str(project))
    return subprocess.Popen(["bash", os.path.join(project, "script.sh")], cwd="/", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)  # fmt: skip


# Words that a shell would run or split if the scripts did not quote them.
ODD_FOLDER = "odd dir 'single' \"double\" $(touch pwned) `touch pwned2`; touch pwned3 & \\ %x *"
ODD_FOR_SLURM = "odd;$(touch${IFS}pwned)`touch${IFS}pwned2`&touch${IFS}pwned3%x*"  # no space, quote or \


@pytest.mark.parametrize("runner", ["sequential", "parallel", "slurm"])
def test_odd_output_folders_run_from_every_script(tmp_path, runner):
    project = make_project(tmp_path / "project")
    output = ODD_FOR_SLURM if runner == "slurm" else ODD_FOLDER
    text = write_script(project, runner, "--output", output, "--datasets", "digits", "--models", "minivggnet")
    if runner == "slurm":
        assert f"#SBATCH --output={output.replace('%', '%%')}/slurm-%A_%a.log\n" in text
        for task in (0, 1):
            task_run = run_slurm_task(project, task)
            assert task_run.wait(timeout=60) == 0, task_run.stderr.read()
    else:
        result = subprocess.run(["./script.sh"], cwd=project, env=environment(), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    stems = ["minivggnet_adam_digits", "minivggnet_radam_digits"]
    extensions = [".log", ".pickle", ".txt"] if runner == "parallel" else [".pickle", ".txt"]
    expected = [stem + extension for stem in stems for extension in extensions]
    assert files_under(os.path.join(project, output)) == expected
    histories = sorted(record["history"] for record in records(project, "start"))
    assert histories == [f"{output}/{stem}.pickle" for stem in stems]
    assert not {"pwned", "pwned2", "pwned3"} & {os.path.basename(path) for path in files_under(tmp_path)}


@pytest.mark.parametrize("runner", ["sequential", "parallel"])
def test_the_data_sets_are_fetched_once_before_any_run(tmp_path, runner):
    project = make_project(tmp_path / "project")
    text = write_script(project, runner, "--output", "out", "--datasets", "mnist", "digits", "cifar10",
                        "--models", "minivggnet", "--optimizers", "adam")  # fmt: skip
    assert text.count("fetch_data.py") == 1
    assert "\npython fetch_data.py mnist cifar10 || exit 1\n" in text
    result = subprocess.run(["./script.sh"], cwd=project, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    events = [(record["event"], record.get("history")) for record in records(project)]
    assert events[0] == ("fetch", None) and records(project, "fetch")[0]["argv"] == ["mnist", "cifar10"]
    assert sorted(events[1:]) == sorted(
        (event, f"out/minivggnet_adam_{dataset}.pickle")
        for event in ("start", "end") for dataset in ("mnist", "digits", "cifar10")
    )  # fmt: skip


@pytest.mark.parametrize("runner", ["sequential", "parallel"])
def test_a_failed_fetch_stops_the_script_with_its_message_before_any_run(tmp_path, runner):
    message = "error: cannot download mnist (no network); run `python fetch_data.py mnist` where there is one"
    project = make_project(tmp_path / "project", {"fetch_data.py": {"exit": 1, "message": message}})
    write_script(project, runner, "--output", "out", "--datasets", "mnist", "--models", "minivggnet")
    result = subprocess.run(["./script.sh"], cwd=project, env=environment(), capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == message + "\n"
    assert [record["event"] for record in records(project)] == ["fetch"]
    assert os.listdir(os.path.join(project, "out")) == []


@pytest.mark.parametrize("runner", ["sequential", "parallel", "slurm"])
def test_a_sweep_of_bundled_data_alone_fetches_nothing(tmp_path, runner):
    text = write_script(make_project(tmp_path / "project"), runner, "--output", "out", "--datasets", "digits")
    assert "fetch_data.py" not in text
    if runner == "slurm":
        assert "# One array task per run, the longest runs first. Its data set ships with scikit-learn" in text


def test_slurm_tasks_never_download_and_the_header_says_what_to_fetch_first(tmp_path):
    text = write_script(make_project(tmp_path / "project"), "slurm", "--output", "out", "--datasets", "digits", "mnist",
                        "--optimizers", "adam")  # fmt: skip
    assert "\n# data sets on the login node, from the project folder:\n#     python fetch_data.py mnist\n" in text
    # A requeued task appends to its log; it is asked to stop 5 minutes before its time limit.
    assert "#SBATCH --open-mode=append\n#SBATCH --requeue\n#SBATCH --signal=B:USR1@300\n" in text
    tasks = [line.strip() for line in text.splitlines() if "python train.py" in line]
    assert all(line.endswith(" --no-download ;;") for line in tasks) and len(tasks) == 6
    # The longest runs first: the ResNet's, MiniGoogLeNet's, MiniVGGNet's, each in the given order.
    stems = [line.split("--history out/")[1].split(".pickle")[0] for line in tasks]
    assert stems == [f"{model}_adam_{dataset}" for model in ("resnet", "googlenet", "minivggnet")
                     for dataset in ("digits", "mnist")]  # fmt: skip
    assert [line.split(")")[0] for line in tasks] == [str(task) for task in range(6)]


SCONTROL = 'echo "$@" >> "$(dirname "$0")/scontrol.calls"\n'


def test_a_slurm_task_near_its_time_limit_checkpoints_and_requeues_itself(tmp_path):
    project = make_project(tmp_path / "project", {"minivggnet_radam_digits.pickle": {"seconds": 60}})
    programs = fake_programs(tmp_path / "bin", scontrol=SCONTROL)
    write_script(project, "slurm", "--output", "out", "--datasets", "digits", "--models", "minivggnet")
    task = run_slurm_task(project, 1, programs)
    wait_for(lambda: records(project, "start"))
    task.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@300 sends 5 minutes before the limit
    _, stderr = task.communicate(timeout=30)
    assert task.returncode == 75
    assert [(r["history"], r["exit"], r["stopped"]) for r in records(project, "end")] == [
        ("out/minivggnet_radam_digits.pickle", 75, True)
    ]  # train.py was asked to stop (SIGTERM) and did
    assert (tmp_path / "bin" / "scontrol.calls").read_text() == "requeue 4242_1\n"
    assert stderr == "stopped before the time limit after a checkpoint: requeueing this task, which resumes the run\n"


@pytest.mark.parametrize("how, plan, code, message", [
    ("SIGTERM", {"seconds": 60}, 75, "stopped after a checkpoint: run this task again to resume"),  # scancel
    ("exit 75", {"exit": 75}, 75, "stopped after a checkpoint: run this task again to resume"),
    ("exit 3", {"exit": 3}, 3, "locked by another process, which is training this run: python train.py "
     "--history out/minivggnet_adam_digits.pickle --report out/minivggnet_adam_digits.txt --dataset digits "
     "--model minivggnet --optimizer adam --no-download"),
])  # fmt: skip
def test_a_slurm_task_stopped_otherwise_or_locked_is_not_requeued(tmp_path, how, plan, code, message):
    project = make_project(tmp_path / "project", {"minivggnet_adam_digits.pickle": plan})
    programs = fake_programs(tmp_path / "bin", scontrol=SCONTROL)
    write_script(project, "slurm", "--output", "out", "--datasets", "digits", "--models", "minivggnet")
    task = run_slurm_task(project, 0, programs)
    if how == "SIGTERM":
        wait_for(lambda: records(project, "start"))
        task.send_signal(signal.SIGTERM)
    _, stderr = task.communicate(timeout=30)
    assert task.returncode == code
    assert stderr == message + "\n"
    assert not (tmp_path / "bin" / "scontrol.calls").exists()


def test_the_sequential_script_lists_locked_runs_apart_from_failed_ones(tmp_path):
    plan = {"minivggnet_adam_digits.pickle": {"exit": 3}, "minivggnet_radam_digits.pickle": {"exit": 1}}
    project = make_project(tmp_path / "project", plan)
    write_script(project, "sequential", "--output", "out", "--datasets", "digits", "--models", "minivggnet",
                 "--optimizers", "adam", "radam", "sgd")  # fmt: skip
    result = subprocess.run(["./script.sh"], cwd=project, env=environment(), capture_output=True, text=True)
    assert result.returncode == 1
    run = "python train.py --history out/minivggnet_{0}_digits.pickle --report out/minivggnet_{0}_digits.txt " \
          "--dataset digits --model minivggnet --optimizer {0}"  # fmt: skip
    assert result.stderr == (
        "These runs are locked by another process, which is training them; run this script again once it "
        f"has finished:\n    {run.format('adam')}\nThese runs failed:\n    {run.format('radam')}\n"
    )
    assert files_under(os.path.join(project, "out")) == ["minivggnet_sgd_digits.pickle", "minivggnet_sgd_digits.txt"]


def test_the_sequential_script_stops_at_a_run_stopped_by_sigterm(tmp_path):
    project = make_project(tmp_path / "project", {"minivggnet_radam_digits.pickle": {"exit": 75}})
    write_script(project, "sequential", "--output", "out", "--datasets", "digits", "--models", "minivggnet",
                 "--optimizers", "adam", "radam", "sgd")  # fmt: skip
    result = subprocess.run(["./script.sh"], cwd=project, env=environment(), capture_output=True, text=True)
    assert result.returncode == 75
    assert result.stderr == "stopped: run this script again to resume\n"
    assert [record["history"] for record in records(project, "start")] == [
        "out/minivggnet_adam_digits.pickle", "out/minivggnet_radam_digits.pickle",
    ]  # fmt: skip


def test_a_sigterm_to_the_sequential_script_stops_the_run_in_progress_and_starts_no_other(tmp_path):
    project = make_project(tmp_path / "project", {"minivggnet_adam_digits.pickle": {"seconds": 60}})
    write_script(project, "sequential", "--output", "out", "--datasets", "digits", "--models", "minivggnet")
    script = subprocess.Popen(["./script.sh"], cwd=project, env=environment(), stderr=subprocess.PIPE, text=True)
    wait_for(lambda: records(project, "start"))
    script.send_signal(signal.SIGTERM)  # a scheduler's, `kill`'s or `timeout`'s
    _, stderr = script.communicate(timeout=30)
    assert script.returncode == 75
    assert stderr == "stopped: run this script again to resume\n"
    assert [(r["history"], r["exit"], r["stopped"]) for r in records(project, "end")] == [
        ("out/minivggnet_adam_digits.pickle", 75, True)]  # it saved a checkpoint, and RAdam's never started
    assert len(records(project, "start")) == 1


def test_ctrl_c_stops_the_sequential_script_after_the_run_in_progress_dies_of_it(tmp_path):
    project = make_project(tmp_path / "project", {"minivggnet_adam_digits.pickle": {"seconds": 60}})
    write_script(project, "sequential", "--output", "out", "--datasets", "digits", "--models", "minivggnet")
    # Started as a terminal's shell starts it, Ctrl-C not ignored (a background job's would be, and
    # sh lets no trap undo that), in a process group of its own.
    script = subprocess.Popen(["./script.sh"], cwd=project, env=environment(), start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(lambda: records(project, "start"))
    os.killpg(script.pid, signal.SIGINT)  # as a terminal sends Ctrl-C: to the script and its run
    script.wait(timeout=30)
    assert script.returncode == -signal.SIGINT  # so that a shell running the script stops too
    assert [(r["history"], r["exit"]) for r in records(project, "end")] == [
        ("out/minivggnet_adam_digits.pickle", -signal.SIGINT)]
    assert len(records(project, "start")) == 1


def test_a_script_of_one_run_says_so(tmp_path):
    script = tmp_path / "s.sh"
    result = combinations("--output", "out", "-s", str(script), "--datasets", "digits", "--models", "minivggnet",
                          "--optimizers", "adam")  # fmt: skip
    assert result.stdout == f"wrote 1 run to {script}\n" and len(run_lines(script.read_text())) == 1


def test_the_most_seeds_allowed_are_taken(tmp_path):
    script = tmp_path / "s.sh"
    result = combinations("--output", "out", "-s", str(script), "--datasets", "digits", "--models", "minivggnet",
                          "--optimizers", "adam", "--seeds", "1000")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote 1000 runs to {script}\n"
    assert run_lines(script.read_text())[-1].endswith(" --seed 1000")


@pytest.mark.parametrize("script, why", [
    ("file/s.sh", "part of {tmp_path}/file is a file, not a folder; choose another path"),
    ("folder", "it is a folder; give a file path"),
    ("new/", "a path that ends in / names a folder; give a file path"),
])  # fmt: skip
def test_a_script_path_that_cannot_be_written_is_named_in_one_line_and_makes_no_output_folder(tmp_path, script, why):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder").mkdir()
    result = combinations("--output", str(tmp_path / "out"), "-s", f"{tmp_path}/{script}")
    assert result.returncode == 1
    assert result.stderr == f"error: cannot write {tmp_path}/{script}: {why.format(tmp_path=tmp_path)}\n"
    assert sorted(os.listdir(tmp_path)) == ["file", "folder"]


def test_a_data_set_named_twice_is_fetched_once(tmp_path):
    script = tmp_path / "s.sh"
    assert combinations("--output", "out", "-s", str(script), "--datasets", "mnist", "digits", "mnist",
                        "--models", "minivggnet", "--optimizers", "adam").returncode == 0  # fmt: skip
    assert "\npython fetch_data.py mnist || exit 1\n" in script.read_text()


def test_the_scripts_comments_say_when_a_slurm_task_stops_and_what_a_parallel_one_runs_on(tmp_path):
    script = tmp_path / "s.sh"
    arguments = ["--output", "out", "-s", str(script), "--datasets", "digits", "--models", "minivggnet"]
    assert combinations(*arguments, "--runner", "slurm").returncode == 0
    assert "\n# 5 minutes before a task's time limit, Slurm sends this script USR1 (--signal\n" in script.read_text()
    assert combinations(*arguments, "--runner", "parallel").returncode == 0
    assert "\n# 3 runs at a time on every visible GPU, the longest first; see sweep.py.\n" in script.read_text()
