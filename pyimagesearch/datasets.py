"""The experiment's datasets, loaded and preprocessed the way the 2019 train.py did.

Every dataset comes back as 32x32 channels-last float32 images in [0, 1] with one-hot labels.
The four Keras datasets are read straight from Keras' download cache when they are there and
downloaded through `keras.datasets` otherwise; `digits` ships with scikit-learn and needs no
network, which makes it the dataset for demos and tests.
"""

import contextlib
import gzip
import os
import pickle
from typing import NamedTuple

import cv2
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer

from pyimagesearch.names import DATASETS

MNIST_LABELS = [str(digit) for digit in range(10)]
FASHION_MNIST_LABELS = [
    "top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip
CIFAR10_LABELS = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR100_LABELS = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard",
    "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
    "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray",
    "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
]  # fmt: skip

# Where Keras 3's `load_data()` functions cache each dataset, relative to
# `<keras home>/datasets`. The CIFAR archives are extracted into a "-target" folder.
FASHION_MNIST_DIR = "fashion-mnist"
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR10_DIR = os.path.join("cifar-10-batches-py-target", "cifar-10-batches-py")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR100_DIR = os.path.join("cifar-100-python-target", "cifar-100-python")
CIFAR100_FILES = ("train", "test")


class DatasetUnavailable(Exception):
    """A dataset is neither in Keras' cache nor downloadable; the message is one line."""


class Dataset(NamedTuple):
    """Images (N, 32, 32, C) float32 in [0, 1], one-hot float32 labels, and the class names."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    label_names: list

    @property
    def num_classes(self):
        return self.train_y.shape[1]

    @property
    def input_shape(self):
        return self.train_x.shape[1:]


def load_dataset(name):
    """Load dataset `name` (one of `DATASETS`) as a preprocessed `Dataset`."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}")
    if name == "digits":
        return _load_digits()

    (train_x, train_y), (test_x, test_y) = _load_keras_dataset(name)
    if name in ("mnist", "fashion_mnist"):
        train_x, test_x = _resize_to_32(train_x), _resize_to_32(test_x)
        label_names = MNIST_LABELS if name == "mnist" else FASHION_MNIST_LABELS
    else:
        label_names = CIFAR10_LABELS if name == "cifar10" else CIFAR100_LABELS
    train_x = train_x.astype("float32") / 255.0
    test_x = test_x.astype("float32") / 255.0
    return _finish(train_x, train_y, test_x, test_y, label_names)


def keras_home():
    """Keras' own folder: `$KERAS_HOME`, else `~/.keras`."""
    # Mirrors keras.src.backend.config, but reads the environment now rather than at import.
    if "KERAS_HOME" in os.environ:
        return os.path.expanduser(os.environ["KERAS_HOME"])
    base = os.path.expanduser("~")
    return os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")


def keras_datasets_dir():
    """The folder Keras downloads datasets into: `$KERAS_HOME/datasets` or `~/.keras/datasets`."""
    return os.path.join(keras_home(), "datasets")


def _load_digits():
    digits = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=42
    )
    train_x = _resize_to_32((train_x / 16.0).astype("float32"))
    test_x = _resize_to_32((test_x / 16.0).astype("float32"))
    return _finish(train_x, train_y, test_x, test_y, MNIST_LABELS)


def _resize_to_32(images):
    return np.array([cv2.resize(image, (32, 32)) for image in images])


def _finish(train_x, train_y, test_x, test_y, label_names):
    """Add the grey channel axis, cast to float32 and one-hot encode the labels."""
    if train_x.ndim == 3:
        train_x, test_x = train_x[..., np.newaxis], test_x[..., np.newaxis]
    binarizer = LabelBinarizer()
    train_y = binarizer.fit_transform(np.ravel(train_y)).astype("float32")
    test_y = binarizer.transform(np.ravel(test_y)).astype("float32")
    return Dataset(
        train_x.astype("float32"), train_y, test_x.astype("float32"), test_y, list(label_names)
    )


