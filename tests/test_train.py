"""train.py end to end on scikit-learn's digits: outputs, resuming, reproducibility, bad input."""

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest

import train
from pyimagesearch import datasets, training

pytestmark = pytest.mark.backend

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HISTORY_KEYS = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time"]


def run_train(*arguments, env=None):
    return subprocess.run(
        [sys.executable, "train.py", *arguments], cwd=REPO, capture_output=True, text=True, env=env
    )


def output_arguments(folder, stem):
    return ["--history", str(folder / f"{stem}.pickle"), "--report", str(folder / f"{stem}.txt")]


def read_history(path):
    with open(path, "rb") as file:
        return pickle.load(file)


def csv_rows(path):
    return path.read_text().splitlines()[1:] if path.exists() else []


@pytest.mark.parametrize("model", ["minivggnet", "googlenet", "resnet"])
def test_each_model_trains_two_epochs_and_leaves_valid_outputs(tmp_path, model):
    out = tmp_path / "out"
    stem = f"{model}_adam_digits"
    result = run_train(*output_arguments(out, stem), "-d", "digits", "-m", model, "--epochs", "2")
    assert result.returncode == 0, result.stderr

    history = read_history(out / f"{stem}.pickle")
    assert type(history) is dict and sorted(history) == sorted(HISTORY_KEYS)
    for key in HISTORY_KEYS:
        assert len(history[key]) == 2 and all(type(value) is float for value in history[key])
        assert np.all(np.isfinite(history[key]))
    assert history["learning_rate"] == pytest.approx([1e-3, 1e-3])
    assert all(0 <= value <= 1 for value in history["accuracy"] + history["val_accuracy"])
    assert all(seconds > 0 for seconds in history["epoch_time"])

    report = (out / f"{stem}.txt").read_text()
    for label in "0123456789":
        assert f"\n           {label} " in report
    assert "    accuracy " in report and "   macro avg " in report and report.rstrip().endswith("450")

    # Not a terminal: one line per epoch, no progress bar.
    assert "Epoch 1/2\n10/10 - " in result.stdout and "Epoch 2/2\n10/10 - " in result.stdout
    assert "━" not in result.stdout

    rows = csv_rows(out / f"{stem}.csv")
    assert [float(value) for value in rows[1].split(",")[:3]] == [2, history["loss"][1], history["accuracy"][1]]
    assert sorted(os.listdir(out)) == sorted(f"{stem}.{ext}" for ext in ("csv", "pickle", "txt"))


def test_radam_records_the_rate_its_schedule_applied(tmp_path):
    # digits: 1347 // 128 = 10 steps an epoch. With --radam-total-steps auto and 3 epochs,
    # total_steps = 30: warm-up over 3 steps, then a linear decay reaching min_lr at step 30.
    out = tmp_path / "out"
    result = run_train(
        *output_arguments(out, "r"), "-d", "digits", "-m", "minivggnet", "-o", "radam",
        "--epochs", "3", "--radam-total-steps", "auto",
    )
    assert result.returncode == 0, result.stderr
    decay_per_step = (1e-5 - 1e-3) / 27
    expected = [1e-3 + decay_per_step * 7, 1e-3 + decay_per_step * 17, 1e-5]
    assert read_history(out / "r.pickle")["learning_rate"] == pytest.approx(expected, rel=1e-5)


def test_same_seed_same_result_on_the_cpu(tmp_path):
    histories = []
    for attempt in ("a", "b"):
        arguments = output_arguments(tmp_path / attempt, "run")
        result = run_train(*arguments, "-d", "digits", "-m", "minivggnet", "--epochs", "1", "--seed", "3")
        assert result.returncode == 0, result.stderr
        histories.append(read_history(tmp_path / attempt / "run.pickle"))
    for key in HISTORY_KEYS[:5]:
        assert histories[0][key] == histories[1][key]
    assert (tmp_path / "a" / "run.txt").read_text() == (tmp_path / "b" / "run.txt").read_text()


def started_until_its_first_epoch(arguments, log, stderr):
    """A train.py process, once its first epoch is in its log."""
    process = subprocess.Popen([sys.executable, *arguments], cwd=REPO, text=True,
                               stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    deadline = time.time() + 300
    while len(csv_rows(log)) < 1:
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.05)
    return process


