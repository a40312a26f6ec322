"""Training speed of the Keras re-creation, side by side with plain PyTorch and the 2019 design.

GPU run (one H100 or H200: the throughput section alone took 115 s on an H200, about 3 minutes
with torch and original, and the sweep's 3 x (1 + 3) train.py runs of 3 epochs another 5-7;
`--deadline-s` stops it in time, and `--epochs`, `--concurrency`, `--sweep-models` and
`--sharing-only` make the sweep cheaper):

    KERAS_BACKEND=jax python benchmarks/benchmark.py --output results.json --markdown results.md \
        --deadline-s 400

Tiny run on a CPU (what tests/test_benchmark.py runs; under a minute):

    KERAS_BACKEND=jax python benchmarks/benchmark.py --tiny \
        --output /tmp/b.json --markdown /tmp/b.md

Four sections, chosen with `--sections` (default: all, in this order). Each one prints its table
as soon as it is measured; the JSON and Markdown files are rewritten after every measurement,
and a section that fails is reported and the next one runs.

- throughput: `training.build_model` + `model.fit` on `training.TrainingBatches` of synthetic
  32x32x3, 10-class images, augmentation on (the default) and off: one `fit` of 1 + `--repeats`
  epochs of `--steps` steps; images/s of the median epoch after the first, whose time
  (compilation included) is kept too. Each epoch ends with the losses copied to the host, so an
  epoch's time is the device's. One timed window proved too noisy on a GPU (docs/benchmarks.md).
- torch: the same networks in plain eager PyTorch (benchmarks/torch_networks.py), channels-first,
  Adam, no augmentation, on the same device; their trainable parameter counts must equal Keras'.
- original: how many images/s one CPU core augments with the legacy
  `ImageDataGenerator.random_transform` (the 2019 design: one generator thread feeding the GPU),
  and that design's throughput, min(Keras without augmentation, that rate).
- sweep: train.py itself on random CIFAR-10-shaped data, one run at a time (not with
  `--sharing-only`) and `--concurrency` runs sharing the GPU (sweep.py's environment), then the
  wall time of the full 24-run, 60-epoch sweep estimated from the steady-state epoch times.
"""

import os

# JAX would take 75% of the GPU at its first use, and the sweep's train.py runs need it: this
# process allocates as it goes. The runs themselves get the environment sweep.py gives them.
PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"
SET_PREALLOCATE = __name__ == "__main__" and PREALLOCATE not in os.environ
if SET_PREALLOCATE:
    os.environ[PREALLOCATE] = "false"

import argparse
import datetime
import gc
import importlib.metadata
import json
import pickle
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import keras
import numpy as np
import scipy.ndimage

import sweep
import train
from pyimagesearch import training
from pyimagesearch.datasets import CIFAR10_DIR
from pyimagesearch.names import MODELS

SECTIONS = ("throughput", "torch", "original", "sweep")
IMAGE_SHAPE = (32, 32, 3)
CLASSES = 10

# The full sweep: 4 datasets x 2 optimizers per model, 60 epochs. An epoch's time scales with
# the training images: 60,000 for MNIST and Fashion-MNIST, 50,000 for CIFAR-10 and CIFAR-100.
SWEEP_EPOCHS = 60
CIFAR10_TRAIN_IMAGES = 50_000
SWEEP_OPTIMIZERS = ("adam", "radam")
DATASET_SCALES = {"mnist": 1.2, "fashion_mnist": 1.2, "cifar10": 1.0, "cifar100": 1.0}

TARGETS = {
    "compile_s": 30.0,  # compilation per run, at most
    "augmentation_share": 0.10,  # augmentation's share of a training step, at most
    "keras_over_torch": 1.5,  # Keras (augmentation on) / eager PyTorch, at least
    "ours_over_original": 10.0,  # Keras (augmentation on) / the 2019 design, at least
}

GPU_SETTINGS = dict(
    models="resnet,googlenet,minivggnet",
    batch_size=128,
    steps=100,
    repeats=5,
    augment_images=2048,
    sweep_models="resnet,googlenet,minivggnet",
    epochs=3,
    concurrency=3,
    train_images=50_000,
    test_images=10_000,
    compilation_cache=False,
)
# On two CPU cores train.py spends most of a tiny run compiling: in tiny mode the sweep's runs
# share a JAX compilation cache, so the runs sharing the CPU start faster than they would.
TINY_SETTINGS = dict(
    models="minivggnet",
    batch_size=16,
    steps=3,
    repeats=2,
    augment_images=128,
    sweep_models="minivggnet",
    epochs=2,
    concurrency=2,
    train_images=256,
    test_images=128,
    compilation_cache=True,
)

STARTED = time.perf_counter()


