"""RAdam against torch.optim.RAdam (the core step) and against the formulas of
keras-radam 0.15.0 written out in NumPy (schedule, weight decay, amsgrad,
epsilon); serialization; training on every backend."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from pyimagesearch.radam import LinearWarmup, RAdam

ROOT = Path(__file__).resolve().parents[1]


def gradient_sequence(steps, size, seed=0, scale=1.0):
    """Gradients with random signs and magnitudes in [0.5, 2] * scale: far from
    zero, so v is never ~0 and eps does not matter where it is not meant to."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(steps, size))
    return (signs * rng.uniform(0.5, 2.0, size=(steps, size)) * scale).astype("float32")


def run_keras(optimizer, w0, grads):
    """Apply `grads` one step at a time; return the trajectory (steps, size)."""
    variable = keras.Variable(w0, dtype="float32")
    trajectory = []
    for g in grads:
        optimizer.apply([ops.convert_to_tensor(g)], [variable])
        trajectory.append(ops.convert_to_numpy(variable).copy())
    return np.array(trajectory)


@pytest.mark.backend
def test_core_step_matches_torch_radam():
    torch = pytest.importorskip("torch")
    steps, lr = 60, 0.1  # steps 1-5 have rho_t < 5 (momentum SGD), then rectified
    grads = gradient_sequence(steps, size=16)
    w0 = np.zeros(16, dtype="float32")  # the trajectory is then the displacement

    # eps=0 on both sides: torch adds eps to sqrt(v) before bias correction,
    # keras-radam to the bias-corrected root, so only eps=0 makes them agree
    # (the gradients are far from zero, so nothing divides by zero). The eps
    # placement is tested on its own below.
    ours = run_keras(RAdam(learning_rate=lr, epsilon=0.0), w0, grads)

    param = torch.nn.Parameter(torch.tensor(w0))
    reference = torch.optim.RAdam([param], lr=lr, eps=0.0, foreach=False)
    theirs = []
    for g in grads:
        param.grad = torch.tensor(g)
        reference.step()
        theirs.append(param.detach().numpy().copy())
    theirs = np.array(theirs)

    # keras-radam (and this port) does its arithmetic in float32: beta_2 rounded
    # to float32 makes 1 - beta_2 1.3e-5 off 0.001, and rho_t ~ 6 is the
    # difference of two float32 numbers ~ 2000. torch uses float64 scalars. This
    # moves the trajectory by ~1e-5 of its size; any slip in the arithmetic
    # (step count, bias correction, rectification, the switch) moves it by >1e-2.
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=3e-5 * scale)


@pytest.mark.backend
def test_schedule_warms_up_then_decays_to_min_lr():
    optimizer = RAdam(total_steps=5000, warmup_proportion=0.1, min_lr=1e-5)
    # warm-up over 500 steps, then 1e-3 + (1e-5 - 1e-3) / 4500 * (t - 500).
    expected = {
        1: 1e-3 * 1 / 500,
        250: 1e-3 * 250 / 500,
        500: 1e-3,
        501: 1e-3 - 9.9e-4 * 1 / 4500,
        2750: 1e-3 - 9.9e-4 * 2250 / 4500,
        5000: 1e-5,
        5001: 1e-5,
        20000: 1e-5,
    }
    for step, lr in expected.items():
        for t in (step, ops.convert_to_tensor(step, dtype="int32")):
            got = ops.convert_to_numpy(optimizer.learning_rate_at(t))
            assert got.dtype == np.float32
            # atol: a float32 ulp of 1e-3, the size of the terms the decay adds up.
            np.testing.assert_allclose(
                got, lr, rtol=1e-6, atol=1.2e-10, err_msg=f"t={step}"
            )

    # Without total_steps the rate is constant.
    constant = ops.convert_to_numpy(RAdam().learning_rate_at(7))
    np.testing.assert_allclose(constant, 1e-3, rtol=1e-6)


