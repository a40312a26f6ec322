"""Reading files from anyone in memory that what they should hold bounds: an .npz whose arrays are
known in advance, and a pickle's opcodes, checked before anything is built from them.

`np.load` trusts the file. A zip lists its members in a central directory that zipfile reads
whole before any member, about 550 bytes of memory a member, and 46 bytes in the file are enough
for one; an .npy member's header gives a shape that NumPy allocates before it reads the data.
`read_arrays` (and `check_sizes`, before `np.load`) checks the directory's size against the
members expected, then each member's header against its expected shape and type, and only then
reads the arrays.

`pickle.load` builds as it reads, so a few bytes can have it build something unbounded before any
check of the result runs: a tuple nested 200,000 deep, whose hash overflows the C stack; a NumPy
array of 20 million numbers allocated by its shape alone; a memo table sized by a 4-billion index.
`check_opcodes` reads the opcode stream with `pickletools.genops` on a stack of placeholders, and
builds nothing. It refuses, with a reason in words:

- opcodes that plain data (dicts, lists, tuples, numbers, text, bytes) and NumPy's pickled number
  types, scalars and arrays do not need, and any name (GLOBAL, STACK_GLOBAL, INST) outside `NAMES`;
- nesting deeper than MAX_DEPTH, more than MAX_VALUES values (a tuple taken from the memo again
  counts every value it holds again, as Python walks each copy to hash or print it), memo
  indices beyond that, and a list or dict taken from the memo a second time (it could then grow
  deeper after it was counted);
- NumPy types other than plain numbers, and arrays whose numbers are not all bytes of the file.
"""

import contextlib
import io
import math
import os
import pickle
import pickletools
import re
import struct
import zipfile

import numpy as np

from pyimagesearch.files import opened_regular_file

# .npz archives: `read_arrays` and `check_sizes`.

END_RECORD, ZIP64_LOCATOR, ZIP64_END_RECORD = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
# A member's entry in the central directory: 46 bytes, its name, and the zip64 field NumPy adds.
ENTRY_BYTES = 256
# Members that may come beside the expected ones: at most this many, of at most that many numbers.
MAX_OPTIONAL, MAX_OPTIONAL_SIZE = 64, 4096
# NumPy refuses a longer header (max_header_size).
MAX_HEADER_BYTES = 10_000


class Mismatch(ValueError):
    """The file's arrays are not the ones expected: other names, shapes or types."""


def directory_size(file):
    """The size of a zip's central directory as its end record gives it: the bytes that zipfile
    will read and list, found as zipfile finds them (the last 22 bytes, else the last record in
    the 64 KiB comment that may follow, and a zip64 record before it)."""
    size = file.seek(0, os.SEEK_END)
    start = max(0, size - 22 - 65535)
    file.seek(start)
    tail = file.read()
    at = len(tail) - 22 if tail[-22:-18] == END_RECORD and tail[-2:] == b"\0\0" else tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < 22:
        raise zipfile.BadZipFile("File is not a zip file")
    (directory,) = struct.unpack_from("<L", tail, at + 12)
    if start + at >= 76:
        file.seek(start + at - 76)
        zip64 = file.read(76)
        if zip64[56:60] == ZIP64_LOCATOR and zip64[:4] == ZIP64_END_RECORD:
            (directory,) = struct.unpack_from("<Q", zip64, 40)
    return directory


def header_2_0(name, member):
    """The length and header of a version 2.0 .npy member, as a file, its length checked first:
    NumPy checks it only once it has read the header, and a compressed member of a few megabytes
    can hold a header of gigabytes."""
    prefix = member.read(4)
    length = int.from_bytes(prefix, "little")
    if length > MAX_HEADER_BYTES:
        raise ValueError(f"its member {name} has a header of {length:,} bytes, more than NumPy reads")
    return io.BytesIO(prefix + member.read(length))


