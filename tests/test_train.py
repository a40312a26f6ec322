"""train.py on scikit-learn's digits: outputs, resuming, stopping, reproducibility, bad input."""

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest

import train
from pyimagesearch import checkpoints, datasets, downloads, interruptions, original, run_files, training
from pyimagesearch.augmentation import AffineAugmentation
from pyimagesearch.errors import UserError
from pyimagesearch.histories import read_history
from pyimagesearch.run_files import RunFiles
from support import REPO, csv_lines, run_script, wait_for


# The tests marked `backend` run again on JAX (`make test`): those whose outcome depends on the
# backend's arithmetic, random streams or compilation. The others test train.py's own logic
# (arguments, files, locks, signals, messages), the same on every backend.
HISTORY_KEYS = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time"]
# The run that the resume and seed tests compare with: 640 of the digits in batches of 64 are 10
# steps an epoch; augmentation, dropout and RAdam's schedule all depend on where the run stands.
RUN = ["-d", "digits", "-m", "minivggnet", "-o", "radam", "--radam-total-steps", "auto", "--epochs", "2",
       "--batch-size", "64", "--training-images", "640"]  # fmt: skip
STEPS = 640 // 64
# How closely a resumed run's numbers match an uninterrupted one's. On the CPU both backends give
# the same numbers to the last bit (a resume restores every variable, the random streams and the
# metrics' running sums exactly); the tolerance only keeps a failure's message readable.
SAME = dict(rel=0, abs=0)


def run_train(*arguments, env=None):
    return run_script("train.py", *arguments, env=env)


def output_arguments(folder, stem="run"):
    return ["--history", str(folder / f"{stem}.pickle"), "--report", str(folder / f"{stem}.txt")]


def assert_same_run(history, expected, keys=HISTORY_KEYS[:5]):
    for key in keys:
        assert history[key] == pytest.approx(expected[key], **SAME), key


def leftovers(folder):
    """What a finished run must not leave: its checkpoint, its lock, temporary files."""
    return [name for name in os.listdir(folder) if name.endswith((".checkpoint", ".lock")) or ".tmp" in name]


@pytest.fixture(autouse=True)
def no_signal_yet():
    for event in (interruptions.ctrl_c_pressed, interruptions.sigterm_received):
        event.clear()
    yield
    for event in (interruptions.ctrl_c_pressed, interruptions.sigterm_received):
        event.clear()


def main_in_process(folder, *arguments, stem="run"):
    return train.main([*output_arguments(folder, stem), *arguments])


def signal_at(monkeypatch, event, epoch, step):
    """Set `event` (Ctrl-C's or SIGTERM's) as step `step` (from 0) of epoch `epoch` (from 1) starts."""
    original = training.RunRecorder.on_train_batch_begin

    def on_train_batch_begin(recorder, batch, logs=None):
        if (len(recorder.history["loss"]) + 1, recorder.first_step + batch) == (epoch, step):
            event.set()
        original(recorder, batch, logs)

    monkeypatch.setattr(training.RunRecorder, "on_train_batch_begin", on_train_batch_begin)


def count_steps(monkeypatch):
    """The (epoch, step) pairs that training steps are taken at, from 1 and 0."""
    trained, original = [], training.RunRecorder.on_train_batch_begin

    def on_train_batch_begin(recorder, batch, logs=None):
        original(recorder, batch, logs)
        trained.append((len(recorder.history["loss"]) + 1, recorder.first_step + batch))

    monkeypatch.setattr(training.RunRecorder, "on_train_batch_begin", on_train_batch_begin)
    return trained


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    assert main_in_process(folder, *RUN) == 0
    return read_history(folder / "run.pickle")


# The two larger networks train one epoch only, and on TensorFlow only: on a CPU they take most of
# this file's time, and what train.py does with them is the same on every backend (test_models.py
# builds and runs them on each).
ON_TENSORFLOW_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                        reason="the same run as on TensorFlow; MiniVGGNet's covers train.py here")


@pytest.mark.backend
@pytest.mark.parametrize("model, epochs, images, batch_size", [
    ("minivggnet", 2, 256, None),  # two steps an epoch in the default batch of 128
    # The larger networks take two steps of 8 digits: a step of 128 costs them seconds on a CPU.
    pytest.param("googlenet", 1, 16, 8, marks=ON_TENSORFLOW_ONLY),
    pytest.param("resnet", 1, 16, 8, marks=ON_TENSORFLOW_ONLY),
])  # fmt: skip
def test_each_model_trains_and_leaves_valid_outputs(tmp_path, capsys, model, epochs, images, batch_size):
    # In the test's process, where Keras has started already: the runs as processes, stopped,
    # killed and resumed, are the subject of the tests below.
    out = tmp_path / "out"
    stem = f"{model}_adam_digits"
    batch = ["--batch-size", str(batch_size)] if batch_size else []
    steps = images // (batch_size or original.BATCH_SIZE)
    assert main_in_process(out, "-d", "digits", "-m", model, "--epochs", str(epochs), "--training-images", str(images),
                           *batch, stem=stem) == 0  # fmt: skip
    stdout = capsys.readouterr().out

    history = read_history(out / f"{stem}.pickle")
    assert type(history) is dict and sorted(history) == sorted(HISTORY_KEYS)
    for key in HISTORY_KEYS:
        assert len(history[key]) == epochs and all(type(value) is float for value in history[key])
        assert np.all(np.isfinite(history[key]))
    assert history["learning_rate"] == pytest.approx([1e-3] * epochs)
    assert all(0 <= value <= 1 for value in history["accuracy"] + history["val_accuracy"])
    assert all(seconds > 0 for seconds in history["epoch_time"])

    report = (out / f"{stem}.txt").read_text()
    for label in "0123456789":
        assert f"\n           {label} " in report
    assert "    accuracy " in report and "   macro avg " in report and report.rstrip().endswith("450")

    assert stdout.startswith(f"training {model} on digits with adam, seed 42: Keras {keras.__version__} on "
                             f"{keras.backend.backend()}, devices cpu:0\n")
    # Not a terminal: one line per epoch, no progress bar.
    if epochs > 1:  # Keras heads the epochs only when there are several
        for epoch in range(1, epochs + 1):
            assert f"Epoch {epoch}/{epochs}\n{steps}/{steps} - " in stdout
    assert "━" not in stdout and stdout.count(f"{steps}/{steps} - ") == epochs

    rows = csv_lines(out / f"{stem}.csv")
    last = [float(value) for value in rows[-1].split(",")[:3]]
    assert len(rows) == epochs and last == [epochs, history["loss"][-1], history["accuracy"][-1]]
    # Its checkpoint folder and lock file are gone.
    assert sorted(os.listdir(out)) == sorted(f"{stem}.{ext}" for ext in ("csv", "json", "pickle", "txt"))


@pytest.mark.backend
def test_radam_records_the_rate_its_schedule_applied(uninterrupted):
    # 10 steps an epoch, --radam-total-steps auto over 2 epochs: total_steps = 20, warm-up over
    # 2 steps, then a linear decay reaching min_lr at step 20.
    decay_per_step = (1e-5 - 1e-3) / (20 - 2)
    assert uninterrupted["learning_rate"] == pytest.approx([1e-3 + decay_per_step * (10 - 2), 1e-5], rel=1e-5)


@pytest.mark.backend
def test_a_run_killed_mid_epoch_resumes_from_its_last_epoch_as_if_never_stopped(tmp_path, monkeypatch, uninterrupted):
    # Killed (here: Ctrl-C's KeyboardInterrupt, which like a kill saves nothing) at step 6 of
    # epoch 2: epoch 1's checkpoint is on disk, and the same seed gave the same epoch 1.
    signal_at(monkeypatch, interruptions.ctrl_c_pressed, epoch=2, step=6)
    with pytest.raises(KeyboardInterrupt):
        main_in_process(tmp_path, *RUN)
    state = json.loads((tmp_path / "run.pickle.checkpoint" / "state.json").read_text())
    assert (state["steps"], state["variables_file"]) == (0, "variables-epoch1.npz")
    assert_same_run({key: values[:1] for key, values in state["history"].items()},
                    {key: values[:1] for key, values in uninterrupted.items()})  # fmt: skip
    assert len(csv_lines(tmp_path / "run.csv")) == 1
    monkeypatch.undo()

    # What a kill while writing leaves behind: temporary files of this run's outputs and checkpoint.
    temporaries = [".run.k2j4_9xq.tmp.pickle", ".run.a0b1c2d3.tmp.txt", ".run.q1w2e3r4.tmp.csv",
                   ".run.m5n6b7v8.tmp.json", "run.pickle.checkpoint/.state.zz99yy88.tmp.json"]  # fmt: skip
    for name in temporaries + [".run.x.k2j4_9xq.tmp.pickle"]:  # the last one another run's, run.x.pickle
        (tmp_path / name).write_text("half")

    interruptions.ctrl_c_pressed.clear()
    trained = count_steps(monkeypatch)
    assert main_in_process(tmp_path, *RUN) == 0
    assert trained == [(2, step) for step in range(STEPS)]  # epoch 2 again, in full
    history = read_history(tmp_path / "run.pickle")
    assert all(len(history[key]) == 2 for key in HISTORY_KEYS)
    assert_same_run(history, uninterrupted)
    assert len(csv_lines(tmp_path / "run.csv")) == 2
    assert leftovers(tmp_path) == [".run.x.k2j4_9xq.tmp.pickle"]


