"""read_history: plain training histories load, from 2019 to now; pickles that would run code do not."""

import builtins
import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from pyimagesearch import histories
from pyimagesearch.errors import UserError
from pyimagesearch.histories import NotAHistory, read_history
from support import REPO


def refusal(path, reason):
    return f"{path} is not a readable training history ({reason}); delete it and re-run its train.py line"


# ## Pickles that would run code


class Payload:
    """Unpickling this calls `function(*arguments)`, as a tampered history file would."""

    def __init__(self, function, *arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


def payloads():
    """{case: (pickle bytes, the function it names)}, each creating ./PWNED when pickle.load reads it."""
    touch = "open('PWNED', 'w').close()"
    # Protocols 0 to 2 write Python 2's names, and the refusal names what the file holds.
    evil = {
        "os.system": (Payload(os.system, "touch PWNED"), "posix.system", "posix.system"),
        "subprocess.call": (Payload(subprocess.call, ["touch", "PWNED"]), "subprocess.call", "commands.call"),
        "builtins.eval": (Payload(builtins.eval, touch), "builtins.eval", "__builtin__.eval"),
        "builtins.exec": (Payload(builtins.exec, touch), "builtins.exec", "__builtin__.exec"),
    }
    cases = {}
    for name, (payload, named, python2_named) in evil.items():
        for protocol in (0, 2, 4):  # GLOBAL as text, GLOBAL after PROTO, STACK_GLOBAL
            cases[f"{name}-protocol{protocol}"] = (pickle.dumps(payload, protocol=protocol),
                                                   named if protocol > 2 else python2_named)
        # Hidden inside an otherwise plain history.
        history = {"loss": [0.5, payload], "accuracy": [0.9, 0.95]}
        cases[f"{name}-inside-a-history"] = pickle.dumps(history, protocol=4), named
    # Protocol 0's INST opcode names the function and calls it in one step.
    cases["os.system-INST"] = b"(S'touch PWNED'\nios\nsystem\n.", "os.system"
    return cases


PAYLOADS = payloads()


@pytest.mark.parametrize("case", PAYLOADS)
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, monkeypatch, case):
    content, named = PAYLOADS[case]
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "resnet_adam_mnist.pickle"
    path.write_bytes(content)
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, f"it would call {named}; refused, nothing was called")
    assert not (tmp_path / "PWNED").exists()
    # The payload is real: pickle.load runs it.
    with open(path, "rb") as file:
        pickle.load(file)
    assert (tmp_path / "PWNED").exists()


def test_a_pickle_naming_an_arbitrary_module_does_not_import_it(tmp_path, monkeypatch):
    marker = tmp_path / "IMPORTED"
    (tmp_path / "planted_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nvalue = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "history.pickle"
    path.write_bytes(b"\x80\x02cplanted_module\nvalue\n.")
    with pytest.raises(NotAHistory, match=r"it would call planted_module\.value; refused"):
        read_history(path)
    assert not marker.exists() and "planted_module" not in sys.modules
    assert pickle.loads(path.read_bytes()) == 1 and marker.exists()  # pickle.load would have imported it
    del sys.modules["planted_module"]


@pytest.mark.parametrize(
    "content, reason",
    [
        # numpy.ndarray is only ever an argument of _reconstruct: called, it allocates its shape.
        (b"\x80\x02cnumpy\nndarray\nK\x03\x85R.", "it holds an array whose numbers are not all in the file"),
        (b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x10\x85\x85R.",
         "it holds an array of shape (268435456,) whose numbers are not all in the file"),
        # Object, string and structured NumPy types are refused before NumPy builds them.
        (pickle.dumps({"loss": np.array([1.0], dtype=object)}), "it holds a NumPy type 'O8', not a number type"),
        (pickle.dumps({"loss": np.array(["a"])}), "it holds a NumPy type 'U1', not a number type"),
        (pickle.dumps({"loss": np.float64(1).astype("f8,f8")}), "it holds a NumPy type 'V16', not a number type"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
         "it holds text encoded as 'rot13', not bytes as latin1"),
    ],
    ids=["ndarray-called", "ndarray-called-with-a-shape", "object-array", "string-array", "structured-scalar",
         "other-encoding"],
)
def test_numpy_names_are_allowed_only_for_numbers(tmp_path, content, reason):
    path = tmp_path / "history.pickle"
    path.write_bytes(content)
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, reason)


