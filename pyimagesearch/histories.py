"""Reading training histories without running code.

A pickle names functions that `pickle.load` calls as it reads, so loading one from elsewhere runs
whatever it says. A training history is plain data, a dict of str keys to lists of numbers, so
`read_history` lets a pickle name only what rebuilds numbers: NumPy's scalars (as Keras 2 and
NumPy 1.x wrote them in 2019, under `numpy.core`; NumPy 2 says `numpy._core`), NumPy arrays of
numbers, and the `_codecs.encode` that protocol 2 writes bytes with. Anything else it names is
refused before it is called.

Reading is bounded by construction: a file over MAX_BYTES is refused unread, and the opcodes of
the rest are checked before anything is built (`untrusted.check_opcodes`: what plain data needs,
nesting depth, number of values, arrays backed by the file's bytes).
"""

import io
import pickle

import numpy as np
from numpy._core import multiarray, numeric

from pyimagesearch.errors import UserError
from pyimagesearch.files import read_small_file
from pyimagesearch.untrusted import NAMES, NUMBER_TYPE, Refused as _Refused, check_opcodes

# Our histories take 54 bytes an epoch, Keras 2's 130 to 240: this is 17,000 epochs or more.
MAX_BYTES = 4 * 2**20


class NotAHistory(UserError):
    """The file is not a plain training history; the one-line message names it and what it held."""


def _is_number_type(dtype):
    return isinstance(dtype, np.dtype) and dtype.kind in "fiu" and dtype.fields is None and dtype.ndim == 0


# Each stands in for the NumPy function of its name and checks its arguments before calling it:
# no object, string or structured types, whose pickled form could hold more than numbers.
def _dtype(spec, align=False, copy=False):
    if not (isinstance(spec, str) and NUMBER_TYPE.fullmatch(spec)):
        raise _Refused(f"it holds a NumPy type {spec!r}, not a number type")
    # NumPy 1.x wrote align as 0; NumPy 2.4 deprecates ints there. A copy, so that the pickle's
    # state then changes only this copy.
    return np.dtype(spec, bool(align), True)


def _scalar(dtype, data):
    if not _is_number_type(dtype):
        raise _Refused(f"it holds a NumPy scalar of {dtype!r}, not a number")
    return multiarray.scalar(dtype, data)


# A pickled array names its type, numpy.ndarray, for _reconstruct to use, never to call:
# a stand-in that cannot be called.
_ARRAY_TYPE = object()


def _reconstruct(array_type, shape, typecode):
    if array_type is not _ARRAY_TYPE:
        raise _Refused(f"it holds an array of type {array_type!r}, not a NumPy array")
    return multiarray._reconstruct(np.ndarray, shape, typecode)


def _frombuffer(buffer, dtype, shape, order):
    if not _is_number_type(dtype):
        raise _Refused(f"it holds a NumPy array of {dtype!r}, not of numbers")
    return numeric._frombuffer(buffer, dtype, shape, order)


def _latin1_encode(text, encoding):
    if encoding not in ("latin1", "latin-1"):
        raise _Refused(f"it holds text encoded as {encoding!r}, not bytes as latin1")
    return text.encode("latin1")


STAND_INS = {"dtype": _dtype, "ndarray": _ARRAY_TYPE, "encode": _latin1_encode, "scalar": _scalar,
             "reconstruct": _reconstruct, "frombuffer": _frombuffer}
ALLOWED = {name: STAND_INS[role] for name, role in NAMES.items()}


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            return ALLOWED[module, name]
        raise _Refused(f"it would call {module}.{name}; refused, nothing was called")


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _what_is_wrong(history):
    """Why `history` is not a dict of str keys to lists (or 1-D arrays) of numbers, or None."""
    if not isinstance(history, dict):
        return f"it holds a {type(history).__name__}, not a dict"
    for key, values in history.items():
        if not isinstance(key, str):
            return f"it has a key of type {type(key).__name__}, not a str"  # its repr could take megabytes
        key = key if len(key) <= 40 else key[:40] + "..."
        if isinstance(values, np.ndarray):
            if values.ndim != 1 or not _is_number_type(values.dtype):
                return f"its '{key}' is a {values.ndim}-D array of {values.dtype}, not a list of numbers"
        elif not isinstance(values, list):
            return f"its '{key}' holds a {type(values).__name__}, not a list of numbers"
        else:
            strangers = [value for value in values if not _is_number(value)]
            if strangers:
                return f"its '{key}' holds a {type(strangers[0]).__name__}, not only numbers"
    return None


def read_history(path):
    """The training history pickled at `path`: a dict of str keys to lists (or arrays) of numbers.

    Raises NotAHistory, a UserError with one line naming the file and what it held, for anything
    else: a damaged, unreadable or oversized file, other data, or a pickle that would call anything
    but NumPy's number constructors or build more than its bytes hold (refused before it is built).
    """
    try:
        data = read_small_file(path, MAX_BYTES, "a training history")
    except OSError as error:
        raise NotAHistory(f"cannot read {path} ({error.strerror or error}); "
                          "check the file and its permissions") from None
    except ValueError as error:
        raise not_a_history(path, str(error)) from None
    try:
        check_opcodes(data)
        # latin1 is what NumPy's scalars need from Python 2 pickles; Python 3 ones ignore it.
        history = _PlainDataUnpickler(io.BytesIO(data), encoding="latin1").load()
        reason = _what_is_wrong(history)
    except _Refused as refusal:
        reason = str(refusal)
    except Exception as error:  # a damaged pickle fails in many ways; all mean the same to the user
        reason = f"{type(error).__name__}: {error}"
    if reason is None:
        return history
    raise not_a_history(path, " ".join(reason.split()))


def not_a_history(path, reason):
    """The NotAHistory for the file at `path`, saying why in `reason`."""
    return NotAHistory(f"{path} is not a readable training history ({reason}); delete it and re-run its train.py line")