def read_header(name, member):
    """(shape, dtype) from the header of the .npy member `name`, read alone."""
    try:
        version = np.lib.format.read_magic(member)
    except ValueError:
        raise ValueError(f"its member {name} is not a NumPy array") from None
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(header_2_0(name, member))
    else:
        raise ValueError(f"its .npy format {version[0]}.{version[1]} is not one NumPy's savez writes")
    return shape, dtype


@contextlib.contextmanager
def opened(path, most_members):
    """(the zip archive at `path`, {name: (its ZipInfo, shape, dtype)} of its .npy members), its
    member list and headers read in memory that `most_members` bounds; Mismatch if it has more."""
    with opened_regular_file(path) as file:
        if directory_size(file) > most_members * ENTRY_BYTES:
            raise Mismatch("it lists more members than expected")
        with zipfile.ZipFile(file) as archive:
            headers = {}
            for info in archive.infolist():
                # np.load's data["x"] reads a member named "x" before one named "x.npy": every name
                # must be NumPy's own, once, so that the member checked is the member read.
                name = info.filename.removesuffix(".npy")
                if name == info.filename or name in headers:
                    raise Mismatch(f"its member {info.filename} is not named as NumPy's savez names them")
                # NumPy writes these; bzip2 and LZMA would decompress without a bound on each read.
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise ValueError(f"its member {name} is compressed in a way that NumPy never writes")
                with archive.open(info) as member:
                    headers[name] = (info, *read_header(name, member))
            if len(headers) > most_members:
                raise Mismatch("it holds more members than expected")
            yield archive, headers


def check_sizes(path, most_members, most_numbers):
    """Raise Mismatch unless the .npz at `path` holds at most `most_members` arrays of numbers, of
    at most `most_numbers` numbers each, which np.load then reads in bounded memory."""
    with opened(path, most_members) as (_, headers):
        for name, (_, shape, dtype) in headers.items():
            if dtype.kind not in "biuf" or math.prod(shape) > most_numbers:
                raise Mismatch(f"its {name} is {dtype} of shape {shape}, more than expected")


def read_arrays(path, expected, optional=None):
    """{name: array} of the .npz at `path`, whose members must be `expected` ({name: (shape, dtype)})
    and any number of those whose names match the regular expression `optional` (up to
    MAX_OPTIONAL, of MAX_OPTIONAL_SIZE numbers at most). Raises Mismatch if they are not, before
    reading any array, and other exceptions (zipfile's, NumPy's, OSError) for a damaged file."""
    optional = re.compile(optional or "(?!)")
    with opened(path, len(expected) + MAX_OPTIONAL) as (archive, headers):
        extra = [name for name in headers if name not in expected and optional.fullmatch(name)]
        if set(headers) != set(expected) | set(extra):
            raise Mismatch("its arrays have other names")
        for name, (_, shape, dtype) in headers.items():
            if name in expected and (shape, dtype) != tuple(expected[name]):
                raise Mismatch(f"its {name} is {dtype} of shape {shape}, not {expected[name][1]} of shape "
                               f"{expected[name][0]}")  # fmt: skip
            if name in extra and (dtype.kind not in "fiu" or math.prod(shape) > MAX_OPTIONAL_SIZE):
                raise Mismatch(f"its {name} is {dtype} of shape {shape}, not a few numbers")
        arrays = {}
        for name, (info, _, _) in headers.items():
            with archive.open(info) as member:
                arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


# Pickles: `check_opcodes`.

MAX_DEPTH = 16  # a history is a dict of lists of NumPy scalars: 5 levels, with their arguments
MAX_VALUES = 500_000  # 80,000 epochs of 6 floats, 11,000 epochs of Keras 2's 5 NumPy scalars