def test_a_killed_run_resumes_after_its_last_finished_epoch(tmp_path):
    out = tmp_path / "out"
    arguments = ["train.py", *output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet",
                 "-o", "radam", "--epochs", "3", "--checkpoint-every", "1"]
    process = started_until_its_first_epoch(arguments, out / "run.csv", stderr=subprocess.DEVNULL)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first_epoch = csv_rows(out / "run.csv")[0]
    finished = len(csv_rows(out / "run.csv"))
    assert finished < 3, "the run ended before it could be killed"
    assert not (out / "run.pickle").exists() and not (out / "run.txt").exists()
    assert (out / "run.pickle.checkpoint" / "state.json").exists()

    # How often to checkpoint does not change the results: another value resumes the same run.
    result = run_train(*arguments[1:-1], "2")
    assert result.returncode == 0, result.stderr
    assert f"resuming {out / 'run.pickle'} after epoch {finished} of 3" in result.stdout
    history = read_history(out / "run.pickle")
    assert all(len(history[key]) == 3 for key in HISTORY_KEYS)
    assert history["learning_rate"] == pytest.approx([2e-5, 4e-5, 6e-5], rel=1e-5)  # 10, 20, 30 of 500 warm-up steps
    rows = csv_rows(out / "run.csv")
    assert len(rows) == 3 and rows[0] == first_epoch
    assert not (out / "run.pickle.checkpoint").exists()

    again = run_train(*arguments[1:])
    assert again.returncode == 0 and "exist already: skipping" in again.stdout


def test_ctrl_c_says_in_one_line_how_to_resume(tmp_path):
    out = tmp_path / "out"
    arguments = ["train.py", *output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet",
                 "--epochs", "20", "--checkpoint-every", "1"]
    process = started_until_its_first_epoch(arguments, out / "run.csv", stderr=subprocess.PIPE)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT, errors  # killed by it, so a sweep script stops too
    assert "error: interrupted: give the same command again to resume from the last checkpoint\n" in errors
    assert "Traceback" not in errors
    assert (out / "run.pickle.checkpoint" / "state.json").exists()
    assert not (out / "run.pickle").exists() and not (out / "run.txt").exists()


class DropsCtrlC:
    """Presses Ctrl-C inside a finalizer, where Python drops the KeyboardInterrupt it raises."""

    def __del__(self):
        train.on_ctrl_c(signal.SIGINT, None)


@pytest.mark.parametrize("method", ["on_epoch_begin", "on_train_end"])
def test_a_ctrl_c_that_a_finalizer_drops_still_stops_the_run(tmp_path, capsys, monkeypatch, method):
    monkeypatch.setattr(train, "ctrl_c_pressed", train.threading.Event())
    monkeypatch.setattr(sys, "unraisablehook", train.silent_about_ctrl_c)
    dropped = []
    original = getattr(training.EpochRecorder, method)

    def press_ctrl_c_in_a_finalizer(recorder, *arguments):
        original(recorder, *arguments)
        DropsCtrlC()  # freed at once: its KeyboardInterrupt goes to sys.unraisablehook
        dropped.append(True)

    monkeypatch.setattr(training.EpochRecorder, method, press_ctrl_c_in_a_finalizer)
    with pytest.raises(KeyboardInterrupt):
        main_in_process(tmp_path, capsys, "--epochs", "2", "--checkpoint-every", "1")
    out = tmp_path / "out"
    assert dropped == [True]  # the finalizer's interrupt did not stop the run by itself
    assert not (out / "run.pickle").exists() and not (out / "run.txt").exists()
    if method == "on_epoch_begin":  # stopped at the first batch: epoch 1 is not recorded
        assert csv_rows(out / "run.csv") == []
        assert not (out / "run.pickle.checkpoint" / "state.json").exists()
    else:  # stopped before writing the outputs, which the same command then resumes to write
        assert len(csv_rows(out / "run.csv")) == 2
    assert "KeyboardInterrupt" not in capsys.readouterr().err  # no traceback from the finalizer