@pytest.mark.parametrize(
    "history, reason",
    [
        ([0.1, 0.2], "it holds a list, not a dict"),
        ({1: [0.5]}, "it has a key of type int, not a str"),
        ({2**20000: [0.5]}, "it has a key of type int, not a str"),  # too long to print
        ({"x" * 10**6: "0.5"}, f"its '{'x' * 40}...' holds a str, not a list of numbers"),
        ({"k" * 40: "0.5"}, f"its '{'k' * 40}' holds a str, not a list of numbers"),  # 40 characters are shown whole
        ({"lo\nss": "0.5"}, "its 'lo ss' holds a str, not a list of numbers"),  # the message stays one line
        ({"loss": "0.5"}, "its 'loss' holds a str, not a list of numbers"),
        ({"loss": (0.5, 0.4)}, "its 'loss' holds a tuple, not a list of numbers"),
        ({"loss": [0.5, [0.4]]}, "its 'loss' holds a list, not only numbers"),
        ({"loss": [0.5, None]}, "its 'loss' holds a NoneType, not only numbers"),
        ({"loss": [0.5, None, "x"]}, "its 'loss' holds a NoneType, not only numbers"),  # the first stranger
        ({"loss": [True]}, "its 'loss' holds a bool, not only numbers"),
        ({"loss": np.zeros((2, 2))}, "its 'loss' is a 2-D array of float64, not a list of numbers"),
        ({"loss": np.zeros(2, dtype=bool)}, "it holds a NumPy type 'b1', not a number type"),
    ],
)
def test_data_other_than_a_dict_of_number_lists_is_refused(tmp_path, history, reason):
    path = tmp_path / "history.pickle"
    path.write_bytes(pickle.dumps(history))
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, reason)


def test_damaged_and_unreadable_files_are_one_line_user_errors(tmp_path):
    path = tmp_path / "history.pickle"
    for content, reason in [(b"", "it is empty"),
                            (pickle.dumps({"loss": [0.5, 0.4]})[:-5],
                             "it is cut short or damaged: not enough data in stream to read float8"),
                            (b"\x80\x04 not a pickle",
                             "it is cut short or damaged: at position 2, opcode b' ' unknown")]:
        path.write_bytes(content)
        with pytest.raises(UserError) as refused:
            read_history(path)
        assert str(refused.value) == refusal(path, reason)
    with pytest.raises(UserError) as refused:
        read_history(tmp_path / "absent.pickle")
    assert str(refused.value) == (
        f"cannot read {tmp_path / 'absent.pickle'} (No such file or directory); check the file and its permissions")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    path = tmp_path / "history.pickle"
    os.mkfifo(path)
    done = threading.Event()

    def writer_after_a_while():  # so that a read that waits for one fails rather than hangs
        while not done.wait(2):
            with contextlib.suppress(OSError):  # no reader yet
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    threading.Thread(target=writer_after_a_while, daemon=True).start()
    try:
        with pytest.raises(NotAHistory) as refused:
            read_history(path)
    finally:
        done.set()
    assert str(refused.value) == refusal(path, "it is not a regular file")


# ## Histories that load


def test_this_projects_and_keras_3_histories_load_as_written(tmp_path):
    history = {"loss": [0.75, 0.5], "accuracy": [0.5, 0.625], "val_loss": [0.8, 0.7],
               "val_accuracy": [0.5, 0.5], "learning_rate": [0.001, 0.001], "epoch_time": [3.25, 3.0]}
    path = tmp_path / "history.pickle"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path.write_bytes(pickle.dumps(history, protocol=protocol))
        read = read_history(path)
        assert read == history and type(read) is dict
        assert all(type(value) is float for values in read.values() for value in values)
    path.write_bytes(pickle.dumps({"loss": [], "count": [1, 2]}))  # empty curves and ints are data too
    assert read_history(str(path)) == {"loss": [], "count": [1, 2]}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_and_scalars_as_numpy_2_writes_them_load(tmp_path, protocol):
    history = {"loss": np.array([0.5, 0.25], dtype=np.float32), "epochs": np.arange(3),
               "accuracy": [np.float32(0.5), np.float64(0.75), np.int64(1)]}
    path = tmp_path / "history.pickle"
    path.write_bytes(pickle.dumps(history, protocol=protocol))
    read = read_history(path)
    assert read["loss"].dtype == np.float32 and read["loss"].tolist() == [0.5, 0.25]
    assert read["epochs"].tolist() == [0, 1, 2]
    assert [type(value) for value in read["accuracy"]] == [np.float32, np.float64, np.int64]
    assert read["accuracy"] == [0.5, 0.75, 1]


