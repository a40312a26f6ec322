"""RAdam (Rectified Adam) for Keras 3, computing what keras-radam 0.15.0 computes; and the
untuned warmup for Adam that RAdam is measured against since.

The 2019 experiment used `keras_radam.RAdam`, which no longer imports on current
TensorFlow and targets the Keras 2 optimizer API, and Keras 3 ships no RAdam. This
port keeps keras-radam's arguments, built-in warm-up/decay schedule and arithmetic.

Ma and Yarats ("On the adequacy of untuned warmup for adaptive optimization", AAAI 2021,
arXiv 1910.04209) read RAdam's rectification as a warmup in disguise, and find that Adam with a
linear warmup over 2 / (1 - beta_2) steps, untuned, performs about as well as RAdam:
`LinearWarmup` is that warmup, as a Keras learning-rate schedule (train.py's adam-warmup).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pyimagesearch")
class RAdam(keras.optimizers.Optimizer):
    """Rectified Adam, as in keras-radam 0.15.0.

    Args:
        learning_rate: Peak learning rate (`lr=` is accepted as a legacy alias).
        beta_1: Decay rate of the first moment.
        beta_2: Decay rate of the second moment.
        epsilon: Added to the bias-corrected root of the second moment.
        weight_decay: If > 0, `weight_decay * variable` is added to the update
            direction (after rectification), so it is scaled by the scheduled
            learning rate. This is not Keras' decoupled weight decay.
        amsgrad: Use the running maximum of the second moment.
        total_steps: If > 0, warm up linearly over the first
            `total_steps * warmup_proportion` steps, then decay linearly to
            `min_lr` at step `total_steps`, and stay at `min_lr` after that.
        warmup_proportion: Fraction of `total_steps` spent warming up.
        min_lr: Learning rate at and after step `total_steps`.
        name: Name of the optimizer.
        **kwargs: Other `keras.optimizers.Optimizer` arguments
            (`clipnorm`, `clipvalue`, ...).
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        weight_decay=0.0,
        amsgrad=False,
        total_steps=0,
        warmup_proportion=0.1,
        min_lr=0.0,
        name="radam",
        **kwargs,
    ):
        if "lr" in kwargs:
            if learning_rate != 0.001:
                raise ValueError(
                    "Pass either `learning_rate` or its legacy alias `lr`, not both."
                )
            learning_rate = kwargs.pop("lr")
        # The base class applies its own decoupled weight decay before
        # update_step whenever `weight_decay` is set; keras-radam's is different
        # and lives in update_step, so the base class gets None.
        super().__init__(
            learning_rate=learning_rate, weight_decay=None, name=name, **kwargs
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.radam_weight_decay = weight_decay
        self.amsgrad = amsgrad
        self.total_steps = total_steps
        self.warmup_proportion = warmup_proportion
        self.min_lr = min_lr
        self._step_terms = None

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = [
            self.add_variable_from_reference(variable, "m") for variable in var_list
        ]
        self._velocities = [
            self.add_variable_from_reference(variable, "v") for variable in var_list
        ]
        if self.amsgrad:
            self._velocity_maxima = [
                self.add_variable_from_reference(variable, "vhat")
                for variable in var_list
            ]

    def _scheduled(self, learning_rate, t, dtype):
        """Warm-up/decay schedule applied to `learning_rate` at step `t` (from 1)."""
        if self.total_steps <= 0:
            return learning_rate
        total_steps = ops.cast(self.total_steps, dtype)
        warmup_steps = total_steps * ops.cast(self.warmup_proportion, dtype)
        decay_steps = ops.maximum(total_steps - warmup_steps, 1.0)
        decay_rate = (ops.cast(self.min_lr, dtype) - learning_rate) / decay_steps
        return ops.where(
            t <= warmup_steps,
            learning_rate * (t / warmup_steps),
            learning_rate + decay_rate * ops.minimum(t - warmup_steps, decay_steps),
        )

    def learning_rate_at(self, step):
        """The learning rate update_step applies at step `step` (counted from 1).

        After n steps, `learning_rate_at(optimizer.iterations)` is the rate
        that the last step used.
        """
        learning_rate = ops.cast(self.learning_rate, "float32")
        return self._scheduled(learning_rate, ops.cast(step, "float32"), "float32")

    def apply(self, grads, trainable_variables=None):
        # What update_step shares across the variables is computed once a step (see step_terms):
        # otherwise a ResNet's 253 variables each repeat it, which makes the compiled step's graph
        # several times larger and slower to build.
        self._step_terms = {}
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_terms = None

    def step_terms(self, learning_rate, dtype):
        """This step's scheduled rate, bias corrections and rectification, in `dtype`: the same
        for every variable, so computed at the first variable of a step and reused."""
        if self._step_terms and dtype in self._step_terms:
            return self._step_terms[dtype]
        # `iterations` is incremented after all variables have been updated.
        t = ops.cast(self.iterations + 1, dtype)
        lr = self._scheduled(ops.cast(learning_rate, dtype), t, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        beta_1_power = ops.power(beta_1, t)
        beta_2_power = ops.power(beta_2, t)
        # Length of the approximated simple moving average, and the factor that
        # rectifies the variance of the adaptive learning rate.
        rho_inf = 2.0 / (1.0 - beta_2) - 1.0
        rho_t = rho_inf - 2.0 * t * beta_2_power / (1.0 - beta_2_power)
        r_t = ops.sqrt(
            (rho_t - 4.0) / (rho_inf - 4.0)
            * (rho_t - 2.0) / (rho_inf - 2.0)
            * rho_inf / rho_t
        )
        terms = dict(lr=lr, beta_1=beta_1, beta_2=beta_2, m_correction=1.0 - beta_1_power,
                     v_correction=1.0 - beta_2_power, rectified=rho_t >= 5.0, r_t=r_t,
                     epsilon=ops.cast(self.epsilon, dtype))
        if self._step_terms is not None:
            self._step_terms[dtype] = terms
        return terms

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        step = self.step_terms(learning_rate, dtype)
        beta_1, beta_2 = step["beta_1"], step["beta_2"]

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign(m, beta_1 * m + (1.0 - beta_1) * gradient)
        self.assign(v, beta_2 * v + (1.0 - beta_2) * ops.square(gradient))
        if self.amsgrad:
            v_max = self._velocity_maxima[index]
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max
        m_hat = m / step["m_correction"]
        v_hat = ops.sqrt(v / step["v_correction"])

        # keras-radam switches on rho_t >= 5 (the paper and PyTorch on > 5).
        # Until then the variance is intractable and the step is momentum SGD;
        # r_t there may be NaN, which `where` discards. epsilon is added outside
        # the square root of the bias-corrected second moment, as keras-radam does.
        update = ops.where(
            step["rectified"],
            step["r_t"] * m_hat / (v_hat + step["epsilon"]),
            m_hat,
        )
        if self.radam_weight_decay > 0:
            update = update + ops.cast(self.radam_weight_decay, dtype) * variable
        self.assign_sub(variable, step["lr"] * update)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "weight_decay": self.radam_weight_decay,
                "amsgrad": self.amsgrad,
                "total_steps": self.total_steps,
                "warmup_proportion": self.warmup_proportion,
                "min_lr": self.min_lr,
            }
        )
        return config


def untuned_warmup_steps(beta_2):
    """Ma and Yarats' rule of thumb, 2 / (1 - beta_2) steps: 2,000 for Adam's beta_2 = 0.999."""
    return round(2 / (1 - beta_2))


@keras.saving.register_keras_serializable(package="pyimagesearch")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate * min(1, t / warmup_steps)` for update number t (from 1), then constant.

    Keras calls a schedule with the number of updates done so far, so the first update sees step
    0 and the schedule uses t = step + 1, as Ma and Yarats count: the first update gets
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