def test_a_full_disk_while_training_or_writing_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"

    def disk_full(recorder, epochs_done):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "run.pickle.checkpoint" / "x"))

    monkeypatch.setattr(training.EpochRecorder, "save_checkpoint", disk_full)
    code, captured, _ = main_in_process(tmp_path, capsys, "--epochs", "1", "--checkpoint-every", "1")
    assert code == 1
    assert captured.err == (
        f"error: cannot write in {out / 'run.pickle.checkpoint'} (No space left on device); free "
        "some space or fix its permissions, then give the same command again to resume from the "
        "last checkpoint\n"
    )
    assert not (out / "run.pickle").exists() and not (out / "run.txt").exists()

    monkeypatch.undo()

    def no_space(path, data):  # an error of a write, which names no file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train, "write_atomically", no_space)
    code, captured, _ = main_in_process(tmp_path, capsys, "--epochs", "1")
    assert code == 1
    assert captured.err.startswith(f"error: cannot write in {out} (No space left on device); free")


def test_outputs_that_share_a_path_are_refused(tmp_path, capsys):
    out = tmp_path / "out"
    for history, report in (("run.pickle", "run.pickle"), ("run.pickle", "run.csv"), ("run.csv", "r.txt"),
                            ("run.pickle", "run.pickle.checkpoint/r.txt")):  # fmt: skip
        code = train.main(["-i", str(out / history), "-r", str(out / report), "-d", "digits"])
        captured = capsys.readouterr()
        assert code == 1 and captured.err.count("\n") == 1
        assert captured.err.startswith("error: --history, --report and the per-epoch log (")
        assert captured.err.endswith("must be three different files outside the checkpoint folder "
                                     f"({out / history}.checkpoint); choose other paths\n")
    assert not out.exists()


@pytest.mark.parametrize("seed", ["-1", "2147483648"])
def test_a_seed_keras_cannot_take_is_refused(seed, capsys):
    with pytest.raises(SystemExit) as raised:
        train.parse_arguments(["-i", "h.pickle", "-r", "r.txt", "--seed", seed])
    assert raised.value.code == 2
    assert capsys.readouterr().err.endswith("error: --seed takes a whole number from 0 to 2147483647\n")


def test_checkpoints_are_written_every_n_epochs_and_the_log_every_epoch(tmp_path):
    folder, log = tmp_path / "run.pickle.checkpoint", tmp_path / "run.csv"
    history = {key: [] for key in HISTORY_KEYS}
    training.write_log(str(log), history)
    recorder = training.EpochRecorder(history, str(folder), str(log), {"model": "tiny"}, checkpoint_every=2)
    saved = []
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    original_save = model.save
    model.save = lambda path: (saved.append(len(history["loss"])), original_save(path))
    x = np.random.default_rng(0).random((8, 4), dtype="float32")
    y = keras.utils.to_categorical(np.arange(8) % 2, 2)
    model.fit(x, y, validation_data=(x, y), epochs=5, callbacks=[recorder], verbose=0)

    assert saved == [2, 4]
    assert sorted(os.listdir(folder)) == ["model-epoch4.keras", "state.json"]
    state = json.loads((folder / "state.json").read_text())
    assert state["model_file"] == "model-epoch4.keras" and state["run"] == {"model": "tiny"}
    assert state["history"]["loss"] == history["loss"][:4]
    assert [row.split(",")[0] for row in csv_rows(log)] == ["1", "2", "3", "4", "5"]