# Keras 2 (2019) kept NumPy scalars in its history lists, and NumPy 1.x pickled each one as
# numpy.core.multiarray.scalar(numpy.dtype("f4", 0, 1) with its state, raw bytes). Python 3
# writes those bytes as a bytes opcode in protocol 3, and as _codecs.encode(text, "latin1") in
# protocol 2. These helpers write the opcodes one by one, as that NumPy did.


def text(string):
    encoded = string.encode("utf-8")
    return b"X" + struct.pack("<I", len(encoded)) + encoded  # BINUNICODE


def numpy1_scalar(value, type_code, protocol):
    raw = np.array(value, dtype=type_code).tobytes()
    dtype = (b"cnumpy\ndtype\n" + text(type_code) + b"K\x00K\x01\x87R"  # numpy.dtype("f4", 0, 1)
             + b"(K\x03" + text("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")  # its state
    if protocol == 2:
        data = b"c_codecs\nencode\n" + text(raw.decode("latin1")) + text("latin1") + b"\x86R"
    else:
        data = b"C" + bytes([len(raw)]) + raw  # SHORT_BINBYTES
    return b"cnumpy.core.multiarray\nscalar\n" + dtype + data + b"\x86R"


def keras2_history_pickle(history, protocol):
    """{key: [(value, type code)]} pickled as Keras 2 with NumPy 1.x and Python 3 wrote it."""
    items = b"".join(text(key) + b"](" + b"".join(numpy1_scalar(*value, protocol) for value in values) + b"e"
                     for key, values in history.items())
    return bytes([0x80, protocol]) + b"}(" + items + b"u."


KERAS2_HISTORY = {
    "val_loss": [(0.375, "f8"), (0.3125, "f8")],
    "val_acc": [(0.875, "f8"), (0.90625, "f8")],
    "loss": [(0.5, "f4"), (0.25, "f4")],
    "acc": [(0.8125, "f4"), (0.9375, "f4")],
    "lr": [(0.001, "f4"), (0.001, "f4")],
}


@pytest.mark.parametrize("protocol", [2, 3])
def test_keras_2_histories_pickled_by_numpy_1_load_with_their_values(tmp_path, protocol):
    path = tmp_path / "resnet_adam_mnist.pickle"
    path.write_bytes(keras2_history_pickle(KERAS2_HISTORY, protocol))
    assert (b"c_codecs\nencode\n" in path.read_bytes()) == (protocol == 2)
    history = read_history(path)
    assert list(history) == ["val_loss", "val_acc", "loss", "acc", "lr"]
    for key, values in KERAS2_HISTORY.items():
        expected = [np.dtype(type_code).type(value) for value, type_code in values]
        assert history[key] == expected
        assert [type(value) for value in history[key]] == [type(value) for value in expected]
    assert history["lr"][0] == np.float32(0.001) and history["acc"][1] == 0.9375


def test_numpy_1_pickles_written_by_python_2_load(tmp_path):
    # Python 2's protocol 2 writes the raw bytes as a str (SHORT_BINSTRING), which Python 3 can
    # only read as text; NumPy turns it back into bytes through latin1.
    scalar = (b"cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nU\x02f8K\x00K\x01\x87R"
              b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
              b"U\x08" + np.float64(0.9375).tobytes() + b"\x86R")
    path = tmp_path / "history.pickle"
    path.write_bytes(b"\x80\x02}(U\x08val_loss](" + scalar + b"eu.")
    assert read_history(path) == {"val_loss": [0.9375]}


# ## Pickles that would build more than their bytes hold: refused before anything is built

# A dict whose key is a tuple nested 200,000 deep: the C unpickler's hash of it overflows the stack.
NESTED_KEY = b"\x80\x03}" + b")" + b"\x85" * 200_000 + b"]s."


def array_bomb(keys=("loss", "val_loss", "acc", "val_acc")):
    """A history of 20-million-number arrays made by their shape alone: NumPy's _reconstruct(ndarray,
    (20_000_000,), "f8") for each key, which allocates them, and no data."""
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x2d\x31\x01\x85U\x02f8\x87R"
    return b"\x80\x02}(" + b"".join(text(key) + array for key in keys) + b"u."


def numpy_array_pickle(values, shape):
    """NumPy 2's protocol 2 pickle of the float64 array `values` with its shape changed to `shape`."""
    content = pickle.dumps({"loss": np.array(values, dtype="f8")}, protocol=2)
    old_shape = b"K" + bytes([len(values)]) + b"\x85"
    assert content.count(old_shape) == 1
    return content.replace(old_shape, b"J" + struct.pack("<i", shape) + b"\x85")


def shared_tuples(width, levels):
    """A dict whose key is a tuple of `width` references to a tuple of `width` references, `levels`
    deep: a few hundred bytes, and width ** levels values for Python to walk as it hashes the key."""
    content = b"\x80\x02}" + b"(" * levels + b"K\x01\x85q\x00"  # the tuple (1,), put in the memo
    for level in range(1, levels + 1):
        content += (b"h" + bytes([level - 1])) * (width - 1) + b"tq" + bytes([level])
    return content + b"]G?\xf0\x00\x00\x00\x00\x00\x00as."  # its value: [1.0]


BOUNDLESS = {
    "nested-key": (NESTED_KEY, "it nests deeper than 16 levels, deeper than a training history"),
    "nested-lists": (b"\x80\x02" + b"]" * 100 + b"a" * 99 + b".", "it nests deeper than 16 levels, deeper than a "
                     "training history"),
    "array-bomb": (array_bomb(), "it holds an array of shape (20000000,) whose numbers are not all in the file"),
    "array-longer-than-its-data": (numpy_array_pickle([0.5, 0.25], 20_000_000),
                                   "it holds an array of shape (20000000,) whose numbers are not all in the file"),
    "frombuffer-longer-than-its-data": (
        pickle.dumps({"loss": np.array([0.5, 0.25])}, protocol=5).replace(b"K\x02\x85", b"K\x09\x85"),
        "it holds an array of shape (9,) whose numbers are not all in the file"),
    "type-with-fields": (keras2_history_pickle({"loss": [(0.5, "f8")]}, 3).replace(b"NNN", b"N]N"),
                         "it holds a NumPy type with fields or sizes of its own, not a number type"),
    "shared-tuples": (shared_tuples(60, 7), "it holds more than 500,000 values, more than a training history"),
    "too-many-values": (b"\x80\x04](" + b"N" * 500_001 + b"e.",
                        "it holds more than 500,000 values, more than a training history"),
    "huge-memo-index": (b"\x80\x02}r\xff\xff\xff\xff.",
                        "it is cut short or damaged: LONG_BINPUT 4294967295 is beyond any memo a history needs"),
    "one-list-twice": (b"\x80\x02}(X\x01\x00\x00\x00a]q\x00X\x01\x00\x00\x00bh\x00u.",
                       "it holds one list in two places, which a history never does"),
    "a-set": (pickle.dumps({"loss": {0.5}}), "it holds the pickle opcode EMPTY_SET, which plain data does not need"),
    "dup": (b"\x80\x02]2\x86.", "it holds the pickle opcode DUP, which plain data does not need"),
}


# The nested and shared keys are read in a subprocess only, below: a regression would crash or hang
# the tests' process.
@pytest.mark.parametrize("case", [case for case in BOUNDLESS if case not in ("nested-key", "shared-tuples")])
def test_a_pickle_that_would_build_more_than_it_holds_is_refused_before_anything_is_built(tmp_path, case):
    content, reason = BOUNDLESS[case]
    path = tmp_path / "history.pickle"
    path.write_bytes(content)
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, reason)


