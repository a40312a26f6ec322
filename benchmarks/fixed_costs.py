"""Where a run's time outside its epochs goes: one run's fixed costs, phase by phase.

    KERAS_BACKEND=jax python benchmarks/fixed_costs.py [--repeats N] [--results FOLDER]

For each network, a fresh Python process does what train.py does before, between and after its
epochs, on CIFAR-10-shaped synthetic data read from a Keras home of its own, and stamps the time
after each phase: Python's start; importing Keras, its backend and the project; the backend's
start (the first array on the device); loading the data set; building the model; compiling the
train, test and predict steps (each the first call minus a second, which runs the compiled
step); the final prediction of the test split with the classification report; writing the
report and the history; the process's exit. JAX's compilation cache is off, so every step
compiles as in a sweep's first run of that network; later runs with the same program load it.
Loading the 28x28 data sets, which are resized to 32x32, is timed once, beside. With
`--repeats N` each network runs N times and each phase counts its shortest time: on a machine
that other work shares, waiting only ever adds time.
"""

import time

STARTED = time.time()  # as early as a child process can stamp its start

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (CLASSES, REPO, at_least, environment, environment_lines, report, results_folder, table,
                               write_keras_datasets)
from pyimagesearch.errors import UserError, positive_int, run_main
from pyimagesearch.original import MODELS

PHASES = {
    "python": "Python's start",
    "imports": "importing Keras, its backend and the project",
    "backend": "the backend's start (first array)",
    "data": "loading CIFAR-10",
    "model": "building the model",
    "train_compile": "compiling the train step",
    "test_compile": "compiling the test step",
    "predict_compile": "compiling the predict step",
    "prediction": "predicting the test split, the report",
    "outputs": "writing the report and the history",
    "exit": "the process's exit",
}


def phases_of_one_run(network, outputs):
    """In a fresh process: time each phase of a run of `network` after Python's start and print
    the seconds as JSON, with the process's start and end (seconds since the epoch, so that the
    parent can line them up with its own clock)."""
    seconds = {}
    clock = [STARTED]

    def phase_ended(key, excluded_s=0.0):
        now = time.time()
        seconds[key] = now - clock[0] - excluded_s
        clock[0] = now

    import keras

    from pyimagesearch import training
    from pyimagesearch.datasets import load_dataset
    from pyimagesearch.files import write_atomically

    training.record_convolutions_in_graphs()  # as train.py does, before the backend starts
    phase_ended("imports")
    keras.ops.convert_to_numpy(keras.ops.zeros(1))
    phase_ended("backend")
    data = load_dataset("cifar10")
    phase_ended("data")
    keras.utils.set_random_seed(42)
    model = training.build_model(network, training.make_optimizer("adam"), data.train_x.shape[1:],
                                 len(data.label_names), seed=42)  # fmt: skip
    phase_ended("model")

    def compiled(key, call):
        """The first call compiles and runs the step, the second only runs it."""
        call()
        started = time.time()
        call()
        phase_ended(key, excluded_s=time.time() - started)

    batch = training.EVALUATION_BATCH_SIZE  # train.py evaluates and predicts in batches of this many
    train_x, train_y = data.train_x[:128], data.train_y[:128]
    test_x, test_y = data.test_x[:batch], data.test_y[:batch]
    compiled("train_compile", lambda: model.train_on_batch(train_x, train_y))
    compiled("test_compile", lambda: model.test_on_batch(test_x, test_y))
    compiled("predict_compile", lambda: model.predict_on_batch(test_x))
    predictions = model.predict(data.test_x, batch_size=batch, verbose=0)
    report = training.report(data, predictions)
    phase_ended("prediction")
    history = {key: [0.0] * 60 for key in training.HISTORY_KEYS}
    write_atomically(os.path.join(outputs, f"{network}.txt"), report)
    write_atomically(os.path.join(outputs, f"{network}.pickle"), pickle.dumps(history))
    phase_ended("outputs")
    xla_flags = os.environ.get("XLA_FLAGS", "")
    print(json.dumps(dict(seconds=seconds, xla_flags=xla_flags, started=STARTED, ended=time.time())))