# The names a history may use, by what they make. NumPy 1.x wrote numpy.core, NumPy 2 numpy._core.
NAMES = {("numpy", "dtype"): "dtype", ("numpy", "ndarray"): "ndarray", ("_codecs", "encode"): "encode"}
for _core in ("numpy.core", "numpy._core"):
    NAMES[f"{_core}.multiarray", "scalar"] = "scalar"
    NAMES[f"{_core}.multiarray", "_reconstruct"] = "reconstruct"
    NAMES[f"{_core}.numeric", "_frombuffer"] = "frombuffer"

# NumPy's number types as numpy.dtype takes them from a pickle: "f8", "i4", "u1"...
NUMBER_TYPE = re.compile(r"[fiu][1248]")
# The state that NumPy pickles for a number type: version 3, a byte order, and no fields or sizes.
NUMBER_TYPE_STATE = (None, None, None, -1, -1, 0)

ATOMS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING",
         "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
         "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "NONE", "NEWTRUE", "NEWFALSE"}  # fmt: skip


class Refused(pickle.UnpicklingError):
    """Not plain data, or not a whole pickle; the message says what it holds."""


def damaged(what):
    return Refused(f"it is cut short or damaged: {what}")


class Value:
    """What an opcode would build: a kind ("atom", "tuple", "list", "dict", "name" or "object", the
    result of calling a name), its nesting depth, the values it holds with itself (`size`), and
    what later checks read: an atom's value, a tuple's Values, a name's role, an object's (role,
    arguments' Values)."""

    __slots__ = ("kind", "depth", "content", "built", "size")

    def __init__(self, kind, depth, content=None, size=1):
        self.kind, self.depth, self.content, self.built, self.size = kind, depth, content, False, size


UNKNOWN = object()


class Blob:
    """Text or bytes too long to keep for any check: only their length counts (a CIFAR batch's)."""

    __slots__ = ("length",)

    def __init__(self, length):
        self.length = length

    def __repr__(self):
        return f"<{self.length} characters or bytes>"


def plain(value):
    """The Python value of an atom or a tuple of atoms; UNKNOWN for anything else."""
    if value.kind == "atom":
        return value.content
    if value.kind == "tuple":
        items = tuple(plain(item) for item in value.content)
        return UNKNOWN if UNKNOWN in items else items
    return UNKNOWN


def shape_of(value):
    """A tuple of non-negative ints that `value` holds, or None."""
    shape = plain(value)
    if isinstance(shape, tuple) and all(type(size) is int and size >= 0 for size in shape):
        return shape
    return None


def item_size(value):
    """The bytes a number of the NumPy type `value` takes, or None if it is no number type."""
    if value.kind == "object" and value.content[0] == "dtype" and value.content[1]:
        spec = plain(value.content[1][0])
        if isinstance(spec, str) and NUMBER_TYPE.fullmatch(spec):
            return int(spec[1])
    return None


def byte_length(value):
    """How many bytes `value` holds: bytes, latin1 text (Python 2's str), or _codecs.encode's."""
    if value.kind == "object" and value.content[0] == "encode" and value.content[1]:
        value = value.content[1][0]
    content = value.content if value.kind == "atom" else None
    if isinstance(content, Blob):
        return content.length
    return len(content) if isinstance(content, (bytes, bytearray, str)) else None


def without_data(shape):
    described = "" if shape is None else f" of shape {shape}"
    return Refused(f"it holds an array{described} whose numbers are not all in the file")


def check_array(shape_value, type_value, data_value):
    """Refuse an array unless its shape and number type need exactly the bytes of its data."""
    shape, size, length = shape_of(shape_value), item_size(type_value), byte_length(data_value)
    if shape is None or size is None or length != math.prod(shape) * size:
        raise without_data(shape)


