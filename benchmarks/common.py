"""What the benchmarks share: synthetic data, Markdown tables, the facts of the machine, results.

Synthetic images cost a network as much as real ones, so every benchmark runs without a download.
`write_keras_datasets` writes them in the formats of Keras' download cache, with the real data
sets' image counts, so that train.py reads them as it reads the real ones.
"""

import argparse
import datetime
import gzip
import importlib.metadata
import json
import math
import os
import pickle
import platform
import statistics
import struct
import sys
import tempfile
import time

import numpy as np

from pyimagesearch.downloads import CIFAR10_DIR, CIFAR100_DIR, FASHION_MNIST_DIR
from pyimagesearch.errors import folder, positive_int
from pyimagesearch.files import write_atomically
from pyimagesearch.histories import read_history
from pyimagesearch.machine import cpu_name, device_name
from pyimagesearch.original import MODELS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

IMAGE_SHAPE = (32, 32, 3)
CLASSES = 10
# A training step's multiply-adds: the forward pass, then the gradients of the layers' inputs and of
# their weights, each as many as the forward pass.
TRAINING_PASSES = 3

# Training images, test images, the shape of one image as Keras caches it, classes.
DATASET_SHAPES = {
    "mnist": (60_000, 10_000, (28, 28), 10),
    "fashion_mnist": (60_000, 10_000, (28, 28), 10),
    "cifar10": (50_000, 10_000, (32, 32, 3), 10),
    "cifar100": (50_000, 10_000, (32, 32, 3), 100),
}


def synthetic_images(count, seed=0, shape=IMAGE_SHAPE):
    """`count` random float32 images of `shape` (32x32x3 unless given) in [0, 1] and one-hot
    labels of 10 classes."""
    rng = np.random.default_rng(seed)
    images = rng.random((count,) + tuple(shape), dtype=np.float32)
    labels = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, count)]
    return images, labels


def timing(epoch_s, steps, batch_size):
    """Images/s of the median epoch (or window) of `steps` steps, and of the slowest and fastest."""
    images = steps * batch_size
    return dict(
        images_per_s=images / statistics.median(epoch_s),
        slowest=images / max(epoch_s),
        fastest=images / min(epoch_s),
        epoch_s=epoch_s,
    )


def rate(entry):
    return f"{entry['images_per_s']:,.0f} ({entry['slowest']:,.0f}-{entry['fastest']:,.0f})"


def comma_separated(choices, kind):
    """An argparse type: comma-separated names, each one of `choices` (a `kind`, for the error)."""

    def names(text):
        listed = text.split(",")
        unknown = [name for name in listed if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {kind} {unknown[0]!r}: choose from {', '.join(choices)}")
        return listed

    return names


def at_least(minimum, what):
    """An argparse type: a whole number of at least `minimum` (of `what`, with why, for the error)."""

    def number(text):
        count = positive_int(text)
        if count < minimum:
            raise argparse.ArgumentTypeError(f"takes at least {minimum} {what}, not {text!r}")
        return count

    return number


model_names = comma_separated(MODELS, "model")


def batch_sizes(text):
    """An argparse type: comma-separated positive batch sizes."""
    return [positive_int(size) for size in text.split(",")]


def results_folder(text):
    """An argparse type: a folder to write results into, made when they are written. Checked
    before the measurement, which can take minutes, rather than when its results are written;
    checking makes nothing, so a command refused later leaves no folder behind."""
    folder(text)
    existing = os.path.abspath(text)
    while not os.path.lexists(existing):  # the folder itself, or the nearest one above it that is there
        existing = os.path.dirname(existing)
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError
        with tempfile.TemporaryFile(dir=existing):
            pass
    except (FileExistsError, NotADirectoryError):
        raise argparse.ArgumentTypeError(f"{text!r} or a folder above it is a file, not a folder; "
                                         "choose another folder") from None
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot write into {text!r} ({error.strerror}); choose a "
                                         "writable folder or fix its permissions") from None
    return text


