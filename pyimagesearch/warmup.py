"""Adam's untuned linear warmup (Ma and Yarats, "On the adequacy of untuned warmup for adaptive
optimization", AAAI 2021, arXiv 1910.04209) as a Keras learning-rate schedule.

The paper reads RAdam's rectification as a warmup in disguise, and finds that Adam with a linear
warmup over 2 / (1 - beta_2) steps, untuned, performs about as well as RAdam.
"""

import keras
from keras import ops


def untuned_warmup_steps(beta_2):
    """The paper's rule of thumb, 2 / (1 - beta_2) steps: 2,000 for Adam's beta_2 = 0.999."""
    return round(2 / (1 - beta_2))


@keras.saving.register_keras_serializable(package="pyimagesearch")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate * min(1, t / warmup_steps)` for update number t (from 1), then constant.

    Keras calls a schedule with the number of updates done so far, so the first update sees step
    0 and the schedule uses t = step + 1, as the paper counts: the first update gets
    `learning_rate / warmup_steps` rather than 0 (which would waste it), and update number
    `warmup_steps` and every later one get `learning_rate`.
    """

    def __init__(self, learning_rate, warmup_steps):
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be at least 1, not {warmup_steps}")
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        t = ops.cast(step, "float32") + 1.0
        return self.learning_rate * ops.minimum(1.0, t / self.warmup_steps)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}
