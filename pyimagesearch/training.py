"""The pieces of one training run: the model with its augmentation, the optimizers, the batches,
and the callback that records, logs and checkpoints every finished epoch."""

import csv
import importlib.metadata
import json
import os
import threading
import time
import zipfile

import keras
import numpy as np

from pyimagesearch.augmentation import AffineAugmentation
from pyimagesearch.files import replaced_atomically, write_atomically
from pyimagesearch.minigooglenet import MiniGoogLeNet
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.radam import RAdam
from pyimagesearch.resnet import ResNet
from pyimagesearch.warmup import LinearWarmup, untuned_warmup_steps

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time")

# The reference experiment's ImageDataGenerator arguments (shared/spec/augmentation.md).
AUGMENTATION = dict(
    rotation_range=18,
    zoom_range=0.15,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=0.15,
    horizontal_flip=True,
    fill_mode="nearest",
)

# XLA runs a compiled step's kernels as CUDA graphs, but by default leaves cuDNN's convolutions
# out of them: each convolution then cuts the graph, and the host launches the pieces one by one.
CONVOLUTION_GRAPHS = "--xla_gpu_enable_command_buffer=+CONVOLUTION"


def record_convolutions_in_graphs():
    """On JAX, have XLA record cuDNN's convolutions in its CUDA graphs too (via XLA_FLAGS).

    The ResNet's 255 convolutions otherwise cut its step into short graphs: on an H200 the host
    spent 12.3 ms launching a step, 7.1 ms with this, and training went from 10,149 to 13,965
    images/s (docs/benchmarks.md). Call it before JAX starts its backend (the first array), or
    XLA never reads it. XLA_FLAGS that already say what to record are left as they are, and so
    are other backends (TensorFlow's XLA stops the process at this value) and JAX before 0.10
    (not tried)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if keras.backend.backend() != "jax" or "xla_gpu_enable_command_buffer" in flags:
        return
    major, minor = importlib.metadata.version("jaxlib").split(".")[:2]
    if (int(major), int(minor)) >= (0, 10):
        os.environ["XLA_FLAGS"] = f"{flags} {CONVOLUTION_GRAPHS}".strip()


def build_network(name, input_shape, classes):
    height, width, depth = input_shape
    if name == "resnet":
        return ResNet.build(width, height, depth, classes, (9, 9, 9), (64, 64, 128, 256), reg=0.0005)
    if name == "googlenet":
        return MiniGoogLeNet.build(width=width, height=height, depth=depth, classes=classes)
    if name == "minivggnet":
        return MiniVGGNet.build(width=width, height=height, depth=depth, classes=classes)
    raise ValueError(f"unknown model {name!r}; choose resnet, googlenet or minivggnet")


def make_optimizer(name, radam_total_steps=5000, warmup_steps=None):
    """The named optimizer; `warmup_steps` is adam-warmup's (None: the paper's untuned rule)."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=1e-3)
    if name == "radam":
        return RAdam(total_steps=radam_total_steps, warmup_proportion=0.1, min_lr=1e-5)
    if name == "sgd":
        # The book's MiniVGGNet-on-CIFAR-10 rate and momentum, held constant like Adam's.
        return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    if name == "rmsprop":
        return keras.optimizers.RMSprop()
    if name == "adam-warmup":
        beta_2 = 0.999  # Adam's default
        if warmup_steps is None:
            warmup_steps = untuned_warmup_steps(beta_2)
        return keras.optimizers.Adam(learning_rate=LinearWarmup(1e-3, warmup_steps), beta_2=beta_2)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, radam, sgd, rmsprop or adam-warmup")


def build_model(network_name, optimizer, input_shape, classes, seed=None, augmentation=True):
    """The network behind the reference augmentation, compiled as the original compiled it.

    Augmentation is the first layer, so it runs inside the compiled train step on the
    accelerator, and only while training.
    """
    model = keras.Sequential([keras.Input(input_shape)])
    if augmentation:
        model.add(AffineAugmentation(**AUGMENTATION, seed=seed))
    model.add(build_network(network_name, input_shape, classes))
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def applied_learning_rate(optimizer):
    """The learning rate of the optimizer's latest step, RAdam's built-in schedule included."""
    if isinstance(optimizer, RAdam):
        rate = optimizer.learning_rate_at(optimizer.iterations)
    elif isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        # Keras evaluates a schedule at `iterations` before the update increments it, so
        # `optimizer.learning_rate` is already the next update's rate; the latest one used this.
        # (Keras has no public way to reach an optimizer's schedule.)
        rate = optimizer._learning_rate(optimizer.iterations - 1)
    else:
        rate = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(rate))