def check_call(role, arguments):
    """Refuse a call of the name of `role` on `arguments` (Values) that would build more than
    plain numbers from the file's bytes."""
    if role == "dtype":
        spec = plain(arguments[0]) if arguments else None
        if not (isinstance(spec, str) and NUMBER_TYPE.fullmatch(spec)):
            spec = "given by something other than its name" if spec is UNKNOWN else repr(spec)
            raise Refused(f"it holds a NumPy type {spec}, not a number type")
    elif role == "reconstruct":  # NumPy writes an empty array, which BUILD then fills from bytes
        shape = shape_of(arguments[1]) if len(arguments) == 3 else None
        if shape is None or math.prod(shape) != 0:
            raise without_data(shape)
    elif role == "frombuffer":
        if len(arguments) != 4:
            raise without_data(None)
        check_array(arguments[2], arguments[1], arguments[0])
    elif role == "ndarray":  # NumPy passes the type to _reconstruct; called, it allocates a shape
        raise without_data(shape_of(arguments[0]) if arguments else None)


def check_state(target, state):
    """Refuse a BUILD of `state` on `target` unless it makes a number type or fills an array."""
    role = target.content[0] if target.kind == "object" and not target.built else None
    if role == "dtype":
        version_order_rest = plain(state)
        if not (isinstance(version_order_rest, tuple) and len(version_order_rest) == 8
                and version_order_rest[:2] in ((3, "<"), (3, ">"), (3, "|"), (3, "="))
                and version_order_rest[2:] == NUMBER_TYPE_STATE):  # fmt: skip
            raise Refused("it holds a NumPy type with fields or sizes of its own, not a number type")
    elif role == "reconstruct":
        parts = state.content if state.kind == "tuple" else ()
        if len(parts) != 5 or plain(parts[0]) != 1:
            raise without_data(None)
        check_array(parts[1], parts[2], parts[4])
    else:
        raise Refused("it sets the state of something other than a NumPy type or array")
    target.built = True


def check_keys(keys):
    """Refuse dict keys other than text and bytes. Python hashes those at random, where the hash
    of an int, a float or a tuple is known in advance: keys of one hash take a time that grows
    with their number squared (multiples of 2**61 - 1, all of hash 0, took minutes)."""
    for key in keys:
        text = key.kind == "atom" and isinstance(key.content, (str, bytes, Blob))
        if not (text or key.kind == "object" and key.content[0] == "encode"):
            raise Refused(f"it has a key of type {type_of(key)}, not a str")


def type_of(value):
    """The type of what `value` builds, in words."""
    if value.kind == "atom":
        return type(value.content).__name__
    if value.kind == "object":
        return "NumPy array" if value.content[0] in ("reconstruct", "frombuffer") else f"NumPy {value.content[0]}"
    return "function" if value.kind == "name" else value.kind


def opcodes(data):
    """pickletools.genops(data), its errors (an unknown opcode, a short argument) as Refused."""
    try:
        yield from pickletools.genops(data)
    except Exception as error:  # genops raises ValueError mostly, but decodes text and numbers too
        raise damaged(" ".join(str(error).split())) from None


