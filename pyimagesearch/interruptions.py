"""How train.py stops when asked: Ctrl-C dies at once, SIGTERM checkpoints first.

- Ctrl-C (SIGINT) raises KeyboardInterrupt; train.py then says in one line that the same command
  resumes, and dies of SIGINT, so that a shell running a sweep script stops too.
- SIGTERM (a Slurm time limit or preemption, `docker stop`, `kill`) only sets `sigterm_received`:
  the run saves a checkpoint at its next step boundary and exits with EXIT_STOPPED. Once the
  run's outputs are written, it is ignored: the run is done.
"""

import os
import signal
import sys
import threading

from pyimagesearch.errors import EXIT_STOPPED, UserError

# Python raises Ctrl-C's KeyboardInterrupt wherever the main thread is, and drops it when that is
# inside a finalizer (`__del__`, as TensorFlow's resource deleters are): the run would then train
# on and finish as if never stopped. So the handler also sets this, and the run raises it again at
# its next batch, at its epoch's end and before writing its outputs.
ctrl_c_pressed = threading.Event()
sigterm_received = threading.Event()


class Stopped(UserError):
    """The run stopped on SIGTERM after saving a checkpoint; the same command resumes it."""

    exit_code = EXIT_STOPPED


def on_ctrl_c(signum, frame):
    ctrl_c_pressed.set()
    raise KeyboardInterrupt


def on_sigterm(signum, frame):
    sigterm_received.set()


def silent_about_ctrl_c(unraisable):
    """sys.unraisablehook: not a traceback for a Ctrl-C that a finalizer dropped."""
    if unraisable.exc_type is not KeyboardInterrupt:
        sys.__unraisablehook__(unraisable)


def handle_signals():
    signal.signal(signal.SIGINT, on_ctrl_c)
    signal.signal(signal.SIGTERM, on_sigterm)
    sys.unraisablehook = silent_about_ctrl_c


def outputs_written():
    """The run's outputs are whole, so a SIGTERM has nothing left to save: where train.py handles
    it, it is ignored from here on. Python puts back the default action as it exits, and JAX's
    teardown of a GPU takes seconds, so a sweep's SIGTERM then would kill a finished run and the
    sweep would report it as failed."""
    if signal.getsignal(signal.SIGTERM) is on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def die_of_ctrl_c():
    print("error: interrupted: give the same command again to resume from the last checkpoint", file=sys.stderr)
    die_of_sigint()


def die_of_sigint():
    # Die of the signal, not exit 130: a shell running a sweep script stops only then.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
