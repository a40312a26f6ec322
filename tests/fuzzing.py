"""Mutations of real inputs, fed to the readers that plot.py and train.py's resume use.

    python tests/fuzzing.py SEED FOLDER [SCALE]

Builds real examples of each input (history pickles of this project, of Keras 2 with NumPy 1.x
and of NumPy 2 arrays; classification reports of now and of 2019; a checkpoint's state.json and
its variables file), then feeds a fixed number of mutations of each (bit flips, truncations,
spliced pieces of other examples, inserted pickle opcodes, repeated slices, overwritten length
fields), drawn from SEED (SCALE times as many to search longer), to results.read_curves,
results.read_report, checkpoints.read_checkpoint and checkpoints.restore. Every outcome must be "read" or a UserError of one line that names the file.
Anything else is a finding: another exception (with its traceback), a message of several lines or
not naming the file, a message about memory, or a read that took over MAX_SECONDS. The address
space is limited to what the process has after its warm-up plus HEADROOM, so that an input that
allocates gigabytes fails here rather than on the machine. The input in hand is in FOLDER while it
is read, so that a crash leaves it there. Prints one JSON line: the seed, the counts per input,
the findings, the peak memory (resident) and how much of it came after the warm-up, and the
seconds the mutations took.
"""

import json
import os
import pickle
import pickletools
import random
import resource
import sys
import time
import traceback
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import classification_report  # noqa: E402

from pyimagesearch import checkpoints, results  # noqa: E402
from pyimagesearch.errors import UserError  # noqa: E402
from test_histories import KERAS2_HISTORY, keras2_history_pickle  # noqa: E402
from test_plot import REPORT_2019  # noqa: E402

MUTATIONS = {"history": 1500, "report": 500, "state": 500, "variables": 1000}
MAX_SECONDS = 2.0
HEADROOM = 2**30
SETTINGS = {"model": "tiny", "seed": 1}
EPOCHS, STEPS_PER_EPOCH = 3, 4

# What a mutation inserts, by input: pickle opcodes (their arguments follow at random), the words
# and numbers of reports and JSON; and what it writes over length and offset fields.
PIECES = {
    "history": [opcode.code.encode("latin1") for opcode in pickletools.opcodes],
    "report": [b"accuracy", b"macro avg", b"micro avg", b"nan", b"inf", b"1e999", b"-1", b"2.5", b"\n", b" " * 8,
               b"\xff", b"\x00", b"9" * 5000],
    "state": [b"[", b"]", b"{", b"}", b'"', b",", b":", b"NaN", b"Infinity", b"-", b"1e999", b"9" * 5000, b"null",
              b"true", b"0", b"[" * 5000, b'"run"', b'"steps"', b'"history"', b'"loss"', b"\\u0000"],
    "variables": [b"PK\x05\x06", b"PK\x01\x02", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"'shape': (", b"'descr': '",
                  b"|O", b"<f8", b"(1000000000,", b"True"],
}
LENGTHS = [b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x00\x00\x00\x00", b"\xff" * 8, b"\x7f",
           b"\x80", b"\xff\xff", b"\x00\x00\x01\x00"]  # fmt: skip


def histories():
    """Real history pickles: ours in every protocol, Keras 2's, NumPy 2's arrays and scalars."""
    ours = {"loss": [0.75, 0.5, 0.25], "accuracy": [0.5, 0.625, 0.75], "val_loss": [0.8, 0.7, 0.6],
            "val_accuracy": [0.5, 0.5, 0.625], "learning_rate": [1e-3] * 3, "epoch_time": [3.25, 3.0, 3.5]}  # fmt: skip
    examples = [pickle.dumps(ours, protocol=protocol) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]
    examples += [keras2_history_pickle(KERAS2_HISTORY, protocol) for protocol in (2, 3)]
    arrays = {key: np.array(values, dtype="f4") for key, values in ours.items()}
    scalars = {key: [np.float64(value) for value in values] for key, values in ours.items()}
    examples += [pickle.dumps(history, protocol=protocol) for history in (arrays, scalars) for protocol in (2, 3, 5)]
    return examples


def reports():
    truth = np.arange(200) % 4
    return [classification_report(truth, np.roll(truth, 3), digits=4).encode(), REPORT_2019.encode()]


def tiny_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.5, seed=1),
                              keras.layers.Dense(2, activation="softmax")])  # fmt: skip
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((16, 4), dtype="float32")
    model.fit(x, keras.utils.to_categorical(np.arange(16) % 2, 2), batch_size=8, epochs=1, verbose=0)
    return model


