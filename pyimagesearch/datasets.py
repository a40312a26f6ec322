"""The experiment's data sets, read from Keras' cache and preprocessed the way the 2019 train.py did.

Every data set comes back as 32x32 channels-last float32 images in [0, 1] with one-hot labels.
The four Keras data sets are fetched into Keras' cache first where they are missing
(`pyimagesearch/downloads.py`); `digits` ships with scikit-learn and needs no network, which
makes it the data set for demos and tests.
"""

import contextlib
import gzip
import io
import os
import pickle
from typing import NamedTuple

import numpy as np

from pyimagesearch import downloads, untrusted
from pyimagesearch.downloads import FASHION_MNIST_FILES, LAYOUTS, DatasetUnavailable, keras_datasets_dir
from pyimagesearch.errors import UserError
from pyimagesearch.original import DATASETS
from pyimagesearch.untrusted import check_opcodes

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


class Dataset(NamedTuple):
    """Images (N, 32, 32, C) float32 in [0, 1], one-hot float32 labels, and the class names.

    The validation split is the test split, as in the original, unless `held_out` made one.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    label_names: list
    validation_x: np.ndarray
    validation_y: np.ndarray

    @property
    def num_classes(self):
        return self.train_y.shape[1]

    @property
    def input_shape(self):
        return self.train_x.shape[1:]


def load_dataset(name, download=True):
    """Load data set `name` (one of `DATASETS`) as a preprocessed `Dataset`.

    A Keras data set missing from the cache is downloaded first, or with `download=False`
    refused with a line that says how to fetch it.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}")
    if name == "digits":
        return _load_digits()

    (train_x, train_y), (test_x, test_y) = fetch(name, download)
    if name in ("mnist", "fashion_mnist"):
        train_x, test_x = _resize_to_32(train_x), _resize_to_32(test_x)
        label_names = MNIST_LABELS if name == "mnist" else FASHION_MNIST_LABELS
    else:
        train_x, test_x = train_x.astype(np.float32), test_x.astype(np.float32)
        label_names = CIFAR10_LABELS if name == "cifar10" else CIFAR100_LABELS
    # In place: a 70,000-image data set is 287 MB of float32, and every new array of that size
    # costs time in page faults.
    train_x /= 255.0
    test_x /= 255.0
    return _finish(train_x, train_y, test_x, test_y, label_names)


def held_out(data, validation_images=0, training_images=None):
    """`data` with `validation_images` of its training images held out as the validation split
    (0: the test split validates, as in the original), training on `training_images` of the rest
    (None: all of them).

    Both subsets are stratified by class and fixed: the same for every seed and every run, and
    the validation split the same whatever `training_images` is. Raises UserError where the
    numbers do not fit the data set.
    """
    from sklearn.model_selection import train_test_split

    if not validation_images and training_images in (None, len(data.train_x)):
        return data
    labels = data.train_y.argmax(axis=1)
    rows = np.arange(len(labels))
    classes = data.num_classes
    validation = np.array([], dtype=rows.dtype)
    if validation_images:
        if not classes <= validation_images <= len(rows) - classes:
            raise UserError(
                f"--validation-images {validation_images} does not fit the {len(rows)} training images: "
                f"give {classes} to {len(rows) - classes} (at least one image a class on each side)"
            )
        rows, validation = train_test_split(rows, test_size=validation_images, stratify=labels, random_state=0)
    if training_images is not None and training_images != len(rows):
        if not classes <= training_images <= len(rows) - classes:  # a class on each side of the subset's split
            left = " left after the validation split" if validation_images else ""
            if len(rows) < 2 * classes:  # no subset of them has a class on each side
                give = f"give {len(rows)}, all of them (a subset needs {2 * classes} images or more to choose from)"
            else:
                give = f"give {classes} to {len(rows) - classes}, or {len(rows)} for all of them"
            raise UserError(
                f"--training-images {training_images} does not fit the {len(rows)} training images{left}: {give}"
            )
        rows, _ = train_test_split(rows, train_size=training_images, stratify=labels[rows], random_state=0)
    if not validation_images:
        validation_x, validation_y = data.test_x, data.test_y
    else:
        validation = np.sort(validation)
        validation_x, validation_y = data.train_x[validation], data.train_y[validation]
    rows = np.sort(rows)
    return data._replace(train_x=data.train_x[rows], train_y=data.train_y[rows],
                         validation_x=validation_x, validation_y=validation_y)


