"""Fetching the Keras data sets into Keras' cache: once, and never half-written.

A missing data set is downloaded from Keras' own origins, under a lock, so that concurrent runs
wait for one download instead of racing, and through a temporary name, so that nobody ever reads
a half-written file (`keras.datasets` has neither). The files are laid out as Keras 3 lays them
out, so that files `keras.datasets` downloaded are used as they are.
"""

import contextlib
import fcntl
import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from typing import NamedTuple

from pyimagesearch.errors import UserError
from pyimagesearch.files import permit_as_created

# Where the data sets lie, relative to Keras' datasets folder (`<keras home>/datasets`): the
# folder of each one's files, the files, and how a message names them.
FASHION_MNIST_DIR = "fashion-mnist"
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR10_DIR = os.path.join("cifar-10-batches-py-target", "cifar-10-batches-py")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR100_DIR = os.path.join("cifar-100-python-target", "cifar-100-python")
CIFAR100_FILES = ("train", "test")


class Layout(NamedTuple):
    folder: str
    files: tuple
    description: str


LAYOUTS = {
    "mnist": Layout("", ("mnist.npz",), "mnist.npz"),
    "fashion_mnist": Layout(FASHION_MNIST_DIR, FASHION_MNIST_FILES, ", ".join(FASHION_MNIST_FILES)),
    "cifar10": Layout(CIFAR10_DIR, CIFAR10_FILES, "cifar-10-batches-py/ (data_batch_1..5, test_batch)"),
    "cifar100": Layout(CIFAR100_DIR, CIFAR100_FILES, "cifar-100-python/ (train, test)"),
}

