"""The argparse types of pyimagesearch/errors.py: each takes the whole of its range, ends included,
and refuses what lies outside it in one line."""

import argparse

import pytest

from pyimagesearch import errors


@pytest.mark.parametrize("parse, text, value", [
    (errors.positive_int, "2147483647", 2**31 - 1),  # LARGEST itself
    (errors.radam_total_steps, "2147483647", "2147483647"),
    (errors.learning_rate, "10", 10.0),  # "at most 10"
    (errors.seconds, "0", 0.0),  # "0 or more"
])
def test_each_type_takes_the_ends_of_its_range(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text, message", [
    (errors.seconds, "inf", "takes a number of seconds, 0 or more, not 'inf'"),
    (errors.seconds, "soon", "takes a number of seconds, 0 or more, not 'soon'"),
    (errors.minutes, "0", "takes a number of minutes, more than 0, not '0'"),
    (errors.minutes, "inf", "takes a number of minutes, more than 0, not 'inf'"),
])  # fmt: skip
def test_seconds_and_minutes_refuse_what_is_no_finite_time(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == message