@pytest.mark.backend
def test_learning_rate_at_iterations_is_the_rate_of_the_last_step():
    # Steps 1-5 are plain momentum SGD; with a constant gradient g, m_hat = g and
    # step t moves the variable by exactly lr_t * g.
    optimizer = RAdam(learning_rate=0.1, total_steps=8, warmup_proportion=0.5)
    variable = keras.Variable(np.zeros(3, dtype="float32"))
    g = np.array([1.0, -2.0, 0.5], dtype="float32")
    previous = np.zeros(3, dtype="float32")
    for step in range(1, 6):
        optimizer.apply([ops.convert_to_tensor(g)], [variable])
        current = ops.convert_to_numpy(variable)
        lr = float(
            ops.convert_to_numpy(optimizer.learning_rate_at(optimizer.iterations))
        )
        assert lr == pytest.approx(0.1 * step / 4 if step <= 4 else 0.1 * 3 / 4)
        np.testing.assert_allclose(previous - current, lr * g, rtol=1e-5)
        previous = current


@pytest.mark.backend
def test_variables_updated_together_move_as_each_alone_and_share_one_schedule(monkeypatch):
    # One apply computes the step's schedule once for all its variables (RAdam.step_terms); each
    # variable still moves exactly as it does when it is the optimizer's only one.
    grads = [gradient_sequence(12, 4, seed=seed) for seed in range(3)]
    alone = [run_keras(RAdam(learning_rate=0.01, total_steps=10), np.ones(4, "float32"), g) for g in grads]

    schedules = []
    scheduled = RAdam._scheduled
    monkeypatch.setattr(RAdam, "_scheduled", lambda self, *args: schedules.append(1) or scheduled(self, *args))
    optimizer = RAdam(learning_rate=0.01, total_steps=10)
    variables = [keras.Variable(np.ones(4, "float32")) for _ in grads]
    for step in range(12):
        optimizer.apply([ops.convert_to_tensor(g[step]) for g in grads], variables)
        for variable, trajectory in zip(variables, alone):
            np.testing.assert_array_equal(ops.convert_to_numpy(variable), trajectory[step])
    assert len(schedules) == 12