@pytest.mark.backend
def test_sigterm_saves_the_steps_done_and_the_resumed_run_does_not_redo_them(tmp_path, monkeypatch, capsys,
                                                                             uninterrupted):  # fmt: skip
    signal_at(monkeypatch, interruptions.sigterm_received, epoch=2, step=7)
    with pytest.raises(interruptions.Stopped) as stopped:
        main_in_process(tmp_path, *RUN)
    assert str(stopped.value) == "stopped by SIGTERM after step 7 of 10 in epoch 2 of 2; give the same command again to resume"
    assert stopped.value.exit_code == 75
    folder = tmp_path / "run.pickle.checkpoint"
    assert sorted(os.listdir(folder)) == ["state.json", "variables-epoch1-step7.npz"]
    state = json.loads((folder / "state.json").read_text())
    assert state["steps"] == 7 and state["seconds"] > 0 and len(state["history"]["loss"]) == 1
    assert state["backend"] == keras.backend.backend()
    assert not (tmp_path / "run.lock").exists() and not (tmp_path / "run.pickle.lock").exists()
    monkeypatch.undo()

    interruptions.sigterm_received.clear()
    capsys.readouterr()
    trained = count_steps(monkeypatch)
    assert main_in_process(tmp_path, *RUN) == 0
    assert f"resuming {tmp_path / 'run.pickle'} in epoch 2 of 2, after its step 7\n" in capsys.readouterr().out
    assert trained == [(2, step) for step in range(7, STEPS)]
    # The split epoch's loss and accuracy average all its 10 steps, as if it had not been split.
    history = read_history(tmp_path / "run.pickle")
    assert_same_run(history, uninterrupted)
    assert history["epoch_time"][1] > state["seconds"]  # both parts' seconds
    assert leftovers(tmp_path) == []


def test_a_checkpoint_whose_optimizer_took_other_steps_than_its_history_says_is_refused(tmp_path, monkeypatch):
    # On PyTorch the dropout masks are seeded by the optimizer's step count, which a negative one
    # stopped with a traceback; on any backend the run would not go on as if never stopped.
    signal_at(monkeypatch, interruptions.sigterm_received, epoch=1, step=1)
    with pytest.raises(interruptions.Stopped):
        main_in_process(tmp_path, *RUN)
    monkeypatch.undo()
    interruptions.sigterm_received.clear()
    folder = tmp_path / "run.pickle.checkpoint"
    path = folder / "variables-epoch0-step1.npz"
    arrays = dict(np.load(path))
    assert arrays["optimizer_00000"] == 1  # the optimizer's step count
    arrays["optimizer_00000"] = np.array(-5, arrays["optimizer_00000"].dtype)
    np.savez(path, **arrays)
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, *RUN)
    assert str(refused.value) == (f"{folder} does not fit this run (its optimizer has taken -5 steps, its history "
                                  "says 1); delete it to start again")


def test_sigterm_before_the_first_step_saves_nothing(tmp_path):
    interruptions.sigterm_received.set()
    with pytest.raises(interruptions.Stopped, match="^stopped by SIGTERM before its first step; give the same"):
        main_in_process(tmp_path, *RUN)
    assert not (tmp_path / "run.pickle.checkpoint").exists()
    assert leftovers(tmp_path) == []


def test_a_finished_run_ignores_sigterm_while_it_exits(tmp_path):
    # As train.py runs: its handlers installed. Once the outputs are written, a SIGTERM (a sweep
    # stopping at that moment) neither kills the process as Python exits nor asks for a checkpoint.
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    try:
        interruptions.handle_signals()
        assert main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "1",
                               "--training-images", "64", "--batch-size", "32", "--no-augmentation") == 0
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)
        assert not interruptions.sigterm_received.is_set()
        assert (tmp_path / "run.txt").exists() and leftovers(tmp_path) == []
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook

    # Where train.py's handler is not installed (a program that calls main itself), SIGTERM's stays as it was.
    assert main_in_process(tmp_path / "other", "-d", "digits", "-m", "minivggnet", "--epochs", "1",
                           "--training-images", "64", "--batch-size", "32", "--no-augmentation") == 0
    assert signal.getsignal(signal.SIGTERM) is handlers[signal.SIGTERM]


def test_scripts_exit_with_the_objects_they_made_frozen():
    # Python's collector would walk them all once more as the process exits: seconds, after
    # TensorFlow has traced a ResNet's steps. run_main freezes them, and exits with main's code.
    code = ("import atexit, gc\nfrom pyimagesearch.errors import run_main\n"
            "atexit.register(lambda: print(gc.get_freeze_count()))\n"
            "made = [[number] for number in range(10_000)]\nrun_main(lambda: 5)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 5
    assert int(result.stdout) >= 10_000


# train.py with one batch held back until a file appears: a test can then signal a run at a known
# point, however fast the machine. (TensorFlow fetches batches in a thread of its own, so the
# batch is held without holding the main thread's signal handlers back once it is released.)
HELD_BATCH = """
import os, runpy, sys, time
import train
train.leave_out_what_a_run_never_uses()  # before Keras starts, as train.py does
from pyimagesearch import training
epoch, step, held, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
getitem = training.RunBatches.__getitem__
def held_back(batches, index):
    if divmod(batches.first_step + index, batches.steps_per_epoch) == (epoch, step):
        open(held, "w").close()
        while not os.path.exists(release):
            time.sleep(0.01)
    return getitem(batches, index)
training.RunBatches.__getitem__ = held_back
sys.argv = sys.argv[5:]
runpy.run_path("train.py", run_name="__main__")
"""


def train_holding_a_batch(folder, epoch, step, *arguments, env=None):
    """A train.py process, once it has asked for step `step` (from 0) of epoch `epoch` (from 1)."""
    held, release = folder / f"held-{epoch}-{step}", folder / f"release-{epoch}-{step}"
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_BATCH, str(epoch - 1), str(step), str(held), str(release), "train.py",
         *output_arguments(folder), *arguments],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(env or os.environ, PYTHONUNBUFFERED="1"),  # its output up to a SIGKILL
    )  # fmt: skip
    deadline = time.time() + 600
    while not held.exists():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline
        time.sleep(0.05)
    process.release = lambda: release.touch()
    return process


def checkpointed_epochs(folder):
    with contextlib.suppress(FileNotFoundError, ValueError):
        state = json.loads((folder / "run.pickle.checkpoint" / "state.json").read_text())
        return len(state["history"]["loss"]), state["steps"]


def test_a_run_stopped_by_sigterm_then_killed_ends_as_if_never_stopped(tmp_path, monkeypatch, uninterrupted):
    # SIGTERM while step 5 of epoch 1 waits for its batch: the run stops at the next step boundary.
    process = train_holding_a_batch(tmp_path, 1, 5, *RUN)
    process.send_signal(signal.SIGTERM)
    process.release()
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 75, errors
    first_part = checkpointed_epochs(tmp_path)[1]
    assert 0 < first_part < STEPS
    assert errors.endswith(
        f"error: stopped by SIGTERM after step {first_part} of 10 in epoch 1 of 2; give the same command "
        "again to resume\n"
    )

    # The same command resumes at that step; SIGKILL in epoch 2, once epoch 1's checkpoint is on disk.
    process = train_holding_a_batch(tmp_path, 2, 3, *RUN)
    wait_for(lambda: checkpointed_epochs(tmp_path) == (1, 0), timeout=60)
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate()
    rest = STEPS - first_part
    assert f"in epoch 1 of 2, after its step {first_part}\nEpoch 1/2\n{rest}/{rest} - " in output
    assert len(csv_lines(tmp_path / "run.csv")) == 1 and not (tmp_path / "run.pickle").exists()

    trained = count_steps(monkeypatch)
    assert main_in_process(tmp_path, *RUN) == 0
    assert trained == [(2, step) for step in range(STEPS)]
    assert_same_run(read_history(tmp_path / "run.pickle"), uninterrupted)
    assert len(csv_lines(tmp_path / "run.csv")) == 2
    assert leftovers(tmp_path) == []


