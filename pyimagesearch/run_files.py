"""One run's files: its two outputs, the per-epoch log, its settings, the checkpoint folder, and
the lock file that keeps the run to one process.

No Keras here: train.py checks the paths before it starts Keras, which takes seconds.

One run, one process: two train.py processes given the same outputs (a sweep started twice, two
Slurm tasks for one run, a re-run while the first still goes) would write the same checkpoint. The
first takes an OS lock (`fcntl.flock`) on `<history>.lock` and writes "host pid" into it; the
second finds the lock held and stops, naming that process. The OS releases the lock of a process
that dies, even by SIGKILL, so a lock file left behind by a dead process on this host is simply
taken over. On a shared file system the lock file may name a process on another host, which this
host cannot check (and whose file system may not share flock locks): that is refused, with the host
named. A lock file that cannot be created or written (a full disk, a folder of that name) stops the
run before it starts, in one line, and leaves no empty lock file behind.
"""

import contextlib
import errno
import fcntl
import os
import re
import shutil
import socket
import stat

from pyimagesearch.errors import EXIT_LOCKED, UserError
from pyimagesearch.files import ensure_writable, read_json


def leftover_temporaries(path):
    """Temporary files that files.replaced_atomically made for `path` and a killed process left:
    `.<stem>.<8 random characters>.tmp<extension>`, as `tempfile.mkstemp` names them."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    pattern = re.compile(re.escape(f".{stem}.") + "[a-z0-9_]{8}" + re.escape(f".tmp{extension}"))
    with contextlib.suppress(OSError):
        return [os.path.join(folder, entry) for entry in os.listdir(folder) if pattern.fullmatch(entry)]
    return []


MAX_NAME = 255  # bytes in a file name on Linux's and macOS's file systems
# files.replaced_atomically writes each output beside it first, as ".<stem>.<8 characters>.tmp.<extension>".
MAX_OUTPUT_NAME = MAX_NAME - len("..12345678.tmp")
# Bytes in a path, with its ending NUL: 4,096 on Linux, 1,024 on macOS.
MAX_PATH = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 1024
# The longest name written in the checkpoint folder: a variables file's, as a temporary.
LONGEST_IN_CHECKPOINT = ".variables-epoch2147483647-step2147483647.abcd1234.tmp.npz"
# A run's settings are a few hundred bytes: a larger file is not read.
SETTINGS_LIMIT = 1 << 16


class RunFiles:
    """The paths of one run: `--history` and `--report`, and beside the history its log, its
    checkpoint folder and its lock file."""

    def __init__(self, history, report):
        self.history = history
        self.report = report
        self.log = os.path.splitext(history)[0] + ".csv"
        # The settings that made the run, written with its outputs.
        self.settings = settings_path(history)
        # Deleted when the run finishes.
        self.checkpoint_folder = history + ".checkpoint"
        self.lock = history + ".lock"

    def check_paths(self):
        """Raise UserError unless the outputs, the log, the settings, the checkpoint folder and the
        lock file are six paths, none inside another."""
        for option, path, example in (("--history", self.history, "pickle"), ("--report", self.report, "txt")):
            if os.path.basename(path) in ("", ".", ".."):  # "", "out/", "out/.": a folder, known only at the end
                raise UserError(f"{option} {path!r} names a folder, not a file; give a file path such as "
                                f"output/resnet_adam_mnist.{example}")
        for option, path in (("--history", self.history), ("--report", self.report), ("--history", self.log),
                             ("--history", self.settings)):
            name = os.path.basename(path)
            if len(os.fsencode(name)) > MAX_OUTPUT_NAME:
                raise UserError(f"{option}'s file name is too long ({name!r} takes {len(os.fsencode(name))} bytes; "
                                f"the temporary files written beside it allow {MAX_OUTPUT_NAME}); give a shorter one")
        longest = len(os.fsencode(os.path.join(self.checkpoint_folder, LONGEST_IN_CHECKPOINT)))
        if longest >= MAX_PATH:
            raise UserError(f"--history's path is too long: the checkpoints beside it would take paths of {longest} "
                            f"bytes, and a path may take {MAX_PATH - 1}; give a shorter one")
        # A report at "a.pickle/r.txt" would make a folder of the history's path before the run trains.
        paths = [os.path.realpath(path) for path in (self.history, self.report, self.log, self.settings,
                                                       self.checkpoint_folder, self.lock)]
        if len(set(paths)) < 6 or any(path.startswith(other + os.sep) for path in paths for other in paths):
            raise UserError(
                f"--history, --report, the per-epoch log ({self.log}) and the settings ({self.settings}) "
                f"must be four different files, none inside another, outside the checkpoint folder "
                f"({self.checkpoint_folder}) and other than the lock file ({self.lock}); choose other paths"
            )

    def check_writable(self):
        """Create the outputs' folders and raise UserError unless the outputs, and the checkpoints where
        their folder is there already, can be written."""
        paths = [self.history, self.report, self.log, self.settings]
        if os.path.lexists(self.checkpoint_folder):
            paths.append(os.path.join(self.checkpoint_folder, "state.json"))
        for path in paths:
            try:
                ensure_writable(path)
            except OSError as error:
                raise UserError(str(error)) from None

    def finished(self):
        return os.path.isfile(self.history) and os.path.isfile(self.report)

    def remove_temporaries(self):
        """Delete the temporary files that a killed process left where the outputs, the log and the
        settings are written."""
        for path in (self.history, self.report, self.log, self.settings):
            for temporary in leftover_temporaries(path):
                with contextlib.suppress(OSError):  # gone already, or a folder of that name: left alone
                    os.remove(temporary)

    def remove_checkpoint(self):
        shutil.rmtree(self.checkpoint_folder, ignore_errors=True)

    def recorded_settings(self):
        """The settings written beside a finished run, or None where there are none to read."""
        return read_settings(self.history)

    def skip(self, settings):
        """Skip a finished run, or raise UserError if its recorded settings are not `settings`."""
        recorded = self.recorded_settings()
        if recorded is not None and recorded != settings:
            raise UserError(
                f"{self.history} was made with other settings ({differences(recorded, settings)}; see "
                f"{self.settings}); give other --history and --report paths, or delete the run's files to train it again"
            )
        remove_left_behind(self.lock)
        print(f"{self.history} and {self.report} exist already: skipping (delete them to train again)")
        self.remove_checkpoint()
        return 0

    @contextlib.contextmanager
    def disk_errors_in_one_line(self):
        """Turn an OSError of writing (a full disk, permissions lost) into a UserError that says what to do."""
        try:
            yield
        except OSError as error:
            folder = os.path.dirname(os.path.abspath(error.filename or self.history))
            raise UserError(
                f"cannot write in {folder} ({error.strerror or error}); free some space or fix its "
                "permissions, then give the same command again to resume from the last checkpoint"
            ) from None


# One run, one process: the lock file, `<history>.lock`.

# flock errors of file systems that do not support it: the lock file's contents decide alone.
NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


def differences(recorded, settings):
    """The settings in which a recorded run and this command differ: "epochs 2 there, 3 here"."""
    return ", ".join(f"{setting_name(key)} {recorded.get(key)!r} there, {settings.get(key)!r} here"
                     for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key))


def setting_name(key):
    # A recorded file's key, as Python writes it where it is no argument's name: a newline would
    # split the message.
    return key if key.isidentifier() else repr(key)


def settings_path(history):
    """Where train.py writes the settings of the run whose history is at `history`: `<stem>.json` beside it."""
    return os.path.splitext(history)[0] + ".json"


def read_settings(history):
    """The settings written beside the run whose history is at `history`, or None where there are
    none to read: none there, no JSON object, or larger than train.py writes."""
    settings = read_json(settings_path(history), SETTINGS_LIMIT)
    return settings if isinstance(settings, dict) else None


class RunLocked(UserError):
    """Another process trains this run; train.py exits with EXIT_LOCKED."""

    exit_code = EXIT_LOCKED


def holder_of(lock_file):
    """(host, pid) written in an open lock file, or None if it names no one."""
    os.lseek(lock_file, 0, os.SEEK_SET)
    words = os.read(lock_file, 1024).decode(errors="replace").split()
    if len(words) == 2 and re.fullmatch("[0-9]{1,9}", words[1]):  # a PID os.kill takes
        return words[0], int(words[1])
    return None


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def cannot_lock(path, error):
    """The UserError for an OSError of creating, locking or writing the lock file at `path` (None:
    it opened, but is no regular file)."""
    if error is None or error.errno in (errno.EISDIR, errno.ELOOP):
        kind = {None: "not a regular file", errno.EISDIR: "a folder"}.get(error and error.errno, "a symbolic link")
        return UserError(f"{path} is {kind}, where this run's lock file goes; move it away, then give "
                         "the same command again")
    return UserError(f"cannot write the lock file {path} ({error.strerror or error}); free some space or fix "
                     "its folder's permissions, then give the same command again")


def open_locked(path):
    """Open `path` (created if needed) with an exclusive flock on it.

    Returns (file descriptor, whether the OS lock is held). Raises RunLocked if another process
    holds it, and UserError if it cannot be opened.
    """
    while True:
        try:
            # Not through a symbolic link: it could point at any file, which would be truncated.
            lock_file = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as error:
            raise cannot_lock(path, error) from None
        if not stat.S_ISREG(os.fstat(lock_file).st_mode):  # a FIFO would block the read of its holder
            os.close(lock_file)
            raise cannot_lock(path, None)
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_of(lock_file)
            os.close(lock_file)
            who = f"process {holder[1]} on {holder[0]}" if holder else "another process"
            raise RunLocked(
                f"{who} is training this run already (it holds {path}); let it finish or stop it, "
                "then give this command again"
            ) from None
        except OSError as error:
            if error.errno not in NO_FLOCK:
                os.close(lock_file)
                raise cannot_lock(path, error) from None
            return lock_file, False
        # A holder that finished deletes the file after we opened it and before our flock: then
        # we hold a lock on a file that no longer has this name. Open the name again.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(lock_file), os.stat(path)):
                return lock_file, True
        os.close(lock_file)


@contextlib.contextmanager
def run_lock(path):
    """Hold the run's lock file at `path` while the block runs; delete it afterwards.

    Raises RunLocked (exit code EXIT_LOCKED) if another process trains the run.
    """
    host, pid = socket.gethostname(), os.getpid()
    lock_file, os_locked = open_locked(path)
    try:
        holder = holder_of(lock_file)
        if holder and holder[0] != host:
            raise RunLocked(
                f"{path} says process {holder[1]} on {holder[0]} trains this run, which cannot be "
                f"checked from {host}; if it no longer runs there, delete {path} and give this "
                "command again"
            )
        if holder and not os_locked and process_exists(holder[1]):
            raise RunLocked(
                f"process {holder[1]} on {host} is training this run already (it holds {path}); "
                "let it finish or stop it, then give this command again"
            )
        if holder:
            print(f"note: taking over {path} from process {holder[1]} on {host}, which no longer holds it")
        try:
            os.ftruncate(lock_file, 0)
            os.pwrite(lock_file, f"{host} {pid}\n".encode(), 0)
        except OSError as error:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            raise cannot_lock(path, error) from None
        try:
            yield
        finally:
            # Deleted before it is unlocked, so a process that opens the name afterwards makes a new file.
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    finally:
        os.close(lock_file)


def remove_left_behind(path):
    """Delete the lock file at `path` if no process holds it (a killed one left it), as run_lock
    would take it over; leave it otherwise (held, another host's, or not ours to delete)."""
    if os.path.isfile(path):
        with contextlib.suppress(UserError), run_lock(path):
            pass