def check_opcodes(data):
    """Raise Refused unless the pickle `data` holds plain data and NumPy numbers only, in bounds."""
    if not data:
        raise Refused("it is empty")
    stack, marks, memo, counted = [], [], {}, 0

    def count(values=1):
        nonlocal counted
        counted += values
        if counted > MAX_VALUES:
            raise Refused(f"it holds more than {MAX_VALUES:,} values, more than a training history")

    def push(value):
        if value.depth > MAX_DEPTH:
            raise Refused(f"it nests deeper than {MAX_DEPTH} levels, deeper than a training history")
        count()
        stack.append(value)

    def top(opcode):
        if len(stack) <= (marks[-1] if marks else 0):
            raise damaged(f"{opcode} has nothing to work on")
        return stack[-1]

    def pop(opcode, number=1):
        values = []
        for _ in range(number):
            top(opcode)
            values.append(stack.pop())
        return values[::-1]

    def pop_mark(opcode):
        if not marks:
            raise damaged(f"{opcode} has no MARK before it")
        values = stack[marks[-1] :]
        del stack[marks.pop() :]
        return values

    def deepen(container, items):
        container.depth = max([container.depth] + [item.depth + 1 for item in items])
        if container.depth > MAX_DEPTH:
            raise Refused(f"it nests deeper than {MAX_DEPTH} levels, deeper than a training history")

    def name(module, attribute):
        if (module, attribute) not in NAMES:
            raise Refused(f"it would call {module}.{attribute}; refused, nothing was called")
        return Value("name", 0, NAMES[module, attribute])

    for opcode, argument, _ in opcodes(data):
        code = opcode.name
        if code in ATOMS:
            if isinstance(argument, (str, bytes, bytearray)) and len(argument) > 256:
                argument = Blob(len(argument))
            push(Value("atom", 0, {"NEWTRUE": True, "NEWFALSE": False}.get(code, argument)))
        elif code == "MARK":
            count()
            marks.append(len(stack))
        elif code in ("EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT"):
            push(Value(code[6:].lower(), 1, () if code == "EMPTY_TUPLE" else None))
        elif code in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "LIST", "DICT"):
            items = pop_mark(code) if code in ("TUPLE", "LIST", "DICT") else pop(code, int(code[-1]))
            if code == "DICT" and len(items) % 2:
                raise damaged("DICT has a key without a value")
            if code == "DICT":
                check_keys(items[::2])
            kind = "tuple" if code.startswith("TUPLE") else code.lower()
            depth = 1 + max((item.depth for item in items), default=0)
            push(Value(kind, depth, tuple(items) if kind == "tuple" else None, 1 + sum(item.size for item in items)))
        elif code in ("APPEND", "APPENDS", "SETITEM", "SETITEMS"):
            items = pop_mark(code) if code.endswith("S") else pop(code, 1 if code == "APPEND" else 2)
            container = top(code)
            if container.kind != ("list" if code.startswith("APPEND") else "dict") or (
                    code == "SETITEMS" and len(items) % 2):  # fmt: skip
                raise damaged(f"{code} adds to a {container.kind}")
            if code.startswith("SETITEM"):
                check_keys(items[::2])
            deepen(container, items)
            container.size += sum(item.size for item in items)
        elif code in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            index = len(memo) if code == "MEMOIZE" else argument
            if not 0 <= index < MAX_VALUES:
                raise damaged(f"{code} {index} is beyond any memo a history needs")
            memo[index] = top(code)
        elif code in ("GET", "BINGET", "LONG_BINGET"):
            if argument not in memo:
                raise damaged(f"{code} {argument} fetches nothing")
            if memo[argument].kind in ("list", "dict"):
                raise Refused(f"it holds one {memo[argument].kind} in two places, which a history never does")
            count(memo[argument].size - 1)
            push(memo[argument])
        elif code in ("GLOBAL", "INST"):
            module, _, attribute = argument.partition(" ")
            push(name(module, attribute))
            if code == "INST":  # a name's instance: plain data never needs one
                raise Refused("it holds the pickle opcode INST, which plain data does not need")
        elif code == "STACK_GLOBAL":
            module, attribute = (plain(value) for value in pop(code, 2))
            if not (isinstance(module, str) and isinstance(attribute, str)):
                raise damaged("STACK_GLOBAL names no module and name")
            push(name(module, attribute))
        elif code == "REDUCE":
            function, arguments = pop(code, 2)
            if function.kind != "name" or arguments.kind != "tuple":
                raise Refused("it calls something other than a NumPy number constructor")
            check_call(function.content, arguments.content)
            push(Value("object", 1, (function.content, arguments.content)))
        elif code == "BUILD":
            (state,) = pop(code)
            check_state(top(code), state)
        elif code == "PROTO":
            if not 0 <= argument <= pickle.HIGHEST_PROTOCOL:
                raise damaged(f"pickle protocol {argument} does not exist")
        elif code == "STOP":
            if len(stack) != 1 or marks:
                raise damaged("it stops with other than one value")
            return
        elif code != "FRAME":
            raise Refused(f"it holds the pickle opcode {code}, which plain data does not need")
    raise damaged("it has no end")
