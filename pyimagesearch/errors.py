"""Bad input, and how the scripts end: argparse types that check one argument each, one exception
for the problems the user must fix, and the exit codes.

An argument that its type refuses ends the script with argparse's usage and its exit code 2, the
type's message saying in one line what the option takes. Any later problem the user must fix
raises `UserError` with one line that names the problem and the fix; the script's entry point
(`if __name__ == "__main__": run_main(main)`) is the one place that prints it as `error: <message>`
on stderr and exits with `EXIT_USER_ERROR`.
"""

import argparse
import gc
import math
import re
import sys


class UserError(Exception):
    """A problem the user can fix; the message is one line that says what to do."""


EXIT_USER_ERROR = 1
# train.py: another process (named in the message: host and PID) is training the same run.
# sweep.py and the generated scripts report such a run as locked, not as finished or failed.
EXIT_LOCKED = 3
# train.py: stopped by SIGTERM (a Slurm time limit or preemption, `kill`, `docker stop`) after
# saving a checkpoint; the same command resumes it. 75 is EX_TEMPFAIL: "try again later".
EXIT_STOPPED = 75


def run_main(main):
    """A script's entry point: exit with `main()`'s code, or, for a UserError, with one line on
    stderr and its exit code (EXIT_USER_ERROR unless the error carries its own `exit_code`)."""
    try:
        code = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        code = getattr(error, "exit_code", EXIT_USER_ERROR)
    # The process ends here, and Python's collector would otherwise walk every object it made
    # before exiting: after a digits run of the ResNet, 1.5 to 1.9 s of one core spent on
    # TensorFlow's traced steps (docs/benchmarks.md, The demo on the CPU).
    gc.freeze()
    sys.exit(code)


# argparse types: each checks one argument and says in one line what it takes.

# The largest count or number of steps taken: beyond it, TensorFlow cannot make a tensor of RAdam's
# total_steps, and the run would stop at its first step.
LARGEST = 2**31 - 1


def positive_int(text):
    """A whole number from 1 to LARGEST, in ASCII digits."""
    if not re.fullmatch("[0-9]+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of at least 1, not {text!r}")
    if int(text) > LARGEST:
        raise argparse.ArgumentTypeError(f"takes a whole number of at most {LARGEST}, not {text!r}")
    return int(text)


def folder(text):
    """A folder's path, not blank (an unset shell variable would put the outputs in the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a folder")
    return text


def whole_number(text):
    """A whole number, 0 or more, in ASCII digits."""
    if not re.fullmatch("[0-9]+", text):
        raise argparse.ArgumentTypeError(f"takes a whole number, 0 or more, not {text!r}")
    return int(text)


def seed(text):
    """A random seed: keras.utils.set_random_seed seeds NumPy's global generator, which takes 0 to
    2**32 - 1."""
    if not re.fullmatch("[0-9]+", text) or int(text) >= 2**32:
        raise argparse.ArgumentTypeError(f"takes a whole number from 0 to {2**32 - 1}, not {text!r}")
    return int(text)


def learning_rate(text):
    """A learning rate: a number more than 0 and at most 10, such as 1e-3 or 0.0003."""
    value = _number(text)
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError(f"takes a number more than 0 and at most 10, such as 1e-3, not {text!r}")
    return value


def radam_total_steps(text):
    """RAdam's total_steps: a whole number up to LARGEST (0 turns its schedule off), or 'auto'."""
    if text != "auto" and not re.fullmatch("[0-9]+", text):
        raise argparse.ArgumentTypeError(f"takes a whole number or 'auto', not {text!r}")
    if text != "auto" and int(text) > LARGEST:
        raise argparse.ArgumentTypeError(f"takes a whole number of at most {LARGEST} or 'auto', not {text!r}")
    return text if text == "auto" else str(int(text))  # 05000 is the run that 5000 names


def seconds(text):
    """A number of seconds, 0 or more."""
    value = _number(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"takes a number of seconds, 0 or more, not {text!r}")
    return value


def minutes(text):
    """A number of minutes, more than 0."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"takes a number of minutes, more than 0, not {text!r}")
    return value


def _number(text):
    try:
        return float(text)
    except ValueError:
        return math.nan
