"""sweep.py: several runs on every GPU, the longest first, locked runs apart, stopping on a signal.

The runs are stand-ins (tests/standins.py): each records when it ran and on which GPU.
"""

import os
import pty
import resource
import signal
import subprocess
import sys

import pytest

import sweep
from pyimagesearch.errors import UserError
from benchmarks import sweep_schedule
from support import REPO, run_script, wait_for
from standins import environment, fake_programs, make_project, records

TWO_GPUS = "echo 'GPU 0: NVIDIA H200 (UUID: GPU-a)'\necho 'GPU 1: NVIDIA H200 (UUID: GPU-b)'\n"


def command(name, model=None):
    words = f"python train.py --history out/{name}.pickle --report out/{name}.txt"
    return words + (f" --model {model}" if model else "")


def start_sweep(project, commands, *arguments, env=None, **options):
    """sweep.py started in `project` with `commands` on its standard input."""
    with open(os.path.join(project, "commands.txt"), "w") as file:
        file.write("".join(line + "\n" for line in commands))
    with open(os.path.join(project, "commands.txt")) as stdin:
        return subprocess.Popen(
            [sys.executable, "sweep.py", *arguments], cwd=project, env=env or environment(), stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options,
        )  # fmt: skip


def test_the_longest_runs_come_first_in_the_given_order_within_a_model():
    lines = [
        "python train.py --history a.pickle --model minivggnet",
        "python train.py --history=b.pickle -m googlenet",
        "# a comment",
        "python train.py -i c.pickle",  # train.py's default model: the ResNet
        "python train.py --history d.pickle --model=minivggnet",
        "python train.py --history e.pickle -mresnet",
        "python train.py --history f.pickle --model alexnet",  # train.py will refuse it: last
        "python train.py --history g.pickle --model googlenet",
    ]
    runs = sweep.longest_first(sweep.read_runs(lines))
    assert [log for _, log, _ in runs] == ["c.log", "e.log", "b.log", "g.log", "a.log", "d.log", "f.log"]
    assert [model for _, _, model in runs] == [
        "resnet", "resnet", "googlenet", "googlenet", "minivggnet", "minivggnet", "alexnet",
    ]  # fmt: skip


def test_two_gpus_two_runs_each_run_four_at_once_round_robin_longest_first(tmp_path):
    names = ["vgg1", "resnet1", "googlenet1", "resnet2", "vgg2", "googlenet2"]
    models = ["minivggnet", "resnet", "googlenet", "resnet", "minivggnet", "googlenet"]
    project = make_project(tmp_path / "project", {f"{name}.pickle": {"seconds": 2} for name in names})
    bin_folder = fake_programs(tmp_path / "bin", nvidia_smi=TWO_GPUS)
    env = environment(bin_folder)
    env.pop("CUDA_VISIBLE_DEVICES", None)  # the GPUs come from nvidia-smi
    lines = [command(name, model) for name, model in zip(names, models)]
    result = start_sweep(project, lines, "--runs-per-gpu", "2", env=env)
    stdout, stderr = result.communicate(timeout=60)
    assert result.returncode == 0, stderr
    assert stdout.startswith("6 runs, 4 at a time on 2 GPU(s), the longest first\n")
    started = [line for line in stdout.splitlines() if line.startswith("started")]
    order = ["resnet1", "resnet2", "googlenet1", "googlenet2", "vgg1", "vgg2"]
    assert [line.split("out/")[1].split(".")[0] for line in started] == order
    assert [line.split(":")[0] for line in started[:4]] == ["started on GPU 0", "started on GPU 1"] * 2

    runs = {record["history"]: record for record in records(project, "start")}
    ends = {record["history"]: record["time"] for record in records(project, "end")}
    assert sorted(runs) == sorted(f"out/{name}.pickle" for name in names)
    assert {record["memory"] for record in runs.values()} == {"0.45"}  # 0.9 of a GPU, shared by 2
    for line in started:  # each run saw the GPU sweep.py announced
        assert runs[line.split("--history ")[1].split()[0]]["gpu"] == line.split(":")[0][-1]

    def at_once(gpu=None):
        """The most runs (on `gpu`, or on any) that were running at one moment."""
        chosen = [run for run in runs.values() if gpu in (None, run["gpu"])]
        return max(
            sum(other["time"] <= run["time"] < ends[other["history"]] for other in chosen) for run in chosen
        )

    assert at_once() == 4
    assert at_once("0") == 2 and at_once("1") == 2


