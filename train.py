"""Train one model on one data set with one optimizer, as one run of the Adam-vs-RAdam experiment.

    python train.py --history output/resnet_radam_cifar10.pickle \
        --report output/resnet_radam_cifar10.txt --dataset cifar10 --model resnet --optimizer radam

Writes the training history (a pickled dict of lists of floats) and scikit-learn's classification
report of the test split. A per-epoch log, `<history stem>.csv`, grows beside them while the run
trains. A run that is stopped at any moment resumes from its last checkpoint (written every
--checkpoint-every epochs) when the same command is given again; a run whose outputs both exist
is not trained again.
"""

import argparse
import os
import pickle
import re
import shutil
import signal
import sys
import threading

from sklearn.metrics import classification_report

from pyimagesearch.datasets import keras_home
from pyimagesearch.files import ensure_writable, write_atomically
from pyimagesearch.names import DATASETS, MODELS, OPTIMIZERS

# Epochs between checkpoints: a save takes 0.1-0.7 s (docs/benchmarks.md), up to a sixth of a
# MiniVGGNet epoch on a GPU.
CHECKPOINT_EVERY = 5
# The test split is evaluated after every epoch, and predicted at the end, in batches of this
# many images, whatever --batch-size trains with. The batch size changes neither accuracy nor
# loss (BatchNorm uses its moving statistics), and on an H100 a ResNet validation of 10,000
# images took 0.15 s in batches of 1,000 against 0.40 s in batches of 128 (docs/benchmarks.md).
# 1,000 divides the four data sets' 10,000 test images, so each evaluation program compiles once.
EVALUATION_BATCH_SIZE = 1000
# Python raises Ctrl-C's KeyboardInterrupt wherever the main thread is, and drops it when that is
# inside a finalizer (`__del__`, as TensorFlow's resource deleters are): the run then trains on
# and finishes as if never stopped (a run in CI once did). So the handler also sets this, and the
# run raises it again at its next batch, at its epoch's end and before writing its outputs.
ctrl_c_pressed = threading.Event()


def on_ctrl_c(signum, frame):
    ctrl_c_pressed.set()
    raise KeyboardInterrupt


def silent_about_ctrl_c(unraisable):
    """sys.unraisablehook: not a traceback for a Ctrl-C that a finalizer dropped."""
    if unraisable.exc_type is not KeyboardInterrupt:
        sys.__unraisablehook__(unraisable)


def warmup_steps(text):
    """argparse type of --warmup-steps: a whole number of steps, at least 1."""
    if not re.fullmatch("[0-9]+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of steps, at least 1, not {text!r}")
    return int(text)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--history", required=True, help="path of the output history pickle")
    parser.add_argument("-r", "--report", required=True, help="path of the output classification report")
    parser.add_argument("-d", "--dataset", default="mnist", choices=DATASETS)
    parser.add_argument("-m", "--model", default="resnet", choices=MODELS)
    parser.add_argument("-o", "--optimizer", default="adam", choices=OPTIMIZERS)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42, help="same seed, same result on the CPU")
    parser.add_argument(
        "--radam-total-steps",
        default="5000",
        help="RAdam's total_steps: 5000 as in the original, or 'auto' for the run's real number "
        "of steps, so that warm-up and decay span the whole run",
    )
    parser.add_argument(
        "--warmup-steps",
        type=warmup_steps,
        metavar="N",
        help="adam-warmup's linear warmup length in steps (default: the untuned 2 / (1 - beta_2) "
        "= 2000 of Ma and Yarats); other optimizers ignore it",
    )
    parser.add_argument(
        "--no-augmentation",
        dest="augmentation",
        action="store_false",
        help="train on the images as they are (the original augments every training batch)",
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="compute in bfloat16, keep float32 weights"
    )
    parser.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="fail at once if the data set is not in Keras' cache rather than download it (for "
        "machines without internet access: run fetch_data.py first where there is)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=CHECKPOINT_EVERY,
        metavar="N",
        help="save the model and history for resuming every N epochs (default %(default)s; "
        "saving takes 0.1-0.7 s, up to a sixth of a MiniVGGNet epoch on a GPU)",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.checkpoint_every < 1:
        parser.error("--epochs, --batch-size and --checkpoint-every must be at least 1")
    if args.radam_total_steps != "auto" and not re.fullmatch("[0-9]+", args.radam_total_steps):
        parser.error("--radam-total-steps takes a whole number or 'auto'")
    if not 0 <= args.seed < 2**31:  # a resumed run seeds Keras with seed + epochs, below 2**32
        parser.error("--seed takes a whole number from 0 to 2147483647")
    return args


def run_settings(args):
    """The arguments that decide a run's results: a checkpoint made with others is refused."""
    not_settings = ("history", "report", "checkpoint_every", "download")
    return {key: value for key, value in vars(args).items() if key not in not_settings}


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 1


def cannot_write(error, args):
    folder = os.path.dirname(os.path.abspath(error.filename or args.history))
    return (
        f"cannot write in {folder} ({error.strerror or error}); free some space or fix its "
        "permissions, then give the same command again to resume from the last checkpoint"
    )


