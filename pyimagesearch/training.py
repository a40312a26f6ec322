"""The pieces of one training run: the model with its augmentation, the optimizers, the batches,
the callback that records, logs and checkpoints every epoch, and the loop that fits the model
from wherever its checkpoint left it."""

import csv
import gc
import importlib.metadata
import itertools
import os
import sys
import time

import keras
import numpy as np
from sklearn.metrics import classification_report

from pyimagesearch import checkpoints, interruptions, original
from pyimagesearch.augmentation import AffineAugmentation
from pyimagesearch.checkpoints import HISTORY_KEYS
from pyimagesearch.errors import UserError
from pyimagesearch.files import replaced_atomically
from pyimagesearch.minigooglenet import MiniGoogLeNet
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.original import DEFAULT_LEARNING_RATES, MODELS, OPTIMIZERS
from pyimagesearch.radam import LinearWarmup, RAdam, untuned_warmup_steps
from pyimagesearch.resnet import ResNet

# Two private Keras APIs are used, for want of public ones: `optimizer._learning_rate`, the
# schedule an optimizer was given (applied_learning_rate), and `model._symbolic_build`, which
# creates the optimizer's and the metrics' variables before the first step (fit). They were
# checked on these Keras versions, from the first to the one before the last;
# tests/test_train.py fails on another, as a reminder to check them again.
KERAS_CHECKED = ((3, 15), (3, 16))

# train.py --mixed-precision, as Keras names it: bfloat16 arithmetic, float32 weights.
MIXED_PRECISION = "mixed_bfloat16"

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
        return ResNet.build(width, height, depth, classes, **original.RESNET)
    if name == "googlenet":
        return MiniGoogLeNet.build(width=width, height=height, depth=depth, classes=classes)
    if name == "minivggnet":
        return MiniVGGNet.build(width=width, height=height, depth=depth, classes=classes)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def make_optimizer(name, learning_rate=None, radam_total_steps=original.RADAM["total_steps"], warmup_steps=None):
    """The named optimizer at `learning_rate` (None: its DEFAULT_LEARNING_RATES entry);
    `warmup_steps` is adam-warmup's (None: Ma and Yarats' untuned rule)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[name]
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "radam":
        # keras-radam's schedule: warm-up to `learning_rate`, then decay to min_lr at total_steps.
        return RAdam(learning_rate=learning_rate, **dict(original.RADAM, total_steps=radam_total_steps))
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=original.SGD["momentum"])
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    beta_2 = 0.999  # adam-warmup: Adam's default beta_2
    if warmup_steps is None:
        warmup_steps = untuned_warmup_steps(beta_2)
    return keras.optimizers.Adam(learning_rate=LinearWarmup(learning_rate, warmup_steps), beta_2=beta_2)


def build_model(network_name, optimizer, input_shape, classes, seed=None, augmentation=True):
    """The network behind the reference augmentation, compiled as the original compiled it.

    Augmentation is the first layer, so it runs inside the compiled train step on the
    accelerator, and only while training.
    """
    model = keras.Sequential([keras.Input(input_shape)])
    if augmentation:
        model.add(AffineAugmentation(**original.AUGMENTATION, seed=seed))
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


# The test split is evaluated after every epoch, and predicted at the end, in batches of this
# many images, whatever --batch-size trains with. The batch size changes neither accuracy nor
# loss (BatchNorm uses its moving statistics), and on an H100 a ResNet validation of 10,000
# images took 0.15 s in batches of 1,000 against 0.40 s in batches of 128 (docs/benchmarks.md).
# 1,000 divides the four data sets' 10,000 test images, so each evaluation program compiles once.
EVALUATION_BATCH_SIZE = 1000


def untuned(data):
    """`data`, a RunBatches or arrays (x, or (x, y)) in batches of EVALUATION_BATCH_SIZE, as fit,
    evaluate and predict are to read it.

    On TensorFlow, Keras reads data through tf.data pipelines that tune themselves as they run,
    and deleting one waits for its tuning thread's next turn, which grows to a minute: in a process
    held to one core (sweep.py --cpu-runs), up to that at the end of every fit, and seconds after
    every evaluation and prediction (docs/benchmarks.md, The demo on the CPU). So on TensorFlow
    the data come as tf.data pipelines without the tuning: the same batches in the same order.
    Other backends read `data` as it is."""
    if keras.backend.backend() != "tensorflow":
        return data
    import tensorflow as tf

    if isinstance(data, RunBatches):
        signature = tuple(tf.TensorSpec((None, *array.shape[1:]), array.dtype) for array in (data.x, data.y))
        endless = tf.data.Dataset.from_generator(lambda: (data[step] for step in itertools.count()),
                                                 output_signature=signature)  # fmt: skip
        pipeline = endless.prefetch(1)
    else:
        pipeline = tf.data.Dataset.from_tensor_slices(data).batch(EVALUATION_BATCH_SIZE)
    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.with_options(options)


def predict(model, x):
    """The model's predictions for the images `x`, in batches of EVALUATION_BATCH_SIZE."""
    return model.predict(untuned(x), batch_size=EVALUATION_BATCH_SIZE, verbose=0)  # a tf.data pipeline's own batches


