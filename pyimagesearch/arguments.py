"""The argparse types the scripts share: each checks one argument and says in one line what it takes."""

import argparse
import math
import re

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


def whole_number(text):
    """A whole number, 0 or more, in ASCII digits."""
    if not re.fullmatch("[0-9]+", text):
        raise argparse.ArgumentTypeError(f"takes a whole number, 0 or more, not {text!r}")
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
    return text


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
