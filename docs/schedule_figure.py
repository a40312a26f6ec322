"""Draw docs/radam_schedule.png: the learning rate each optimizer applies over a 60-epoch CIFAR run.

    python docs/schedule_figure.py

It shows the confound in the original comparison: RAdam's built-in schedule (total_steps=5000)
has decayed to min_lr = 1e-5 by epoch ~13 of 60, while Adam keeps 1e-3 throughout.
`--radam-total-steps auto` stretches the same warm-up and decay over the whole run.
"""

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pyimagesearch import original  # noqa: E402
from pyimagesearch.files import replaced_atomically  # noqa: E402
from pyimagesearch.radam import RAdam  # noqa: E402

argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False).parse_args()  # takes no options

EPOCHS = original.EPOCHS
STEPS_PER_EPOCH = 50_000 // original.BATCH_SIZE  # CIFAR-10 and CIFAR-100: 390

steps = np.arange(1, EPOCHS * STEPS_PER_EPOCH + 1)
epochs = steps / STEPS_PER_EPOCH
as_in_2019 = RAdam(**original.RADAM)
stretched = RAdam(**dict(original.RADAM, total_steps=EPOCHS * STEPS_PER_EPOCH))

plt.style.use("ggplot")
figure, axis = plt.subplots(figsize=(7, 4))
axis.plot(epochs, np.full(len(steps), original.LEARNING_RATE), label="Adam (1e-3)")
axis.plot(epochs, np.asarray(as_in_2019.learning_rate_at(steps)), label="RAdam, total_steps=5000 (original)")
axis.plot(epochs, np.asarray(stretched.learning_rate_at(steps)), label="RAdam, --radam-total-steps auto")
axis.set_yscale("log")
axis.set_xlabel("Epoch #")
axis.set_ylabel("Learning rate")
axis.set_title("Learning rate on CIFAR, 390 steps an epoch")
axis.legend(loc="lower left")
figure.tight_layout()
with replaced_atomically(os.path.join(os.path.dirname(os.path.abspath(__file__)), "radam_schedule.png")) as path:
    figure.savefig(path)