def main(argv=None):
    args = parse_arguments(argv)
    checkpoint_folder = args.history + ".checkpoint"
    log_path = os.path.splitext(args.history)[0] + ".csv"

    # The checkpoint folder is deleted when the run finishes: no output may lie inside it.
    outputs = [os.path.realpath(path) for path in (args.history, args.report, log_path)]
    checkpoint_inside = os.path.realpath(checkpoint_folder) + os.sep
    if len(set(outputs)) < 3 or any(path.startswith(checkpoint_inside) for path in outputs):
        return fail(
            f"--history, --report and the per-epoch log ({log_path}) must be three different "
            f"files outside the checkpoint folder ({checkpoint_folder}); choose other paths"
        )
    if os.path.isfile(args.history) and os.path.isfile(args.report):
        print(f"{args.history} and {args.report} exist already: skipping (delete them to train again)")
        shutil.rmtree(checkpoint_folder, ignore_errors=True)
        return 0
    try:
        for path in (args.history, args.report, log_path):
            ensure_writable(path)
    except OSError as error:
        return fail(error)

    # On JAX, a sweep's runs of one model, input shape and optimizer (MNIST and Fashion-MNIST,
    # repeated seeds, resumed runs) then compile their train step once. Other backends ignore it.
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(keras_home(), "jax_cache"))
    # Keras takes seconds to start its backend, so it is imported after the quick checks above.
    import keras

    from pyimagesearch import training
    from pyimagesearch.datasets import DatasetUnavailable, load_dataset

    training.record_convolutions_in_graphs()

    try:
        data = load_dataset(args.dataset, download=args.download)
        state = training.read_checkpoint(checkpoint_folder)
    except (DatasetUnavailable, ValueError) as error:
        return fail(error)
    steps_per_epoch = len(data.train_x) // args.batch_size
    if steps_per_epoch == 0:
        return fail(f"--batch-size {args.batch_size} is more than the {len(data.train_x)} training images")

    settings = run_settings(args)
    if state and state["run"] != settings:
        return fail(
            f"{checkpoint_folder} holds an unfinished run with other settings ({state['run']}); "
            "give that run's arguments to resume it, or delete the folder to start this one"
        )
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    finished_epochs = len(state["history"]["loss"]) if state else 0
    # Seeded by where it starts, so that a resumed run is reproducible too.
    keras.utils.set_random_seed(args.seed + finished_epochs)
    if state:
        try:
            model = keras.models.load_model(state["model_path"])
        except Exception as error:  # a damaged zip, a missing file, a Keras version mismatch...
            reason = training.why_unloadable(state["model_path"], error)
            return fail(f"{state['model_path']} cannot be loaded ({reason}); delete {checkpoint_folder} to start again")
        history = state["history"]
        print(f"resuming {args.history} after epoch {finished_epochs} of {args.epochs}")
    else:
        if args.radam_total_steps == "auto":
            total_steps = args.epochs * steps_per_epoch
        else:
            total_steps = int(args.radam_total_steps)
        optimizer = training.make_optimizer(
            args.optimizer, radam_total_steps=total_steps, warmup_steps=args.warmup_steps
        )
        model = training.build_model(
            args.model,
            optimizer,
            data.train_x.shape[1:],
            len(data.label_names),
            seed=args.seed,
            augmentation=args.augmentation,
        )
        history = {key: [] for key in training.HISTORY_KEYS}

    recorder = training.EpochRecorder(
        history, checkpoint_folder, log_path, settings, args.checkpoint_every, ctrl_c_pressed
    )
    try:
        training.write_log(log_path, history)
        if finished_epochs < args.epochs:
            model.fit(
                training.TrainingBatches(
                    data.train_x, data.train_y, args.batch_size, args.seed, epoch=finished_epochs
                ),
                validation_data=(data.test_x, data.test_y),
                validation_batch_size=EVALUATION_BATCH_SIZE,
                epochs=args.epochs,
                initial_epoch=finished_epochs,
                callbacks=[recorder],
                # A progress bar on a terminal, one line per epoch in a log file.
                verbose=1 if sys.stdout.isatty() else 2,
            )
    except OSError as error:  # a full disk, or permissions lost, while logging or checkpointing
        return fail(cannot_write(error, args))
    if recorder.diverged_epoch is not None:
        return fail(
            f"the training loss became NaN or infinite in epoch {recorder.diverged_epoch}; "
            f"no outputs were written (try another --seed; {checkpoint_folder}, if there, holds the "
            "last checkpoint before it)"
        )

    predictions = model.predict(data.test_x, batch_size=EVALUATION_BATCH_SIZE, verbose=0)
    report = classification_report(
        data.test_y.argmax(axis=1),
        predictions.argmax(axis=1),
        labels=range(len(data.label_names)),
        target_names=data.label_names,
        digits=4,
        zero_division=0,
    )
    if ctrl_c_pressed.is_set():
        raise KeyboardInterrupt
    print(report)
    try:
        write_atomically(args.report, report)
        write_atomically(args.history, pickle.dumps(history))
    except OSError as error:
        return fail(cannot_write(error, args))
    shutil.rmtree(checkpoint_folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, on_ctrl_c)
    sys.unraisablehook = silent_about_ctrl_c
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        fail("interrupted: give the same command again to resume from the last checkpoint")
        # Die of the signal, not exit 130: a shell running a sweep script stops only then.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
