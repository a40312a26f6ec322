"""The bounds that pyimagesearch/untrusted.py puts on an .npz before anything is read from it:
the members expected and no others, each named once, of the numbers allowed."""

import tracemalloc
import zipfile

import numpy as np
import pytest

from pyimagesearch import untrusted
from support import npy_member

HALF = np.float32(0.5).tobytes()
EXPECTED = {"a": ((1,), np.dtype("<f4"))}


def npz(path, *members):
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.writestr(*member)
    return str(path)


def test_the_expected_arrays_and_optional_ones_of_few_numbers_are_read(tmp_path):
    path = npz(tmp_path / "v.npz", npy_member("a", (1,), HALF), npy_member("metrics_00000", (1,), HALF))
    arrays = untrusted.read_arrays(path, EXPECTED, optional=r"metrics_\d{5}")
    assert {name: array.tolist() for name, array in arrays.items()} == {"a": [0.5], "metrics_00000": [0.5]}


@pytest.mark.parametrize("extra", [
    npy_member("junk", (2**40,)),  # a member expected nowhere, whose header alone would allocate 4 TiB
    npy_member("metrics_00000x", (1,), HALF),  # the optional names match whole, not by their start
])
def test_a_member_of_another_name_is_refused_before_any_array_is_read(tmp_path, extra):
    path = npz(tmp_path / "v.npz", npy_member("a", (1,), HALF), extra)
    with pytest.raises(untrusted.Mismatch, match="^its arrays have other names$"):
        untrusted.read_arrays(path, EXPECTED, optional=r"metrics_\d{5}")


def test_a_member_named_twice_is_refused(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = npz(tmp_path / "v.npz", npy_member("a", (1,), HALF), npy_member("a", (1,), HALF))
    with pytest.raises(untrusted.Mismatch, match="^its member a.npy is not named as NumPy's savez names them$"):
        untrusted.read_arrays(path, EXPECTED)


def test_check_sizes_refuses_one_member_or_one_number_more_than_allowed(tmp_path):
    path = npz(tmp_path / "two.npz", npy_member("a", (1,), HALF), npy_member("b", (1,), HALF))
    untrusted.check_sizes(path, 2, 1)
    with pytest.raises(untrusted.Mismatch, match="^it holds more members than expected$"):
        untrusted.check_sizes(path, 1, 1)
    path = npz(tmp_path / "large.npz", npy_member("x", (101,)))
    untrusted.check_sizes(npz(tmp_path / "fits.npz", npy_member("x", (100,))), 4, 100)
    with pytest.raises(untrusted.Mismatch) as refused:
        untrusted.check_sizes(path, 4, 100)
    assert str(refused.value) == "its x is float32 of shape (101,), more than expected"


def test_a_header_longer_than_numpy_reads_is_refused_before_it_is_read(tmp_path):
    # A version 2.0 header gives its length in 4 bytes; compressed, 16 MiB of it take 16 KiB.
    length = 2**24
    member = b"\x93NUMPY\x02\x00" + length.to_bytes(4, "little") + b" " * length
    with zipfile.ZipFile(tmp_path / "v.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.npy", member)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as refused:
            untrusted.read_arrays(str(tmp_path / "v.npz"), EXPECTED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert str(refused.value) == "its member a has a header of 16,777,216 bytes, more than NumPy reads"