def test_locked_runs_are_reported_apart_and_fail_the_sweep(tmp_path):
    plan = {"locked.pickle": {"exit": 3}, "broken.pickle": {"exit": 1}}
    project = make_project(tmp_path / "project", plan)
    lines = [command("locked"), command("broken"), command("fine")]
    result = start_sweep(project, lines)
    stdout, stderr = result.communicate(timeout=60)
    assert result.returncode == 1
    assert f"[1/3] locked by another process: {lines[0]}\n" in stdout
    assert f"[2/3] FAILED (1): {lines[1]}\n" in stdout
    assert f"[3/3] done: {lines[2]}\n" in stdout
    assert stdout.endswith("1 done, 1 failed, 1 locked by another process\n")
    assert stderr == (
        "These runs are locked by another process, which is training them; run the script again once it "
        f"has finished:\n    {lines[0]}\n"
        f"These runs failed:\n    {lines[1]}  (see out/broken.log)\n"
    )
    assert sorted(os.listdir(os.path.join(project, "out"))) == [
        "broken.log", "fine.log", "fine.pickle", "fine.txt", "locked.log",
    ]  # fmt: skip


def test_sigterm_stops_the_runs_at_a_checkpoint_and_starts_no_more(tmp_path):
    plan = {"a.pickle": {"seconds": 60}, "b.pickle": {"seconds": 60, "ignore_sigterm": True},
            "c.pickle": {"seconds": 60}}  # fmt: skip
    project = make_project(tmp_path / "project", plan)
    lines = [command("a"), command("b"), command("c")]
    env = dict(environment(), CUDA_VISIBLE_DEVICES="0")  # 2 places: a and b run, c waits
    process = start_sweep(project, lines, "--runs-per-gpu", "2", "--grace-seconds", "1", env=env)
    wait_for(lambda: len(records(project, "start")) == 2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 75
    assert sorted(record["history"] for record in records(project, "start")) == ["out/a.pickle", "out/b.pickle"]
    assert [(r["history"], r["exit"]) for r in records(project, "end")] == [("out/a.pickle", 75)]
    assert f"stopped after a checkpoint (the same script resumes it): {lines[0]}\n" in stdout
    assert f"FAILED (killed by SIGKILL): {lines[1]}\n" in stdout
    assert stderr == (
        f"killed after 1 s without exiting: {lines[1]}\nstopped: run the same script again to resume\n"
    )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores to share between runs")
def test_without_a_gpu_cpu_runs_run_at_once_each_on_its_own_share_of_the_cores(tmp_path):
    project = make_project(tmp_path / "project", {f"{name}.pickle": {"seconds": 1} for name in "abc"})
    process = start_sweep(project, [command(name) for name in "abc"], "--cpu-runs", "2")
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (0, "")
    cores = sorted(os.sched_getaffinity(0))
    halves = [cores[: len(cores) // 2], cores[len(cores) // 2:]]
    assert stdout.splitlines()[0] == f"3 runs, 2 at a time on no GPU, {len(cores) // 2} or more cores each, the longest first"
    starts = {record["history"]: record for record in records(project, "start")}
    ends = {record["history"]: record for record in records(project, "end")}
    assert [starts[f"out/{name}.pickle"]["cores"] for name in "ab"] == halves
    assert starts["out/a.pickle"]["threads"] == str(len(halves[0]))
    assert starts["out/b.pickle"]["time"] < ends["out/a.pickle"]["time"]  # a and b together
    assert starts["out/c.pickle"]["time"] >= min(ends["out/a.pickle"]["time"], ends["out/b.pickle"]["time"])
    assert starts["out/c.pickle"]["cores"] in halves


def test_more_cpu_runs_than_cores_are_refused_in_one_line(tmp_path):
    project = make_project(tmp_path / "project")
    cores = len(os.sched_getaffinity(0))
    process = start_sweep(project, [command("a")], "--cpu-runs", str(cores + 1))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert stderr == (f"error: --cpu-runs {cores + 1} needs as many cores, and this machine gives {cores}; "
                      f"give --cpu-runs {cores} or fewer\n")
    assert records(project, "start") == []


def test_cpu_runs_are_refused_where_a_run_cannot_be_held_to_its_cores(monkeypatch):
    monkeypatch.delattr(sweep.os, "sched_setaffinity")  # as on macOS
    with pytest.raises(UserError, match="^--cpu-runs 2 needs a way to hold each run to its cores, which only "
                                        "Linux has; leave --cpu-runs out to run one at a time$"):
        sweep.core_shares(2)


def test_a_sweep_whose_reader_is_gone_stops_its_runs_and_starts_no_more(tmp_path):
    # What a campaign killed outright leaves: its sweep writing into a pipe that nobody reads.
    project = make_project(tmp_path / "project", {"a.pickle": {"seconds": 2}, "b.pickle": {"seconds": 2}})
    process = start_sweep(project, [command("a"), command("b")])  # no GPU: one at a time
    assert process.stdout.readline().startswith("2 runs, 1 at a time on no GPU")
    process.stdout.close()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 75
    assert [record["history"] for record in records(project, "start")] == ["out/a.pickle"]
    assert stderr == "stopped: run the same script again to resume\n"


def test_ctrl_c_reaches_the_sweep_alone_which_stops_its_runs_at_a_checkpoint(tmp_path):
    project = make_project(tmp_path / "project", {"a.pickle": {"seconds": 60}, "b.pickle": {"seconds": 60}})
    env = dict(environment(), CUDA_VISIBLE_DEVICES="0")
    process = start_sweep(project, [command("a"), command("b")], "--runs-per-gpu", "2", env=env,
                          start_new_session=True)  # fmt: skip
    wait_for(lambda: len(records(project, "start")) == 2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the terminal's foreground group
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGINT  # dies of it, so that a shell running it stops too
    assert stderr == "stopped: run the same script again to resume\n"
    ended = records(project, "end")
    assert sorted((r["history"], r["exit"], r["stopped"]) for r in ended) == [
        ("out/a.pickle", 75, True), ("out/b.pickle", 75, True),
    ]  # fmt: skip


@pytest.mark.parametrize("line", ["python train.py --report x.txt", "echo hello"])
def test_lines_without_a_history_are_refused(line):
    result = run_script("sweep.py", input=line + "\n")
    assert result.returncode == 1
    assert result.stderr == f"error: no --history in {line!r}; every line must be a train.py command\n"


@pytest.mark.parametrize("line, why", [("python train.py --history 'a.pickle", "No closing quotation"),
                                       ("python train.py --history a.pickle\0", "it holds a NUL character")])
def test_lines_that_no_program_can_be_given_are_refused_before_any_run_starts(line, why):
    # A NUL used to stop the sweep with a traceback as that run started, leaving the others running unwatched.
    with pytest.raises(UserError) as raised:
        sweep.read_runs(["python train.py --history b.pickle", line])
    assert str(raised.value) == f"cannot read {line!r} ({why}); every line must be a train.py command"


def test_input_without_line_ends_is_refused_within_bounded_memory():
    def limit_memory():  # /dev/zero read into memory would take it all
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    with open("/dev/zero") as zeros:
        result = run_script("sweep.py", stdin=zeros, timeout=60, preexec_fn=limit_memory)
    assert result.returncode == 1
    assert result.stderr == ("error: a line of standard input is longer than 65,536 characters; every line must be a "
                             "train.py command\n")


def test_a_run_that_cannot_start_fails_alone(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    lines = [
        f"pyhton train.py --history={tmp_path / 'a.pickle'}",  # a misspelt program
        f"echo --history {blocker / 'b.pickle'}",  # its log's folder is a file
        f"echo --history {tmp_path / 'c.pickle'}",
    ]
    result = run_script("sweep.py", input="\n".join(lines) + "\n")
    assert result.returncode == 1
    assert f"[1/3] FAILED to start: {lines[0]}" in result.stdout
    assert f"[3/3] done: {lines[2]}" in result.stdout
    failed = result.stderr.split("These runs failed:")[1].strip().splitlines()
    assert [line.split("  (could not start: ")[0].strip() for line in failed] == lines[:2]
    assert (tmp_path / "a.log").read_text() == "could not start: [Errno 2] No such file or directory: 'pyhton'\n"
    assert (tmp_path / "c.log").read_text() == f"--history {tmp_path / 'c.pickle'}\n"


def test_a_run_whose_log_is_no_regular_file_fails_alone_without_waiting_on_it(tmp_path):
    os.mkfifo(tmp_path / "a.log")  # opening it to write used to wait forever for a reader, deaf to SIGTERM
    lines = [f"echo --history {tmp_path / 'a.pickle'}", f"echo --history {tmp_path / 'b.pickle'}"]
    result = run_script("sweep.py", input="\n".join(lines) + "\n", timeout=30)
    assert result.returncode == 1
    assert f"[1/2] FAILED to start: {lines[0]}" in result.stdout
    assert f"[2/2] done: {lines[1]}" in result.stdout
    assert result.stderr == (f"These runs failed:\n    {lines[0]}  (could not start: {tmp_path / 'a.log'} is not a "
                             "regular file, where this run's log goes; move it away)\n")


@pytest.mark.parametrize("arguments, message", [
    (["--runs-per-gpu", "0"], "argument --runs-per-gpu: takes a whole number of at least 1, not '0'"),
    (["--grace-seconds", "-1"], "argument --grace-seconds: takes a number of seconds, 0 or more, not '-1'"),
    (["--grace-seconds", "nan"], "argument --grace-seconds: takes a number of seconds, 0 or more, not 'nan'"),
])  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(arguments, message):
    result = run_script("sweep.py", *arguments, input="")
    assert result.returncode == 2
    assert result.stderr.endswith(f"error: {message}\n")


def test_sweep_at_a_terminal_says_it_reads_standard_input():
    controller, terminal = pty.openpty()
    result = run_script("sweep.py", stdin=terminal, timeout=30)
    os.close(terminal)
    os.close(controller)
    assert result.returncode == 1
    assert result.stderr == (
        "error: give the train.py commands on standard input: combinations.py --runner parallel "
        "writes a script that does\n"
    )


def test_the_schedule_simulation_prints_both_orders_of_a_hand_worked_example(capsys):
    # Runs of 4, 5, 6 and 10 s on 2 places, worked out in tests/test_runs.py.
    sweep_schedule.main(["--runs-per-gpu", "2", "--seconds", "4", "5", "6", "10"])
    assert capsys.readouterr().out == (
        "4 runs on 2 places (2 per GPU x 1 GPU(s)); no schedule ends before all runs' seconds / "
        "places = 25.0 / 2 = 12.5 s\n"
        "given order:\n  place 1: 4.0 + 6.0 = 10.0 s\n  place 2: 5.0 + 10.0 = 15.0 s\n"
        "  makespan: 15.0 s = 0.2 min\n"
        "longest first:\n  place 1: 10.0 + 4.0 = 14.0 s\n  place 2: 6.0 + 5.0 = 11.0 s\n"
        "  makespan: 14.0 s = 0.2 min\n"
    )


@pytest.mark.parametrize("value", ["-5", "nan", "inf"])
def test_the_schedule_refuses_a_run_time_that_is_not_seconds(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        sweep_schedule.main(["--seconds", "4", value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"error: argument --seconds: takes a number of seconds, 0 or more, not {value!r}")


def test_the_simulated_sweep_is_the_generated_one_with_the_measured_run_times(capsys):
    assert sweep_schedule.run_seconds("resnet", "mnist") == pytest.approx(63.8 + 60 * 8.96 * 1.2)
    assert sweep_schedule.run_seconds("minivggnet", "cifar100") == pytest.approx(23.4 + 60 * 0.84)
    runs = sweep_schedule.the_sweep()
    assert len(runs) == 24 and runs[0][1:] == (" (resnet_adam_mnist)", "resnet")
    models, datasets = ("resnet", "googlenet", "minivggnet"), ("mnist", "cifar10")
    # Each model's runs: 2 optimizers on 2 data sets of 60,000 images and on 2 of 50,000.
    four_of_each = 4 * sum(sweep_schedule.run_seconds(model, dataset) for model in models for dataset in datasets)
    assert sum(run for run, _, _ in runs) == pytest.approx(four_of_each)
    sweep_schedule.main([])
    makespans = [line for line in capsys.readouterr().out.splitlines() if "makespan" in line]
    assert makespans == ["  makespan: 2,555.8 s = 42.6 min", "  makespan: 2,571.0 s = 42.9 min"]


@pytest.mark.parametrize("visible, gpus", [
    ("0,1", ["0", "1"]), ("-1", []), ("", []), ("NoDevFiles", []), ("1,-1,0", ["1"]),
    ("GPU-8f6d2c1e,MIG-4a1b", ["GPU-8f6d2c1e", "MIG-4a1b"]), ("\u00b2", []),
])  # fmt: skip
def test_cuda_visible_devices_is_read_as_cuda_reads_it(monkeypatch, visible, gpus):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert sweep.visible_gpus() == gpus


def test_a_run_killed_by_a_signal_without_a_name_is_a_failure_named_by_its_number():
    assert sweep.outcome(-40) == "FAILED (killed by signal 40)"
    assert sweep.outcome(-9) == "FAILED (killed by SIGKILL)"


def test_gpus_are_numbered_as_nvidia_smi_numbers_them_with_mig_devices_listed_below(tmp_path, monkeypatch):
    listing = ("GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-a)\n  MIG 3g.20gb     Device  0: (UUID: MIG-b)\n"
               "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-c)\n")
    fake_programs(tmp_path, nvidia_smi=f"printf '{listing}'\n")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert sweep.visible_gpus() == ["0", "1"]


def test_an_nvidia_smi_that_hangs_gives_no_gpu(monkeypatch):
    def hangs(command, **options):
        raise subprocess.TimeoutExpired(command, options["timeout"])

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(sweep.subprocess, "run", hangs)
    assert sweep.visible_gpus() == []


def test_as_many_cpu_runs_as_cores_get_one_each_and_uneven_shares_leave_no_core_out(monkeypatch):
    monkeypatch.setattr(sweep.os, "sched_getaffinity", lambda pid: {4, 0, 3, 1, 2})
    assert sweep.core_shares(5) == [[0], [1], [2], [3], [4]]
    assert sweep.core_shares(2) == [[0, 1], [2, 3, 4]]
    assert sweep.core_shares(3) == [[0], [1, 2], [3, 4]]


def test_runs_sharing_a_gpu_split_its_memory_and_tensorflow_takes_only_what_it_needs(monkeypatch):
    for name in ("OMP_NUM_THREADS", "TF_FORCE_GPU_ALLOW_GROWTH"):
        monkeypatch.delenv(name, raising=False)
    environment = sweep.run_environment("1", 3)
    assert (environment["CUDA_VISIBLE_DEVICES"], environment["XLA_PYTHON_CLIENT_MEM_FRACTION"],
            environment["TF_FORCE_GPU_ALLOW_GROWTH"]) == ("1", "0.30", "true")  # fmt: skip
    assert "OMP_NUM_THREADS" not in environment
    on_cores = sweep.run_environment(None, 3, cores=[2, 3, 5])
    assert on_cores["OMP_NUM_THREADS"] == "3" and "TF_FORCE_GPU_ALLOW_GROWTH" not in on_cores


def test_without_a_gpu_or_cpu_runs_one_run_at_a_time_has_every_core(tmp_path):
    # Its history in the folder the sweep runs in; OMP_NUM_THREADS left to the run's libraries.
    line = "sh -c 'echo threads ${OMP_NUM_THREADS-unset}' --history a.pickle"
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = run_script(os.path.join(REPO, "sweep.py"), input=line + "\n", cwd=tmp_path,
                        env=dict(env, CUDA_VISIBLE_DEVICES=""))  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "1 run, 1 at a time on no GPU, the longest first", f"started: {line}  (log: a.log)", f"[1/1] done: {line}",
        "1 done, 0 failed, 0 locked by another process"]
    assert (tmp_path / "a.log").read_text() == "threads unset\n"