def fetch(name, download=True):
    """Return Keras data set `name` as `(train_x, train_y), (test_x, test_y)`, uint8, images
    channels-last, read from Keras' cache; download the files that are missing there first.

    Files already there are read, not hashed, and never replaced (a CIFAR folder that lacks a
    file is extracted afresh): a damaged one is named in a one-line `DatasetUnavailable` that says
    to delete it. With `download=False` a missing file is refused with a line that says to run
    fetch_data.py where there is internet access.
    """
    datasets_dir = keras_datasets_dir()
    layout = LAYOUTS[name]
    target = downloads.folder_to_fill(name, datasets_dir)
    for file in layout.files:  # a folder (or a broken link) of a file's name would count as absent
        path = os.path.join(datasets_dir, layout.folder, file)
        if os.path.lexists(path) and not os.path.isfile(path):
            raise DatasetUnavailable(f"{path} is not a regular file, where {name}'s {file} goes; move it away, "
                                     f"then run `python fetch_data.py {name}`")
    if not downloads.present(name, datasets_dir):
        if not download:
            raise DatasetUnavailable(
                f"{name} is not in {datasets_dir}: run `python fetch_data.py {name}` on a machine "
                "with internet access (a cluster's login node, say) that shares this folder, or put "
                f"{layout.description} in {target}"
            )
        downloads.download(name, datasets_dir)
    return _read(name, datasets_dir)


# Reading what is in the cache.


def _read(name, datasets_dir):
    """Read data set `name` from the cache and check its shapes, types and labels; uint8, images
    channels-last."""
    layout = LAYOUTS[name]
    folder = os.path.join(datasets_dir, layout.folder).rstrip(os.sep)
    reader = {
        "mnist": _read_mnist,
        "fashion_mnist": _read_fashion_mnist,
        "cifar10": _read_cifar10,
        "cifar100": _read_cifar100,
    }[name]
    (train_x, train_y), (test_x, test_y) = reader(folder, name)
    image_shape = (32, 32, 3) if name.startswith("cifar") else (28, 28)
    shapes_fit = all(
        images.shape[1:] == image_shape and labels.ndim == 1 and len(images) == len(labels)
        for images, labels in ((train_x, train_y), (test_x, test_y))
    )
    problem = None
    if not shapes_fit:
        problem = (f"{train_x.shape} training images with {train_y.shape} labels and {test_x.shape} test images "
                   f"with {test_y.shape} labels, not (N, {', '.join(map(str, image_shape))}) with (N,)")
    classes = 100 if name == "cifar100" else 10
    for part, images, labels in (("training", train_x, train_y), ("test", test_x, test_y)):
        if problem:
            break
        if len(images) == 0:
            problem = f"no {part} images"
        elif images.dtype != np.uint8:
            problem = f"{part} images of {images.dtype}, not uint8"
        elif labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= classes:
            problem = f"{part} labels other than the whole numbers 0 to {classes - 1}"
    if problem:
        raise DatasetUnavailable(
            f"{name} in {folder} has {problem}: delete {layout.description} in "
            f"{downloads.folder_to_fill(name, datasets_dir)} and run `python fetch_data.py {name}` to download it "
            "afresh, or put good copies there"
        )
    return (train_x, train_y), (test_x, test_y)


@contextlib.contextmanager
def _damaged_file_reported(path, kind, name):
    """Turn any failure to read the cached file `path` into one line that says what to do."""
    try:
        yield
    except PermissionError as error:  # a good file this user may not read: not to be deleted
        raise DatasetUnavailable(f"cannot read {path} ({error.strerror}); fix its permissions") from error
    except MemoryError:
        raise
    except Exception as error:
        raise DatasetUnavailable(
            f"{path} is not a readable {kind} (damaged or cut short?): delete it and run "
            f"`python fetch_data.py {name}` to download it afresh, or put a good copy there"
        ) from error