def log(message):
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few steps on tiny data (CPU, CI)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    parser.add_argument("--models", help="models of throughput and torch (comma-separated)")
    parser.add_argument("--batch-size", type=int, help="throughput and torch (GPU default: 128)")
    parser.add_argument("--steps", type=int, help="training steps per timed epoch (or window)")
    parser.add_argument("--repeats", type=int, help="timed epochs (windows): their median counts")
    parser.add_argument("--augment-images", type=int, help="images augmented on one CPU core")
    parser.add_argument("--sweep-models", help="models whose train.py runs are timed")
    parser.add_argument("--epochs", type=int, help="epochs of each timed train.py run (>= 2)")
    parser.add_argument("--concurrency", type=int, help="train.py runs sharing the GPU at once")
    parser.add_argument(
        "--sharing-only",
        action="store_true",
        help="time only the train.py runs sharing the GPU, not one run alone: the sweep's "
        "estimate with --concurrency runs at once needs only those, in half the time",
    )
    parser.add_argument("--train-images", type=int, help="fake CIFAR-10 training images")
    parser.add_argument("--test-images", type=int, help="fake CIFAR-10 test images")
    parser.add_argument(
        "--compilation-cache",
        action="store_true",
        default=None,
        help="the sweep's runs share a JAX compilation cache (understates their fixed cost)",
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="bfloat16 compute everywhere: Keras' mixed_bfloat16 policy, train.py "
        "--mixed-precision, torch.autocast(bfloat16)",
    )
    parser.add_argument("--run-timeout-s", type=float, default=600.0, help="per train.py group")
    parser.add_argument(
        "--deadline-s",
        type=float,
        help="seconds after the start: no measurement starts later, and train.py runs still "
        "going then are stopped, so that the outputs are written before a hard time limit",
    )
    parser.add_argument("--output", default="benchmark.json", help="JSON results")
    parser.add_argument("--markdown", default="benchmark.md", help="Markdown summary")
    args = parser.parse_args(argv)

    defaults = TINY_SETTINGS if args.tiny else GPU_SETTINGS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sections = split_names(args.sections, SECTIONS, parser)
    args.models = split_names(args.models, MODELS, parser)
    args.sweep_models = split_names(args.sweep_models, MODELS, parser)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch includes the compilation")
    if min(args.batch_size, args.steps, args.repeats, args.concurrency) < 1:
        parser.error("--batch-size, --steps, --repeats and --concurrency must be positive")
    if args.train_images < 128 or args.test_images < 1:
        parser.error("train.py trains on batches of 128: give at least 128 --train-images")
    return args


def split_names(text, choices, parser):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in choices:
            parser.error(f"unknown name {name!r}: choose from {', '.join(choices)}")
    return names


def past_deadline(args):
    return args.deadline_s is not None and time.perf_counter() - STARTED > args.deadline_s


"""
## Environment
"""


def device_name():
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        names = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
        if listing.returncode == 0 and names:
            return ", ".join(names)
    except (OSError, subprocess.SubprocessError):
        pass
    return f"CPU only: {cpu_name()}"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def gpu_memory():
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return listing.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(mixed_precision):
    return dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        device=device_name(),
        cpu=cpu_name(),
        backend=keras.backend.backend(),
        python=platform.python_version(),
        keras=keras.__version__,
        jax=package_version("jax"),
        torch=package_version("torch"),
        numpy=np.__version__,
        scipy=package_version("scipy"),
        precision="mixed bfloat16 (float32 weights)" if mixed_precision else "float32",
        xla_flags=os.environ.get("XLA_FLAGS", ""),
    )


"""
## 1. Keras throughput, augmentation on and off
"""


def synthetic_images(count, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((count,) + IMAGE_SHAPE, dtype=np.float32)
    labels = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, count)]
    return images, labels


def trainable_parameters(model):
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


class EpochEnds(keras.callbacks.Callback):
    """When fit started and when each epoch ended. Keras hands on_epoch_end the epoch's losses
    as host numbers, so the device has finished the epoch's steps by then."""

    def on_train_begin(self, logs=None):
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter())


def timing(epoch_s, steps, batch_size):
    """images/s of the median epoch (or window) of `steps` steps, and the range over them."""
    median_s = statistics.median(epoch_s)
    return dict(
        images_per_s=steps * batch_size / median_s,
        images_per_s_range=[steps * batch_size / max(epoch_s), steps * batch_size / min(epoch_s)],
        step_ms=1000 * median_s / steps,
        epoch_s=epoch_s,
        timed_steps=steps,
    )


def keras_throughput(name, augmentation, images, labels, args):
    """Images/s of the project's compiled train step: the median of `--repeats` epochs of
    `--steps` steps, after a first epoch of as many steps that includes the compilation."""
    keras.utils.set_random_seed(0)
    model = training.build_model(
        name,
        training.make_optimizer("adam"),
        IMAGE_SHAPE,
        CLASSES,
        seed=0,
        augmentation=augmentation,
    )
    count = args.steps * args.batch_size
    batches = training.TrainingBatches(images[:count], labels[:count], args.batch_size, seed=0)
    epoch_ends = EpochEnds()
    model.fit(batches, epochs=1 + args.repeats, verbose=0, callbacks=[epoch_ends])
    durations = [end - start for start, end in zip(epoch_ends.times, epoch_ends.times[1:])]
    result = timing(durations[1:], args.steps, args.batch_size)
    result.update(
        first_epoch_s=durations[0],
        compile_s=max(durations[0] - statistics.median(durations[1:]), 0.0),
        trainable_params=trainable_parameters(model),
    )
    del model
    keras.backend.clear_session()
    gc.collect()
    return result