def report(data, predictions):
    """scikit-learn's classification report of `predictions` for the test split, to 4 digits, with a
    row for every class, whether or not the test split has images of it."""
    return classification_report(data.test_y.argmax(axis=1), predictions.argmax(axis=1),
                                 labels=range(len(data.label_names)), target_names=data.label_names,
                                 digits=4, zero_division=0)  # fmt: skip


def steps_per_epoch(images, batch_size):
    """Full batches an epoch, as the original's `len(train) // 128`; UserError if not one."""
    if batch_size > images:
        raise UserError(f"--batch-size {batch_size} is more than the {images} training images; give a smaller one")
    return images // batch_size


class TrainingBatches(keras.utils.PyDataset):
    """Full batches of a new shuffle every epoch.

    The last partial batch is dropped, as the original's `steps_per_epoch = N // 128` did. The
    order depends only on (seed, epoch).
    """

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.steps_per_epoch = len(x) // batch_size
        self.shuffle_for(0)

    def shuffle_for(self, epoch):
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return self.steps_per_epoch

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.shuffle_for(self.epoch + 1)


class RunBatches(TrainingBatches):
    """The batches of a whole run from its step `first_step` on: Keras' index i is step
    `first_step + i` of the run, the batch `(first_step + i) % steps_per_epoch` of the shuffle of
    epoch `(first_step + i) // steps_per_epoch`. Endless: fit it with `steps_per_epoch`.

    So a resumed run, even one resumed mid-epoch, trains on the batches an uninterrupted one
    would have. An epoch's batches cannot follow Keras' epoch ends instead: on TensorFlow, Keras
    fetches the next epoch's first batches before it tells the data set that an epoch ended.
    """

    def __init__(self, x, y, batch_size, seed, first_step=0):
        super().__init__(x, y, batch_size, seed)
        self.first_step = first_step
        self.shuffled = (self.epoch, self.order)  # replaced whole: Keras may fetch from a thread

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        epoch, step = divmod(self.first_step + index, self.steps_per_epoch)
        if self.shuffled[0] != epoch:
            self.shuffle_for(epoch)
            self.shuffled = (epoch, self.order)
        rows = self.shuffled[1][step * self.batch_size : (step + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        pass


def write_log(path, history):
    """Rewrite the per-epoch CSV log from the history: after a resume it holds finished epochs only.

    Not `CSVLogger(append=True)`: a run killed after logging an epoch but before its checkpoint
    was on disk would log that epoch twice. Replaced atomically, so that whatever had the log's
    name is replaced, not written into: a symbolic link to another file, a FIFO that would block.
    """
    with replaced_atomically(path) as temporary:
        with open(temporary, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(("epoch",) + HISTORY_KEYS)
            for epoch, values in enumerate(zip(*(history[key] for key in HISTORY_KEYS)), start=1):
                writer.writerow((epoch,) + values)


class StopRequested(Exception):
    """Raised out of `fit` at a step boundary once SIGTERM has arrived."""


class RunRecorder(keras.callbacks.Callback):
    """Records each finished epoch in the history and the log, checkpoints, and stops on request.

    - An epoch's end appends its metrics, the learning rate applied and its seconds to `history`,
      and every `checkpoint_every` epochs and after the last hands a checkpoint to `writer`. The
      log gets an epoch's row once a checkpoint that holds the epoch is on disk: a kill loses only
      epochs that the log does not show.
    - An epoch whose training loss is not finite is not recorded: training stops and
      `diverged_epoch` says where. (Keras' TerminateOnNaN would look at every batch's loss,
      which makes JAX wait for every step.)
    - Once `ctrl_c_pressed` is set, the next batch or epoch end raises KeyboardInterrupt.
    - Once `sigterm_received` is set, the next batch's start raises StopRequested.
    - `state` (a checkpoint's, or None) says where training resumes: the epoch after its history,
      at its step `steps`, with the metrics' running values of that epoch's earlier steps.

    Not `keras.callbacks.BackupAndRestore`: it resumes at an epoch's start only, writes its file
    in place on the training thread, and keeps neither the history nor the metrics' state.
    """

    def __init__(self, history, log_path, writer, settings, checkpoint_every, ctrl_c_pressed, sigterm_received,
                 state=None, metrics=()):  # fmt: skip
        super().__init__()
        self.history = history
        self.log_path = log_path
        self.writer = writer
        self.settings = settings
        self.checkpoint_every = checkpoint_every
        self.ctrl_c_pressed = ctrl_c_pressed
        self.sigterm_received = sigterm_received
        self.diverged_epoch = None
        self.stopped_at = self.stopped_seconds = None  # (epochs done, step) and seconds where SIGTERM stopped it
        self.started = None  # when the epoch in flight, or its resumed part, started
        # Training starts `first_step` steps into the epoch after the history's last, `earlier_seconds`
        # into its time, with the metrics' values of its earlier steps (SIGTERM stopped it there).
        self.first_step = state["steps"] if state else 0
        self.earlier_seconds = state["seconds"] if state else 0.0
        self.resumed_metrics = list(metrics)
        # (epochs done, steps done in the next epoch) of the checkpoint on disk.
        self.saved = (len(history["loss"]), self.first_step)
        self.unlogged = []  # the rows of epochs that no checkpoint holds yet

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        if self.resumed_metrics:
            # After fit has reset the metrics: the epoch's loss and accuracy average all its steps.
            variables = self.model.metrics_variables
            if [tuple(variable.shape) for variable in variables] != [value.shape for value in self.resumed_metrics]:
                raise UserError(f"{self.writer.folder} does not fit this run's model (other metrics: made by "
                                "another version of this code?); delete it to start again")
            for variable, value in zip(variables, self.resumed_metrics, strict=True):
                variable.assign(value)
            self.resumed_metrics = []

    def on_train_batch_begin(self, batch, logs=None):
        if self.ctrl_c_pressed.is_set():
            raise KeyboardInterrupt
        if self.sigterm_received.is_set():
            self.stopped_at = (len(self.history["loss"]), self.first_step + batch)
            self.stopped_seconds = self.epoch_seconds()
            raise StopRequested

    def on_epoch_end(self, epoch, logs=None):
        if self.ctrl_c_pressed.is_set():
            raise KeyboardInterrupt
        if not np.isfinite(logs["loss"]):
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
            return
        values = [float(logs[key]) for key in HISTORY_KEYS[:4]]
        values.append(applied_learning_rate(self.model.optimizer))
        values.append(self.epoch_seconds())
        for key, value in zip(HISTORY_KEYS, values):
            self.history[key].append(value)
        if self.first_step:  # the rest of a stopped epoch, fit on its own: whole epochs need another fit
            self.model.stop_training = True
        self.first_step, self.earlier_seconds = 0, 0.0
        self.unlogged.append([epoch + 1] + values)
        if (epoch + 1) % self.checkpoint_every == 0 or epoch + 1 == self.params["epochs"]:
            self.checkpoint(steps=0, seconds=0.0)

    def epoch_seconds(self):
        """The seconds of the epoch in flight so far, those before a resume included."""
        return self.earlier_seconds + time.perf_counter() - self.started

    def log(self, rows):
        with open(self.log_path, "a", newline="") as file:
            csv.writer(file).writerows(rows)

    def checkpoint(self, steps, seconds):
        """Hand the model's state now, `steps` into the epoch after the history's last, to the
        writer, which then logs the epochs that it holds and the log lacks."""
        rows, self.unlogged = self.unlogged, []
        epochs = len(self.history["loss"])
        state = dict(
            run=self.settings,
            backend=keras.backend.backend(),
            history=self.history,
            steps=steps,
            seconds=seconds,
            variables_file=checkpoints.variables_file_name(epochs, steps),
        )
        self.writer.save(state, checkpoints.snapshot(self.model, with_metrics=steps > 0), lambda: self.log(rows))
        self.saved = (epochs, steps)


class DropoutSeeds(keras.callbacks.Callback):
    """On PyTorch, seeds PyTorch's global generator before every step from (seed, step).

    Keras draws unseeded Dropout's masks there on PyTorch (on other backends, from the layers' seed
    generators, which are variables, checkpointed with the model). Other draws from it come and go
    with PyTorch's data loaders, so no checkpoint could put it back where an uninterrupted run has
    it: seeded by step, the masks depend on where the run stands alone, and a resumed run draws
    the ones it would have drawn.
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def on_train_batch_begin(self, batch, logs=None):
        import torch

        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        torch.manual_seed(int(np.random.SeedSequence([self.seed, step]).generate_state(1, np.uint64)[0]))


def where_it_runs():
    """Keras, its backend and the devices it sees, for the run's log: a GPU box whose backend
    found no GPU says `devices cpu:0` here rather than training slowly without a word."""
    if keras.backend.backend() == "torch":
        # Keras lists no devices on PyTorch: it puts every tensor on one, PyTorch's name for it.
        device = keras.ops.zeros(()).device
        devices = [f"{device.type}:{device.index or 0}"]
    else:
        devices = keras.distribution.list_devices()
    return f"Keras {keras.__version__} on {keras.backend.backend()}, devices {', '.join(devices)}"


def build_run_model(args, data):
    """The run's model and optimizer, seeded, so that the same settings build the same model."""
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(MIXED_PRECISION)
    keras.utils.set_random_seed(args.seed)
    steps = steps_per_epoch(len(data.train_x), args.batch_size)
    if args.radam_total_steps == "auto":
        total_steps = args.epochs * steps
    else:
        total_steps = int(args.radam_total_steps)
    optimizer = make_optimizer(args.optimizer, args.learning_rate, total_steps, args.warmup_steps)
    return build_model(
        args.model,
        optimizer,
        data.input_shape,
        len(data.label_names),
        seed=args.seed,
        augmentation=args.augmentation,
    )


def make_recorder(model, state, args, run_files, settings):
    """The run's RunRecorder: a new run's where `state` is None, else the checkpoint's.

    A checkpoint's history is the recorder's, and its variables the model's: weights,
    optimizer, random streams, as they were when it was saved.
    """
    checkpoints.remove_leftovers(run_files.checkpoint_folder, state)
    history, metrics = {key: [] for key in HISTORY_KEYS}, []
    if state:
        metrics = checkpoints.restore(model, run_files.checkpoint_folder, state)
        history = state["history"]
        epochs = len(history["loss"])
        if state["steps"]:
            print(f"resuming {args.history} in epoch {epochs + 1} of {args.epochs}, after its step {state['steps']}")
        else:
            print(f"resuming {args.history} after epoch {epochs} of {args.epochs}")
    return RunRecorder(
        history,
        run_files.log,
        checkpoints.CheckpointWriter(run_files.checkpoint_folder),
        settings,
        args.checkpoint_every,
        interruptions.ctrl_c_pressed,
        interruptions.sigterm_received,
        state,
        metrics,
    )


def check_steps_taken(model, recorder, trained):
    """UserError unless the optimizer has taken the `trained` steps that the history says: its step
    count drives the learning rate, and on PyTorch the dropout masks (DropoutSeeds)."""
    taken = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if taken != trained:
        raise UserError(f"{recorder.writer.folder} does not fit this run (its optimizer has taken {taken} steps, "
                        f"its history says {trained}); delete it to start again")


def fit(model, data, args, recorder):
    """Train `model` from where `recorder`'s history (and checkpoint) left it to `args.epochs`.

    Raises Stopped once a SIGTERM has stopped it at a step boundary and its checkpoint is on disk,
    and UserError where the training loss stopped being finite.
    """
    epochs_done, first_step = len(recorder.history["loss"]), recorder.first_step
    common = dict(
        validation_data=untuned((data.validation_x, data.validation_y)),
        validation_batch_size=EVALUATION_BATCH_SIZE,  # or, on TensorFlow, the pipeline's own
        callbacks=[recorder, DropoutSeeds(args.seed)] if keras.backend.backend() == "torch" else [recorder],
        shuffle=False,  # RunBatches shuffles, as a function of the seed and the epoch alone
        # A progress bar on a terminal, one line per epoch in a log file.
        verbose=1 if sys.stdout.isatty() else 2,
    )
    write_log(recorder.log_path, recorder.history)
    steps = steps_per_epoch(len(data.train_x), args.batch_size)
    check_steps_taken(model, recorder, epochs_done * steps + first_step)
    batches = RunBatches(data.train_x, data.train_y, args.batch_size, args.seed, epochs_done * steps + first_step)
    # Every variable, the optimizer's and the metrics' included, is made before the first step.
    # On TensorFlow, fit would make them as it traces that step, and a step that makes variables
    # is traced twice: the digits ResNet's first epoch took 61 s on one core, not 49. The recorder
    # also sets the metrics' running sums as a resumed epoch starts. Keras has no public way to
    # build them sooner (KERAS_CHECKED); on JAX, fit builds them so itself.
    model._symbolic_build(data_batch=batches[0])
    try:
        if first_step:
            # Keras fixes the number of steps an epoch for a whole fit: the rest of a stopped
            # epoch is fit on its own.
            model.fit(untuned(batches), steps_per_epoch=steps - first_step, epochs=args.epochs,
                      initial_epoch=epochs_done, **common)  # fmt: skip
            epochs_done += 1
            batches = RunBatches(data.train_x, data.train_y, args.batch_size, args.seed, epochs_done * steps)
        if epochs_done < args.epochs and recorder.diverged_epoch is None:
            model.fit(untuned(batches), steps_per_epoch=steps, epochs=args.epochs, initial_epoch=epochs_done, **common)
    except StopRequested:
        pass
    if recorder.stopped_at is not None:
        # The interrupted fit's data pipeline, in reference cycles, is collected now: TensorFlow
        # would otherwise finalize it at exit, and complain after the stop's message.
        gc.collect()
        epochs_done, step = recorder.stopped_at
        if recorder.stopped_at != recorder.saved:
            recorder.checkpoint(step, recorder.stopped_seconds)
        recorder.writer.wait()
        if step:
            where = f"after step {step} of {steps} in epoch {epochs_done + 1} of {args.epochs}"
        else:
            where = f"after epoch {epochs_done} of {args.epochs}" if epochs_done else "before its first step"
        raise interruptions.Stopped(f"stopped by SIGTERM {where}; give the same command again to resume")
    if recorder.diverged_epoch is not None:
        raise UserError(
            f"the training loss became NaN or infinite in epoch {recorder.diverged_epoch}; no outputs "
            f"were written (try another --seed; {recorder.writer.folder}, if there, holds the last "
            "checkpoint before it)"
        )