def test_on_pytorch_a_run_trains_and_one_stopped_by_sigterm_resumes_as_if_never_stopped(tmp_path):
    # On PyTorch, Keras draws unseeded Dropout's masks (MiniVGGNet's) from PyTorch's global
    # generator; seeded by step (training.DropoutSeeds), a resumed run draws the masks it would have.
    # Two steps of 32 an epoch: PyTorch's steps are the slowest of the three backends on a CPU.
    # The largest seed train.py takes: Keras holds PyTorch's seeds in int32.
    run = [*RUN[:-4], "--batch-size", "32", "--training-images", "64", "--seed", str(2**32 - 1)]
    on_torch = dict(os.environ, KERAS_BACKEND="torch")
    uninterrupted = run_train(*output_arguments(tmp_path / "uninterrupted"), *run, env=on_torch)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert uninterrupted.stdout.startswith(f"training minivggnet on digits with radam, seed 4294967295: "
                                           f"Keras {keras.__version__} on torch, devices cpu:0\n")  # fmt: skip

    process = train_holding_a_batch(tmp_path, 2, 1, *run, env=on_torch)
    process.send_signal(signal.SIGTERM)
    process.release()
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 75, errors
    assert checkpointed_epochs(tmp_path) == (1, 1)
    resumed = run_train(*output_arguments(tmp_path), *run, env=on_torch)
    assert resumed.returncode == 0, resumed.stderr
    assert "in epoch 2 of 2, after its step 1\n" in resumed.stdout
    assert_same_run(read_history(tmp_path / "run.pickle"), read_history(tmp_path / "uninterrupted" / "run.pickle"))


def test_ctrl_c_says_in_one_line_how_to_resume_and_dies_of_it(tmp_path):
    process = train_holding_a_batch(tmp_path, 2, 2, *RUN)
    process.send_signal(signal.SIGINT)
    process.release()
    _, errors = process.communicate(timeout=300)
    assert process.returncode == -signal.SIGINT, errors  # killed by it, so a sweep script stops too
    assert errors.endswith("error: interrupted: give the same command again to resume from the last checkpoint\n")
    assert "Traceback" not in errors
    # Epoch 1's checkpoint was finished before the process died.
    assert sorted(os.listdir(tmp_path / "run.pickle.checkpoint")) == ["state.json", "variables-epoch1.npz"]
    assert not (tmp_path / "run.pickle").exists() and not (tmp_path / "run.txt").exists()


@pytest.mark.backend
def test_the_seed_decides_the_run(tmp_path, monkeypatch, uninterrupted):
    # The same seed gave the same epoch 1 in the kill test; another seed gives another one.
    signal_at(monkeypatch, interruptions.sigterm_received, epoch=2, step=0)
    with pytest.raises(interruptions.Stopped, match="^stopped by SIGTERM after epoch 1 of 2;"):
        main_in_process(tmp_path, *RUN, "--seed", "7")
    epoch_1 = [float(value) for value in csv_lines(tmp_path / "run.csv")[0].split(",")[1:5]]
    for key, value in zip(HISTORY_KEYS[:4], epoch_1):
        assert value != uninterrupted[key][0], key


class DropsCtrlC:
    """Presses Ctrl-C inside a finalizer, where Python drops the KeyboardInterrupt it raises."""

    def __del__(self):
        interruptions.on_ctrl_c(signal.SIGINT, None)


@pytest.mark.parametrize("method", ["on_epoch_begin", "on_train_end"])
def test_a_ctrl_c_that_a_finalizer_drops_still_stops_the_run(tmp_path, capsys, monkeypatch, method):
    monkeypatch.setattr(sys, "unraisablehook", interruptions.silent_about_ctrl_c)
    dropped = []
    original = getattr(training.RunRecorder, method)

    def press_ctrl_c_in_a_finalizer(recorder, *arguments):
        original(recorder, *arguments)
        DropsCtrlC()  # freed at once: its KeyboardInterrupt goes to sys.unraisablehook
        dropped.append(True)

    monkeypatch.setattr(training.RunRecorder, method, press_ctrl_c_in_a_finalizer)
    with pytest.raises(KeyboardInterrupt):
        main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "1")
    assert dropped == [True]  # the finalizer's interrupt did not stop the run by itself
    assert not (tmp_path / "run.pickle").exists() and not (tmp_path / "run.txt").exists()
    if method == "on_epoch_begin":  # stopped at the first batch: epoch 1 is not recorded
        assert csv_lines(tmp_path / "run.csv") == []
        assert not (tmp_path / "run.pickle.checkpoint" / "state.json").exists()
    else:  # stopped before writing the outputs, which the same command then resumes to write
        assert len(csv_lines(tmp_path / "run.csv")) == 1
    assert "KeyboardInterrupt" not in capsys.readouterr().err  # no traceback from the finalizer


def test_a_full_disk_while_training_or_writing_is_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "run.pickle.checkpoint"

    def disk_full(checkpoint_folder, state, arrays):  # in the writer's thread
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(checkpoint_folder, "x.npz"))

    monkeypatch.setattr(checkpoints, "write_checkpoint", disk_full)
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "1")
    assert str(refused.value) == (
        f"cannot write in {folder} (No space left on device); free some space or fix its permissions, "
        "then give the same command again to resume from the last checkpoint"
    )
    assert not (tmp_path / "run.pickle").exists() and not (tmp_path / "run.txt").exists()
    monkeypatch.undo()

    def no_space(path, data):  # an error of a write, which names no file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train, "write_atomically", no_space)
    with pytest.raises(UserError, match=f"^cannot write in {tmp_path} \\(No space left on device\\); free"):
        main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "1")
    assert leftovers(tmp_path) == ["run.pickle.checkpoint"]  # the lock went; the checkpoint stays


@pytest.mark.parametrize("kind", ["symbolic link", "fifo"])
def test_whatever_has_the_logs_name_is_replaced_not_written_into(tmp_path, kind):
    log, target = tmp_path / "run.csv", tmp_path / "precious.txt"
    target.write_text("not to be truncated\n")
    log.symlink_to(target) if kind == "symbolic link" else os.mkfifo(log)  # a FIFO would block its writer
    assert main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "1", "--batch-size", "64",
                           "--no-augmentation") == 0  # fmt: skip
    assert log.is_file() and not log.is_symlink() and len(csv_lines(log)) == 1
    assert target.read_text() == "not to be truncated\n"


def test_leftovers_that_cannot_be_deleted_are_left_alone(tmp_path):
    files_of_run = RunFiles(str(tmp_path / "run.pickle"), str(tmp_path / "run.txt"))
    for name in (".run.k2j4_9xq.tmp.pickle", "run.pickle.checkpoint/variables-epoch3.npz",
                 "run.pickle.checkpoint/.state.zz99yy88.tmp.json"):  # fmt: skip
        (tmp_path / name).mkdir(parents=True)
    files_of_run.remove_temporaries()
    checkpoints.remove_leftovers(files_of_run.checkpoint_folder, None)
    assert sorted(os.listdir(tmp_path)) == [".run.k2j4_9xq.tmp.pickle", "run.pickle.checkpoint"]