# Python hashes an int anew each time, from all its digits, and each key of one hash takes as long
# to insert as all the keys before it: 4 MiB of either took minutes. Text hashes at random, and once.
HASHED_ALIKE = {
    "keys-of-one-hash": b"\x80\x02}(" + b"".join(b"\x8a\x0a" + (k * (2**61 - 1)).to_bytes(10, "little") + b"\x88"
                                                for k in range(1, 2000)) + b"u.",  # multiples of 2**61 - 1: hash 0
    "one-long-key-many-times": b"\x80\x02}(\x8b" + (300_000).to_bytes(4, "little") + b"\x01" * 300_000
                               + b"q\x00\x88" + b"h\x00\x88" * 20 + b"u.",  # from the memo
}


@pytest.mark.parametrize("case", HASHED_ALIKE)
def test_keys_that_python_hashes_at_length_or_alike_are_refused_before_anything_is_built(tmp_path, monkeypatch,
                                                                                         case):  # fmt: skip
    monkeypatch.setattr(histories, "_PlainDataUnpickler", None)  # building would fail otherwise
    path = tmp_path / "history.pickle"
    path.write_bytes(HASHED_ALIKE[case])
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, "it has a key of type int, not a str")


def test_a_file_larger_than_any_history_is_refused_unread(tmp_path):
    path = tmp_path / "history.pickle"
    path.write_bytes(pickle.dumps({"loss": [0.5] * 500_000}, protocol=4))
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, "it is larger than 4 MiB, far more than a training history")
    # 20,000 epochs of our six curves take a quarter of that.
    path.write_bytes(pickle.dumps({key: [0.5] * 20_000 for key in ("loss", "accuracy", "val_loss", "val_accuracy",
                                                                    "learning_rate", "epoch_time")}))
    assert len(read_history(path)["loss"]) == 20_000 and path.stat().st_size < 1.1e6