def checkpoint(model, folder):
    """A real checkpoint of `model` in `folder`, one epoch and 3 steps in: (state, its bytes, the
    variables file's bytes)."""
    history = {key: [0.5] for key in checkpoints.HISTORY_KEYS}
    state = dict(run=SETTINGS, history=history, steps=3, seconds=1.5,
                 variables_file=checkpoints.variables_file_name(1, 3))  # fmt: skip
    checkpoints.write_checkpoint(folder, state, checkpoints.snapshot(model, with_metrics=True))
    with open(os.path.join(folder, checkpoints.STATE_FILE), "rb") as file:
        state_bytes = file.read()
    with open(os.path.join(folder, state["variables_file"]), "rb") as file:
        return state, state_bytes, file.read()


def peak_memory():
    """The most resident memory this process has had, in bytes (VmHWM: ru_maxrss would count that of
    the process it was forked from)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def mutate(rng, data, others, pieces):
    """`data` changed in one to three ways; `others` are examples to splice from, `pieces` what to insert."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data) + 1)
        how = rng.choice(["flip", "digit", "truncate", "splice", "insert", "insert", "repeat", "overwrite"])
        if how == "flip" and data:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif how == "digit":
            digits = [index for index, byte in enumerate(data) if 48 <= byte <= 57]
            if digits:
                data[rng.choice(digits)] = rng.randrange(48, 58)
        elif how == "truncate":
            del data[at:]
        elif how == "splice":
            other = rng.choice(others)
            start = rng.randrange(len(other) + 1)
            data[at : at + rng.randint(0, 16)] = other[start : start + rng.randint(1, 64)]
        elif how == "insert":
            data[at:at] = rng.choice(pieces) + rng.randbytes(rng.choice([0, 0, 1, 2, 4, 8]))
        elif how == "repeat" and data:
            start = rng.randrange(len(data))
            data[start:start] = data[start : start + rng.randint(1, 4)] * rng.choice([10, 1000, 20_000])
        elif how == "overwrite":
            value = rng.choice(LENGTHS)
            data[at : at + len(value)] = value
    return bytes(data)


def main(seed, folder, scale=1):
    warnings.simplefilter("error", RuntimeWarning)  # NumPy's overflow warnings would be extra lines
    rng = random.Random(seed)
    model = tiny_model()
    checkpoint_folder = os.path.join(folder, "run.pickle.checkpoint")
    os.makedirs(checkpoint_folder)
    state, state_bytes, variables_bytes = checkpoint(model, checkpoint_folder)
    history_path, report_path = os.path.join(folder, "history.pickle"), os.path.join(folder, "report.txt")
    state_path = os.path.join(checkpoint_folder, checkpoints.STATE_FILE)
    variables_path = os.path.join(checkpoint_folder, state["variables_file"])

    def resume():
        read = checkpoints.read_checkpoint(checkpoint_folder, SETTINGS, EPOCHS, STEPS_PER_EPOCH)
        if read is not None:
            checkpoints.restore(model, checkpoint_folder, read)

    targets = {
        "history": (history_path, histories(), lambda: results.read_curves(history_path)),
        "report": (report_path, reports(), lambda: results.read_report(report_path)),
        "state": (state_path, [state_bytes], resume),
        "variables": (variables_path, [variables_bytes], lambda: checkpoints.restore(model, checkpoint_folder, state)),
    }
    for path, examples, read in targets.values():  # the warm-up: every reader, on real inputs
        with open(path, "wb") as file:
            file.write(examples[0])
        read()
    with open(state_path, "wb") as file:
        file.write(state_bytes)
    address_space = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (address_space + HEADROOM, resource.RLIM_INFINITY))
    peak_before = peak_memory()

    started, counts, findings = time.monotonic(), {}, []
    for target, number in MUTATIONS.items():
        path, examples, read = targets[target]
        counts[target] = {"read": 0, "refused": 0}
        for index in range(number * scale):
            content = mutate(rng, rng.choice(examples), examples, PIECES[target])
            with open(path, "wb") as file:
                file.write(content)
            began = time.monotonic()
            try:
                read()
                outcome = "read"
            except UserError as error:
                outcome, message = "refused", str(error)
                named = path if target in ("history", "report") else checkpoint_folder
                if "\n" in message or named not in message or "MemoryError" in message or "allocate" in message:
                    findings.append(dict(target=target, index=index, message=message[:2000]))
            except Exception:
                outcome = None
                findings.append(dict(target=target, index=index, traceback=traceback.format_exc()[-3000:]))
            if time.monotonic() - began > MAX_SECONDS:
                findings.append(dict(target=target, index=index, seconds=round(time.monotonic() - began, 1)))
            if outcome:
                counts[target][outcome] += 1
        with open(path, "wb") as file:  # the real one again, for the next target's reads
            file.write(examples[0])
    peak = peak_memory()
    print(json.dumps(dict(seed=seed, counts=counts, findings=findings, peak_mib=peak // 2**20,
                          peak_mib_above_warm_up=(peak - peak_before) // 2**20,
                          seconds=round(time.monotonic() - started, 1))))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:]))