class TrainingBatches(keras.utils.PyDataset):
    """Full batches of a new shuffle every epoch.

    The last partial batch is dropped, as the original's `steps_per_epoch = N // 128` did. The
    order depends only on (seed, epoch), so a resumed run sees the batches an uninterrupted one
    would have seen.
    """

    def __init__(self, x, y, batch_size, seed, epoch=0):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.shuffle_for(epoch)

    def shuffle_for(self, epoch):
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.shuffle_for(self.epoch + 1)


def read_checkpoint(folder):
    """The state of an unfinished run: its settings, its history so far and its model file."""
    try:
        with open(os.path.join(folder, "state.json")) as file:
            state = json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ValueError(f"{folder} is not a readable checkpoint ({error}); delete it to start again")
    if not well_formed(state):
        raise ValueError(
            f"{folder} is not a readable checkpoint (its state.json lacks the run's settings, "
            "history or model file); delete it to start again"
        )
    state["model_path"] = os.path.join(folder, state["model_file"])
    return state


def why_unloadable(model_path, error):
    """Why a checkpoint's model file did not load, in words: Keras says "File not found" of a
    file that is there but damaged, too."""
    if not os.path.exists(model_path):
        return "the file is missing"
    if not zipfile.is_zipfile(model_path):
        return "the file is damaged or cut short: not a whole .keras zip file"
    return " ".join(str(error).split())


def well_formed(state):
    """Whether a checkpoint's state holds what a resume reads: settings, a history of equally
    long lists and the model file's name."""
    if not isinstance(state, dict) or not isinstance(state.get("run"), dict):
        return False
    history = state.get("history")
    if not isinstance(history, dict) or not isinstance(state.get("model_file"), str):
        return False
    lists = [history.get(key) for key in HISTORY_KEYS]
    return all(isinstance(values, list) for values in lists) and len(set(map(len, lists))) == 1


def write_log(path, history):
    """Rewrite the per-epoch CSV log from the history: after a resume it holds finished epochs only."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("epoch",) + HISTORY_KEYS)
        for epoch, values in enumerate(zip(*(history[key] for key in HISTORY_KEYS)), start=1):
            writer.writerow((epoch,) + values)


class EpochRecorder(keras.callbacks.Callback):
    """Records each finished epoch in `history` and the log; checkpoints every `checkpoint_every`.

    An epoch whose training loss is not finite is not recorded: training stops and
    `diverged_epoch` says where. Once `interrupted` (a `threading.Event`) is set, the next batch
    or epoch end raises KeyboardInterrupt, and the epoch is not recorded.
    """

    def __init__(
        self, history, checkpoint_folder, log_path, run_settings, checkpoint_every, interrupted=None
    ):
        super().__init__()
        self.history = history
        self.checkpoint_folder = checkpoint_folder
        self.log_path = log_path
        self.run_settings = run_settings
        self.checkpoint_every = checkpoint_every
        self.interrupted = interrupted or threading.Event()
        self.diverged_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if self.interrupted.is_set():
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        if self.interrupted.is_set():
            raise KeyboardInterrupt
        if not np.isfinite(logs["loss"]):
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
            return
        values = [float(logs[key]) for key in HISTORY_KEYS[:4]]
        values.append(applied_learning_rate(self.model.optimizer))
        values.append(time.perf_counter() - self.started)
        for key, value in zip(HISTORY_KEYS, values):
            self.history[key].append(value)
        if (epoch + 1) % self.checkpoint_every == 0:
            self.save_checkpoint(epoch + 1)
        with open(self.log_path, "a", newline="") as file:
            csv.writer(file).writerow([epoch + 1] + values)

    def save_checkpoint(self, epochs_done):
        # The state names its model file and is replaced only once that file is complete, so a
        # kill at any moment leaves a consistent pair behind.
        model_file = f"model-epoch{epochs_done}.keras"
        with replaced_atomically(os.path.join(self.checkpoint_folder, model_file)) as temporary:
            self.model.save(temporary)
        state = dict(run=self.run_settings, history=self.history, model_file=model_file)
        write_atomically(os.path.join(self.checkpoint_folder, "state.json"), json.dumps(state))
        for name in os.listdir(self.checkpoint_folder):
            if name.startswith("model-epoch") and name != model_file:
                os.remove(os.path.join(self.checkpoint_folder, name))