def test_a_history_path_too_long_for_its_checkpoints_is_refused_before_training(tmp_path):
    # A history path of 4,050 bytes: its outputs' temporary files fit in a path, the checkpoints' do not.
    between = 4050 - len(str(tmp_path)) - len("/run.pickle")  # folders of 200 bytes and one of the rest
    lengths = [200] * (between // 201) + ([max(between % 201 - 1, 1)] if between % 201 else [])
    history = os.path.join(str(tmp_path), *("d" * length for length in lengths), "run.pickle")
    assert len(history) in (4050, 4051) and len(history) + len(".run.abcd1234.tmp.pickle") < 4096
    with pytest.raises(UserError) as refused:
        train.main(["-i", history, "-r", os.path.join(str(tmp_path), "run.txt"), "-d", "digits"])
    assert str(refused.value) == (f"--history's path is too long: the checkpoints beside it would take paths of "
                                  f"{len(history) + 70} bytes, and a path may take 4095; give a shorter one")
    assert os.listdir(tmp_path) == []


def test_a_checkpoint_folder_that_cannot_be_written_is_refused_before_training(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.pickle.checkpoint").write_text("a file")  # the run's checkpoints could not be written
    with pytest.raises(UserError) as refused:
        train.main(["-i", str(out / "run.pickle"), "-r", str(out / "run.txt"), "-d", "digits"])
    assert str(refused.value) == (f"cannot write {out / 'run.pickle.checkpoint' / 'state.json'}: part of "
                                  f"{out / 'run.pickle.checkpoint'} is a file, not a folder; choose another path")
    assert sorted(os.listdir(out)) == ["run.pickle.checkpoint"]


def test_outputs_that_share_a_path_are_refused(tmp_path):
    out = tmp_path / "out"
    for history, report in (("run.pickle", "run.pickle"), ("run.pickle", "run.csv"), ("run.csv", "r.txt"),
                            ("run.pickle", "run.pickle.checkpoint/r.txt"), ("run.pickle", "run.pickle.lock"),
                            ("run.pickle", "run.json"), ("run.pickle", "run.pickle/r.txt"),
                            ("run.pickle", "run.pickle.checkpoint"), ("r.txt/run.pickle", "r.txt")):  # fmt: skip
        with pytest.raises(UserError) as refused:
            train.main(["-i", str(out / history), "-r", str(out / report), "-d", "digits"])
        log = out / (os.path.splitext(history)[0] + ".csv")
        settings = out / (os.path.splitext(history)[0] + ".json")
        assert str(refused.value) == (
            f"--history, --report, the per-epoch log ({log}) and the settings ({settings}) must be four "
            "different files, none inside another, outside "
            f"the checkpoint folder ({out / history}.checkpoint) and other than the lock file "
            f"({out / history}.lock); choose other paths"
        )
    assert not out.exists()


@pytest.mark.parametrize("option, path", [("--history", ""), ("--history", "out/new/"), ("--history", "out/."),
                                          ("--report", ""), ("--report", "out/new/")])
def test_an_output_path_that_names_a_folder_is_refused_before_training(tmp_path, monkeypatch, option, path):
    monkeypatch.chdir(tmp_path)
    outputs = {"--history": "run.pickle", "--report": "run.txt", option: path}
    with pytest.raises(UserError) as refused:
        train.main([*(word for item in outputs.items() for word in item), "-d", "digits", "-m", "minivggnet",
                    "--epochs", "1", "--batch-size", "64", "--no-augmentation"])  # fmt: skip
    example = "pickle" if option == "--history" else "txt"
    assert str(refused.value) == (f"{option} {path!r} names a folder, not a file; give a file path such as "
                                  f"output/resnet_adam_mnist.{example}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("option, name, too_long", [
    ("--history", "r" * 235 + ".pickle", "r" * 235 + ".pickle"),  # 242 bytes: its temporary file takes 256
    ("--report", "r" * 238 + ".txt", "r" * 238 + ".txt"),
    ("--history", "r" * 238, "r" * 238 + ".csv"),  # no extension: the log's name is the longer
    ("--history", "é" * 121, "é" * 121),  # 242 bytes in UTF-8
])
def test_an_output_name_too_long_for_its_temporary_files_is_refused_before_training(tmp_path, option, name,
                                                                                    too_long):  # fmt: skip
    outputs = {"--history": "run.pickle", "--report": "run.txt", option: name}
    with pytest.raises(UserError) as refused:
        train.main([*(word for key, value in outputs.items() for word in (key, str(tmp_path / value))),
                    "-d", "digits", "-m", "minivggnet", "--epochs", "1", "--batch-size", "64",
                    "--no-augmentation"])  # fmt: skip
    assert str(refused.value) == (f"{option}'s file name is too long ({too_long!r} takes "
                                  f"{len(too_long.encode())} bytes; the temporary files written beside it allow "
                                  "241); give a shorter one")
    assert os.listdir(tmp_path) == []
    RunFiles(str(tmp_path / ("r" * 234 + ".pickle")), str(tmp_path / ("r" * 237 + ".txt"))).check_paths()  # 241: fine


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--epochs", "0"], "argument --epochs: takes a whole number of at least 1, not '0'"),
        (["--batch-size", "0"], "argument --batch-size: takes a whole number of at least 1, not '0'"),
        (["--checkpoint-every", "-2"], "argument --checkpoint-every: takes a whole number of at least 1, not '-2'"),
        (["--epochs", "2.5"], "argument --epochs: takes a whole number of at least 1, not '2.5'"),
        (["--radam-total-steps", "lots"], "argument --radam-total-steps: takes a whole number or 'auto', not 'lots'"),
        (["--radam-total-steps", "1e4"], "argument --radam-total-steps: takes a whole number or 'auto', not '1e4'"),
        (["--radam-total-steps", "1" + "0" * 30],
         f"argument --radam-total-steps: takes a whole number of at most 2147483647 or 'auto', not '1{'0' * 30}'"),
        (["--epochs", "2147483648"], "argument --epochs: takes a whole number of at most 2147483647, not '2147483648'"),
        (["--warmup-steps", "9" * 40], f"argument --warmup-steps: takes a whole number of at most 2147483647, not "
                                       f"'{'9' * 40}'"),
        (["--seed", "-1"], "argument --seed: takes a whole number from 0 to 4294967295, not '-1'"),
        (["--seed", "4294967296"], "argument --seed: takes a whole number from 0 to 4294967295, not '4294967296'"),
        (["--mod", "googlenet"], "unrecognized arguments: --mod googlenet"),  # no option is abbreviated
    ],
)
def test_bad_arguments_exit_2_with_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as raised:
        train.parse_arguments(["-i", "h.pickle", "-r", "r.txt", *arguments])
    assert raised.value.code == 2
    assert capsys.readouterr().err.endswith(f" error: {message}\n")


def test_an_unknown_choice_is_argparses_to_refuse(capsys):
    with pytest.raises(SystemExit) as raised:
        train.parse_arguments(["-i", "h.pickle", "-r", "r.txt", "--model", "alexnet"])
    assert raised.value.code == 2
    assert " error: argument -m/--model: invalid choice: 'alexnet'" in capsys.readouterr().err


def test_a_batch_larger_than_the_data_set_is_refused(tmp_path):
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, "-d", "digits", "--batch-size", "1348")
    assert str(refused.value) == "--batch-size 1348 is more than the 1347 training images; give a smaller one"
    assert training.steps_per_epoch(1347, 1347) == 1


@pytest.mark.backend
def test_no_augmentation_reaches_the_model_and_augmentation_changes_the_training_inputs():
    digits = datasets.load_dataset("digits")
    images = digits.train_x[:16]
    for arguments, augmented in (([], True), (["--no-augmentation"], False)):
        args = train.parse_arguments(["-i", "h.pickle", "-r", "r.txt", "-d", "digits", "-m", "minivggnet", *arguments])
        model = training.build_run_model(args, digits)
        first = model.layers[0]
        assert isinstance(first, AffineAugmentation) is augmented
        if augmented:
            assert not np.allclose(keras.ops.convert_to_numpy(first(images, training=True)), images)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(first(images, training=False)), images)


def test_each_epoch_has_its_own_order_and_a_resumed_run_the_same_batches():
    x, y = np.arange(40).reshape(20, 2), np.arange(20)
    run = training.RunBatches(x, y, batch_size=4, seed=3)
    assert run.num_batches is None and run.steps_per_epoch == 5
    labels = [run[step][1] for step in range(15)]
    epochs = [np.concatenate(labels[epoch * 5 : epoch * 5 + 5]) for epoch in range(3)]
    assert all(sorted(order) == list(range(20)) for order in epochs)
    assert len({tuple(order) for order in epochs}) == 3
    # Resumed at step 2 of epoch 2, and asked out of order and ahead, as Keras may ask.
    resumed = training.RunBatches(x, y, batch_size=4, seed=3, first_step=7)
    for index in (5, 0, 7, 1, 2, 3, 4, 6):
        np.testing.assert_array_equal(resumed[index][1], labels[7 + index])
    resumed.on_epoch_end()  # Keras' epoch ends change nothing
    np.testing.assert_array_equal(resumed[0][1], labels[7])
    other_seed = training.RunBatches(x, y, batch_size=4, seed=4)
    assert not np.array_equal(np.concatenate([other_seed[step][1] for step in range(5)]), epochs[0])


