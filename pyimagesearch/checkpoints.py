"""What an unfinished run needs to resume where it stopped, in `<history>.checkpoint/`.

- `state.json`: the run's settings, the Keras backend it trained on, its history so far, how far
  it got (`steps` trained and `seconds` spent in the epoch after the history's last, both 0 at an
  epoch's end) and the name of its variables file. It is replaced last, so it always names a
  complete variables file.
- `variables-*.npz`: every variable of the model (weights, BatchNormalization statistics and the
  SeedGenerators' states, so that augmentation and dropout draw on as if never stopped), of the
  optimizer (its step count, which drives RAdam's schedule, and its moments) and, mid-epoch, of
  the metrics (the epoch's running loss and accuracy).

The model itself is rebuilt from the run's settings, so a checkpoint holds numbers only: one
uncompressed .npz, written from a copy in host memory by a background thread while the next
epoch trains. Keras' `.keras` file (model config, weights, optimizer) takes 0.1-0.7 s to save on
the training thread (benchmarks/checkpoint_cost.py), and `BackupAndRestore`'s `.weights.h5` is
written in place, synchronously, without the history, and resumes at an epoch's start only.
"""

import contextlib
import json
import math
import os
import re
import threading
import zipfile

import keras
import numpy as np

from pyimagesearch import untrusted
from pyimagesearch.errors import UserError
from pyimagesearch.files import read_small_file, replaced_atomically, write_atomically
from pyimagesearch.run_files import differences

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time")
STATE_FILE = "state.json"
# The variables file's name says how far the run got, so a new checkpoint never replaces the
# file that state.json names.
VARIABLES_FILE = re.compile(r"variables-epoch\d+(-step\d+)?\.npz")
# What files.replaced_atomically leaves behind when a process dies while writing.
TEMPORARY_FILE = re.compile(r"\..+\.tmp(\.[a-z]+)?")
# A state.json of 100,000 epochs takes 13 MB.
MAX_STATE_BYTES = 32 * 2**20


def variables_file_name(epochs, steps):
    return f"variables-epoch{epochs}.npz" if steps == 0 else f"variables-epoch{epochs}-step{steps}.npz"


def array_name(group, index):
    """A variable's name in the variables file: model_00012 is the model's 13th."""
    return f"{group}_{index:05d}"


def groups(model, with_metrics):
    """The variables a checkpoint holds, by group: the order is fixed by the model's code."""
    variable_groups = {"model": model.variables, "optimizer": model.optimizer.variables}
    if with_metrics:
        variable_groups["metrics"] = model.metrics_variables
    return variable_groups


def host_copy(variables):
    """The variables' values as NumPy arrays in host memory that later training steps leave alone."""
    values = [variable.value for variable in variables]
    if keras.backend.backend() == "jax":
        import jax

        # One batched device-to-host transfer instead of one wait per variable. JAX arrays are
        # immutable: the host arrays stay as they are while the next steps train.
        return jax.device_get(values)
    # Copies: other backends update variables in place, and a view would change under the writer.
    return [np.array(keras.ops.convert_to_numpy(value)) for value in values]


def snapshot(model, with_metrics=False):
    """The arrays of a checkpoint of `model` now, named `<group>_<index>`."""
    arrays = {}
    for group, variables in groups(model, with_metrics).items():
        for index, value in enumerate(host_copy(variables)):
            arrays[array_name(group, index)] = value
    return arrays


def write_checkpoint(folder, state, arrays):
    """Write the variables file that `state` names, then `state.json`, each atomically, and delete
    older variables files. A kill at any moment leaves the previous checkpoint or this one."""
    with replaced_atomically(os.path.join(folder, state["variables_file"])) as temporary:
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
    write_atomically(os.path.join(folder, STATE_FILE), json.dumps(state))
    for name in os.listdir(folder):
        if VARIABLES_FILE.fullmatch(name) and name != state["variables_file"]:
            os.remove(os.path.join(folder, name))


class CheckpointWriter:
    """Writes checkpoints in a background thread, one at a time, so that training goes on.

    `save` waits for the previous write; `wait` returns once the last one is on disk. An error of
    the thread (a full disk) is raised again by the next `save` or `wait`. Use it as a context
    manager: the block's end waits for the last write, whatever ended the block.
    """

    def __init__(self, folder):
        self.folder = folder
        self.thread = None
        self.error = None

    def save(self, state, arrays, then=None):
        """Write the checkpoint in the background, then call `then` (if given) there."""
        self.wait()
        state = json.loads(json.dumps(state))  # a copy: the history grows while the thread writes
        self.thread = threading.Thread(target=self._write, args=(state, arrays, then), name="checkpoint writer")
        self.thread.start()

    def _write(self, state, arrays, then):
        try:
            write_checkpoint(self.folder, state, arrays)
            if then is not None:
                then()
        except BaseException as error:  # raised again on the training thread
            self.error = error

    def wait(self):
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.wait()
        elif self.thread is not None:  # the block's own exception goes on; the write finishes first
            self.thread.join()