# What Keras 3 downloads for each data set (keras/src/datasets/*.py): for each path in the
# datasets folder, the origin and the SHA-256 that Keras publishes for it (Keras publishes none
# for Fashion-MNIST). A .tar.gz is extracted into its path, a folder, as Keras does. Only a fresh
# download is checked against the hash: a file already there is checked by reading it, since a
# user's own copy may differ in bytes and not in content (an MNIST recompressed, say).
KERAS_BUCKET = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
TORONTO = "https://www.cs.toronto.edu/~kriz/"
DOWNLOADS = {
    "mnist": {
        "mnist.npz": (
            KERAS_BUCKET + "mnist.npz",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        ),
    },
    "fashion_mnist": {
        os.path.join(FASHION_MNIST_DIR, file): (KERAS_BUCKET + file, None) for file in FASHION_MNIST_FILES
    },
    "cifar10": {
        "cifar-10-batches-py-target": (
            TORONTO + "cifar-10-python.tar.gz",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    },
    "cifar100": {
        "cifar-100-python-target": (
            TORONTO + "cifar-100-python.tar.gz",
            "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        ),
    },
}
# Seconds a download may go without receiving a byte before it counts as failed.
DOWNLOAD_TIMEOUT = 60
# A temporary file left this many seconds ago belongs to a download that died, and is removed.
# Younger ones are left alone: where a file system's locks do not reach other machines, another
# machine's download may still be writing one.
LEFTOVER_AGE = 600


class DatasetUnavailable(UserError):
    """A data set is neither in Keras' cache nor downloadable, or is damaged; one line says what to do."""


def keras_home():
    """Keras' own folder: `$KERAS_HOME`, else `~/.keras`, or `/tmp/.keras` where the home folder
    cannot be written."""
    # Mirrors keras.src.backend.config, but reads the environment now rather than at import.
    if "KERAS_HOME" in os.environ:
        return os.path.expanduser(os.environ["KERAS_HOME"])
    base = os.path.expanduser("~")
    return os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")


def keras_datasets_dir():
    """The folder Keras downloads datasets into: `datasets` in keras_home()."""
    return os.path.join(keras_home(), "datasets")


def folder_to_fill(name, datasets_dir):
    """The folder a message tells the user to put data set `name`'s files in."""
    folder = os.path.join(datasets_dir, LAYOUTS[name].folder)
    # For CIFAR it is the one above the extracted data set folder, as in Keras' layout.
    return os.path.dirname(folder) if name.startswith("cifar") else folder.rstrip(os.sep)


def present(name, datasets_dir, under=""):
    """Whether every file of data set `name` (lying under the path `under`, if given) is there."""
    layout = LAYOUTS[name]
    paths = [os.path.join(layout.folder, file) for file in layout.files]
    return all(
        os.path.isfile(os.path.join(datasets_dir, path))
        for path in paths
        if not under or path == under or path.startswith(under + os.sep)
    )


def download(name, datasets_dir):
    """Download the missing files of data set `name` into `datasets_dir`, each once and whole."""
    for path in DOWNLOADS[name]:
        folder = os.path.dirname(os.path.join(datasets_dir, path))
        if os.path.lexists(folder) and not os.path.isdir(folder):  # the download would fail with "File exists"
            raise DatasetUnavailable(f"{folder} is not a folder, where {name}'s files go; move it away, then "
                                     f"run `python fetch_data.py {name}`")
    try:
        os.makedirs(datasets_dir, exist_ok=True)
        with _locked(name, datasets_dir):
            for path, (origin, sha256) in DOWNLOADS[name].items():
                # Another process may have fetched it while this one waited for the lock.
                if not present(name, datasets_dir, under=path):
                    _download_into_place(name, origin, sha256, os.path.join(datasets_dir, path))
    except OSError as error:  # only the disk's errors land here: _downloaded reports the network's
        raise DatasetUnavailable(
            f"cannot download {name} into {datasets_dir} ({error.strerror or error}): free some space "
            "or fix its permissions, or set KERAS_HOME to a folder that has room"
        ) from None


@contextlib.contextmanager
def _locked(name, datasets_dir):
    """Hold the lock on data set `name` in `datasets_dir`; wait, saying so, while another holds it.

    The lock saves duplicate downloads; what keeps readers from half-written files is that every
    file is written under a temporary name and renamed. So a file system without locks downloads
    without one, and the leftovers of downloads that died are removed once they are old enough.
    """
    # The lock file stays: deleting it would let a process lock a file that the next no longer sees.
    path = os.path.join(datasets_dir, f".{name}.lock")
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # read and write: a FIFO opens at once
    except IsADirectoryError:
        descriptor = None
    if descriptor is None or not stat.S_ISREG(os.fstat(descriptor).st_mode):
        if descriptor is not None:
            os.close(descriptor)
        raise DatasetUnavailable(f"{path} is not a regular file, where the lock of {name}'s download goes; move it "
                                 "away, then try again")
    with os.fdopen(descriptor, "r+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{name}: waiting for another process that is downloading it into {datasets_dir}", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError as error:  # ENOLCK, EOPNOTSUPP: a network file system mounted without locks
            print(f"{name}: {datasets_dir} cannot be locked ({error.strerror}); downloading without a lock", flush=True)
        for path in DOWNLOADS[name]:
            folder, base = os.path.split(os.path.join(datasets_dir, path))
            for leftover in _temporaries(folder, base):
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - os.path.getmtime(leftover) > LEFTOVER_AGE:
                        _remove(leftover)
        yield


def _temporaries(folder, base):
    """The temporary files and folders of downloads into `folder/base` (see _temporary_beside)."""
    if not os.path.isdir(folder):
        return []
    return [
        os.path.join(folder, entry)
        for entry in os.listdir(folder)
        if entry.startswith(f".{base}.") and entry.endswith(".part")
    ]


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def _temporary_beside(path, folder=False):
    """Yield a new temporary file (or folder) beside `path`, named `.<name>.<random>.part`; it is
    removed on the way out unless it was renamed meanwhile. Beside, so that renaming it onto
    `path` is atomic; readable as the final file would be."""
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    if folder:
        temporary = tempfile.mkdtemp(prefix=f".{base}.", suffix=".part", dir=parent)
    else:
        handle, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=parent)
        os.close(handle)
    permit_as_created(temporary, 0o777 if folder else 0o666)
    try:
        yield temporary
    finally:
        _remove(temporary)


def _download_into_place(name, origin, sha256, path):
    """Download `origin` and rename it onto `path`, or for an archive, extract it into a
    temporary folder and rename that onto the folder `path`."""
    with _temporary_beside(path) as download:
        _downloaded(name, origin, sha256, download, path)
        if not origin.endswith(".tar.gz"):
            os.replace(download, path)
            return
        with _temporary_beside(path, folder=True) as extracted, _temporary_beside(path, folder=True) as old:
            _extract(name, origin, download, extracted, path)
            if os.path.exists(path):  # an incomplete folder: moved aside, removed on the way out
                os.rename(path, os.path.join(old, "incomplete"))
            os.rename(extracted, path)


def _downloaded(name, origin, sha256, temporary, path):
    """Download `origin` into the file `temporary`; refuse it, in one line, if cut short or unlike
    the published hash. `path` is the file it is meant to become, for the messages. The network's
    errors become `DatasetUnavailable`; the disk's stay `OSError`."""
    print(f"{name}: downloading {origin}", flush=True)
    started = time.monotonic()
    try:
        response = urllib.request.urlopen(origin, timeout=DOWNLOAD_TIMEOUT)
    except (OSError, ValueError) as error:  # no network, no such file, refused, timed out; not a URL
        raise _cannot_download(name, origin, _reason(error)) from None
    digest, size = hashlib.sha256(), 0
    with response, open(temporary, "wb") as file:
        expected_size = response.headers.get("Content-Length")
        while True:
            try:
                chunk = response.read(1 << 20)
            except (OSError, http.client.HTTPException) as error:
                raise _cannot_download(name, origin, _reason(error)) from None
            if not chunk:
                break
            file.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        file.flush()
        os.fsync(file.fileno())
    if expected_size and size != int(expected_size):
        reason = f"the connection closed after {size:,} of {int(expected_size):,} bytes"
        raise _cannot_download(name, origin, reason)
    if sha256 and digest.hexdigest() != sha256:
        raise DatasetUnavailable(
            f"the download of {origin} has SHA-256 {digest.hexdigest()}, not the {sha256} that Keras "
            f"publishes, so {path} was not written: run again to download it afresh, or put a good "
            "copy there"
        )
    checked = ", SHA-256 checked" if sha256 else ""
    print(f"{name}: {size / 1e6:.1f} MB in {time.monotonic() - started:.0f} s{checked}", flush=True)


def _reason(error):
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed after {len(error.partial):,} bytes of a chunk"
    return str(error) or type(error).__name__


def _cannot_download(name, origin, reason):
    datasets_dir = keras_datasets_dir()
    return DatasetUnavailable(
        f"{name} is not in {datasets_dir} and could not be downloaded from {origin} ({reason}): "
        f"connect to the internet, or run `python fetch_data.py {name}` on a machine with internet "
        f"access that shares this folder, or put {LAYOUTS[name].description} in "
        f"{folder_to_fill(name, datasets_dir)}"
    )


def _extract(name, origin, archive, folder, path):
    """Extract the .tar.gz `archive` into `folder`; refuse one that lacks a file of `name`'s layout."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # "data": nothing outside `folder`, no devices, no set-uid bits (Python's safe filter).
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the disk's, not the archive's (gzip's own errors have no errno)
        raise DatasetUnavailable(f"the archive from {origin} cannot be extracted ({error}): run again") from None
    inside = os.path.relpath(os.path.join(os.path.dirname(path), LAYOUTS[name].folder), path)
    missing = [file for file in LAYOUTS[name].files if not os.path.isfile(os.path.join(folder, inside, file))]
    if missing:
        raise DatasetUnavailable(
            f"the archive from {origin} has no {', '.join(os.path.join(inside, file) for file in missing)}, "
            f"so {path} was not written: put {LAYOUTS[name].description} in {os.path.dirname(path)} yourself"
        )