@pytest.mark.backend
def test_fit_evaluate_and_predict_read_the_same_batches_through_pipelines_that_do_not_tune_themselves():
    x, y = np.arange(40, dtype="float32").reshape(20, 2), np.eye(20, dtype="float32")
    run = training.RunBatches(x, y, batch_size=4, seed=3, first_step=7)
    test_split = (np.arange(5000, dtype="float32").reshape(2500, 2), np.zeros((2500, 3), "float32"))
    if keras.backend.backend() != "tensorflow":
        assert training.untuned(run) is run and training.untuned(test_split) is test_split
        return
    pipeline = training.untuned(run)
    for step, (images, labels) in zip(range(12), pipeline.as_numpy_iterator()):
        np.testing.assert_array_equal(images, run[step][0])
        np.testing.assert_array_equal(labels, run[step][1])
    evaluation = list(training.untuned(test_split).as_numpy_iterator())
    assert [len(images) for images, _ in evaluation] == [1000, 1000, 500]
    np.testing.assert_array_equal(np.concatenate([images for images, _ in evaluation]), test_split[0])
    assert not pipeline.options().autotune.enabled
    assert not training.untuned(test_split[0]).options().autotune.enabled


def test_checkpoints_are_written_every_n_epochs_and_after_the_last_and_the_log_shows_what_they_hold(tmp_path):
    folder, log = tmp_path / "run.pickle.checkpoint", tmp_path / "run.csv"
    history = {key: [] for key in HISTORY_KEYS}
    training.write_log(str(log), history)
    saved, logged = [], []

    class CountingWriter(checkpoints.CheckpointWriter):
        def save(self, state, arrays, then=None):
            saved.append(len(state["history"]["loss"]))
            super().save(state, arrays, then)

    class LogWatcher(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            writer.wait()
            logged.append(len(csv_lines(log)))

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((8, 4), dtype="float32")
    y = keras.utils.to_categorical(np.arange(8) % 2, 2)
    with CountingWriter(str(folder)) as writer:
        recorder = training.RunRecorder(history, str(log), writer, {"model": "tiny"}, 2,
                                        interruptions.ctrl_c_pressed, interruptions.sigterm_received)  # fmt: skip
        model.fit(x, y, validation_data=(x, y), epochs=5, callbacks=[recorder, LogWatcher()], verbose=0)

    assert saved == [2, 4, 5]
    assert logged == [0, 2, 2, 4, 5]  # an epoch is logged once a checkpoint holds it
    assert sorted(os.listdir(folder)) == ["state.json", "variables-epoch5.npz"]
    state = json.loads((folder / "state.json").read_text())
    assert state["run"] == {"model": "tiny"} and state["steps"] == 0
    assert state["history"]["loss"] == history["loss"]
    assert [row.split(",")[0] for row in csv_lines(log)] == ["1", "2", "3", "4", "5"]


def test_a_kill_between_checkpoints_loses_only_epochs_that_the_log_does_not_show(tmp_path, monkeypatch,
                                                                                 uninterrupted):  # fmt: skip
    # Every 2 epochs: epoch 1 has no checkpoint yet, so the log must not show it when a kill comes.
    process = train_holding_a_batch(tmp_path, 2, 3, *RUN, "--checkpoint-every", "2")
    while process.stdout.readline() != "Epoch 2/2\n":  # epoch 1 has ended
        assert process.poll() is None
    assert csv_lines(tmp_path / "run.csv") == [] and checkpointed_epochs(tmp_path) is None
    process.send_signal(signal.SIGKILL)
    process.communicate()

    trained = count_steps(monkeypatch)
    assert main_in_process(tmp_path, *RUN, "--checkpoint-every", "2") == 0
    assert trained == [(epoch, step) for epoch in (1, 2) for step in range(STEPS)]
    assert_same_run(read_history(tmp_path / "run.pickle"), uninterrupted)
    assert [row.split(",")[0] for row in csv_lines(tmp_path / "run.csv")] == ["1", "2"]
    assert leftovers(tmp_path) == []


def test_an_epoch_is_logged_once_its_checkpoint_is_on_disk(tmp_path, monkeypatch):
    # A kill between the epoch's end and its checkpoint's arrival on disk must not leave a log
    # that shows an epoch the resumed run will train again.
    folder, log = tmp_path / "run.pickle.checkpoint", tmp_path / "run.csv"
    history = {key: [] for key in HISTORY_KEYS}
    training.write_log(str(log), history)
    write_checkpoint, on_disk = checkpoints.write_checkpoint, threading.Event()
    monkeypatch.setattr(checkpoints, "write_checkpoint", lambda *arguments: on_disk.wait(30) and write_checkpoint(*arguments))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((8, 4), dtype="float32")
    y = keras.utils.to_categorical(np.arange(8) % 2, 2)

    with checkpoints.CheckpointWriter(str(folder)) as writer:
        recorder = training.RunRecorder(history, str(log), writer, {"model": "tiny"}, 1,
                                        interruptions.ctrl_c_pressed, interruptions.sigterm_received)  # fmt: skip
        model.fit(x, y, validation_data=(x, y), epochs=1, callbacks=[recorder], verbose=0)
        assert csv_lines(log) == [] and not folder.exists()
        on_disk.set()

    assert [row.split(",")[0] for row in csv_lines(log)] == ["1"]
    assert sorted(os.listdir(folder)) == ["state.json", "variables-epoch1.npz"]


def test_a_second_process_for_the_same_run_is_refused_before_keras_starts(tmp_path):
    lock = tmp_path / "run.pickle.lock"
    refused_at_once = ["-d", "digits", "--batch-size", "5000"]  # unlocked, it would stop later, at the batch size
    with run_files.run_lock(str(lock)):
        with pytest.raises(run_files.RunLocked, match=f"^process {os.getpid()} on .* is training this run already"):
            main_in_process(tmp_path, *refused_at_once)
        # The real entry point: exit code 3, one line, and Keras never imported.
        result = subprocess.run(
            [sys.executable, "-c", KERAS_AT_EXIT, *output_arguments(tmp_path), *refused_at_once],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr == (
        f"error: process {os.getpid()} on {socket.gethostname()} is training this run already (it holds "
        f"{lock}); let it finish or stop it, then give this command again\n"
    )
    assert result.stdout == "keras imported: False\n"
    assert sorted(os.listdir(tmp_path)) == []


def test_a_run_that_finished_while_this_one_waited_for_its_lock_is_skipped(tmp_path, monkeypatch, capsys):
    @contextlib.contextmanager
    def the_other_process_finishes_first(path):
        (tmp_path / "run.pickle").write_bytes(b"")
        (tmp_path / "run.txt").write_text("")
        with run_files.run_lock(path):
            yield

    monkeypatch.setattr(train, "run_lock", the_other_process_finishes_first)
    assert main_in_process(tmp_path, "-d", "digits") == 0
    assert "exist already: skipping" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["run.pickle", "run.txt"]  # no log: it never trained


def test_a_lock_file_that_a_killed_run_left_beside_its_outputs_goes_when_it_is_skipped(tmp_path, capsys):
    (tmp_path / "run.pickle").write_bytes(b"")
    (tmp_path / "run.txt").write_text("")
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # its PID no longer runs, as after a SIGKILL
    lock, host = tmp_path / "run.pickle.lock", socket.gethostname()
    lock.write_text(f"{host} {process.pid}\n")
    assert main_in_process(tmp_path, "-d", "digits") == 0
    assert capsys.readouterr().out == (
        f"note: taking over {lock} from process {process.pid} on {host}, which no longer holds it\n"
        f"{tmp_path / 'run.pickle'} and {tmp_path / 'run.txt'} exist already: skipping (delete them to train again)\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["run.pickle", "run.txt"]
    # Held by a process that runs, or naming another host: not this process's to delete.
    for holder in (f"{host} {os.getpid()}", "gpu-node-7 4242"):
        lock.write_text(f"{holder}\n")
        with run_files.run_lock(str(lock)) if holder.startswith(host) else contextlib.nullcontext():
            assert main_in_process(tmp_path, "-d", "digits") == 0
            assert lock.read_text() == f"{holder}\n"


# Runs train.py as its own entry point and says afterwards whether Keras was imported.
KERAS_AT_EXIT = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('keras imported:', 'keras' in sys.modules))\n"
    "sys.argv = ['train.py'] + sys.argv[1:]\n"
    "runpy.run_path('train.py', run_name='__main__')\n"
)


# train.py's entry point with os.pwrite failing as on a full disk: the lock file is its first write.
DISK_FULL_AT_EXIT = (
    "import errno, os\n"
    "def disk_full(*arguments):\n"
    "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
    "os.pwrite = disk_full\n"
) + KERAS_AT_EXIT


@pytest.mark.parametrize("fault", ["disk full", "folder"])
def test_a_lock_file_that_cannot_be_written_fails_before_keras_starts_with_one_line(tmp_path, fault):
    lock = tmp_path / "run.pickle.lock"
    if fault == "folder":
        lock.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL_AT_EXIT if fault == "disk full" else KERAS_AT_EXIT,
         *output_arguments(tmp_path), "-d", "digits"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == {
        "disk full": f"error: cannot write the lock file {lock} (No space left on device); free some space or "
                     "fix its folder's permissions, then give the same command again\n",
        "folder": f"error: {lock} is a folder, where this run's lock file goes; move it away, then give the "
                  "same command again\n",
    }[fault]
    assert result.stdout == "keras imported: False\n"
    assert os.listdir(tmp_path) == ([] if fault == "disk full" else ["run.pickle.lock"])


def test_unwritable_output_fails_before_keras_starts_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-c", KERAS_AT_EXIT, "--history", str(blocker / "run.pickle"), "--report",
         str(tmp_path / "run.txt"), "-d", "digits"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot write {blocker / 'run.pickle'}: part of {blocker} is a file, not a folder; choose another path\n"
    )
    assert result.stdout == "keras imported: False\n"
    assert not (tmp_path / "run.txt").exists()


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's compilation cache")
def test_runs_on_jax_share_compiled_steps_through_the_persistent_cache(tmp_path):
    # train.py caches every program, not only those that took over a second to compile (JAX's
    # default), so the second run finds everything the first compiled.
    environment = dict(os.environ, KERAS_HOME=str(tmp_path / "keras"))
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    environment.pop("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", None)
    cache = tmp_path / "keras" / "jax_cache"
    compiled = []
    for seed in ("1", "2"):
        result = run_train(*output_arguments(tmp_path / seed, "run"), "-d", "digits", "-m", "minivggnet",
                           "--epochs", "1", "--training-images", "256", "--seed", seed, env=environment)
        assert result.returncode == 0, result.stderr
        compiled.append(sorted(os.listdir(cache)) if cache.exists() else [])
    assert any(name.startswith("jit_train_step-") for name in compiled[0])
    assert compiled[1] == compiled[0]  # another seed: nothing new to compile