def test_runs_on_jax_share_compiled_steps_through_the_persistent_cache(tmp_path):
    # Every program is cached, not only those that took over a second to compile: a program
    # near that threshold could otherwise be cached by the second run only.
    environment = dict(os.environ, KERAS_HOME=str(tmp_path / "keras"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    cache = tmp_path / "keras" / "jax_cache"
    compiled = []
    for seed in ("1", "2"):
        result = run_train(*output_arguments(tmp_path / seed, "run"), "-d", "digits", "-m", "minivggnet",
                           "--epochs", "1", "--seed", seed, env=environment)
        assert result.returncode == 0, result.stderr
        compiled.append(sorted(os.listdir(cache)) if cache.exists() else [])
    if keras.backend.backend() == "jax":
        assert any(name.startswith("jit_train_step-") for name in compiled[0])
        assert compiled[1] == compiled[0]  # another seed: nothing new to compile
    else:
        assert compiled == [[], []]


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
        assert "Illegal value for --xla_gpu_enable_command_buffer 'NOT_A_COMMAND'" in result.stderr
        assert not (tmp_path / "run.pickle").exists()
    else:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "run.pickle").exists()


def test_unknown_choice_exits_2_with_argparse_message(tmp_path):
    result = run_train(*output_arguments(tmp_path, "x"), "--model", "alexnet")
    assert result.returncode == 2
    assert "argument -m/--model: invalid choice: 'alexnet'" in result.stderr


def test_unwritable_output_fails_at_once_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    started = time.time()
    result = run_train("--history", str(blocker / "run.pickle"), "--report", str(tmp_path / "run.txt"),
                       "-d", "digits")
    assert result.returncode == 1
    assert time.time() - started < 20  # before Keras even starts
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: cannot write {blocker / 'run.pickle'}: part of {blocker} is a file")
    assert not (tmp_path / "run.txt").exists()


def main_in_process(tmp_path, capsys, *extra):
    out = tmp_path / "out"
    code = train.main([*output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet", *extra])
    return code, capsys.readouterr(), out


def test_missing_dataset_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    unreachable = ("file:///nonexistent/cifar-10-python.tar.gz", None)
    monkeypatch.setitem(datasets.DOWNLOADS, "cifar10", {"cifar-10-batches-py-target": unreachable})
    out = tmp_path / "out"
    code = train.main([*output_arguments(out, "run"), "-d", "cifar10", "-m", "minivggnet"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"error: cifar10 is not in {tmp_path / 'keras' / 'datasets'}")
    assert "cifar-10-batches-py" in captured.err
    assert not (out / "run.pickle").exists() and not (out / "run.txt").exists()


def test_nan_loss_stops_the_run_without_outputs(tmp_path, capsys, monkeypatch):
    digits = datasets.load_dataset("digits")
    poisoned = digits._replace(train_y=np.full_like(digits.train_y, np.nan))
    monkeypatch.setattr(datasets, "load_dataset", lambda name, download: poisoned)
    code, captured, out = main_in_process(tmp_path, capsys, "--epochs", "3")
    assert code == 1
    assert captured.err.startswith("error: the training loss became NaN or infinite in epoch 1;")
    assert captured.err.count("\n") == 1
    assert not (out / "run.pickle").exists() and not (out / "run.txt").exists()


def test_the_test_split_is_evaluated_in_batches_of_a_thousand(tmp_path, capsys, monkeypatch):
    digits = datasets.load_dataset("digits")
    test_x, test_y = (np.concatenate([array] * 6)[:2500] for array in (digits.test_x, digits.test_y))
    monkeypatch.setattr(datasets, "load_dataset", lambda name, download: digits._replace(test_x=test_x, test_y=test_y))
    validation_batches, predicted_batches = [], []
    predict = keras.Model.predict

    class CountingRecorder(training.EpochRecorder):
        def on_test_batch_end(self, batch, logs=None):
            validation_batches.append(batch)

    def counting_predict(model, x, batch_size=None, **kwargs):
        predicted_batches.append(-(-len(x) // batch_size))
        return predict(model, x, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(training, "EpochRecorder", CountingRecorder)
    monkeypatch.setattr(keras.Model, "predict", counting_predict)
    code, captured, out = main_in_process(tmp_path, capsys, "--epochs", "2", "--batch-size", "64")
    assert code == 0, captured.err
    assert validation_batches == [0, 1, 2, 0, 1, 2]  # 2,500 images: 1,000 + 1,000 + 500, twice
    assert predicted_batches == [3]
    assert len(read_history(out / "run.pickle")["val_accuracy"]) == 2


def test_checkpoint_of_another_run_is_refused(tmp_path, capsys):
    folder = tmp_path / "out" / "run.pickle.checkpoint"
    folder.mkdir(parents=True)
    history = {key: [0.5] for key in HISTORY_KEYS}
    state = dict(run=dict(dataset="mnist"), history=history, model_file="model-epoch1.keras")
    (folder / "state.json").write_text(json.dumps(state))
    code, captured, out = main_in_process(tmp_path, capsys)
    assert code == 1
    assert captured.err.startswith(f"error: {folder} holds an unfinished run with other settings")
    assert "delete the folder to start this one" in captured.err

    (folder / "state.json").write_text("{not json")
    code, captured, out = main_in_process(tmp_path, capsys)
    assert code == 1
    assert captured.err.startswith(f"error: {folder} is not a readable checkpoint")

    # Valid JSON of another shape: what a resume reads is checked before it is used.
    for other_shape in ([], None, {}, dict(state, model_file=None), dict(state, history={}),
                        dict(state, history=dict(history, loss=[0.5, 0.4]))):  # fmt: skip
        (folder / "state.json").write_text(json.dumps(other_shape))
        code, captured, out = main_in_process(tmp_path, capsys)
        assert code == 1 and captured.err.count("\n") == 1
        assert captured.err == (
            f"error: {folder} is not a readable checkpoint (its state.json lacks the run's "
            "settings, history or model file); delete it to start again\n"
        )

    arguments = train.parse_arguments([*output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet"])
    settings = train.run_settings(arguments)
    (folder / "state.json").write_text(json.dumps(dict(run=settings, history=history, model_file="m.keras")))
    model_file = folder / "m.keras"
    with zipfile.ZipFile(model_file, "w") as archive:
        archive.writestr("config.json", "{}" * 2000)
    whole_zip = model_file.read_bytes()
    damaged = "the file is damaged or cut short: not a whole .keras zip file"
    for contents, reason in ((b"not a zip", damaged), (whole_zip[: len(whole_zip) // 2], damaged),
                             (None, "the file is missing")):  # fmt: skip
        model_file.unlink(missing_ok=True)
        if contents is not None:
            model_file.write_bytes(contents)
        code, captured, out = main_in_process(tmp_path, capsys)
        assert code == 1
        assert captured.err == (
            f"error: {model_file} cannot be loaded ({reason}); delete {folder} to start again\n"
        )

    # A whole zip that Keras cannot read (here: not a model at all) keeps Keras' own reason.
    model_file.write_bytes(whole_zip)
    code, captured, out = main_in_process(tmp_path, capsys)
    assert code == 1 and captured.err.count("\n") == 1
    assert captured.err.startswith(f"error: {model_file} cannot be loaded (")
    assert "damaged" not in captured.err and "missing" not in captured.err
    assert captured.err.rstrip().endswith(f"delete {folder} to start again")


def test_minivggnet_really_learns_digits(tmp_path):
    # Without augmentation (it flips digits) and with small batches: the BatchNormalization
    # layers' moving statistics (momentum 0.99) need a few hundred steps to catch up.
    out = tmp_path / "out"
    result = run_train(*output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet",
                       "--no-augmentation", "--batch-size", "32", "--epochs", "15")
    assert result.returncode == 0, result.stderr
    accuracy_line = [line for line in (out / "run.txt").read_text().splitlines() if "accuracy" in line]
    assert float(accuracy_line[0].split()[1]) >= 0.9


@pytest.mark.parametrize("optimizer, rate", [("sgd", 0.01), ("rmsprop", 0.001)])
def test_baseline_optimizers_train_at_their_documented_rates(tmp_path, optimizer, rate):
    out = tmp_path / "out"
    result = run_train(*output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet",
                       "-o", optimizer, "--epochs", "1")
    assert result.returncode == 0, result.stderr
    history = read_history(out / "run.pickle")
    assert history["learning_rate"] == pytest.approx([rate])
    assert np.isfinite(history["loss"][0])


def test_mixed_precision_run_trains_and_records_its_rate(tmp_path):
    out = tmp_path / "out"
    result = run_train(*output_arguments(out, "run"), "-d", "digits", "-m", "minivggnet",
                       "-o", "radam", "--epochs", "1", "--mixed-precision")
    assert result.returncode == 0, result.stderr
    history = read_history(out / "run.pickle")
    assert np.isfinite(history["loss"][0])
    assert history["learning_rate"] == pytest.approx([2e-5], rel=1e-5)  # 10 of 500 warm-up steps