def ranges_overlap(on, off):
    """Whether two settings' epoch rates overlap. On the H200 single epochs of one model varied
    by up to 35%: when the slowest epoch of one setting outran the fastest of the other, their
    difference says nothing."""
    (on_low, on_high), (off_low, off_high) = on["images_per_s_range"], off["images_per_s_range"]
    return on_low <= off_high and off_low <= on_high


def measure_throughput(args, results, save):
    section = results.setdefault("throughput", {})
    images, labels = synthetic_images(args.steps * args.batch_size)
    for name in args.models:
        if past_deadline(args):
            section[name] = dict(skipped="past --deadline-s")
            continue
        entry = section.setdefault(name, {})
        for augmentation in (True, False):
            key = "augmentation_on" if augmentation else "augmentation_off"
            log(f"throughput: {name}, {key.replace('_', ' ')}")
            entry[key] = keras_throughput(name, augmentation, images, labels, args)
        on, off = entry["augmentation_on"], entry["augmentation_off"]
        entry["augmentation_share"] = (on["step_ms"] - off["step_ms"]) / on["step_ms"]
        save()
    print(throughput_table(section), flush=True)


def measured(section):
    """The (model, entry) pairs of a section, in its order, without its other keys."""
    return [(name, entry) for name, entry in section.items() if name in MODELS]


def rate(entry):
    """The median images/s and, in brackets, the slowest and fastest timed epoch's."""
    low, high = entry["images_per_s_range"]
    return f"{entry['images_per_s']:,.0f} ({low:,.0f}-{high:,.0f})"


def throughput_table(section):
    rows = []
    for name, entry in measured(section):
        if "augmentation_on" not in entry or "augmentation_off" not in entry:
            rows.append([name] + ["-"] * 6)
            continue
        on, off = entry["augmentation_on"], entry["augmentation_off"]
        rows.append(
            [
                name,
                rate(on),
                rate(off),
                f"{100 * entry['augmentation_share']:.1f}%",
                f"{on['first_epoch_s']:.1f} / {off['first_epoch_s']:.1f}",
                f"{on['compile_s']:.1f} / {off['compile_s']:.1f}",
                f"{on['trainable_params']:,}",
            ]
        )
    return table(
        [
            "model",
            "images/s, augmentation on",
            "images/s, off",
            "augmentation's share of a step",
            "first epoch s (on / off)",
            "compilation s (on / off)",
            "trainable params",
        ],
        rows,
    )


"""
## 2. Plain eager PyTorch
"""


def torch_throughput(name, args, device):
    import torch

    from benchmarks import torch_networks

    torch.manual_seed(0)
    network = torch_networks.build(name, IMAGE_SHAPE[2], CLASSES).to(device)
    optimizer = torch.optim.Adam(network.parameter_groups(), lr=1e-3, eps=1e-7)
    loss_function = torch.nn.CrossEntropyLoss()
    # The data lies on the device: no copies from the host, the easiest case for PyTorch.
    count = args.steps * args.batch_size
    images = torch.rand(count, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2], device=device)
    labels = torch.randint(0, CLASSES, (count,), device=device)
    order = torch.randperm(count, device=device)
    network.train()

    def train_step(step):
        rows = order[(step * args.batch_size) % count :][: args.batch_size]
        x, y = images[rows], labels[rows]
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=args.mixed_precision):
            loss = loss_function(network(x), y)
        loss.backward()
        optimizer.step()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed_window():
        started = time.perf_counter()
        for step in range(args.steps):
            train_step(step)
        synchronize()
        return time.perf_counter() - started

    warmup_s = timed_window()  # cuDNN's autotuning happens here
    result = timing([timed_window() for _ in range(args.repeats)], args.steps, args.batch_size)
    result.update(
        warmup_s=warmup_s,
        trainable_params=torch_networks.trainable_parameters(network),
    )
    del network, optimizer, images, labels, order
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def keras_trainable_parameters(name):
    network = training.build_network(name, IMAGE_SHAPE, CLASSES)
    count = trainable_parameters(network)
    del network
    keras.backend.clear_session()
    return count