def radam_reference(
    w0,
    grads,
    learning_rate,
    beta_1,
    beta_2,
    epsilon,
    weight_decay,
    amsgrad,
    total_steps,
    warmup_proportion,
    min_lr,
):
    """The spec's RAdam step, written out in float64 NumPy."""
    w = w0.astype("float64")
    m, v, v_max = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    rho_inf = 2 / (1 - beta_2) - 1
    trajectory = []
    for t, g in enumerate(grads.astype("float64"), start=1):
        lr = learning_rate
        if total_steps > 0:
            warmup = total_steps * warmup_proportion
            decay_steps = max(total_steps - warmup, 1)
            if t <= warmup:
                lr = learning_rate * t / warmup
            else:
                decay_rate = (min_lr - learning_rate) / decay_steps
                lr = learning_rate + decay_rate * min(t - warmup, decay_steps)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta_1**t)
        v_hat = np.sqrt((v_max if amsgrad else v) / (1 - beta_2**t))
        rho_t = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
        if rho_t >= 5:
            r_t = np.sqrt(
                (rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / (rho_inf - 2) * rho_inf / rho_t
            )
            u = r_t * m_hat / (v_hat + epsilon)
        else:
            u = m_hat
        u = u + weight_decay * w
        w = w - lr * u
        trajectory.append(w.copy())
    return np.array(trajectory)


@pytest.mark.backend
@pytest.mark.parametrize("amsgrad", [False, True])
def test_weight_decay_and_amsgrad_match_the_spec(amsgrad):
    # Large gradients first, small ones after, and a short beta_2 (rho_t still
    # reaches 5 at step 6): v falls after step 8, so vmax and v part ways.
    grads = np.concatenate(
        [
            gradient_sequence(8, 16, seed=1, scale=3.0),
            gradient_sequence(12, 16, seed=2, scale=0.3),
        ]
    )
    w0 = np.random.default_rng(3).normal(size=16).astype("float32")
    # total_steps=16: warm-up over 4 steps, decay until 16, min_lr for 17-20.
    config = dict(
        learning_rate=0.1,
        beta_1=0.9,
        beta_2=0.95,
        epsilon=0.1,
        weight_decay=0.05,
        amsgrad=amsgrad,
        total_steps=16,
        warmup_proportion=0.25,
        min_lr=0.01,
    )
    ours = run_keras(RAdam(**config), w0, grads)
    # Keras computes in float32, so hand the reference the float32-rounded betas.
    config.update(beta_1=float(np.float32(0.9)), beta_2=float(np.float32(0.95)))
    expected = radam_reference(w0, grads, **config)
    # With beta_2 = 0.95, rho_t barely cancels: what remains is float32 rounding.
    np.testing.assert_allclose(
        ours, expected, rtol=0, atol=2e-6 * np.abs(expected).max()
    )


@pytest.mark.backend
def test_epsilon_is_added_outside_the_root():
    # With a constant gradient g, m_hat = g and v_hat = |g|, so step t moves the
    # variable by lr * r_t * g / (|g| + eps). Inside the root it would be
    # g / sqrt(g^2 + eps) (0.0995 instead of 0.5), torch's placement 0.18.
    steps, lr, eps, g = 50, 0.1, 0.01, 0.01
    grads = np.full((steps, 1), g, dtype="float32")
    trajectory = run_keras(
        RAdam(learning_rate=lr, epsilon=eps), np.zeros(1, "float32"), grads
    )
    beta_2 = 0.999
    rho_inf = 2 / (1 - beta_2) - 1
    rho_t = rho_inf - 2 * steps * beta_2**steps / (1 - beta_2**steps)
    r_t = np.sqrt(
        (rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / (rho_inf - 2) * rho_inf / rho_t
    )
    last_step = trajectory[-2] - trajectory[-1]
    np.testing.assert_allclose(last_step, lr * r_t * g / (abs(g) + eps), rtol=1e-3)


@pytest.mark.backend
def test_config_round_trip_and_lr_alias():
    arguments = dict(
        learning_rate=0.02,
        beta_1=0.8,
        beta_2=0.99,
        epsilon=1e-6,
        weight_decay=0.01,
        amsgrad=True,
        total_steps=100,
        warmup_proportion=0.2,
        min_lr=1e-4,
        clipnorm=1.0,
    )
    optimizer = RAdam(**arguments)
    config = optimizer.get_config()
    for name, value in arguments.items():
        assert config[name] == pytest.approx(value), name
    restored = RAdam.from_config(config)
    assert restored.get_config() == config
    # keras-radam's weight decay must not also be handed to the base class.
    assert restored.weight_decay is None

    # The same through keras' generic (de)serialization, by registered name.
    assert isinstance(
        keras.optimizers.deserialize(keras.optimizers.serialize(optimizer)), RAdam
    )

    assert RAdam(lr=0.05).get_config()["learning_rate"] == pytest.approx(0.05)
    with pytest.raises(ValueError):
        RAdam(learning_rate=0.01, lr=0.05)


@pytest.mark.backend
def test_optimizer_state_survives_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=RAdam(
            learning_rate=0.01, weight_decay=0.01, amsgrad=True, total_steps=20
        ),
        loss="mse",
    )
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)  # 8 steps

    path = tmp_path / "x.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded.optimizer, RAdam)
    assert reloaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))

    model.train_on_batch(x[:16], y[:16])
    reloaded.train_on_batch(x[:16], y[:16])
    for a, b in zip(model.weights, reloaded.weights):
        np.testing.assert_allclose(
            ops.convert_to_numpy(a), ops.convert_to_numpy(b), rtol=1e-6, atol=1e-7
        )
    assert int(ops.convert_to_numpy(reloaded.optimizer.iterations)) == 9


