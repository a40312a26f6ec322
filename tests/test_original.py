"""pyimagesearch/original.py holds the 2019 experiment's settings, and train.py, the optimizers and
README take theirs from it."""

import inspect
import os

import pytest

import train
from pyimagesearch import original

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_table_holds_the_settings_of_the_reference_experiment():
    # shared/spec/seed-facts.md and architectures.md, value by value.
    assert (original.EPOCHS, original.BATCH_SIZE, original.LEARNING_RATE) == (60, 128, 1e-3)
    assert original.RADAM == {"total_steps": 5000, "warmup_proportion": 0.1, "min_lr": 1e-5}
    assert original.AUGMENTATION == {
        "rotation_range": 18, "zoom_range": 0.15, "width_shift_range": 0.2, "height_shift_range": 0.2,
        "shear_range": 0.15, "horizontal_flip": True, "fill_mode": "nearest",
    }  # fmt: skip
    assert original.RESNET == {"stages": (9, 9, 9), "filters": (64, 64, 128, 256), "reg": 0.0005}
    assert original.BATCH_NORM_MOMENTUM == {"resnet": 0.9, "googlenet": 0.99, "minivggnet": 0.99}
    assert original.IMAGE_SIZE == 32


def test_train_py_defaults_are_the_table():
    args = train.parse_arguments(["-i", "h.pickle", "-r", "r.txt"])
    assert (args.epochs, args.batch_size, args.seed) == (original.EPOCHS, original.BATCH_SIZE, original.SEED)
    assert args.radam_total_steps == str(original.RADAM["total_steps"])
    assert train.run_settings(args)["learning_rate"] == original.LEARNING_RATE
    sgd = train.parse_arguments(["-i", "h.pickle", "-r", "r.txt", "-o", "sgd"])
    assert train.run_settings(sgd)["learning_rate"] == original.SGD["learning_rate"]


@pytest.mark.backend
def test_the_optimizers_take_their_arguments_from_the_table():
    from pyimagesearch import training

    radam = training.make_optimizer("radam")
    assert (radam.total_steps, radam.warmup_proportion, radam.min_lr) == tuple(original.RADAM.values())
    assert float(radam.learning_rate) == pytest.approx(original.LEARNING_RATE)
    sgd = training.make_optimizer("sgd")
    assert (float(sgd.learning_rate), sgd.momentum) == pytest.approx(tuple(original.SGD.values()))
    adam = training.make_optimizer("adam")
    assert float(adam.learning_rate) == pytest.approx(original.LEARNING_RATE)


def test_readme_shows_the_table():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as file:
        assert original.table() in file.read()


def test_rmsprops_default_rate_is_keras_own():
    import keras

    keras_default = inspect.signature(keras.optimizers.RMSprop).parameters["learning_rate"].default
    assert original.DEFAULT_LEARNING_RATES["rmsprop"] == keras_default
    rmsprop = train.parse_arguments(["-i", "h.pickle", "-r", "r.txt", "-o", "rmsprop"])
    assert train.run_settings(rmsprop)["learning_rate"] == original.DEFAULT_LEARNING_RATES["rmsprop"]