def measure_torch(args, results, save):
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # cuDNN picks its fastest convolution algorithms, as XLA's autotuning does for Keras.
    torch.backends.cudnn.benchmark = True
    section = results.setdefault("torch", {})
    section["settings"] = dict(
        device=device.type,
        torch_version=torch.__version__,
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        cudnn_benchmark=True,
        data="on the device, shuffled batches gathered there",
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        threads=torch.get_num_threads(),
    )
    for name in args.models:
        if past_deadline(args):
            section[name] = dict(skipped="past --deadline-s")
            continue
        log(f"torch: {name} on {device}")
        entry = torch_throughput(name, args, device)
        entry["keras_trainable_params"] = keras_trainable_parameters(name)
        entry["params_equal"] = entry["trainable_params"] == entry["keras_trainable_params"]
        keras_on = results.get("throughput", {}).get(name, {}).get("augmentation_on")
        if keras_on:
            entry["keras_over_torch"] = keras_on["images_per_s"] / entry["images_per_s"]
        section[name] = entry
        save()
    print(torch_table(section), flush=True)
    unequal = [name for name in args.models if not section[name].get("params_equal", True)]
    if unequal:
        raise AssertionError(f"PyTorch and Keras trainable parameters differ: {unequal}")


def torch_table(section):
    rows = []
    for name, entry in measured(section):
        if "images_per_s" not in entry:
            continue
        ratio = entry.get("keras_over_torch")
        rows.append(
            [
                name,
                rate(entry),
                "-" if ratio is None else f"{ratio:.2f}x",
                f"{entry['trainable_params']:,} / {entry['keras_trainable_params']:,}",
            ]
        )
    settings = section["settings"]
    header = f"PyTorch {settings['torch_version']}, eager, on {settings['device_name']}"
    if settings["device"] == "cuda":
        header += " (cudnn.benchmark on)"
    header += "\n\n"
    return header + table(
        [
            "model",
            "PyTorch images/s",
            "Keras (augmentation on) / PyTorch",
            "trainable params (PyTorch / Keras)",
        ],
        rows,
    )


"""
## 3. The original design: per-image augmentation on one CPU core
"""


def legacy_matrix(theta, tx, ty, shear, zx, zy, height, width):
    """The legacy `apply_affine_transform` matrix, permuted to (row, col) for scipy."""
    theta, shear = np.deg2rad(theta), np.deg2rad(shear)
    rotation = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    matrix = rotation @ shift @ shear_matrix @ zoom
    o_x, o_y = (height - 1) / 2, (width - 1) / 2
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    matrix = offset @ matrix @ reset
    matrix[:, [0, 1]] = matrix[:, [1, 0]]
    matrix[[0, 1]] = matrix[[1, 0]]
    return matrix


def scipy_affine_transform(image, theta, tx, ty, shear, zx, zy, fill_mode="nearest"):
    """The legacy `apply_affine_transform` on one channels-last image: scipy, per channel."""
    height, width = image.shape[:2]
    matrix = legacy_matrix(theta, tx, ty, shear, zx, zy, height, width)
    channels = [
        scipy.ndimage.affine_transform(
            image[:, :, c], matrix[:2, :2], matrix[:2, 2], order=1, mode=fill_mode
        )
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1)


def scipy_random_transform(augmentation, rng):
    """Legacy `ImageDataGenerator.random_transform` with float ranges, re-implemented.

    Draws as `get_random_transform` does (see pyimagesearch.augmentation) and warps with scipy.
    """

    def random_transform(image):
        height, width = image.shape[:2]
        theta = rng.uniform(-augmentation["rotation_range"], augmentation["rotation_range"])
        tx = rng.uniform(-1, 1) * augmentation["height_shift_range"] * height
        ty = rng.uniform(-1, 1) * augmentation["width_shift_range"] * width
        shear = rng.uniform(-augmentation["shear_range"], augmentation["shear_range"])
        zoom = augmentation["zoom_range"]
        zx, zy = rng.uniform(1 - zoom, 1 + zoom, 2)
        image = scipy_affine_transform(
            image, theta, tx, ty, shear, zx, zy, augmentation["fill_mode"]
        )
        if augmentation["horizontal_flip"] and rng.random() < 0.5:
            image = image[:, ::-1]
        return image

    return random_transform


def reference_random_transform():
    """Keras' legacy ImageDataGenerator.random_transform, or the scipy re-implementation."""
    try:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        generator = ImageDataGenerator(**training.AUGMENTATION)
        generator.random_transform(np.zeros(IMAGE_SHAPE, np.float32))
        return generator.random_transform, "keras.src.legacy ImageDataGenerator.random_transform"
    except Exception as error:
        log(f"original: the legacy ImageDataGenerator failed ({error!r}); using scipy directly")
        rng = np.random.default_rng(0)
        return scipy_random_transform(training.AUGMENTATION, rng), "scipy re-implementation"