def write_keras_datasets(datasets_dir, names, train_images=None, test_images=None, seed=0):
    """Random uint8 images for each data set in `names`, written into `datasets_dir` (a Keras
    home's `datasets` folder) in Keras' cache formats: the real counts unless given (at least as
    many as classes: CIFAR-100 has 100). Returns what
    was written: per data set, ((train images, labels), (test images, labels))."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in names:
        train_count, test_count, shape, classes = DATASET_SHAPES[name]
        splits = []
        for count in (train_images or train_count, test_images or test_count):
            images = rng.integers(0, 256, (count,) + shape, dtype=np.uint8)
            # Every class as often as the count allows, as in the real sets: the one-hot labels
            # train.py makes have a column per class seen.
            labels = rng.permutation(np.arange(count) % classes).astype(np.uint8)
            splits.append((images, labels))
        if name == "mnist":
            os.makedirs(datasets_dir, exist_ok=True)
            (x_train, y_train), (x_test, y_test) = splits
            np.savez(os.path.join(datasets_dir, "mnist.npz"),
                     x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)  # fmt: skip
        elif name == "fashion_mnist":
            write_idx_files(os.path.join(datasets_dir, FASHION_MNIST_DIR), splits)
        else:
            folder = os.path.join(datasets_dir, CIFAR10_DIR if name == "cifar10" else CIFAR100_DIR)
            write_cifar_batches(folder, name, splits)
        written[name] = splits
    return written


def write_idx_files(folder, splits):
    """Fashion-MNIST's four gzipped idx files: a big-endian header, then the bytes."""
    os.makedirs(folder, exist_ok=True)
    for prefix, (images, labels) in zip(("train", "t10k"), splits):
        count = len(images)
        for kind, header, array in (
            ("images-idx3", struct.pack(">IIII", 2051, count, 28, 28), images),
            ("labels-idx1", struct.pack(">II", 2049, count), labels),
        ):
            # Random bytes do not compress: the fastest level is as good as any.
            with gzip.open(os.path.join(folder, f"{prefix}-{kind}-ubyte.gz"), "wb", 1) as file:
                file.write(header + array.tobytes())


def write_cifar_batches(folder, name, splits):
    """CIFAR's pickled batches: rows of 3,072 bytes (1,024 red, 1,024 green, 1,024 blue)."""
    os.makedirs(folder, exist_ok=True)
    (train_x, train_y), (test_x, test_y) = splits
    if name == "cifar10":
        files = [(f"data_batch_{i + 1}", part) for i, part in enumerate(
            zip(np.array_split(train_x, 5), np.array_split(train_y, 5)))]  # fmt: skip
        files.append(("test_batch", (test_x, test_y)))
        label_key = b"labels"
    else:
        files = [("train", (train_x, train_y)), ("test", (test_x, test_y))]
        label_key = b"fine_labels"
    for file_name, (images, labels) in files:
        batch = {
            b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
            label_key: [int(label) for label in labels],
        }
        if name == "cifar100":
            batch[b"coarse_labels"] = [int(label) // 5 for label in labels]
        with open(os.path.join(folder, file_name), "wb") as file:
            pickle.dump(batch, file, protocol=4)


def matmul_gflops(size, repeats=5):
    """NumPy's float32 GFLOP/s multiplying two size x size matrices: the best of `repeats`."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    a @ b  # the BLAS starts its threads
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - started)
    return 2 * size**3 / min(seconds) / 1e9


def forward_flops(network):
    """FLOPs of one image's forward pass: 2 per kernel weight per output position of every
    Conv2D, DepthwiseConv2D, SeparableConv2D and Dense layer, nested models included."""
    from keras import layers

    total = 0
    for layer in network.layers:
        if hasattr(layer, "layers"):
            total += forward_flops(layer)
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D, layers.Dense)):
            kernels = [weight for weight in layer.weights if weight.name.endswith("kernel")]
            positions = math.prod(layer.output.shape[1:-1])
            total += 2 * positions * sum(math.prod(kernel.shape) for kernel in kernels)
    return total


def read_epoch_times(history_path):
    """The seconds of each epoch a train.py run recorded in its history pickle."""
    return list(read_history(history_path)["epoch_time"])


def last_line(path):
    """The last line of a run's log that is not blank: why it failed, if it did."""
    with open(path, errors="replace") as file:
        lines = [line.strip() for line in file if line.strip()]
    return lines[-1] if lines else "its log is empty"


def table(headers, rows):
    """A Markdown table, its columns padded so that it also reads well in a terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [headers, ["-" * width for width in widths]] + rows
    return "\n".join(
        "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) + " |"
        for line in lines
    )


def version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(backend, xla_flags=None):
    """The facts a measurement is read against: date, device, software, backend, and XLA_FLAGS
    (this process's unless given)."""
    return dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        device=device_name(),
        cpu=cpu_name(),
        backend=backend,
        python=platform.python_version(),
        keras=version("keras"),
        jax=version("jax"),
        torch=version("torch"),
        xla_flags=os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags,
        command=" ".join(["python"] + [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
    )


def environment_lines(facts):
    host = "" if facts["device"].startswith("CPU: ") else f"; host CPU: {facts['cpu']}"
    return "\n".join([
        f"- {facts['date']}, {facts['device']}{host}",
        f"- Keras {facts['keras']} on {facts['backend']}; JAX {facts['jax']}; "
        f"PyTorch {facts['torch']}; Python {facts['python']}; "
        f"XLA_FLAGS: `{facts['xla_flags'] or '(none)'}`",
        f"- command: `{facts['command']}`",
    ])  # fmt: skip


def report(results_folder, name, markdown, data):
    """Print the Markdown; with a results folder, also write it and the data as NAME.md and
    NAME.json there."""
    print(markdown, flush=True)
    if results_folder:
        write_atomically(os.path.join(results_folder, f"{name}.md"), markdown + "\n")
        write_atomically(os.path.join(results_folder, f"{name}.json"),
                         json.dumps(data, indent=2, default=str) + "\n")  # fmt: skip
