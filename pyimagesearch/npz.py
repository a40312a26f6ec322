"""Reading an .npz whose arrays are known in advance, in memory that those arrays bound.

`np.load` trusts the file. A zip lists its members in a central directory that zipfile reads
whole before any member, about 550 bytes of memory a member, and 46 bytes in the file are enough
for one; an .npy member's header gives a shape that NumPy allocates before it reads the data.
`read_arrays` (and `check_sizes`, before `np.load`) checks the directory's size against the
members expected, then each member's header against its expected shape and type, and only then
reads the arrays.
"""

import contextlib
import math
import os
import re
import struct
import zipfile

import numpy as np

END_RECORD, ZIP64_LOCATOR, ZIP64_END_RECORD = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
# A member's entry in the central directory: 46 bytes, its name, and the zip64 field NumPy adds.
ENTRY_BYTES = 256
# Members that may come beside the expected ones: at most this many, of at most that many numbers.
MAX_OPTIONAL, MAX_OPTIONAL_SIZE = 64, 4096


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


def read_header(name, member):
    """(shape, dtype) from the header of the .npy member `name`, read alone."""
    try:
        version = np.lib.format.read_magic(member)
    except ValueError:
        raise ValueError(f"its member {name} is not a NumPy array") from None
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ValueError(f"its .npy format {version[0]}.{version[1]} is not one NumPy's savez writes")
    return shape, dtype


@contextlib.contextmanager
def opened(path, most_members):
    """(the zip archive at `path`, {name: (its ZipInfo, shape, dtype)} of its .npy members), its
    member list and headers read in memory that `most_members` bounds; Mismatch if it has more."""
    with open(path, "rb") as file:
        if directory_size(file) > most_members * ENTRY_BYTES:
            raise Mismatch("it lists more members than expected")
        with zipfile.ZipFile(file) as archive:
            headers = {}
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
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