def on_one_core():
    """Pin this thread to one CPU core; returns the previous affinity, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    return previous


def cpu_augmentation_rate(count, batch_size):
    """Images/s that one CPU core augments, a batch at a time as the legacy iterator did."""
    random_transform, implementation = reference_random_transform()
    images, _ = synthetic_images(count, seed=2)
    batch = np.empty((batch_size,) + IMAGE_SHAPE, np.float32)
    previous = on_one_core()
    try:
        started = time.perf_counter()
        for i, image in enumerate(images):
            batch[i % batch_size] = random_transform(image)
        seconds = time.perf_counter() - started
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
    return dict(
        images_per_s=count / seconds,
        images=count,
        implementation=implementation,
        pinned_to_one_core=previous is not None,
    )


def measure_original(args, results, save):
    section = results.setdefault("original", {})
    log(f"original: augmenting {args.augment_images} images on one CPU core")
    cpu = cpu_augmentation_rate(args.augment_images, 128)
    section["cpu_augmentation"] = cpu
    section["models"] = {}
    for name, entry in measured(results.get("throughput", {})):
        if "augmentation_on" not in entry or "augmentation_off" not in entry:
            continue
        ours = entry["augmentation_on"]["images_per_s"]
        original = min(entry["augmentation_off"]["images_per_s"], cpu["images_per_s"])
        section["models"][name] = dict(
            original_images_per_s=original,
            bound_by="augmentation"
            if cpu["images_per_s"] < entry["augmentation_off"]["images_per_s"]
            else "train step",
            ours_images_per_s=ours,
            ours_over_original=ours / original,
        )
    save()
    print(original_table(section), flush=True)


def original_table(section):
    cpu = section["cpu_augmentation"]
    header = (
        f"One CPU core augments {cpu['images_per_s']:,.0f} images/s "
        f"({cpu['implementation']}).\n\n"
    )
    rows = [
        [
            name,
            f"{entry['original_images_per_s']:,.0f} ({entry['bound_by']})",
            f"{entry['ours_images_per_s']:,.0f}",
            f"{entry['ours_over_original']:.1f}x",
        ]
        for name, entry in section["models"].items()
    ]
    if not rows:
        return header + "(no throughput measurements to compare with)"
    return header + table(
        ["model", "2019 design images/s (bound by)", "ours images/s", "ours / 2019"], rows
    )


"""
## 4. train.py alone and sharing the GPU, and the sweep estimate
"""


def write_fake_cifar10(datasets_dir, train_images, test_images, seed=0):
    """Random uint8 images in Keras' CIFAR-10 cache format: 5 training batches and a test batch."""
    folder = os.path.join(datasets_dir, CIFAR10_DIR)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [len(part) for part in np.array_split(np.arange(train_images), 5)] + [test_images]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, size in zip(names, sizes):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(label) for label in rng.integers(0, CLASSES, size)],
            b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
            b"filenames": [f"image_{i}.png".encode() for i in range(size)],
        }
        with open(os.path.join(folder, name), "wb") as file:
            pickle.dump(batch, file, protocol=4)