TRAIN_SCRIPT = """
import json, keras, numpy as np
from pyimagesearch.radam import RAdam

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(256, 10)).astype("float32")
y = np.tanh(x @ np.random.default_rng(1).normal(size=(10, 1))).astype("float32")
model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(1)])
optimizer = RAdam(learning_rate=0.01, total_steps=64, warmup_proportion=0.1,
                  min_lr=1e-3, weight_decay=1e-4)
# XLA on TensorFlow, jax.jit on JAX; torch runs eagerly.
jit_compile = keras.backend.backend() != "torch"
model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
losses = model.fit(x, y, batch_size=32, epochs=6, verbose=0).history["loss"]
lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate_at(optimizer.iterations)))
print(json.dumps({"losses": losses, "lr": lr}))
"""


def test_trains_on_every_backend():
    # The backend is fixed when keras is imported, hence one process per backend.
    processes = {}
    for backend in ("tensorflow", "jax", "torch"):
        env = dict(
            os.environ,
            KERAS_BACKEND=backend,
            PYTHONPATH=str(ROOT),
            TF_CPP_MIN_LOG_LEVEL="3",
        )
        processes[backend] = subprocess.Popen(
            [sys.executable, "-c", TRAIN_SCRIPT],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for backend, process in processes.items():
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, f"{backend}:\n{stderr[-3000:]}"
        result = json.loads(stdout.strip().splitlines()[-1])
        losses = result["losses"]
        assert np.all(np.isfinite(losses)), (backend, losses)
        assert losses[-1] < 0.7 * losses[0], (backend, losses)
        # After 48 steps: warm-up over 6.4 steps, then decay by 0.009 over 57.6.
        assert result["lr"] == pytest.approx(
            0.01 - 0.009 * (48 - 6.4) / 57.6, rel=1e-5
        ), backend


@pytest.mark.backend
def test_a_schedule_that_is_all_warmup_then_stays_at_min_lr():
    # warmup_proportion 1: the ramp reaches 1e-3 at step 10, and steps after it are at min_lr, as
    # in keras-radam, which decays over at least one step.
    optimizer = RAdam(total_steps=10, warmup_proportion=1.0, min_lr=1e-5)
    for step, lr in {5: 5e-4, 10: 1e-3, 11: 1e-5, 100: 1e-5}.items():
        got = ops.convert_to_numpy(optimizer.learning_rate_at(step))
        # atol: a float32 ulp of 1e-3, from which min_lr is reached.
        np.testing.assert_allclose(got, lr, rtol=1e-6, atol=1.2e-10, err_msg=f"t={step}")


@pytest.mark.backend
def test_the_defaults_are_keras_radams():
    # warmup_proportion 0.1: 1,000 total steps warm up over 100.
    got = ops.convert_to_numpy(RAdam(total_steps=1000).learning_rate_at(50))
    np.testing.assert_allclose(got, 1e-3 * 50 / 100, rtol=1e-6)
    # epsilon 1e-7 (Keras' epsilon()), which train.py's runs use: with a constant gradient g of
    # 1e-6, step t moves the variable by lr * r_t * g / (|g| + 1e-7), 0.909 of lr * r_t (0.990 for 1e-8).
    steps, g = 50, 1e-6
    trajectory = run_keras(RAdam(), np.zeros(1, "float32"), np.full((steps, 1), g, dtype="float32"))
    beta_2 = 0.999
    rho_inf = 2 / (1 - beta_2) - 1
    rho_t = rho_inf - 2 * steps * beta_2**steps / (1 - beta_2**steps)
    r_t = np.sqrt((rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / (rho_inf - 2) * rho_inf / rho_t)
    np.testing.assert_allclose(trajectory[-2] - trajectory[-1], 1e-3 * r_t * g / (g + 1e-7), rtol=1e-3)


def test_a_warmup_of_no_steps_is_refused():
    with pytest.raises(ValueError, match="^warmup_steps must be at least 1, not 0$"):
        LinearWarmup(1e-3, 0)
