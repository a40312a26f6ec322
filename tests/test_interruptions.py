"""pyimagesearch/interruptions.py: what Ctrl-C and SIGTERM do to a run. Ctrl-C raises at once and
is remembered, SIGTERM is only remembered (the run checkpoints at its next step), a finished run
ignores SIGTERM, and a run that Ctrl-C stopped says how to resume and dies of SIGINT."""

import signal
import subprocess
import sys
import types

import pytest

from pyimagesearch import interruptions
from support import REPO


@pytest.fixture
def signal_handlers(monkeypatch):
    """The test's changes to the SIGINT and SIGTERM handlers, the flags and sys.unraisablehook undone."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    interruptions.ctrl_c_pressed.clear()
    interruptions.sigterm_received.clear()


def test_ctrl_c_raises_at_once_and_is_remembered_sigterm_only_remembered(signal_handlers):
    with pytest.raises(KeyboardInterrupt):
        interruptions.on_ctrl_c(signal.SIGINT, None)
    assert interruptions.ctrl_c_pressed.is_set() and not interruptions.sigterm_received.is_set()
    interruptions.on_sigterm(signal.SIGTERM, None)  # no exception: the run goes on to its next step
    assert interruptions.sigterm_received.is_set()


def test_the_handlers_are_installed_with_a_hook_silent_about_dropped_ctrl_c_alone(signal_handlers, monkeypatch):
    interruptions.handle_signals()
    assert signal.getsignal(signal.SIGINT) is interruptions.on_ctrl_c
    assert signal.getsignal(signal.SIGTERM) is interruptions.on_sigterm
    assert sys.unraisablehook is interruptions.silent_about_ctrl_c

    reported = []
    monkeypatch.setattr(sys, "__unraisablehook__", reported.append)
    dropped, other = types.SimpleNamespace(exc_type=KeyboardInterrupt), types.SimpleNamespace(exc_type=OSError)
    interruptions.silent_about_ctrl_c(dropped)
    interruptions.silent_about_ctrl_c(other)
    assert reported == [other]  # any other error a finalizer drops keeps its traceback


def test_a_finished_run_ignores_sigterm_only_where_train_py_handles_it(signal_handlers):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a program that calls train.main itself
    interruptions.outputs_written()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    signal.signal(signal.SIGTERM, interruptions.on_sigterm)
    interruptions.outputs_written()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_a_run_stopped_by_ctrl_c_says_how_to_resume_and_dies_of_sigint():
    # With train.py's handlers installed, as when it stops: a shell running a sweep script stops
    # only if the run dies of the signal itself.
    code = "from pyimagesearch import interruptions\ninterruptions.handle_signals()\ninterruptions.die_of_ctrl_c()\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGINT
    assert result.stderr == "error: interrupted: give the same command again to resume from the last checkpoint\n"