@pytest.mark.parametrize(
    "backend, flags, expected",
    [
        ("jax", None, training.CONVOLUTION_GRAPHS),
        ("jax", "--xla_dump_to=/tmp/x", "--xla_dump_to=/tmp/x " + training.CONVOLUTION_GRAPHS),
        ("jax", "--xla_gpu_enable_command_buffer=FUSION", "--xla_gpu_enable_command_buffer=FUSION"),
        ("tensorflow", None, None),
        ("torch", "--xla_dump_to=/tmp/x", "--xla_dump_to=/tmp/x"),
    ],
)
def test_convolution_graphs_join_xla_flags_on_jax_only(monkeypatch, backend, flags, expected):
    if flags is None:
        monkeypatch.delenv("XLA_FLAGS", raising=False)
    else:
        monkeypatch.setenv("XLA_FLAGS", flags)
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    training.record_convolutions_in_graphs()
    assert os.environ.get("XLA_FLAGS") == expected


@pytest.mark.backend
def test_train_py_hands_xla_its_flags_before_jax_starts(tmp_path):
    # A setting XLA rejects shows whether XLA read the flags after train.py set them: it stops
    # the process when JAX starts its backend. TensorFlow is left alone and trains.
    run = (
        "import runpy, sys\n"
        "from pyimagesearch import training\n"
        "training.CONVOLUTION_GRAPHS = '--xla_gpu_enable_command_buffer=+NOT_A_COMMAND'\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path('train.py', run_name='__main__')\n"
    )
    environment = dict(os.environ, KERAS_HOME=str(tmp_path / "keras"))
    environment.pop("XLA_FLAGS", None)
    result = subprocess.run(
        [sys.executable, "-c", run, "train.py", *output_arguments(tmp_path, "run"), "-d", "digits",
         "-m", "minivggnet", "--epochs", "1"],
        cwd=REPO, env=environment, capture_output=True, text=True,
    )  # fmt: skip
    if keras.backend.backend() == "jax":
        assert result.returncode != 0
        assert "NOT_A_COMMAND" in result.stderr  # XLA read the flags and stopped at that value
        assert not (tmp_path / "run.pickle").exists()
    else:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "run.pickle").exists()


def test_missing_dataset_is_one_line(tmp_path, keras_home, monkeypatch):
    unreachable = ("file:///nonexistent/cifar-10-python.tar.gz", None)
    monkeypatch.setitem(downloads.DOWNLOADS, "cifar10", {"cifar-10-batches-py-target": unreachable})
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path / "out", "-d", "cifar10", "-m", "minivggnet")
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"cifar10 is not in {keras_home / 'datasets'}")
    assert "cifar-10-batches-py" in str(refused.value)
    assert not (tmp_path / "out" / "run.pickle").exists() and not (tmp_path / "out" / "run.txt").exists()


def test_nan_loss_stops_the_run_without_outputs(tmp_path, monkeypatch):
    digits = datasets.load_dataset("digits")
    poisoned = digits._replace(train_y=np.full_like(digits.train_y, np.nan))
    monkeypatch.setattr(datasets, "load_dataset", lambda name, download: poisoned)
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "3")
    assert str(refused.value) == (
        f"the training loss became NaN or infinite in epoch 1; no outputs were written (try another "
        f"--seed; {tmp_path / 'run.pickle.checkpoint'}, if there, holds the last checkpoint before it)"
    )
    assert not (tmp_path / "run.pickle").exists() and not (tmp_path / "run.txt").exists()