def read_checkpoint(folder, settings, epochs=None, steps_per_epoch=None):
    """The state of the unfinished run in `folder`, or None if there is none.

    Raises UserError if it cannot be read, was made with other `settings`, or, where given, stands
    beyond a run of `epochs` epochs of `steps_per_epoch` steps.
    """
    path = os.path.join(folder, STATE_FILE)
    try:
        state = json.loads(read_small_file(path, MAX_STATE_BYTES, "a checkpoint's state", called=f"its {STATE_FILE}"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:  # JSON nested too deep is a RecursionError
        raise UserError(f"{folder} is not a readable checkpoint ({' '.join(str(error).split())}); delete it to "
                        "start again") from None
    if not well_formed(state):
        raise UserError(
            f"{folder} is not a readable checkpoint (its state.json lacks the run's settings, a "
            "history of numbers, its position or the name of its variables file); delete it to start again"
        )
    if state["run"] != settings:
        raise UserError(
            f"{folder} holds an unfinished run with other settings ({differences(state['run'], settings)}); "
            "give that run's arguments to resume it, or delete the folder to start this one"
        )
    # The backends give some variables other types and draw other random streams: another one's
    # variables mostly do not fit, and where they do (a ResNet without augmentation, between JAX
    # and PyTorch) the run would go on as neither backend trains it. (A checkpoint that names no
    # backend was written before they were told apart.)
    backend = state.get("backend", keras.backend.backend())
    if backend != keras.backend.backend():
        raise UserError(
            f"{folder} holds an unfinished run trained on {backend}, not {keras.backend.backend()}; resume it "
            f"with KERAS_BACKEND={backend}, or delete the folder to start this one"
        )
    done, steps = len(state["history"]["loss"]), state["steps"]
    if epochs is not None and not (done < epochs and steps < steps_per_epoch or done == epochs and steps == 0):
        raise UserError(f"{folder} is not a readable checkpoint (it stands at step {steps} after epoch {done}, "
                        f"beyond this run's {epochs} epochs of {steps_per_epoch} steps); delete it to start again")
    return state


def is_number(value, finite=True):
    # An int of 400 digits is no float: math.isfinite would raise OverflowError.
    return type(value) is float and (math.isfinite(value) or not finite) or type(value) is int and abs(value) < 2**63


def well_formed(state):
    """Whether a checkpoint's state holds what a resume reads: settings, a history of equally long
    lists of numbers, the position in the next epoch and the name of its variables file."""
    if not isinstance(state, dict) or not isinstance(state.get("run"), dict):
        return False
    history = state.get("history")
    if not isinstance(history, dict) or not isinstance(state.get("variables_file"), str):
        return False
    backend = state.get("backend", "none")  # a Keras backend's name, where given
    if not (isinstance(backend, str) and re.fullmatch("[a-z]+", backend)):
        return False
    steps, seconds = state.get("steps"), state.get("seconds")
    if type(steps) is not int or steps < 0 or not is_number(seconds) or seconds < 0:
        return False
    lists = [history.get(key) for key in HISTORY_KEYS]
    if not (all(isinstance(values, list) for values in lists) and len(set(map(len, lists))) == 1):
        return False
    # The training loss is finite (a run stops where it is not); a validation loss may not be.
    return (all(is_number(value, finite=not key.startswith("val_")) for key, values in zip(HISTORY_KEYS, lists)
                for value in values)
            and state["variables_file"] == variables_file_name(len(lists[0]), steps))  # fmt: skip


def remove_leftovers(folder, state):
    """Delete what a killed process left in the checkpoint folder: temporary files, and variables
    files that `state` does not name (written, but never named by a state.json)."""
    keep = state["variables_file"] if state else None
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(folder):
            if TEMPORARY_FILE.fullmatch(name) or (VARIABLES_FILE.fullmatch(name) and name != keep):
                with contextlib.suppress(OSError):  # a folder of that name, say: the next write names it
                    os.remove(os.path.join(folder, name))


def why_unloadable(path, error):
    """Why a checkpoint's variables file did not load, in words."""
    if not os.path.exists(path):
        return "the file is missing"
    if not os.path.isfile(path):
        return "it is not a regular file"
    if not zipfile.is_zipfile(path):
        return "the file is damaged or cut short: not a whole .npz file"
    return " ".join(str(error).split())


def restore(model, folder, state):
    """Set `model`'s and its optimizer's variables from the checkpoint `state` of `folder`.

    Returns the metrics' values to restore at the start of the next epoch's remaining steps (an
    empty list at an epoch's end). Raises UserError if the file is damaged or does not fit; it is
    checked against the model before any array is read.
    """
    path = os.path.join(folder, state["variables_file"])
    model.optimizer.build(model.trainable_variables)
    variable_groups = groups(model, with_metrics=False)
    expected = {
        array_name(group, index): (tuple(variable.shape), np.dtype(keras.backend.standardize_dtype(variable.value.dtype)))
        for group, variables in variable_groups.items()
        for index, variable in enumerate(variables)
    }
    does_not_fit = UserError(
        f"{path} does not fit this run's model (other variables or shapes: made by another "
        f"version of this code?); delete {folder} to start again"
    )
    # Mid-epoch, the metrics' running values too; the model has no metrics variables before fit.
    try:
        arrays = untrusted.read_arrays(path, expected, optional=r"metrics_\d{5}" if state["steps"] > 0 else None)
    except untrusted.Mismatch:
        raise does_not_fit from None
    except Exception as error:  # a damaged zip, a missing file, a bad CRC...
        raise UserError(f"{path} cannot be loaded ({why_unloadable(path, error)}); delete {folder} to start again") from None
    metrics = [arrays[name] for name in sorted(arrays) if name.startswith("metrics_")]
    if bool(metrics) != (state["steps"] > 0):
        raise does_not_fit
    for group, variables in variable_groups.items():
        for index, variable in enumerate(variables):
            variable.assign(arrays[array_name(group, index)])
    return metrics