def _load_keras_dataset(name):
    """Return `(train_x, train_y), (test_x, test_y)` as uint8, images channels-last."""
    datasets_dir = keras_datasets_dir()
    reader, folder, files, description = {
        "mnist": (_read_mnist, "", ("mnist.npz",), "mnist.npz"),
        "fashion_mnist": (
            _read_fashion_mnist,
            FASHION_MNIST_DIR,
            FASHION_MNIST_FILES,
            ", ".join(FASHION_MNIST_FILES),
        ),
        "cifar10": (
            _read_cifar10,
            CIFAR10_DIR,
            CIFAR10_FILES,
            "cifar-10-batches-py/ (data_batch_1..5, test_batch)",
        ),
        "cifar100": (
            _read_cifar100,
            CIFAR100_DIR,
            CIFAR100_FILES,
            "cifar-100-python/ (train, test)",
        ),
    }[name]
    folder = os.path.join(datasets_dir, folder) if folder else datasets_dir
    # For CIFAR the folder to fill is the one above the extracted dataset folder.
    target = os.path.dirname(folder) if name.startswith("cifar") else folder
    # Read the cache ourselves: Keras' load_data() would download again whenever a cached
    # file's hash differs from the published one, and re-extracts the CIFAR archives each call.
    if all(os.path.isfile(os.path.join(folder, file)) for file in files):
        (train_x, train_y), (test_x, test_y) = reader(folder)
        if len(train_x) != len(train_y) or len(test_x) != len(test_y):
            raise DatasetUnavailable(
                f"{name} in {folder} has {len(train_x)} training and {len(test_x)} test images "
                f"but {len(train_y)} and {len(test_y)} labels: delete {description} in {target} "
                "and run again to download it afresh, or put good copies there"
            )
        return (train_x, train_y), (test_x, test_y)

    import keras  # only here: train.py checks its arguments before paying Keras' start-up time

    try:
        (train_x, train_y), (test_x, test_y) = getattr(keras.datasets, name).load_data()
    except Exception as error:
        raise DatasetUnavailable(
            f"{name} is not in {datasets_dir} and could not be downloaded: "
            f"put {description} in {target}, or connect to the internet"
        ) from error
    if train_x.ndim == 4 and keras.config.image_data_format() == "channels_first":
        train_x, test_x = train_x.transpose(0, 2, 3, 1), test_x.transpose(0, 2, 3, 1)
    return (train_x, train_y), (test_x, test_y)


@contextlib.contextmanager
def _damaged_file_reported(path, kind):
    """Turn any failure to read the cached file `path` into one line that says what to do."""
    try:
        yield
    except PermissionError as error:  # a good file this user may not read: not to be deleted
        raise DatasetUnavailable(f"cannot read {path} ({error.strerror}); fix its permissions") from error
    except MemoryError:
        raise
    except Exception as error:
        raise DatasetUnavailable(
            f"{path} is not a readable {kind} (damaged or cut short?): delete it and run again "
            "to download it afresh, or put a good copy there"
        ) from error


def _read_mnist(folder):
    path = os.path.join(folder, "mnist.npz")
    with _damaged_file_reported(path, "MNIST .npz archive"), np.load(path, allow_pickle=False) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def _read_fashion_mnist(folder):
    def read_idx(file, shape):
        path = os.path.join(folder, file)
        with _damaged_file_reported(path, "gzipped Fashion-MNIST idx file"), gzip.open(path) as f:
            header_bytes = 16 if "images" in file else 8
            return np.frombuffer(f.read(), np.uint8, offset=header_bytes).reshape(shape)

    train_x, train_y, test_x, test_y = (
        read_idx(file, (-1, 28, 28) if "images" in file else (-1,)) for file in FASHION_MNIST_FILES
    )
    return (train_x, train_y), (test_x, test_y)


def _read_cifar10(folder):
    batches = [_read_cifar_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    train_x = np.concatenate([images for images, _ in batches])
    train_y = np.concatenate([labels for _, labels in batches])
    return (train_x, train_y), _read_cifar_batch(os.path.join(folder, "test_batch"))


def _read_cifar100(folder):
    return (
        _read_cifar_batch(os.path.join(folder, "train"), label_key="fine_labels"),
        _read_cifar_batch(os.path.join(folder, "test"), label_key="fine_labels"),
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuse every global but those numpy needs to rebuild arrays, as Keras' own reader does."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _read_cifar_batch(path, label_key="labels"):
    """Read one CIFAR pickle: rows of 3072 bytes (1024 red, 1024 green, 1024 blue)."""
    with _damaged_file_reported(path, "CIFAR batch"), open(path, "rb") as f:
        # The batches were pickled by Python 2; "bytes" keeps their str keys as bytes.
        batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key.encode()], dtype=np.uint8)
    return images.transpose(0, 2, 3, 1), labels