@pytest.mark.parametrize(
    "backend, keras_json, jax_left_out",
    [
        ("tensorflow", None, True),
        ("torch", None, True),
        ("jax", None, False),
        (None, None, True),  # no keras.json: Keras starts TensorFlow
        (None, '{"backend": "jax"}', False),
        (None, '{"backend": "torch"}', True),
        (None, '{"floatx": "float32"}', True),  # no backend in it: TensorFlow
        (None, '{"backend": "jax"', False),  # not JSON: JAX is left in, in case
        (None, "[]", False),
        (None, "a FIFO", False),  # read without waiting for a writer
    ],
)
def test_a_run_leaves_out_matplotlib_and_jax_unless_jax_is_the_backend(tmp_path, monkeypatch, backend, keras_json,
                                                                        jax_left_out):  # fmt: skip
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    if backend is None:
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
    else:
        monkeypatch.setenv("KERAS_BACKEND", backend)
    if keras_json == "a FIFO":
        os.mkfifo(tmp_path / "keras.json")
    elif keras_json is not None:
        (tmp_path / "keras.json").write_text(keras_json)
    # As in a train.py process before Keras starts; monkeypatch puts the modules back afterwards.
    for name in ("keras", "matplotlib", "jax"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    train.leave_out_what_a_run_never_uses()
    assert sys.modules["matplotlib"] is None
    assert (sys.modules.get("jax", "absent") is None) == jax_left_out


def test_once_keras_has_started_nothing_is_left_out(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setitem(sys.modules, "keras", keras)
    for name in ("matplotlib", "jax"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    train.leave_out_what_a_run_never_uses()
    assert "matplotlib" not in sys.modules and "jax" not in sys.modules


def test_main_called_from_a_program_leaves_its_modules_alone(tmp_path, keras_home, monkeypatch):
    # Only train.py as a script leaves libraries out: a program that calls main may use them.
    monkeypatch.setattr(train, "leave_out_what_a_run_never_uses", lambda: pytest.fail("main left modules out"))
    with pytest.raises(UserError, match="^mnist is not in "):  # refused once Keras has started
        main_in_process(tmp_path, "-d", "mnist", "-m", "minivggnet", "--no-download")


@pytest.mark.backend
def test_a_run_traces_its_training_step_once(tmp_path, monkeypatch):
    # Python runs train_step only while the backend traces it. A step that makes variables (the
    # optimizer's, the metrics') is traced a second time on TensorFlow; a ResNet's trace costs
    # seconds.
    traces, train_step = [], keras.Model.train_step

    def counting_train_step(*arguments):
        traces.append(len(traces) + 1)
        return train_step(*arguments)

    monkeypatch.setattr(keras.Model, "train_step", counting_train_step)
    assert main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "-o", "radam", "--epochs", "2",
                           "--batch-size", "64", "--training-images", "128") == 0  # fmt: skip
    assert traces == [1]
    assert len(read_history(tmp_path / "run.pickle")["loss"]) == 2


def image_batches_in(data, batch_size):
    """The batches of images that Keras reads from `data` (x, or (x, y)): on TensorFlow, those of
    the tf.data pipeline that train.py hands it (training.untuned); elsewhere, x cut into `batch_size`."""
    if hasattr(data, "as_numpy_iterator"):
        return [batch[0] if isinstance(batch, tuple) else batch for batch in data.as_numpy_iterator()]
    images = data[0] if isinstance(data, tuple) else data
    return [images[start : start + batch_size] for start in range(0, len(images), batch_size)]


def test_the_test_split_is_evaluated_in_batches_of_a_thousand(tmp_path, monkeypatch):
    digits = datasets.load_dataset("digits")
    test_x, test_y = (np.concatenate([array] * 6)[:2500] for array in (digits.test_x, digits.test_y))
    # Without a held-out split the test split validates, so it replaces both.
    monkeypatch.setattr(datasets, "load_dataset", lambda name, download: digits._replace(
        test_x=test_x, test_y=test_y, validation_x=test_x, validation_y=test_y))
    validation_batches, predicted_batches = [], []
    predict = keras.Model.predict

    def counting_predict(model, x, batch_size=None, **kwargs):
        predicted_batches.append(len(image_batches_in(x, batch_size)))
        return predict(model, x, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(training.RunRecorder, "on_test_batch_end", lambda recorder, batch, logs=None:
                        validation_batches.append(batch), raising=False)  # fmt: skip
    monkeypatch.setattr(keras.Model, "predict", counting_predict)
    assert main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--epochs", "2", "--batch-size", "64",
                           "--training-images", "128") == 0  # fmt: skip
    assert validation_batches == [0, 1, 2, 0, 1, 2]  # 2,500 images: 1,000 + 1,000 + 500, twice
    assert predicted_batches == [3]
    assert len(read_history(tmp_path / "run.pickle")["val_accuracy"]) == 2


def test_a_checkpoint_that_cannot_resume_this_run_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "run.pickle.checkpoint"
    folder.mkdir()
    args = train.parse_arguments([*output_arguments(tmp_path), "-d", "digits", "-m", "minivggnet"])
    state = dict(run=train.run_settings(args), history={key: [0.5] for key in HISTORY_KEYS}, steps=0, seconds=0.0,
                 variables_file="variables-epoch1.npz")  # fmt: skip
    (folder / "state.json").write_text(json.dumps(dict(state, run=dict(dataset="mnist"))))
    with pytest.raises(UserError, match=f"^{folder} holds an unfinished run with other settings"):
        main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet")
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "variables-epoch1.npz").write_bytes(b"PK cut short")
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet")
    assert str(refused.value) == (
        f"{folder / 'variables-epoch1.npz'} cannot be loaded (the file is damaged or cut short: not a "
        f"whole .npz file); delete {folder} to start again"
    )
    assert leftovers(tmp_path) == ["run.pickle.checkpoint"]


def test_a_checkpoint_beyond_the_runs_epochs_or_steps_is_refused_before_it_is_loaded(tmp_path):
    folder = tmp_path / "run.pickle.checkpoint"
    folder.mkdir()
    args = train.parse_arguments([*output_arguments(tmp_path), *RUN])
    state = dict(run=train.run_settings(args), history={key: [0.5] for key in HISTORY_KEYS}, steps=STEPS,
                 seconds=1.0, variables_file=f"variables-epoch1-step{STEPS}.npz")  # fmt: skip
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, *RUN)
    assert str(refused.value) == (
        f"{folder} is not a readable checkpoint (it stands at step {STEPS} after epoch 1, beyond this run's 2 "
        f"epochs of {STEPS} steps); delete it to start again"
    )


def test_resumed_metrics_that_do_not_fit_the_model_are_refused_in_one_line(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((8, 4), dtype="float32")
    y = keras.utils.to_categorical(np.arange(8) % 2, 2)
    history = {key: [0.5] for key in HISTORY_KEYS}
    with checkpoints.CheckpointWriter(str(tmp_path / "run.pickle.checkpoint")) as writer:
        recorder = training.RunRecorder(history, str(tmp_path / "run.csv"), writer, {}, 1,
                                        interruptions.ctrl_c_pressed, interruptions.sigterm_received,
                                        state=dict(steps=1, seconds=0.5), metrics=[np.zeros(3)])  # fmt: skip
        with pytest.raises(UserError) as refused:
            model.fit(x, y, batch_size=4, epochs=2, initial_epoch=1, callbacks=[recorder], verbose=0)
    assert str(refused.value) == (
        f"{tmp_path / 'run.pickle.checkpoint'} does not fit this run's model (other metrics: made by another "
        "version of this code?); delete it to start again"
    )


@pytest.mark.backend
def test_minivggnet_really_learns_digits(tmp_path):
    # Without augmentation (it flips digits), in batches of 8: the BatchNormalization layers'
    # moving statistics (momentum 0.99) need a few hundred steps to catch up, and 4 epochs give 672.
    # On a 2-core CPU (2026-11-30): 0.987 on TensorFlow, 0.991 on JAX. (The demo's 2 epochs of
    # batch 4, as many steps, gave 0.898 on TensorFlow on two cores: too close to 0.9 for a test.)
    assert main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "--no-augmentation", "--batch-size", "8",
                           "--epochs", "4") == 0  # fmt: skip
    accuracy_line = [line for line in (tmp_path / "run.txt").read_text().splitlines() if "accuracy" in line]
    assert float(accuracy_line[0].split()[1]) >= 0.9


@pytest.mark.parametrize("optimizer, rate", [("sgd", 0.01), ("rmsprop", 0.001)])
def test_baseline_optimizers_train_at_their_documented_rates(tmp_path, optimizer, rate):
    assert main_in_process(tmp_path, "-d", "digits", "-m", "minivggnet", "-o", optimizer, "--epochs", "1") == 0
    history = read_history(tmp_path / "run.pickle")
    assert history["learning_rate"] == pytest.approx([rate])
    assert np.isfinite(history["loss"][0])


# train.py as a script that says as it exits which of Keras, matplotlib and JAX it imported.
SAYS_WHAT_IT_IMPORTED = """
import atexit, runpy, sys
atexit.register(lambda: print("imported:", *[name for name in ("keras", "matplotlib", "jax") if sys.modules.get(name)]))
sys.argv = sys.argv[1:]
runpy.run_path("train.py", run_name="__main__")
"""