def time_one_run(network, keras_home):
    """The seconds of each phase of one run of `network` in a fresh process (the second calls
    of the steps, which only run them, left out), and the process's XLA_FLAGS."""
    environment = dict(os.environ, KERAS_HOME=keras_home, JAX_ENABLE_COMPILATION_CACHE="false")
    with tempfile.TemporaryDirectory() as outputs:
        started = time.time()
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--phases-of", network,
                                "--outputs", outputs], cwd=REPO, env=environment,
                               capture_output=True, text=True)  # fmt: skip
        ended = time.time()
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        raise UserError(f"the run of {network} failed (exit {child.returncode}); its output is above")
    timed = json.loads(child.stdout.strip().splitlines()[-1])
    seconds = dict(python=timed["started"] - started, **timed["seconds"], exit=ended - timed["ended"])
    return seconds, timed["xla_flags"]


def loading_28x28(keras_home, name="mnist"):
    """Seconds to load a 28x28 data set, resized to 32x32 as train.py reads it."""
    os.environ["KERAS_HOME"] = keras_home
    from pyimagesearch.datasets import load_dataset

    started = time.perf_counter()
    load_dataset(name)
    return time.perf_counter() - started


def markdown(results, mnist_s, facts, args):
    networks = list(results)
    rows = [[label] + [f"{results[name][key]:.2f}" for name in networks]
            for key, label in PHASES.items()]  # fmt: skip
    rows.append(["**the run's fixed time**"] + [f"**{results[name]['total']:.1f}**" for name in networks])
    return "\n\n".join([
        "## A run's fixed costs, seconds by phase",
        environment_lines(facts),
        table(["phase"] + networks, rows),
        f"Data: {args.train_images or 50_000:,} training and {args.test_images or 10_000:,} test "
        f"images. Loading MNIST-shaped data instead ({args.train_images or 60_000:,} + "
        f"{args.test_images or 10_000:,} images of 28x28, resized to 32x32): {mnist_s:.2f} s.",
    ])  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    # At least one image of each class: the model has an output for each class the labels hold.
    parser.add_argument("--train-images", type=at_least(CLASSES, "images, one of each class"),
                        help="synthetic CIFAR-10 training images, at least 10 (default 50,000)")  # fmt: skip
    parser.add_argument("--test-images", type=positive_int, help="synthetic test images (default 10,000)")
    parser.add_argument("--repeats", type=positive_int, default=1, help="runs a network; each phase's shortest counts")
    parser.add_argument("--results", type=results_folder, help="also write fixed_costs.md and fixed_costs.json here")
    parser.add_argument("--phases-of", choices=MODELS, help=argparse.SUPPRESS)  # the child's part
    parser.add_argument("--outputs", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases_of:
        return phases_of_one_run(args.phases_of, args.outputs)

    with tempfile.TemporaryDirectory() as keras_home:
        write_keras_datasets(os.path.join(keras_home, "datasets"), ["cifar10", "mnist"],
                             args.train_images, args.test_images)  # fmt: skip
        results = {}
        for name in args.models:
            repeats = []
            for _ in range(args.repeats):
                seconds, xla_flags = time_one_run(name, keras_home)
                repeats.append(seconds)
                print(f"{name}: {sum(seconds.values()):.1f} s", flush=True)
            results[name] = {key: min(seconds[key] for seconds in repeats) for key in PHASES}
            results[name]["total"] = sum(results[name].values())
        mnist_s = loading_28x28(keras_home)
    facts = environment(os.environ.get("KERAS_BACKEND", "Keras' default backend"), xla_flags)
    report(args.results, "fixed_costs", markdown(results, mnist_s, facts, args),
           dict(environment=facts, results=results, mnist_loading_s=mnist_s))  # fmt: skip


if __name__ == "__main__":
    run_main(main)