# plot.py with at most 1 GiB of address space, its peak memory printed on stdout as it exits (VmHWM:
# ru_maxrss would count the memory of the process it was forked from).
BOUNDED_PLOT = (
    "import atexit, re, resource, runpy, sys\n"
    "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n"
    "peak = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]) // 1024\n"
    "atexit.register(lambda: print('peak MiB', peak()))\n"
    "sys.argv = ['plot.py'] + sys.argv[1:]\n"
    "runpy.run_path('plot.py', run_name='__main__')\n"
)


@pytest.mark.parametrize("case", ["nested-key", "shared-tuples", "array-bomb"])
def test_plot_names_such_a_history_in_one_line_in_bounded_time_and_memory(tmp_path, case):
    content, reason = BOUNDLESS[case]
    (tmp_path / "output").mkdir()
    path = tmp_path / "output" / "resnet_adam_mnist.pickle"
    path.write_bytes(content)
    result = subprocess.run([sys.executable, "-c", BOUNDED_PLOT, "--input", str(path.parent), "--plots",
                             str(tmp_path / "plots")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"warning: {refusal(path, reason)}",
        f"error: these histories could not be read and are the only ones, so nothing was drawn: {path}; delete "
        "them and re-run their train.py lines",
    ]
    assert int(result.stdout.removeprefix("peak MiB ")) < 400


def test_a_numpy_1_scalar_pickled_big_endian_reads_as_its_value(tmp_path):
    little = numpy1_scalar(0.5, "f8", 3)
    big = little.replace(text("<"), text(">")).replace(np.float64(0.5).tobytes(), np.float64(0.5).byteswap().tobytes())
    path = tmp_path / "history.pickle"
    path.write_bytes(b"\x80\x03}(" + text("loss") + b"](" + big + b"eu.")
    assert read_history(path) == {"loss": [0.5]}


ARRAY_PICKLE = pickle.dumps({"loss": np.array([0.5])}, protocol=2)  # _reconstruct(ndarray, (0,), b"b"), then BUILD


@pytest.mark.parametrize("content, reason", [
    # _reconstruct given something other than numpy.ndarray as the array's type
    (ARRAY_PICKLE.replace(b"cnumpy\nndarray\n", b"K\x07"), "it holds an array of type 7, not a NumPy array"),
    # the array's state set a second time (BINGET of the state tuple, BUILD again)
    (ARRAY_PICKLE.replace(b"bs.", b"bh\x16bs."), "it sets the state of something other than a NumPy type or array"),
    (b"\x80\x02(}.", "it is cut short or damaged: it stops with other than one value"),  # a MARK left open
    (b"\x80\x02)" + b"\x85" * 16 + b".", "it nests deeper than 16 levels, deeper than a training history"),
    (b"\x80\x02)" + b"\x85" * 15 + b".", "it holds a tuple, not a dict"),  # 16 levels: read, and not a history
    (b"\x80\x04](" + b"N" * 499_998 + b"e.", "it holds a list, not a dict"),  # 500,000 values: read
    (b"\x80\x02}r" + (500_000).to_bytes(4, "little") + b".",
     "it is cut short or damaged: LONG_BINPUT 500000 is beyond any memo a history needs"),
], ids=["reconstruct-of-no-array-type", "state-set-twice", "mark-left-open", "17-levels", "16-levels",
        "500000-values", "memo-index-500000"])
def test_the_bounds_and_checks_of_a_pickle_hold_exactly(tmp_path, content, reason):
    assert b"bs." in ARRAY_PICKLE and b"cnumpy\nndarray\n" in ARRAY_PICKLE
    path = tmp_path / "history.pickle"
    path.write_bytes(content)
    with pytest.raises(NotAHistory) as refused:
        read_history(path)
    assert str(refused.value) == refusal(path, reason)
    path.write_bytes(b"\x80\x02}r" + (499_999).to_bytes(4, "little") + b".")  # the highest memo index a history may use
    assert read_history(path) == {}