@pytest.mark.backend
def test_mixed_precision_run_trains_and_records_its_rate(tmp_path):
    out = tmp_path / "out"
    # Two steps: bfloat16 is emulated on CPUs without it, at several seconds a step of 128.
    result = subprocess.run(
        [sys.executable, "-c", SAYS_WHAT_IT_IMPORTED, "train.py", *output_arguments(out, "run"), "-d", "digits",
         "-m", "minivggnet", "-o", "radam", "--epochs", "1", "--training-images", "256", "--mixed-precision"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    history = read_history(out / "run.pickle")
    assert np.isfinite(history["loss"][0])
    assert history["learning_rate"] == pytest.approx([4e-6], rel=1e-5)  # 2 of 500 warm-up steps
    # It left out what a run never uses, and JAX only where JAX is not the backend.
    assert result.stdout.endswith("imported: keras jax\n" if keras.backend.backend() == "jax" else "imported: keras\n")


def test_a_rate_and_a_held_out_validation_split_reach_the_run_and_its_settings(tmp_path, monkeypatch):
    validated_on = []
    fit = keras.Model.fit

    def recording_fit(model, *arguments, validation_data=None, **options):
        validated_on.append(sum(map(len, image_batches_in(validation_data, training.EVALUATION_BATCH_SIZE))))
        return fit(model, *arguments, validation_data=validation_data, **options)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    arguments = ["-d", "digits", "-m", "minivggnet", "-o", "adam-warmup", "--learning-rate", "3e-3", "--warmup-steps",
                 "3", "--epochs", "1", "--batch-size", "64", "--training-images", "640", "--validation-images", "200"]
    assert main_in_process(tmp_path, *arguments) == 0

    assert validated_on == [200]  # the held-out images, not the 450 of the test split
    history = read_history(tmp_path / "run.pickle")
    assert history["learning_rate"] == pytest.approx([3e-3])  # 10 steps: the warmup of 3 is over
    assert "450\n" in (tmp_path / "run.txt").read_text()  # the report is the test split's
    settings = json.loads((tmp_path / "run.json").read_text())
    assert settings == dict(dataset="digits", model="minivggnet", optimizer="adam-warmup", epochs=1, batch_size=64,
                            learning_rate=3e-3, training_images=640, validation_images=200, seed=42,
                            radam_total_steps="5000", warmup_steps=3, augmentation=True, mixed_precision=False)


def test_a_finished_run_given_other_settings_is_refused_and_the_same_skipped(tmp_path, capsys):
    arguments = ["-d", "digits", "-m", "minivggnet", "--epochs", "1", "--batch-size", "128", "--training-images", "256"]
    assert main_in_process(tmp_path, *arguments) == 0
    capsys.readouterr()
    assert main_in_process(tmp_path, *arguments, "--learning-rate", "0.001") == 0  # Adam's default: the same run
    assert "exist already: skipping" in capsys.readouterr().out
    assert main_in_process(tmp_path, *arguments, "--radam-total-steps", "05000") == 0  # the original's 5000
    assert "exist already: skipping" in capsys.readouterr().out
    # Options that Adam ignores make no other run; for the optimizers that read them, they are settings.
    assert main_in_process(tmp_path, *arguments, "--radam-total-steps", "auto", "--warmup-steps", "5") == 0
    assert "exist already: skipping" in capsys.readouterr().out
    for optimizer, option, value in (("radam", "--radam-total-steps", "auto"), ("adam-warmup", "--warmup-steps", 5)):
        args = train.parse_arguments([*output_arguments(tmp_path), "-o", optimizer, option, str(value)])
        assert train.run_settings(args)[option[2:].replace("-", "_")] == value
    with pytest.raises(UserError) as refused:
        main_in_process(tmp_path, *arguments[:-1], "512")
    assert str(refused.value) == (
        f"{tmp_path}/run.pickle was made with other settings (training_images 256 there, 512 here; see "
        f"{tmp_path}/run.json); give other --history and --report paths, or delete the run's files to train it again")


@pytest.mark.parametrize("arguments, message", [
    (["--learning-rate", "0"], "argument --learning-rate: takes a number more than 0 and at most 10, such as 1e-3, not '0'"),
    (["--learning-rate", "fast"], "argument --learning-rate: takes a number more than 0 and at most 10, such as 1e-3, "
                                  "not 'fast'"),
    (["--validation-images", "-1"], "argument --validation-images: takes a whole number, 0 or more, not '-1'"),
    (["--training-images", "0"], "argument --training-images: takes a whole number of at least 1, not '0'"),
])
def test_bad_new_arguments_exit_2_with_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main(["-i", "h.pickle", "-r", "r.txt", *arguments])
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines()[-1].endswith(message)


def test_the_private_keras_apis_were_checked_on_this_keras():
    first, after_last = training.KERAS_CHECKED
    version = tuple(int(part) for part in keras.__version__.split(".")[:2])
    assert first <= version < after_last, (
        f"Keras {keras.__version__}: check optimizer._learning_rate and model._symbolic_build "
        "(pyimagesearch/training.py) on it, then widen KERAS_CHECKED")


def test_only_temporaries_named_as_mkstemp_names_them_are_removed_beside_every_output(tmp_path):
    files_of_run = RunFiles(str(tmp_path / "run.pickle"), str(tmp_path / "run.txt"))
    left = [".run.k2j4_9xq.tmp.pickle", ".run.k2j4_9xq.tmp.txt", ".run.k2j4_9xq.tmp.csv", ".run.k2j4_9xq.tmp.json"]
    kept = [".run.mine.tmp.pickle", ".run.k2j4_9xq0.tmp.csv"]  # not 8 characters: not ours to delete
    for name in left + kept:
        (tmp_path / name).write_text("")
    files_of_run.remove_temporaries()
    assert sorted(os.listdir(tmp_path)) == sorted(kept)


def test_a_history_whose_checkpoints_would_take_a_whole_path_is_refused_and_one_byte_less_is_not(tmp_path):
    for extra, refused in ((0, True), (-1, False)):
        # The longest checkpoint path is the history's, ".checkpoint/" and LONGEST_IN_CHECKPOINT.
        length = run_files.MAX_PATH + extra - len(".checkpoint/" + run_files.LONGEST_IN_CHECKPOINT)
        folders, rest = [], length - len(str(tmp_path)) - len("/run.pickle")  # each folder takes "/" and its name
        while rest:
            size = 199 if rest == 201 else min(200, rest)  # never 1 byte left over: a folder needs a name
            folders.append("d" * (size - 1))
            rest -= size
        history = os.path.join(str(tmp_path), *folders, "run.pickle")
        assert len(history) == length
        files_of_run = RunFiles(history, str(tmp_path / "run.txt"))
        if refused:
            with pytest.raises(UserError) as refusal:
                files_of_run.check_paths()
            assert str(refusal.value) == (
                f"--history's path is too long: the checkpoints beside it would take paths of {run_files.MAX_PATH} "
                f"bytes, and a path may take {run_files.MAX_PATH - 1}; give a shorter one")
        else:
            files_of_run.check_paths()


def test_a_history_path_ending_in_dot_dot_names_a_folder(tmp_path):
    with pytest.raises(UserError) as refused:
        RunFiles(str(tmp_path / "out" / ".."), str(tmp_path / "run.txt")).check_paths()
    assert str(refused.value) == (f"--history {str(tmp_path / 'out' / '..')!r} names a folder, not a file; give a file "
                                  "path such as output/resnet_adam_mnist.pickle")


def test_a_finished_run_is_two_files_and_skipping_it_removes_its_checkpoint(tmp_path, capsys):
    files_of_run = RunFiles(str(tmp_path / "run.pickle"), str(tmp_path / "run.txt"))
    (tmp_path / "run.pickle").mkdir()  # a folder of the history's name is no finished run
    (tmp_path / "run.txt").write_text("")
    assert not files_of_run.finished()
    (tmp_path / "run.pickle").rmdir()
    (tmp_path / "run.pickle").write_bytes(b"")
    (tmp_path / "run.pickle.checkpoint").mkdir()
    (tmp_path / "run.pickle.checkpoint" / "state.json").write_text("{}")
    (tmp_path / "run.json").write_text("[1, 2]")  # no settings to compare: a damaged file is none
    assert files_of_run.finished() and files_of_run.recorded_settings() is None
    assert files_of_run.skip({"epochs": 1}) == 0
    assert capsys.readouterr().out.endswith("exist already: skipping (delete them to train again)\n")
    assert sorted(os.listdir(tmp_path)) == ["run.json", "run.pickle", "run.txt"]


def test_the_settings_a_run_was_made_with_are_named_in_alphabetical_order(tmp_path):
    files_of_run = RunFiles(str(tmp_path / "run.pickle"), str(tmp_path / "run.txt"))
    keys = ["seed", "model", "epochs", "batch_size", "dataset", "optimizer", "augmentation", "learning_rate"]
    (tmp_path / "run.json").write_text(json.dumps({key: 1 for key in keys}))
    with pytest.raises(UserError) as refused:
        files_of_run.skip({key: 2 for key in keys})
    differences = ", ".join(f"{key} 1 there, 2 here" for key in sorted(keys))
    assert str(refused.value) == (
        f"{tmp_path}/run.pickle was made with other settings ({differences}; see {tmp_path}/run.json); give other "
        "--history and --report paths, or delete the run's files to train it again")
