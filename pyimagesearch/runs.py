"""A run's name: `{model}_{optimizer}_{dataset}[_lr{rate}][_seed{N}]`, written and read back.

The rate is in the name only when it is not the optimizer's default (DEFAULT_LEARNING_RATES), and
the seed only when the run names one (a run without ran with train.py's default, 42), so that the
original's runs keep their 2019 names. No Keras here: plot.py reads names without starting it.
"""

import re

from pyimagesearch.names import DATASETS, DEFAULT_LEARNING_RATES, MODELS, OPTIMIZERS

DEFAULT_SEED = 42  # train.py's

_STEM = re.compile(
    rf"({'|'.join(MODELS)})_({'|'.join(OPTIMIZERS)})_({'|'.join(DATASETS)})"
    r"(?:_lr([0-9]+(?:\.[0-9]+)?e[-+][0-9]+))?(?:_seed([0-9]+))?"
)


def rate_text(rate):
    """The shortest scientific notation that reads back as `rate` exactly: 3e-04, 2.5e-04."""
    for digits in range(17):
        text = f"{rate:.{digits}e}"
        if float(text) == rate:
            return text
    return repr(rate)


def stem(model, optimizer, dataset, learning_rate=None, seed=None):
    """The run's name without a file suffix; a `learning_rate` of None or the optimizer's default,
    and a `seed` of None, add nothing."""
    name = f"{model}_{optimizer}_{dataset}"
    if learning_rate is not None and learning_rate != DEFAULT_LEARNING_RATES[optimizer]:
        name += f"_lr{rate_text(learning_rate)}"
    if seed is not None:
        name += f"_seed{seed}"
    return name


def parse_stem(name):
    """(model, optimizer, dataset, learning rate, seed) of a run's name, the default rate filled
    in and the seed None where the name has none; None if `name` is not one."""
    match = _STEM.fullmatch(name)
    if match is None:
        return None
    model, optimizer, dataset, rate, seed = match.groups()
    rate = DEFAULT_LEARNING_RATES[optimizer] if rate is None else float(rate)
    return model, optimizer, dataset, rate, None if seed is None else int(seed)