def _read_mnist(folder, name):
    path = os.path.join(folder, "mnist.npz")
    with _damaged_file_reported(path, "MNIST .npz archive", name):
        untrusted.check_sizes(path, 4, 60_000 * 28 * 28)  # a header's shape alone would have np.load allocate it
    with _damaged_file_reported(path, "MNIST .npz archive", name), np.load(path, allow_pickle=False) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def _read_fashion_mnist(folder, name):
    def read_idx(file, shape):
        path = os.path.join(folder, file)
        with _damaged_file_reported(path, "gzipped Fashion-MNIST idx file", name), gzip.open(path) as f:
            header_bytes = 16 if "images" in file else 8
            data = f.read(header_bytes + 60_000 * 28 * 28 + 1)  # a few bytes may unzip to gigabytes
            if len(data) > header_bytes + 60_000 * 28 * 28:
                raise ValueError(f"{path} holds more than 60,000 images")
            return np.frombuffer(data, np.uint8, offset=header_bytes).reshape(shape)

    train_x, train_y, test_x, test_y = (
        read_idx(file, (-1, 28, 28) if "images" in file else (-1,)) for file in FASHION_MNIST_FILES
    )
    return (train_x, train_y), (test_x, test_y)


def _read_cifar10(folder, name):
    batches = [_read_cifar_batch(os.path.join(folder, f"data_batch_{i}"), name) for i in range(1, 6)]
    train_x = np.concatenate([images for images, _ in batches])
    train_y = np.concatenate([labels for _, labels in batches])
    return (train_x, train_y), _read_cifar_batch(os.path.join(folder, "test_batch"), name)


def _read_cifar100(folder, name):
    return (
        _read_cifar_batch(os.path.join(folder, "train"), name, label_key="fine_labels"),
        _read_cifar_batch(os.path.join(folder, "test"), name, label_key="fine_labels"),
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


def _read_cifar_batch(path, name, label_key="labels"):
    """Read one CIFAR pickle: rows of 3072 bytes (1024 red, 1024 green, 1024 blue)."""
    with _damaged_file_reported(path, "CIFAR batch", name), open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size > 2**28:  # CIFAR-100's training batch takes 160 MB
            raise ValueError(f"{path} is larger than any CIFAR batch")
        content = f.read()
        check_opcodes(content)  # before anything is built: a nested key or an array's shape alone could crash
        # The batches were pickled by Python 2; "bytes" keeps their str keys as bytes.
        batch = _NumpyOnlyUnpickler(io.BytesIO(content), encoding="bytes").load()
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key.encode()], dtype=np.uint8)
    return images.transpose(0, 2, 3, 1), labels


# Preprocessing. OpenCV and scikit-learn are imported where they are used: fetch_data.py needs
# neither, and they take seconds to import.


def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=42
    )
    train_x = _resize_to_32((train_x / 16.0).astype("float32"))
    test_x = _resize_to_32((test_x / 16.0).astype("float32"))
    return _finish(train_x, train_y, test_x, test_y, MNIST_LABELS)


def _resize_to_32(images):
    """Resize each image to 32x32 with OpenCV's default (bilinear); float32, values unchanged."""
    import cv2

    resized = np.empty((len(images), 32, 32), np.float32)
    for i, image in enumerate(images):
        resized[i] = cv2.resize(image, (32, 32))
    return resized


def _finish(train_x, train_y, test_x, test_y, label_names):
    """Add the grey channel axis, make float32 (without copying what is) and one-hot encode the labels."""
    from sklearn.preprocessing import LabelBinarizer

    if train_x.ndim == 3:
        train_x, test_x = train_x[..., np.newaxis], test_x[..., np.newaxis]
    binarizer = LabelBinarizer()
    train_y = binarizer.fit_transform(np.ravel(train_y)).astype("float32")
    test_y = binarizer.transform(np.ravel(test_y)).astype("float32")
    test_x = test_x.astype(np.float32, copy=False)
    return Dataset(train_x.astype(np.float32, copy=False), train_y, test_x, test_y, list(label_names), test_x, test_y)
