"""pyimagesearch/files.py: outputs written whole or not at all, with the permissions of a plainly
created file, folders checked before a run writes into them, and small files read within a bound
and only where they are regular files."""

import os

import pytest

from pyimagesearch import files


def test_an_interrupted_write_leaves_neither_the_file_nor_its_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.replaced_atomically(str(tmp_path / "results.csv")) as temporary:
            with open(temporary, "w") as file:
                file.write("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_written_file_has_the_permissions_the_umask_gives_and_the_umask_stays(tmp_path):
    previous = os.umask(0o002)
    try:
        files.write_atomically(str(tmp_path / "out" / "results.csv"), "a,b\n")
        assert os.umask(0o002) == 0o002  # not left at 0
    finally:
        os.umask(previous)
    assert (tmp_path / "out" / "results.csv").read_text() == "a,b\n"
    assert (tmp_path / "out" / "results.csv").stat().st_mode & 0o777 == 0o664


def test_a_path_that_is_a_folder_or_below_an_unwritable_one_is_refused_in_one_line(tmp_path):
    with pytest.raises(OSError) as refused:
        files.ensure_writable(str(tmp_path))
    assert str(refused.value) == f"cannot write {tmp_path}: it is a folder; give a file path"
    # A folder that is not there yet, such as an archive given as `slot/`, is refused before any is made.
    with pytest.raises(OSError) as refused:
        files.ensure_writable(f"{tmp_path}/new/slot/")
    assert str(refused.value) == f"cannot write {tmp_path}/new/slot/: a path that ends in / names a folder; give a file path"
    assert os.listdir(tmp_path) == []
    for blank in ("", " "):
        with pytest.raises(OSError) as refused:
            files.ensure_writable(blank)
        assert str(refused.value) == f"cannot write {blank!r}: it names no file; give a file path"
    # /proc is a folder that no one, root included, can create a file in.
    with pytest.raises(OSError, match=r"^cannot write /proc/results\.csv: .+ \(/proc\); choose a writable path or "
                                      r"fix its permissions$"):
        files.ensure_writable("/proc/results.csv")


def test_json_is_read_up_to_its_limit_and_nesting_too_deep_to_parse_is_none(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('"12345678"')  # 10 bytes
    assert files.read_json(str(path), limit=10) == "12345678"
    assert files.read_json(str(path), limit=9) is None
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert files.read_json(str(path)) is None


def test_strict_json_reads_say_why_a_file_cannot_be_read(tmp_path):
    path = tmp_path / "slots.json"
    with pytest.raises(FileNotFoundError):
        files.load_json(str(path))
    os.mkfifo(path)  # a read would wait for a writer
    with pytest.raises(ValueError, match="^it is not a regular file$"):
        files.load_json(str(path))
    os.remove(path)
    path.write_text(" " * (1 << 16) + "[]")
    with pytest.raises(ValueError, match="^it is larger than 64 KiB, far more than such a file holds$"):
        files.load_json(str(path), limit=1 << 16)
    assert files.load_json(str(path), limit=1 << 20) == []
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="^it nests deeper than Python can read$"):
        files.load_json(str(path))
    path.write_text("[1,")
    with pytest.raises(ValueError, match="^Expecting value: line 1 column 4"):
        files.load_json(str(path))


def test_small_files_are_read_whole_up_to_their_limit_and_anything_else_refused_in_words(tmp_path):
    path = tmp_path / "report.txt"
    path.write_bytes(b"0123456789")
    assert files.read_small_file(str(path), limit=10) == b"0123456789"
    with pytest.raises(ValueError, match="^it is larger than 9 bytes, far more than a report$"):
        files.read_small_file(str(path), limit=9, holding="a report")
    with pytest.raises(FileNotFoundError):
        files.read_small_file(str(tmp_path / "missing.txt"), limit=10)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: a plain open would wait for one
    for not_regular in (str(tmp_path), str(fifo), "/dev/zero"):  # a folder; a FIFO; a device that never ends
        with pytest.raises(ValueError, match="^its state.json is not a regular file$"):
            files.read_small_file(not_regular, limit=10, called="its state.json")
    with files.opened_regular_file(str(path)) as file:
        assert file.read(4) == b"0123"
