"""Writing outputs so that a crash never leaves a half-written file where a result belongs, and
reading the small files beside them without trusting their kind or their size."""

import contextlib
import json
import os
import stat
import tempfile


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path beside `path`; on success rename it onto `path`, else delete it.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one.
    The temporary name keeps the file's extension, so writers that infer the format from it
    (matplotlib, Keras) still work.
    """
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, extension = os.path.splitext(name)
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{extension}", dir=folder)
    os.close(handle)
    permit_as_created(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def permit_as_created(path, mode=0o666):
    """Give `path` the permissions a plainly created file (or, with 0o777, folder) gets under the
    umask: tempfile makes its files and folders private, and outputs should not be."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def write_atomically(path, data):
    """Write `data` (bytes or str) to `path` atomically, creating parent folders."""
    with replaced_atomically(path) as temporary:
        with open(temporary, "wb" if isinstance(data, bytes) else "w") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())


def ensure_writable(path):
    """Create the parent folder of `path` and prove it writable; raise OSError with one line if not."""
    if not path.strip():
        raise OSError(f"cannot write {path!r}: it names no file; give a file path")
    if path.endswith(os.sep):  # os.path.abspath would drop the separator and check the folder above
        raise OSError(f"cannot write {path}: a path that ends in {os.sep} names a folder; give a file path")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except (FileExistsError, NotADirectoryError):
        raise OSError(f"cannot write {path}: part of {folder} is a file, not a folder; choose another path") from None
    except OSError as error:
        raise OSError(
            f"cannot write {path}: {error.strerror} ({folder}); choose a writable path or fix its permissions"
        ) from None
    if os.path.isdir(path):
        raise OSError(f"cannot write {path}: it is a folder; give a file path")


@contextlib.contextmanager
def opened_regular_file(path, called="it"):
    """The file at `path` opened to read in binary; ValueError ("<called> is not a regular file")
    where it is none. It is opened without waiting and checked once open, so that a FIFO (which
    would wait for a writer) or a device such as /dev/zero (which never ends) is refused, whatever
    stood at `path` a moment before."""
    try:
        file = open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK))
    except IsADirectoryError:
        raise ValueError(f"{called} is not a regular file") from None
    with file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise ValueError(f"{called} is not a regular file")
        yield file


def read_small_file(path, limit, holding="such a file holds", called="it"):
    """The bytes of the regular file at `path`: OSError where it cannot be opened (FileNotFoundError
    where it is missing), ValueError saying why where it is no regular file or larger than `limit`
    bytes ("<called> is larger than 1 MiB, far more than <holding>")."""
    with opened_regular_file(path, called) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{called} is larger than {_size(limit)}, far more than {holding}")
    return data


def load_json(path, limit=1 << 20):
    """The JSON in `path`: FileNotFoundError where it is missing, ValueError saying why where it is
    no regular file, larger than `limit` bytes or not JSON."""
    text = read_small_file(path, limit)
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("it nests deeper than Python can read") from None


def read_json(path, limit=1 << 20):
    """The JSON in `path`, or None where it is missing, no regular file, larger than `limit` bytes
    or not JSON."""
    try:
        return load_json(path, limit)
    except (OSError, ValueError):
        return None


def _size(limit):
    if limit >= 1 << 20:
        return f"{limit >> 20} MiB"
    return f"{limit >> 10} KiB" if limit >= 1 << 10 else f"{limit} bytes"
