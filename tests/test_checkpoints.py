"""A run's checkpoint: what it holds, how it is written, and what a damaged one says."""

import errno
import io
import json
import os
import threading
import time
import tracemalloc
import zipfile

import keras
import numpy as np
import pytest

from pyimagesearch import checkpoints
from pyimagesearch.checkpoints import HISTORY_KEYS
from pyimagesearch.errors import UserError
from support import npy_member

pytestmark = pytest.mark.backend

X = np.random.default_rng(0).random((32, 4), dtype="float32")
Y = keras.utils.to_categorical(np.arange(32) % 2, 2)
SETTINGS = {"model": "tiny", "seed": 1}


def tiny_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.5, seed=seed),
        keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def state_after(epochs, steps=0):
    history = {key: [0.5] * epochs for key in HISTORY_KEYS}
    variables_file = checkpoints.variables_file_name(epochs, steps)
    return dict(run=SETTINGS, history=history, steps=steps, seconds=0.25 * (steps > 0), variables_file=variables_file)


def values(variables):
    return [keras.ops.convert_to_numpy(variable.value).copy() for variable in variables]


def assert_all_equal(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_a_restored_model_trains_on_exactly_as_the_saved_one(tmp_path):
    saved = tiny_model(seed=1)
    saved.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    state = state_after(1, steps=3)
    checkpoints.write_checkpoint(str(tmp_path), state, checkpoints.snapshot(saved, with_metrics=True))
    assert sorted(os.listdir(tmp_path)) == ["state.json", "variables-epoch1-step3.npz"]

    restored = tiny_model(seed=2)  # other weights, other dropout stream, no optimizer state
    metrics = checkpoints.restore(restored, str(tmp_path), state)
    assert_all_equal(values(restored.variables), values(saved.variables))
    assert_all_equal(values(restored.optimizer.variables), values(saved.optimizer.variables))
    assert_all_equal(metrics, values(saved.metrics_variables))
    assert int(keras.ops.convert_to_numpy(restored.optimizer.iterations)) == 4
    # The SeedGenerators' states came too: dropout draws the same masks, so the weights agree
    # after more training.
    for model in (saved, restored):
        model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_all_equal(values(restored.variables), values(saved.variables))


def test_the_snapshot_is_a_copy_that_later_steps_leave_alone():
    model = tiny_model(seed=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    snapshot = checkpoints.snapshot(model)
    assert sorted(snapshot) == [f"model_{i:05d}" for i in range(len(model.variables))] + [
        f"optimizer_{i:05d}" for i in range(len(model.optimizer.variables))
    ]
    before = {name: np.array(array) for name, array in snapshot.items()}
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    for name, array in snapshot.items():
        np.testing.assert_array_equal(array, before[name])
    assert not np.array_equal(snapshot["model_00000"], values(model.variables)[0])


def test_a_write_that_fails_at_any_point_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model = tiny_model(seed=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    checkpoints.write_checkpoint(str(tmp_path), state_after(1), checkpoints.snapshot(model))

    def dies_half_way(file, **arrays):
        file.write(b"PK half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.np, "savez", dies_half_way)
    with pytest.raises(OSError):
        checkpoints.write_checkpoint(str(tmp_path), state_after(2), checkpoints.snapshot(model))
    assert sorted(os.listdir(tmp_path)) == ["state.json", "variables-epoch1.npz"]
    monkeypatch.undo()

    # Killed after the variables file, before state.json names it: the old pair still holds, and
    # the unnamed file goes, with the temporary files of writes that a kill cut short.
    def no_state(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "write_atomically", no_state)
    with pytest.raises(OSError):
        checkpoints.write_checkpoint(str(tmp_path), state_after(2), checkpoints.snapshot(model))
    (tmp_path / ".variables-epoch3.k2j4_9xq.tmp.npz").write_bytes(b"PK")
    (tmp_path / ".state.abcdefgh.tmp.json").write_text("{")
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["variables_file"] == "variables-epoch1.npz"
    checkpoints.remove_leftovers(str(tmp_path), state)
    assert sorted(os.listdir(tmp_path)) == ["state.json", "variables-epoch1.npz"]
    checkpoints.restore(tiny_model(seed=2), str(tmp_path), state)


def test_the_writer_hands_a_background_error_to_the_training_thread(tmp_path, monkeypatch):
    def disk_full(folder, state, arrays):
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(folder, "x"))

    monkeypatch.setattr(checkpoints, "write_checkpoint", disk_full)
    writer = checkpoints.CheckpointWriter(str(tmp_path))
    writer.save(state_after(1), {})
    with pytest.raises(OSError, match="No space left on device"):
        writer.wait()
    writer.wait()  # raised once
    with pytest.raises(OSError, match="No space left on device"):
        with checkpoints.CheckpointWriter(str(tmp_path)) as writer:
            writer.save(state_after(1), {})


def test_the_writer_finishes_its_write_before_an_interruption_goes_on(tmp_path, monkeypatch):
    write, started = checkpoints.write_checkpoint, threading.Event()

    def slow_write(folder, state, arrays):
        started.set()
        time.sleep(0.3)
        write(folder, state, arrays)

    monkeypatch.setattr(checkpoints, "write_checkpoint", slow_write)
    model = tiny_model(seed=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    history = {key: [0.5] for key in HISTORY_KEYS}
    with pytest.raises(KeyboardInterrupt):
        with checkpoints.CheckpointWriter(str(tmp_path)) as writer:
            writer.save(dict(state_after(1), history=history), checkpoints.snapshot(model))
            history["loss"].append(0.1)  # the history grows on while the thread writes
            started.wait()
            raise KeyboardInterrupt
    assert sorted(os.listdir(tmp_path)) == ["state.json", "variables-epoch1.npz"]
    assert json.loads((tmp_path / "state.json").read_text())["history"]["loss"] == [0.5]


def test_a_damaged_or_foreign_variables_file_is_named_with_what_to_do(tmp_path):
    model = tiny_model(seed=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    state = state_after(1)
    checkpoints.write_checkpoint(str(tmp_path), state, checkpoints.snapshot(model))
    path = tmp_path / "variables-epoch1.npz"
    whole = path.read_bytes()
    damaged = "the file is damaged or cut short: not a whole .npz file"
    not_regular = "it is not a regular file"  # a FIFO would wait for a writer, /dev/zero fill the memory
    for contents, reason in ((b"not a zip", damaged), (whole[: len(whole) // 2], damaged), ("fifo", not_regular),
                             ("/dev/zero", not_regular), (None, "the file is missing")):  # fmt: skip
        path.unlink(missing_ok=True)
        if contents == "fifo":
            os.mkfifo(path)
        elif contents == "/dev/zero":
            path.symlink_to("/dev/zero")
        elif contents is not None:
            path.write_bytes(contents)
        with pytest.raises(UserError) as refused:
            checkpoints.restore(tiny_model(seed=2), str(tmp_path), state)
        assert str(refused.value) == f"{path} cannot be loaded ({reason}); delete {tmp_path} to start again"

    with zipfile.ZipFile(path, "w") as archive:  # a whole zip whose member is no array
        archive.writestr("model_00000.npy", "not an array")
    with pytest.raises(UserError) as refused:
        checkpoints.restore(tiny_model(seed=2), str(tmp_path), state)
    assert str(refused.value) == (
        f"{path} cannot be loaded (its member model_00000 is not a NumPy array); delete {tmp_path} to start again"
    )

    # Whole, but of another model: refused before any variable is set.
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    other.compile(optimizer="adam", loss="categorical_crossentropy")
    np.savez(path, **{f"model_{i:05d}": np.zeros(v.shape) for i, v in enumerate(other.variables)})
    with pytest.raises(UserError) as refused:
        checkpoints.restore(tiny_model(seed=2), str(tmp_path), state)
    assert str(refused.value) == (
        f"{path} does not fit this run's model (other variables or shapes: made by another version of "
        f"this code?); delete {tmp_path} to start again"
    )


def test_a_state_of_another_run_or_shape_is_refused_in_one_line(tmp_path):
    assert checkpoints.read_checkpoint(str(tmp_path), SETTINGS) is None
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(dict(state_after(1), run={"model": "other"})))
    with pytest.raises(UserError) as refused:
        checkpoints.read_checkpoint(str(tmp_path), SETTINGS)
    assert str(refused.value) == (
        f"{tmp_path} holds an unfinished run with other settings (model 'other' there, 'tiny' here, seed None "
        "there, 1 here); give that run's arguments to resume it, or delete the folder to start this one"
    )

    state_file.write_text("{not json")
    with pytest.raises(UserError, match=f"^{tmp_path} is not a readable checkpoint \\(.+\\); delete it to start again$"):
        checkpoints.read_checkpoint(str(tmp_path), SETTINGS)

    state = state_after(2, steps=5)
    for other_shape in ([], None, {}, dict(state, variables_file=None), dict(state, variables_file="../x.npz"),
                        dict(state, history={}), dict(state, history=dict(state["history"], loss=[0.5])),
                        dict(state, steps=-1), dict(state, steps=1.5), dict(state, seconds="1"),
                        dict(state, seconds=float("inf")), dict(state, seconds=-1.0),
                        dict(state, history=dict(state["history"], loss=[0.5, float("nan")])),
                        dict(state, history=dict(state["history"], loss=[0.5, "0.4"])),
                        dict(state, history=dict(state["history"], loss=[0.5, True])),
                        dict(state, history=dict(state["history"], loss=[0.5, 10**400])), dict(state, seconds=10**400),
                        dict(state, variables_file="variables-epoch1.npz"), dict(state, steps=6)):  # fmt: skip
        state_file.write_text(json.dumps(other_shape))
        with pytest.raises(UserError) as refused:
            checkpoints.read_checkpoint(str(tmp_path), SETTINGS)
        assert str(refused.value) == (
            f"{tmp_path} is not a readable checkpoint (its state.json lacks the run's settings, a "
            "history of numbers, its position or the name of its variables file); delete it to start again"
        )
    state_file.write_text(json.dumps(state))
    assert checkpoints.read_checkpoint(str(tmp_path), SETTINGS) == state
    # A validation loss may be infinite while the run trains on (its training loss may not).
    diverging = dict(state, history=dict(state["history"], val_loss=[float("inf"), 0.5]))
    state_file.write_text(json.dumps(diverging))
    assert checkpoints.read_checkpoint(str(tmp_path), SETTINGS)["history"]["val_loss"] == [float("inf"), 0.5]


def test_settings_of_a_state_file_are_named_in_one_line_whatever_their_keys(tmp_path):
    # A key is written as the file has it only where it is an argument's name: a newline in one
    # would split the message, and could forge a line of its own.
    forged = "model\nerror: resumed; nothing to do"
    (tmp_path / "state.json").write_text(json.dumps(dict(state_after(1), run=dict(SETTINGS, **{forged: 1}))))
    with pytest.raises(UserError) as refused:
        checkpoints.read_checkpoint(str(tmp_path), SETTINGS)
    assert str(refused.value) == (
        f"{tmp_path} holds an unfinished run with other settings ({forged!r} 1 there, None here); give that "
        "run's arguments to resume it, or delete the folder to start this one"
    )


def test_a_state_of_another_backend_is_refused_in_one_line(tmp_path):
    # Refused by the name it holds, before its variables are read: some would fit (a ResNet
    # without augmentation has the same variables on JAX and PyTorch).
    state_file = tmp_path / "state.json"
    backend = keras.backend.backend()
    state_file.write_text(json.dumps(dict(state_after(1), backend=backend)))
    assert checkpoints.read_checkpoint(str(tmp_path), SETTINGS)["backend"] == backend
    state_file.write_text(json.dumps(dict(state_after(1), backend="other")))
    with pytest.raises(UserError) as refused:
        checkpoints.read_checkpoint(str(tmp_path), SETTINGS)
    assert str(refused.value) == (
        f"{tmp_path} holds an unfinished run trained on other, not {backend}; resume it with "
        "KERAS_BACKEND=other, or delete the folder to start this one"
    )
    for not_a_backend in (None, "", "jax\nmore"):
        state_file.write_text(json.dumps(dict(state_after(1), backend=not_a_backend)))
        with pytest.raises(UserError, match=f"^{tmp_path} is not a readable checkpoint \\(its state.json lacks"):
            checkpoints.read_checkpoint(str(tmp_path), SETTINGS)


def test_a_state_file_that_cannot_be_read_in_bounded_memory_is_refused_in_one_line(tmp_path):
    state_file = tmp_path / "state.json"
    for make, reason in [
        (lambda: state_file.write_text("[" * 100_000), "maximum recursion depth exceeded"),
        (lambda: state_file.write_bytes(b" " * (32 * 2**20 + 1)),
         "its state.json is larger than 32 MiB, far more than a checkpoint's state"),
        (lambda: state_file.write_bytes(b"{\x80}"), "'utf-8' codec can't decode byte 0x80"),
        (lambda: state_file.mkdir(), "its state.json is not a regular file"),
        (lambda: os.mkfifo(state_file), "its state.json is not a regular file"),  # a read would wait forever
    ]:
        make()
        with pytest.raises(UserError) as refused:
            checkpoints.read_checkpoint(str(tmp_path), SETTINGS)
        message = str(refused.value)
        assert message.startswith(f"{tmp_path} is not a readable checkpoint ({reason}") and "\n" not in message
        assert message.endswith("); delete it to start again")
        state_file.rmdir() if state_file.is_dir() else state_file.unlink()


def test_a_state_beyond_the_runs_epochs_and_steps_is_refused(tmp_path):
    state_file = tmp_path / "state.json"
    for epochs, steps, resumable in [(0, 0, True), (1, 3, True), (2, 0, True), (1, 4, False), (2, 1, False),
                                     (3, 0, False)]:  # fmt: skip
        state_file.write_text(json.dumps(state_after(epochs, steps)))
        if resumable:
            assert checkpoints.read_checkpoint(str(tmp_path), SETTINGS, epochs=2, steps_per_epoch=4)["steps"] == steps
            continue
        with pytest.raises(UserError) as refused:
            checkpoints.read_checkpoint(str(tmp_path), SETTINGS, epochs=2, steps_per_epoch=4)
        assert str(refused.value) == (
            f"{tmp_path} is not a readable checkpoint (it stands at step {steps} after epoch {epochs}, beyond this "
            "run's 2 epochs of 4 steps); delete it to start again"
        )


def test_a_variables_file_that_would_take_more_memory_than_its_model_is_refused_before_it_is_read(tmp_path):
    model = tiny_model(seed=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    checkpoints.write_checkpoint(str(tmp_path), state_after(1), checkpoints.snapshot(model))
    path = tmp_path / "variables-epoch1.npz"
    whole = path.read_bytes()

    def does_not_fit(path):
        return (f"{path} does not fit this run's model (other variables or shapes: made by another version of "
                f"this code?); delete {tmp_path} to start again")  # fmt: skip

    def refusal(state=state_after(1)):
        with pytest.raises(UserError) as refused:
            checkpoints.restore(tiny_model(seed=2), str(tmp_path), state)
        return str(refused.value)

    # 20,000 members more: zipfile would list them all (550 bytes of memory each) before any is read.
    with zipfile.ZipFile(path, "a") as archive:
        for index in range(20_000):
            archive.writestr(f"x{index}", b"")
    tracemalloc.start()
    assert refusal() == does_not_fit(path)
    assert tracemalloc.get_traced_memory()[1] < 2**20
    tracemalloc.stop()

    # A header that gives a first array of 2**40 numbers, which NumPy would allocate before reading.
    mid_epoch = tmp_path / "variables-epoch1-step3.npz"
    mid_epoch.write_bytes(whole)
    with zipfile.ZipFile(mid_epoch, "a") as archive:  # a metric's array, whose shape the model says only later
        archive.writestr(*npy_member("metrics_00000", (2**40,)))
    assert refusal(state_after(1, steps=3)) == does_not_fit(mid_epoch)
    with zipfile.ZipFile(io.BytesIO(whole)) as original, zipfile.ZipFile(path, "w") as archive:
        for name in original.namelist():  # every variable, the first with a header of 2**40 numbers
            archive.writestr(*npy_member("model_00000", (2**40,)) if name == "model_00000.npy"
                             else (name, original.read(name)))  # fmt: skip
    assert refusal() == does_not_fit(path)

    # Compressed with bzip2, which NumPy never writes and zipfile decompresses a whole block at a time.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("model_00000.npy", b"\x00" * 100)
    assert refusal() == (f"{path} cannot be loaded (its member model_00000 is compressed in a way that NumPy "
                         f"never writes); delete {tmp_path} to start again")


def test_a_state_file_of_the_largest_size_allowed_is_read(tmp_path):
    state = state_after(2, steps=1)
    text = json.dumps(state)
    (tmp_path / "state.json").write_text(text + " " * (checkpoints.MAX_STATE_BYTES - len(text)))
    assert (tmp_path / "state.json").stat().st_size == 32 * 2**20
    assert checkpoints.read_checkpoint(str(tmp_path), SETTINGS) == state


def test_a_mid_epoch_checkpoint_without_the_metrics_running_values_does_not_fit(tmp_path):
    # Resumed, the epoch's loss and accuracy would start again from its remaining steps alone.
    model = tiny_model(seed=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    state = state_after(1, steps=3)
    checkpoints.write_checkpoint(str(tmp_path), state, checkpoints.snapshot(model, with_metrics=False))
    with pytest.raises(UserError) as refused:
        checkpoints.restore(tiny_model(seed=2), str(tmp_path), state)
    assert str(refused.value) == (
        f"{tmp_path / 'variables-epoch1-step3.npz'} does not fit this run's model (other variables or shapes: made "
        f"by another version of this code?); delete {tmp_path} to start again"
    )


def test_a_state_whose_curves_differ_in_length_is_refused(tmp_path):
    state = state_after(2, steps=1)
    for key in HISTORY_KEYS[1:]:  # the loss's length names the variables file: the others must agree with it
        for values in ([0.5], [0.5] * 3):
            history = dict(state["history"], **{key: values})
            (tmp_path / "state.json").write_text(json.dumps(dict(state, history=history)))
            with pytest.raises(UserError, match="its state.json lacks the run's settings, a history of numbers"):
                checkpoints.read_checkpoint(str(tmp_path), SETTINGS)


def test_each_position_of_a_run_has_a_variables_file_of_its_own():
    # So that a new checkpoint never overwrites the file that state.json names.
    assert [checkpoints.variables_file_name(3, steps) for steps in (0, 1, 2)] == [
        "variables-epoch3.npz", "variables-epoch3-step1.npz", "variables-epoch3-step2.npz"]
