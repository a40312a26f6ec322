"""Train one model on one data set with one optimizer, as one run of the Adam-vs-RAdam experiment.

    python train.py --history output/resnet_radam_cifar10.pickle \
        --report output/resnet_radam_cifar10.txt --dataset cifar10 --model resnet --optimizer radam

Writes the training history (a pickled dict of lists of floats) and scikit-learn's classification
report of the test split, and beside the history the run's settings, `<history stem>.json`. A
per-epoch log, `<history stem>.csv`, grows beside them while the run trains. The run checkpoints
after every epoch (--checkpoint-every), and on SIGTERM at the next step, then exits with code 75:
the same command resumes it, having lost at most the epoch in flight. A run whose outputs both
exist is not trained again (and is refused if its settings differ from the command's), and a run
that another process is training is refused (exit code 3).
"""

import argparse
import json
import os
import pickle
import sys

from pyimagesearch import interruptions, original
from pyimagesearch.downloads import keras_home
from pyimagesearch.errors import learning_rate, positive_int, radam_total_steps, run_main, seed, whole_number
from pyimagesearch.files import load_json, write_atomically
from pyimagesearch.original import DATASETS, DEFAULT_LEARNING_RATES, MODELS, OPTIMIZERS
from pyimagesearch.run_files import RunFiles, run_lock

# Epochs between checkpoints. A checkpoint is copied to host memory at the epoch's end and
# written by a background thread (benchmarks/checkpoint_cost.py measures what that costs).
CHECKPOINT_EVERY = 1


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("-i", "--history", required=True, help="path of the output history pickle")
    parser.add_argument("-r", "--report", required=True, help="path of the output classification report")
    parser.add_argument("-d", "--dataset", default="mnist", choices=DATASETS)
    parser.add_argument("-m", "--model", default="resnet", choices=MODELS)
    parser.add_argument("-o", "--optimizer", default="adam", choices=OPTIMIZERS)
    parser.add_argument("--epochs", type=positive_int, default=original.EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=original.BATCH_SIZE)
    parser.add_argument(
        "--learning-rate",
        type=learning_rate,
        metavar="LR",
        help="the optimizer's (peak) learning rate (default: the original's 1e-3; SGD 0.01)",
    )
    parser.add_argument(
        "--training-images",
        type=positive_int,
        metavar="N",
        help="train on a fixed, class-stratified subset of N training images (default: all)",
    )
    parser.add_argument(
        "--validation-images",
        type=whole_number,
        default=0,
        metavar="N",
        help="hold out N training images (fixed, class-stratified) as the validation split, so that "
        "the test split is only read for the final report (default 0: validate on the test split, "
        "as the original)",
    )
    parser.add_argument("--seed", type=seed, default=original.SEED, help="same seed, same result on the CPU")
    parser.add_argument(
        "--radam-total-steps",
        type=radam_total_steps,
        default=str(original.RADAM["total_steps"]),
        help="RAdam's total_steps: %(default)s as in the original, or 'auto' for the run's real number "
        "of steps, so that warm-up and decay span the whole run",
    )
    parser.add_argument(
        "--warmup-steps",
        type=positive_int,
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
        type=positive_int,
        default=CHECKPOINT_EVERY,
        metavar="N",
        help="save what resuming needs every N epochs (default %(default)s); not a setting of the "
        "run: a resume may change it",
    )
    return parser.parse_args(argv)


def run_settings(args):
    """The arguments that decide a run's results: a checkpoint made with others is refused."""
    not_settings = ("history", "report", "checkpoint_every", "download")
    settings = {key: value for key, value in vars(args).items() if key not in not_settings}
    if settings["learning_rate"] is None:
        settings["learning_rate"] = DEFAULT_LEARNING_RATES[args.optimizer]
    # An option that the optimizer ignores is recorded at its default: giving it makes no other run.
    if args.optimizer != "radam":
        settings["radam_total_steps"] = str(original.RADAM["total_steps"])
    if args.optimizer != "adam-warmup":
        settings["warmup_steps"] = None
    return settings


def leave_out_what_a_run_never_uses():
    """Keras imports matplotlib, for its plotting utilities, and TensorFlow imports JAX where it is
    installed, for TensorFlow Lite. A run uses neither, and they take about a fifth of the time
    that `import keras` takes (docs/benchmarks.md, The test suite on the CPU). None in `sys.modules`
    makes their import fail, which both libraries expect and pass over. JAX is left out only where
    it is not the backend that Keras will start; nothing is left out once Keras has started."""
    if "keras" in sys.modules:
        return
    sys.modules.setdefault("matplotlib", None)
    backend = os.environ.get("KERAS_BACKEND")
    if backend is None:  # Keras' own choice: keras.json's backend, else TensorFlow
        try:
            backend = load_json(os.path.join(keras_home(), "keras.json")).get("backend", "tensorflow")
        except FileNotFoundError:
            backend = "tensorflow"
        except (OSError, ValueError, AttributeError):  # unreadable: leave JAX in, in case
            return
    if backend in ("tensorflow", "torch"):
        sys.modules.setdefault("jax", None)


def main(argv=None):
    args = parse_arguments(argv)
    run_files = RunFiles(args.history, args.report)
    run_files.check_paths()
    settings = run_settings(args)
    if run_files.finished():
        return run_files.skip(settings)
    run_files.check_writable()
    with run_lock(run_files.lock):
        if run_files.finished():  # it finished while this process looked
            return run_files.skip(settings)
        run_files.remove_temporaries()
        # On JAX, a sweep's runs of one model, input shape and optimizer (MNIST and Fashion-MNIST,
        # repeated seeds, resumed runs) then compile their train step once. JAX caches only
        # programs that took a second to compile, which leaves out the hundreds of small ones that
        # build a model's weights: caching them too cut the ResNet's build from 8-21 s to 1.0 s on
        # a 2-core CPU (docs/benchmarks.md). Other backends ignore both.
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(keras_home(), "jax_cache"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        # Keras takes seconds to start its backend, and scikit-learn one: training imports both, so
        # it comes after the quick checks above (and after the handlers of SIGTERM and Ctrl-C are in place).
        from pyimagesearch import checkpoints, training
        from pyimagesearch.datasets import held_out, load_dataset

        training.record_convolutions_in_graphs()
        data = held_out(load_dataset(args.dataset, download=args.download), args.validation_images,
                        args.training_images)
        steps = training.steps_per_epoch(len(data.train_x), args.batch_size)
        state = checkpoints.read_checkpoint(run_files.checkpoint_folder, settings, args.epochs, steps)
        model = training.build_run_model(args, data)
        print(f"training {args.model} on {args.dataset} with {args.optimizer}, seed {args.seed}: {training.where_it_runs()}")
        recorder = training.make_recorder(model, state, args, run_files, settings)
        with run_files.disk_errors_in_one_line(), recorder.writer:
            training.fit(model, data, args, recorder)

        report = training.report(data, training.predict(model, data.test_x))
        if interruptions.ctrl_c_pressed.is_set():
            raise KeyboardInterrupt
        print(report)
        with run_files.disk_errors_in_one_line():
            write_atomically(run_files.settings, json.dumps(settings, indent=1, sort_keys=True) + "\n")
            write_atomically(args.report, report)
            write_atomically(args.history, pickle.dumps(recorder.history))
        run_files.remove_checkpoint()
    interruptions.outputs_written()
    return 0


if __name__ == "__main__":
    interruptions.handle_signals()
    leave_out_what_a_run_never_uses()  # in the script alone: a program that calls main keeps its modules
    try:
        run_main(main)
    except KeyboardInterrupt:
        interruptions.die_of_ctrl_c()
