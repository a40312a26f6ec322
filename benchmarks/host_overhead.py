"""How long the host spends on each training step, apart from the device's work (JAX only).

    KERAS_BACKEND=jax python benchmarks/host_overhead.py

JAX dispatches a compiled step and returns before the device has run it, so a training step costs
the host two things, timed here per network (batch 128, augmentation on, Adam):

- the step's call until it returns, with nothing queued before it: taking the next batch, handing
  it over, and flattening and checking the model's and optimizer's state arrays;
- Keras' fit loop around it, timed with the compiled step replaced by a stub that returns the
  state it was given: callbacks and Keras' bookkeeping of that state.

Batch size / their sum is the most images/s the host can feed. Where a network trains well below
that on a GPU, the device, not the host, sets its speed. (On a CPU the device's work shares the
host's cores, so the call's time there is an upper bound.)
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import keras
import numpy as np

from pyimagesearch import training
from pyimagesearch.names import MODELS


def state_arrays(model):
    """How many arrays each step takes in and gives back: Keras' JAX trainer passes every
    variable of the model, the optimizer and the metrics as its own array."""
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )
    return sum(len(group) for group in groups)


def host_times(name, batch_size, steps, calls_timed):
    """Median milliseconds per step: (the step's call until it returns, the loop without it).

    The call is timed on `calls_timed` steps, each run to the end before the next (on a CPU they
    cost seconds each), the loop on `steps`."""
    images = np.random.default_rng(0).random((batch_size * steps, 32, 32, 3), dtype="float32")
    labels = np.eye(10, dtype="float32")[np.arange(len(images)) % 10]
    batches = training.TrainingBatches(images, labels, batch_size, seed=0)
    model = training.build_model(name, training.make_optimizer("adam"), (32, 32, 3), 10, seed=0)
    model.fit(batches, epochs=1, verbose=0, steps_per_epoch=2)  # compiles the step
    compiled_step = model.train_function
    model.make_train_function = lambda force=False: None  # keep the replacements below

    calls, last_logs = [], {}

    def call_on_an_empty_queue(state, iterator):
        started = time.perf_counter()
        logs, state = compiled_step(state, iterator)
        calls.append(time.perf_counter() - started)
        jax.block_until_ready(state)
        last_logs.update(logs)
        return logs, state

    model.train_function = call_on_an_empty_queue
    model.fit(batches, epochs=1, verbose=0, steps_per_epoch=calls_timed)

    step_starts = []

    def stub(state, iterator):
        step_starts.append(time.perf_counter())
        return last_logs, state

    model.train_function = stub
    model.fit(batches, epochs=1, verbose=0)
    loop = np.diff(step_starts)
    return 1e3 * statistics.median(calls), 1e3 * float(np.median(loop)), state_arrays(model)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet,googlenet,minivggnet")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200, help="steps of the timed loop")
    parser.add_argument("--calls", type=int, default=20, help="step calls timed one at a time")
    args = parser.parse_args(argv)
    for name in args.models.split(","):
        if name not in MODELS:
            parser.error(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
    if keras.backend.backend() != "jax":
        sys.exit("error: this script times JAX's asynchronous dispatch; set KERAS_BACKEND=jax")

    device = jax.devices()[0].device_kind
    print(f"{device}, batch {args.batch_size}, JAX {jax.__version__}, Keras {keras.__version__}")
    timed = ("state arrays", "step call ms", "loop ms", "host ms")
    head = "".join(f"{column:>14}" for column in timed)
    print(f"{'model':11}{head}{'host-bound images/s':>21}")
    for name in args.models.split(","):
        call_ms, loop_ms, arrays = host_times(name, args.batch_size, args.steps, args.calls)
        host_ms = call_ms + loop_ms
        figures = f"{arrays:14d}{call_ms:14.3f}{loop_ms:14.3f}{host_ms:14.3f}"
        print(f"{name:11}{figures}{args.batch_size / host_ms * 1e3:21,.0f}")

if __name__ == "__main__":
    main()