def run_environment(workspace, runs_per_gpu, compilation_cache):
    """sweep.py's environment for a run, on the first GPU, reading the fake CIFAR-10."""
    gpus = sweep.visible_gpus()
    environment = sweep.run_environment(gpus[0] if gpus else None, runs_per_gpu)
    if SET_PREALLOCATE:
        environment.pop(PREALLOCATE, None)
    environment["KERAS_HOME"] = os.path.join(workspace, "keras")
    environment["PYTHONPATH"] = os.pathsep.join(
        [REPO] + [path for path in [os.environ.get("PYTHONPATH")] if path]
    )
    if compilation_cache:
        environment["JAX_COMPILATION_CACHE_DIR"] = os.path.join(workspace, "jax-cache")
        environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    else:
        # train.py turns JAX's persistent cache on; here every run must pay its compilation.
        environment["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    return environment


def run_group(model, count, epochs, folder, workspace, args):
    """Start `count` train.py runs of `model` at once; their wall and epoch times."""
    deadline = time.perf_counter() + args.run_timeout_s
    if args.deadline_s is not None:
        deadline = min(deadline, STARTED + args.deadline_s)
    environment = run_environment(workspace, count, args.compilation_cache)
    runs = []
    started = time.perf_counter()
    for i in range(count):
        stem = os.path.join(folder, f"{model}_{count}x_{i}")
        command = [
            sys.executable, "train.py",
            "--history", stem + ".pickle", "--report", stem + ".txt",
            "--dataset", "cifar10", "--model", model, "--optimizer", "adam",
            "--epochs", str(epochs), "--seed", str(42 + i),
        ] + (["--mixed-precision"] if args.mixed_precision else [])  # fmt: skip
        log_file = open(stem + ".log", "w")
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
        runs.append(dict(stem=stem, process=process, log_file=log_file))
    running = list(runs)
    while running:
        time.sleep(0.2)
        for run in list(running):
            if run["process"].poll() is not None:
                run["wall_s"] = time.perf_counter() - started
                run["log_file"].close()
                running.remove(run)
        if running and time.perf_counter() > deadline:
            for run in running:
                run["process"].kill()
                run["process"].wait()
                run["log_file"].close()
            raise RuntimeError(f"stopped {len(running)} train.py run(s) at the time limit")
    return [finished_run(run, epochs) for run in runs]


def finished_run(run, epochs):
    process, stem = run["process"], run["stem"]
    if process.returncode != 0:
        with open(stem + ".log") as file:
            tail = file.read()[-2000:]
        raise RuntimeError(f"train.py ended with {process.returncode}:\n{tail}")
    with open(stem + ".pickle", "rb") as file:
        epoch_times = pickle.load(file)["epoch_time"]
    if len(epoch_times) != epochs:
        raise RuntimeError(f"{stem}.pickle holds {len(epoch_times)} epochs, not {epochs}")
    return dict(wall_s=run["wall_s"], epoch_times=epoch_times)


def summarize_group(runs, epochs):
    """Steady-state epoch time (median of the epochs after the first) and the fixed cost."""
    steady = statistics.median(statistics.median(run["epoch_times"][1:]) for run in runs)
    wall = max(run["wall_s"] for run in runs)
    return dict(
        runs=runs,
        steady_epoch_s=steady,
        wall_s=wall,
        # Start-up, data loading, compilation and the final report of one run.
        overhead_s=max(wall - epochs * steady, 0.0),
    )


def sweep_runs():
    """The full sweep's runs of one model: (dataset, optimizer, epoch-time scale)."""
    return [
        (dataset, optimizer, scale)
        for dataset, scale in DATASET_SCALES.items()
        for optimizer in SWEEP_OPTIMIZERS
    ]


def estimate_model(group, slots, size_scale):
    """Wall time of one model's share of the sweep with `slots` runs sharing the GPU.

    `size_scale` turns an epoch of the fake data set into one of 50,000 images.
    """
    runs = sweep_runs()
    scale_sum = sum(scale for _, _, scale in runs)
    epoch_s = group["steady_epoch_s"] * size_scale
    seconds = (len(runs) * group["overhead_s"] + SWEEP_EPOCHS * epoch_s * scale_sum) / slots
    epoch_text = f"{group['steady_epoch_s']:.2f} s"
    if size_scale != 1:
        epoch_text = f"({epoch_text} x {size_scale:.3g} for 50,000 images)"
    arithmetic = (
        f"({len(runs)} runs x {group['overhead_s']:.1f} s fixed + {SWEEP_EPOCHS} epochs x "
        f"{epoch_text} x {scale_sum:g} dataset-scaled runs) / {slots} at once "
        f"= {seconds:,.0f} s"
    )
    return seconds, arithmetic


def estimate_sweep(section, concurrency, models, train_images=CIFAR10_TRAIN_IMAGES):
    """The estimated wall time of the 24-run sweep, one run at a time and K at once."""
    size_scale = CIFAR10_TRAIN_IMAGES / train_images
    estimate = dict(
        runs_per_model=len(sweep_runs()),
        epochs=SWEEP_EPOCHS,
        dataset_scales=DATASET_SCALES,
        epoch_size_scale=size_scale,
        models_measured=[m for m in models if {"alone", "shared"} & set(section.get(m, {}))],
        models_missing=[m for m in MODELS if not {"alone", "shared"} & set(section.get(m, {}))],
        sequential={},
        concurrent={},
    )
    for key, slots, group_key in (
        ("sequential", 1, "alone"),
        ("concurrent", concurrency, "shared"),
    ):
        total, lines = 0.0, []
        for model in models:
            group = section.get(model, {}).get(group_key)
            if group is None:
                continue
            seconds, arithmetic = estimate_model(group, slots, size_scale)
            estimate[key][model] = dict(seconds=seconds, arithmetic=arithmetic)
            total += seconds
            lines.append(f"{model}: {arithmetic}")
        estimate[key]["total_s"] = total
        estimate[key]["total_h"] = total / 3600
        estimate[key]["lines"] = lines
        estimate[key]["missing"] = [m for m in MODELS if group_key not in section.get(m, {})]
    sequential, concurrent = estimate["sequential"]["total_s"], estimate["concurrent"]["total_s"]
    same_models = estimate["sequential"]["missing"] == estimate["concurrent"]["missing"]
    if sequential > 0 and concurrent > 0 and same_models:
        estimate["speedup"] = sequential / concurrent
    return estimate


def measure_sweep(args, results, save):
    section = results.setdefault("sweep", {})
    section["settings"] = dict(
        epochs=args.epochs,
        concurrency=args.concurrency,
        sharing_only=args.sharing_only,
        train_images=args.train_images,
        test_images=args.test_images,
        compilation_cache=args.compilation_cache,
        gpus=sweep.visible_gpus(),
        gpu_memory_before=gpu_memory(),
    )
    workspace = tempfile.mkdtemp(prefix="benchmark-sweep-")
    try:
        log(f"sweep: writing {args.train_images:,} + {args.test_images:,} fake CIFAR-10 images")
        datasets_dir = os.path.join(workspace, "keras", "datasets")
        write_fake_cifar10(datasets_dir, args.train_images, args.test_images)
        groups = [("shared", args.concurrency)]
        if not args.sharing_only:
            groups.insert(0, ("alone", 1))
        for model in args.sweep_models:
            entry = section.setdefault(model, {})
            for key, count in groups:
                if past_deadline(args):
                    entry[key + "_skipped"] = "past --deadline-s"
                    continue
                log(f"sweep: {model}, {count} train.py run(s) of {args.epochs} epochs at once")
                folder = os.path.join(workspace, f"{model}-{key}")
                os.makedirs(folder)
                try:
                    runs = run_group(model, count, args.epochs, folder, workspace, args)
                    entry[key] = summarize_group(runs, args.epochs)
                    log(
                        f"sweep: {model}, {count} at once: {entry[key]['steady_epoch_s']:.2f} s "
                        f"per epoch, {entry[key]['wall_s']:.1f} s in all"
                    )
                except Exception as error:
                    entry[key + "_error"] = f"{type(error).__name__}: {error}"
                    log(f"sweep: {model} {key} failed: {error}")
                section["estimate"] = estimate_sweep(
                    section, args.concurrency, args.sweep_models, args.train_images
                )
                save()
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    section["estimate"] = estimate_sweep(
        section, args.concurrency, args.sweep_models, args.train_images
    )
    save()
    print(sweep_table(section), flush=True)
    failures = [
        f"{model} {key.removesuffix('_error')}"
        for model in MODELS
        for key in section.get(model, {})
        if key.endswith("_error")
    ]
    if failures:
        raise RuntimeError(f"train.py runs failed: {', '.join(failures)}")


def sweep_table(section):
    settings, estimate = section["settings"], section["estimate"]
    rows = []
    for model in MODELS:
        entry = section.get(model, {})
        alone, shared = entry.get("alone"), entry.get("shared")
        if alone is None and shared is None:
            continue
        gain = None
        if alone is not None and shared is not None:
            gain = settings["concurrency"] * alone["steady_epoch_s"] / shared["steady_epoch_s"]
        rows.append(
            [
                model,
                "-" if alone is None else f"{alone['steady_epoch_s']:.2f}",
                "-" if alone is None else f"{alone['overhead_s']:.1f}",
                "-" if shared is None else f"{shared['steady_epoch_s']:.2f}",
                "-" if shared is None else f"{shared['overhead_s']:.1f}",
                "-" if gain is None else f"{gain:.2f}x",
            ]
        )
    k = settings["concurrency"]
    text = table(
        [
            "model",
            "epoch s, alone",
            "fixed s, alone",
            f"epoch s, {k} sharing",
            f"fixed s, {k} sharing",
            f"throughput gain of {k} sharing",
        ],
        rows,
    )
    text += (
        f"\n\ntrain.py on CIFAR-10-shaped data ({settings['train_images']:,} training, "
        f"{settings['test_images']:,} test images), {settings['epochs']} epochs per run; "
        "epoch time: the median of the epochs after the first, validation included; fixed: "
        f"the run's wall time minus {settings['epochs']} such epochs"
        + (
            " (the runs shared a compilation cache: the fixed costs are understated)"
            if settings["compilation_cache"]
            else ""
        )
        + (
            f". Runs of {settings['epochs']} epochs save no checkpoint; a 60-epoch run saves one "
            f"every {train.CHECKPOINT_EVERY} epochs (benchmarks/checkpoint_cost.py says what one costs)"
            if settings["epochs"] < train.CHECKPOINT_EVERY
            else ""
        )
        + ".\n\n"
        f"Full sweep ({len(MODELS)} models x {estimate['runs_per_model']} runs, "
        f"{estimate['epochs']} epochs; MNIST and Fashion-MNIST epochs x 1.2):\n"
    )
    for key, label in (("sequential", "one run at a time"), ("concurrent", f"{k} runs at once")):
        part = estimate[key]
        if not part["lines"]:
            text += f"\n- {label}: not measured\n"
            continue
        text += f"\n- {label}: {part['total_s']:,.0f} s = {part['total_h']:.2f} h\n"
        text += "".join(f"    - {line}\n" for line in part["lines"])
        if part["missing"]:
            text += f"    - not measured, so not in this total: {', '.join(part['missing'])}\n"
    if "speedup" in estimate:
        text += f"\nSharing the GPU, {k} runs at once: {estimate['speedup']:.2f}x faster.\n"
    return text


"""
## Targets and reports
"""


VERDICTS = {True: "yes", False: "**no**", None: "within the epochs' spread"}


def check_targets(results):
    """Each target against its measurement: compilation, augmentation's share, the speed-ups."""
    checks = []

    def add(what, value, target, at_most, form):
        passed = value <= target if at_most else value >= target
        bound = ("<= " if at_most else ">= ") + form.format(target)
        checks.append(dict(what=what, value=form.format(value), target=bound, passed=passed))

    for name, entry in measured(results.get("throughput", {})):
        for key in ("augmentation_on", "augmentation_off"):
            if key in entry:
                add(f"{name}: compilation, {key.replace('_', ' ')}", entry[key]["compile_s"],
                    TARGETS["compile_s"], True, "{:.1f} s")  # fmt: skip
        if "augmentation_share" in entry:
            add(f"{name}: augmentation's share of a step", entry["augmentation_share"],
                TARGETS["augmentation_share"], True, "{:.1%}")  # fmt: skip
            if ranges_overlap(entry["augmentation_on"], entry["augmentation_off"]):
                checks[-1]["passed"] = None
    for name, entry in measured(results.get("torch", {})):
        if "keras_over_torch" in entry:
            add(f"{name}: Keras / eager PyTorch", entry["keras_over_torch"],
                TARGETS["keras_over_torch"], False, "{:.2f}x")  # fmt: skip
    for name, entry in results.get("original", {}).get("models", {}).items():
        add(f"{name}: ours / 2019 design", entry["ours_over_original"],
            TARGETS["ours_over_original"], False, "{:.1f}x")  # fmt: skip
    return checks


def table(headers, rows):
    """A Markdown table, its columns padded so that it also reads well in a terminal."""
    if not rows:
        return "(nothing measured)"
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [headers, ["-" * width for width in widths]] + rows
    return "\n".join(
        "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) + " |"
        for line in lines
    )


def markdown(results):
    env, settings = results["environment"], results["settings"]
    parts = [
        "## Benchmark results\n",
        f"- date: {env['date']}",
        f"- device: {env['device']}; CPU: {env['cpu']}",
        f"- Keras {env['keras']} on the {env['backend']} backend; JAX {env['jax']}; "
        f"PyTorch {env['torch']}; NumPy {env['numpy']}; SciPy {env['scipy']}; "
        f"Python {env['python']}; {env['precision']}",
        f"- XLA_FLAGS: `{env.get('xla_flags') or '(none)'}`",
        f"- command: `{settings['command']}`",
        f"- batch size {settings['batch_size']}; images/s of the median of {settings['repeats']} "
        f"timed epochs (Keras) or windows (PyTorch) of {settings['steps']} steps, after a first "
        f"one that includes the compilation (Keras) or cuDNN's autotuning (PyTorch); "
        f"synthetic 32x32x3 images, "
        f"10 classes, Adam"
        + (" (tiny mode: a smoke test, not a measurement)" if settings["tiny"] else ""),
    ]
    sections = [
        ("throughput", "Keras training throughput (fit on TrainingBatches)", throughput_table),
        ("torch", "Plain eager PyTorch, same networks, no augmentation", torch_table),
        ("original", "The 2019 design: per-image augmentation on one CPU core", original_table),
        ("sweep", "train.py alone and sharing the GPU; the full sweep's time", sweep_table),
    ]
    for key, title, render in sections:
        if key not in results:
            continue
        parts.append(f"\n### {title}\n")
        if "error" in results[key]:
            parts.append(f"Failed: `{results[key]['error']}`\n")
            if len(results[key]) == 1:
                continue
        try:
            parts.append(render(results[key]))
        except Exception as error:  # a section cut short: show what there is
            parts.append(f"(incomplete: {type(error).__name__}: {error})")
    checks = check_targets(results)
    if checks:
        parts.append("\n### Targets\n")
        rows = [
            [c["what"], c["value"], c["target"], VERDICTS[c["passed"]]]
            for c in checks
        ]
        parts.append(table(["measure", "value", "target", "met"], rows))
    return "\n".join(parts) + "\n"


def write_reports(results, args):
    results["targets"] = check_targets(results)
    with open(args.output, "w") as file:
        json.dump(results, file, indent=2, default=str)
    with open(args.markdown, "w") as file:
        file.write(markdown(results))


"""
## Main
"""

MEASURES = {
    "throughput": measure_throughput,
    "torch": measure_torch,
    "original": measure_original,
    "sweep": measure_sweep,
}


def main(argv=None):
    args = parse_arguments(argv)
    training.record_convolutions_in_graphs()  # as train.py does, before JAX starts
    settings = {key: value for key, value in vars(args).items()}
    arguments = sys.argv[1:] if argv is None else argv
    settings["command"] = shlex.join(["python", "benchmarks/benchmark.py"] + list(arguments))
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    results = dict(environment=environment(args.mixed_precision), settings=settings)
    log(f"{results['environment']['device']}; Keras {keras.__version__}, {keras.backend.backend()}")

    def save():
        write_reports(results, args)

    failed = []
    for name in args.sections:
        if past_deadline(args):
            results[name] = dict(error="skipped: past --deadline-s")
            failed.append(name)
        else:
            log(f"section {name}")
            try:
                MEASURES[name](args, results, save)
            except Exception as error:
                traceback.print_exc()
                results.setdefault(name, {})["error"] = f"{type(error).__name__}: {error}"
                failed.append(name)
        save()

    print("\n" + markdown(results), flush=True)
    log(f"wrote {args.output} and {args.markdown}")
    if failed:
        log(f"failed sections: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
