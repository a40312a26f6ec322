"""One run, one process: the lock file beside a run's history."""

import errno
import os
import signal
import socket
import subprocess
import sys

import pytest

from pyimagesearch import run_files
from pyimagesearch.errors import EXIT_LOCKED, UserError
from pyimagesearch.run_files import RunLocked
from support import REPO

HOST = socket.gethostname()


def a_pid_that_no_longer_runs():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_holder_is_refused_with_the_first_ones_host_and_pid(tmp_path):
    lock = tmp_path / "run.pickle.lock"
    with run_files.run_lock(str(lock)):
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"
        # flock locks belong to open files: a second open conflicts even within one process.
        with pytest.raises(RunLocked) as refused:
            with run_files.run_lock(str(lock)):
                pytest.fail("entered a held lock")
        assert str(refused.value) == (
            f"process {os.getpid()} on {HOST} is training this run already (it holds {lock}); "
            "let it finish or stop it, then give this command again"
        )
        assert refused.value.exit_code == EXIT_LOCKED == 3
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"  # the holder's file is untouched
    assert not lock.exists()


def test_the_lock_file_goes_after_an_error_too(tmp_path):
    lock = tmp_path / "run.pickle.lock"
    with pytest.raises(ZeroDivisionError):
        with run_files.run_lock(str(lock)):
            1 / 0
    assert not lock.exists()


def test_a_killed_holders_lock_is_taken_over_with_a_note(tmp_path, capsys):
    lock = tmp_path / "run.pickle.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pyimagesearch.run_files import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n", str(lock)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(RunLocked):
        with run_files.run_lock(str(lock)):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.read_text() == f"{HOST} {holder.pid}\n"  # left behind, but no longer locked
    with run_files.run_lock(str(lock)):
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"
    assert capsys.readouterr().out == (
        f"note: taking over {lock} from process {holder.pid} on {HOST}, which no longer holds it\n"
    )
    assert not lock.exists()


def test_a_lock_file_of_another_host_is_refused_and_kept(tmp_path):
    lock = tmp_path / "run.pickle.lock"
    lock.write_text("gpu-node-7 4242\n")
    with pytest.raises(RunLocked) as refused:
        with run_files.run_lock(str(lock)):
            pytest.fail("took over another host's lock")
    assert str(refused.value) == (
        f"{lock} says process 4242 on gpu-node-7 trains this run, which cannot be checked from "
        f"{HOST}; if it no longer runs there, delete {lock} and give this command again"
    )
    assert lock.read_text() == "gpu-node-7 4242\n"


def test_without_flock_the_file_decides(tmp_path, monkeypatch, capsys):
    def unsupported(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_files.fcntl, "flock", unsupported)
    lock = tmp_path / "run.pickle.lock"
    lock.write_text(f"{HOST} {os.getppid()}\n")  # a process that runs: pytest's parent
    with pytest.raises(RunLocked, match=f"^process {os.getppid()} on {HOST} is training this run already"):
        with run_files.run_lock(str(lock)):
            pass
    dead = a_pid_that_no_longer_runs()
    lock.write_text(f"{HOST} {dead}\n")
    with run_files.run_lock(str(lock)):
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"
    assert capsys.readouterr().out.startswith(f"note: taking over {lock} from process {dead} on {HOST}")


def test_a_lock_file_deleted_by_its_finishing_holder_is_opened_again(tmp_path, monkeypatch):
    # The holder deletes the file between our open and our flock: a lock on the deleted file
    # would lock nothing that a third process could see.
    lock = tmp_path / "run.pickle.lock"
    flock, calls = run_files.fcntl.flock, []

    def holder_finishes_first(descriptor, operation):
        if not calls:
            os.remove(lock)
        calls.append(os.fstat(descriptor).st_ino)
        flock(descriptor, operation)

    monkeypatch.setattr(run_files.fcntl, "flock", holder_finishes_first)
    with run_files.run_lock(str(lock)):
        assert len(calls) == 2 and os.stat(lock).st_ino == calls[1]
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"


def test_a_lock_file_that_cannot_be_written_stops_in_one_line_and_is_not_left_behind(tmp_path, monkeypatch):
    def disk_full(descriptor, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_files.os, "pwrite", disk_full)
    lock = tmp_path / "run.pickle.lock"
    with pytest.raises(UserError) as refused:
        with run_files.run_lock(str(lock)):
            pytest.fail("ran without a lock file")
    assert str(refused.value) == (
        f"cannot write the lock file {lock} (No space left on device); free some space or fix its "
        "folder's permissions, then give the same command again"
    )
    assert not isinstance(refused.value, RunLocked)  # exit code 1: nothing else holds the run
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["a folder", "not a regular file", "a symbolic link"])
def test_a_folder_fifo_or_link_where_the_lock_file_goes_is_one_line_and_left_alone(tmp_path, kind):
    lock, target = tmp_path / "run.pickle.lock", tmp_path / "precious.txt"
    target.write_text("not to be truncated\n")
    {"a folder": lock.mkdir, "not a regular file": lambda: os.mkfifo(lock),
     "a symbolic link": lambda: lock.symlink_to(target)}[kind]()  # fmt: skip
    with pytest.raises(UserError) as refused:
        with run_files.run_lock(str(lock)):
            pytest.fail("ran without a lock file")
    assert str(refused.value) == (
        f"{lock} is {kind}, where this run's lock file goes; move it away, then give the same command again"
    )
    assert sorted(os.listdir(tmp_path)) == ["precious.txt", "run.pickle.lock"]
    assert target.read_text() == "not to be truncated\n"


@pytest.mark.parametrize("pid", ["99999999999999999999", "²", "-1", "0x10"])
def test_a_lock_file_naming_no_possible_pid_names_no_one(tmp_path, monkeypatch, capsys, pid):
    def unsupported(descriptor, operation):  # without flock, the PID it names would be looked up
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_files.fcntl, "flock", unsupported)
    lock = tmp_path / "run.pickle.lock"
    lock.write_text(f"{HOST} {pid}\n")
    with run_files.run_lock(str(lock)):
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"
    assert capsys.readouterr().out == ""


def test_a_lock_file_that_says_more_than_host_and_pid_names_no_one(tmp_path, capsys):
    lock = tmp_path / "run.pickle.lock"
    lock.write_text(f"{HOST} 4242 and more\n")
    with run_files.run_lock(str(lock)):
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"
    assert capsys.readouterr().out == ""


def test_without_flock_a_ten_digit_pid_names_no_one_and_another_users_process_holds_the_run(tmp_path, monkeypatch,
                                                                                            capsys):
    def unsupported(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_files.fcntl, "flock", unsupported)
    lock = tmp_path / "run.pickle.lock"
    lock.write_text(f"{HOST} 9999999999\n")  # beyond any PID os.kill takes
    with run_files.run_lock(str(lock)):
        assert lock.read_text() == f"{HOST} {os.getpid()}\n"
    assert capsys.readouterr().out == ""

    def other_users(pid, signal_number):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(run_files.os, "kill", other_users)
    lock.write_text(f"{HOST} 4242\n")
    with pytest.raises(RunLocked, match=f"^process 4242 on {HOST} is training this run already"):
        with run_files.run_lock(str(lock)):
            pytest.fail("took over the lock of a running process")
    assert lock.read_text() == f"{HOST} 4242\n"
