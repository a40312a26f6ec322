"""Tests for pyimagesearch.datasets, on tiny files written in Keras' own cache formats.

No test downloads anything: every test gets an empty KERAS_HOME and a `load_data` that fails.
"""

import gzip
import os
import pickle

import cv2
import keras
import numpy as np
import pytest

from pyimagesearch import datasets
from pyimagesearch.datasets import DATASETS, DatasetUnavailable, load_dataset

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")

# Labels that cover every class, and a distinct constant grey level for every image.
TRAIN_LABELS_10 = np.array([3, 1, 4, 0, 5, 9, 2, 6, 8, 7] * 2, dtype=np.uint8)
TEST_LABELS_10 = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], dtype=np.uint8)
TRAIN_LEVELS = np.arange(20, dtype=np.uint8) * 12 + 3
TEST_LEVELS = 250 - np.arange(10, dtype=np.uint8) * 7


@pytest.fixture(autouse=True)
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))

    def no_download(*args, **kwargs):
        raise AssertionError("a test tried to download a dataset")

    for name in KERAS_DATASETS:
        monkeypatch.setattr(getattr(keras.datasets, name), "load_data", no_download)
    return home


def constant_grey_images(levels):
    return np.repeat(levels, 28 * 28).reshape(-1, 28, 28).astype(np.uint8)


def write_mnist(datasets_dir, gradient_image):
    train_x = constant_grey_images(TRAIN_LEVELS)
    train_x[0] = gradient_image
    datasets_dir.mkdir(parents=True)
    np.savez(
        datasets_dir / "mnist.npz",
        x_train=train_x,
        y_train=TRAIN_LABELS_10,
        x_test=constant_grey_images(TEST_LEVELS),
        y_test=TEST_LABELS_10,
    )


def write_idx(path, array):
    # idx header: magic (2 zero bytes, type 0x08 = uint8, number of dims), then each dim.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(datasets_dir):
    folder = datasets_dir / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", constant_grey_images(TRAIN_LEVELS))
    write_idx(folder / "train-labels-idx1-ubyte.gz", TRAIN_LABELS_10)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", constant_grey_images(TEST_LEVELS))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", TEST_LABELS_10)


def cifar_rows(levels):
    """CIFAR rows (1024 red, 1024 green, 1024 blue bytes) for images whose red, green and
    blue planes are `level`, `255 - level` and `level // 2`, except that pixel (row 1,
    column 2) is pure red: a marker that only lands right if planes become channels-last."""
    planes = np.stack([levels, 255 - levels, levels // 2], axis=1).astype(np.uint8)
    images = np.repeat(planes, 32 * 32).reshape(-1, 3, 32, 32)
    images[:, :, 1, 2] = (255, 0, 0)
    return images.reshape(-1, 3072)


def write_cifar_batch(path, levels, labels, label_key):
    # Python 2 pickled these with str keys, which Python 3 reads as bytes (encoding="bytes").
    batch = {
        b"batch_label": b"test batch",
        label_key: [int(label) for label in labels],
        b"data": cifar_rows(levels),
        b"filenames": [f"image_{i}.png".encode() for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=4)


def write_cifar10(datasets_dir):
    folder = datasets_dir / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(5):
        part = slice(4 * i, 4 * (i + 1))
        write_cifar_batch(
            folder / f"data_batch_{i + 1}", TRAIN_LEVELS[part], TRAIN_LABELS_10[part], b"labels"
        )
    write_cifar_batch(folder / "test_batch", TEST_LEVELS, TEST_LABELS_10, b"labels")


CIFAR100_TRAIN_LABELS = np.random.default_rng(0).permutation(100).astype(np.uint8)
CIFAR100_TRAIN_LEVELS = np.arange(100, dtype=np.uint8) * 2 + 1
CIFAR100_TEST_LABELS = np.array([99, 0, 50, 1, 98, 2, 97, 3, 96, 4], dtype=np.uint8)


def write_cifar100(datasets_dir):
    folder = datasets_dir / "cifar-100-python-target" / "cifar-100-python"
    folder.mkdir(parents=True)
    for file, levels, labels in (
        ("train", CIFAR100_TRAIN_LEVELS, CIFAR100_TRAIN_LABELS),
        ("test", TEST_LEVELS, CIFAR100_TEST_LABELS),
    ):
        write_cifar_batch(folder / file, levels, labels, b"fine_labels")
        # The coarse labels are there too and must not be the ones read.
        with open(folder / file, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        batch[b"coarse_labels"] = [int(label) // 5 for label in labels]
        with open(folder / file, "wb") as f:
            pickle.dump(batch, f, protocol=4)


def assert_common(data, train_n, test_n, channels, num_classes):
    assert data.train_x.shape == (train_n, 32, 32, channels)
    assert data.test_x.shape == (test_n, 32, 32, channels)
    assert data.train_y.shape == (train_n, num_classes)
    assert data.test_y.shape == (test_n, num_classes)
    for array in data[:4]:
        assert array.dtype == np.float32
    for images in (data.train_x, data.test_x):
        assert images.min() >= 0.0 and images.max() <= 1.0
    assert data.num_classes == num_classes
    assert data.input_shape == (32, 32, channels)
    assert len(data.label_names) == num_classes
    assert all(isinstance(label, str) for label in data.label_names)


def assert_one_hot(one_hot, labels):
    expected = np.zeros((len(labels), one_hot.shape[1]), dtype=np.float32)
    expected[np.arange(len(labels)), labels] = 1.0
    np.testing.assert_array_equal(one_hot, expected)


def assert_constant_images(images, levels, skip=()):
    for i, level in enumerate(levels):
        if i not in skip:
            np.testing.assert_allclose(images[i], level / 255.0, rtol=1e-6)


def test_mnist_from_cache(keras_home):
    gradient = (np.arange(28 * 28) % 251).reshape(28, 28).astype(np.uint8)
    write_mnist(keras_home / "datasets", gradient)

    data = load_dataset("mnist")

    assert_common(data, 20, 10, 1, 10)
    assert_one_hot(data.train_y, TRAIN_LABELS_10)
    assert_one_hot(data.test_y, TEST_LABELS_10)
    assert_constant_images(data.train_x, TRAIN_LEVELS, skip={0})
    assert_constant_images(data.test_x, TEST_LEVELS)
    # The resize is OpenCV's default (bilinear), applied to the uint8 images before / 255.
    expected = cv2.resize(gradient, (32, 32), interpolation=cv2.INTER_LINEAR) / 255.0
    np.testing.assert_allclose(data.train_x[0, :, :, 0], expected, rtol=1e-6)
    assert data.label_names == [str(digit) for digit in range(10)]


def test_fashion_mnist_from_cache(keras_home):
    write_fashion_mnist(keras_home / "datasets")

    data = load_dataset("fashion_mnist")

    assert_common(data, 20, 10, 1, 10)
    assert_one_hot(data.train_y, TRAIN_LABELS_10)
    assert_one_hot(data.test_y, TEST_LABELS_10)
    assert_constant_images(data.train_x, TRAIN_LEVELS)
    assert_constant_images(data.test_x, TEST_LEVELS)
    assert data.label_names[0] == "top"
    assert data.label_names[9] == "ankle boot"
    assert data.label_names == [
        "top", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "ankle boot",
    ]  # fmt: skip


def assert_cifar_pixels(images, levels):
    for image, level in zip(images, levels):
        level = int(level)
        np.testing.assert_allclose(image[0, 0], np.array([level, 255 - level, level // 2]) / 255)
        np.testing.assert_allclose(image[31, 31], np.array([level, 255 - level, level // 2]) / 255)
        np.testing.assert_array_equal(image[1, 2], [1.0, 0.0, 0.0])


def test_cifar10_from_cache(keras_home):
    write_cifar10(keras_home / "datasets")

    data = load_dataset("cifar10")

    assert_common(data, 20, 10, 3, 10)
    assert_one_hot(data.train_y, TRAIN_LABELS_10)
    assert_one_hot(data.test_y, TEST_LABELS_10)
    assert_cifar_pixels(data.train_x, TRAIN_LEVELS)
    assert_cifar_pixels(data.test_x, TEST_LEVELS)
    assert data.label_names == [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ]  # fmt: skip


def test_cifar100_from_cache(keras_home):
    write_cifar100(keras_home / "datasets")

    data = load_dataset("cifar100")

    assert_common(data, 100, 10, 3, 100)
    assert_one_hot(data.train_y, CIFAR100_TRAIN_LABELS)
    assert_one_hot(data.test_y, CIFAR100_TEST_LABELS)
    assert_cifar_pixels(data.train_x, CIFAR100_TRAIN_LEVELS)
    assert_cifar_pixels(data.test_x, TEST_LEVELS)
    names = data.label_names
    assert (names[0], names[1], names[19], names[41], names[58]) == (
        "apple", "aquarium_fish", "cattle", "lawn_mower", "pickup_truck",
    )  # fmt: skip
    assert (names[83], names[98], names[99]) == ("sweet_pepper", "woman", "worm")
    assert names == sorted(names)
    assert len(set(names)) == 100


def test_digits():
    data = load_dataset("digits")

    assert_common(data, 1347, 450, 1, 10)
    assert data.label_names == [str(digit) for digit in range(10)]
    train_counts = data.train_y.sum(axis=0)
    test_counts = data.test_y.sum(axis=0)
    # Stratified: each class is split 75/25 to within one image.
    assert np.all(np.abs(test_counts - 0.25 * (train_counts + test_counts)) <= 1)
    assert np.all(data.train_y.sum(axis=1) == 1) and np.all(data.test_y.sum(axis=1) == 1)
    assert data.train_x.max() == 1.0  # 16 / 16: the scaling is by 16, not 255

    again = load_dataset("digits")
    for first, second in zip(data[:4], again[:4]):
        np.testing.assert_array_equal(first, second)


EXPECTED_IN_MESSAGE = {
    "mnist": ("mnist.npz", ""),
    "fashion_mnist": (
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz",
        "fashion-mnist",
    ),
    "cifar10": ("cifar-10-batches-py/ (data_batch_1..5, test_batch)", "cifar-10-batches-py-target"),
    "cifar100": ("cifar-100-python/ (train, test)", "cifar-100-python-target"),
}


@pytest.mark.parametrize("name", KERAS_DATASETS)
def test_absent_and_not_downloadable(name, keras_home, monkeypatch):
    calls = []

    def failing_download(*args, **kwargs):
        calls.append(name)
        raise Exception("URL fetch failure on https://example.invalid: None -- no network")

    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", failing_download)

    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset(name)

    assert calls == [name]
    message = str(raised.value)
    datasets_dir = os.path.join(str(keras_home), "datasets")
    files, subfolder = EXPECTED_IN_MESSAGE[name]
    folder = os.path.join(datasets_dir, subfolder) if subfolder else datasets_dir
    assert "\n" not in message
    assert message.startswith(f"{name} is not in {datasets_dir} and could not be downloaded")
    assert f"put {files} in {folder}, or connect to the internet" in message


CACHED_FILES = {
    "mnist": (write_mnist, "mnist.npz", "MNIST .npz archive"),
    "fashion_mnist": (
        write_fashion_mnist,
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "gzipped Fashion-MNIST idx file",
    ),
    "cifar10": (write_cifar10, "cifar-10-batches-py-target/cifar-10-batches-py/data_batch_3", "CIFAR batch"),
    "cifar100": (write_cifar100, "cifar-100-python-target/cifar-100-python/test", "CIFAR batch"),
}


def write_cached(name, datasets_dir):
    write, file, kind = CACHED_FILES[name]
    if name == "mnist":
        write(datasets_dir, constant_grey_images(TRAIN_LEVELS[:1])[0])
    else:
        write(datasets_dir)
    return datasets_dir / file, kind


@pytest.mark.parametrize("damage", ["cut short", "random bytes", "empty"])
@pytest.mark.parametrize("name", KERAS_DATASETS)
def test_a_damaged_cached_file_is_named_in_one_line(name, damage, keras_home):
    path, kind = write_cached(name, keras_home / "datasets")
    content = path.read_bytes()
    path.write_bytes({
        "cut short": content[: len(content) // 2],
        "random bytes": np.random.default_rng(0).bytes(len(content)),
        "empty": b"",
    }[damage])  # fmt: skip

    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset(name)
    assert str(raised.value) == (
        f"{path} is not a readable {kind} (damaged or cut short?): delete it and run again to "
        "download it afresh, or put a good copy there"
    )


def test_a_cifar_batch_of_another_layout_is_named(keras_home):
    path, _ = write_cached("cifar100", keras_home / "datasets")
    with open(path, "wb") as f:
        pickle.dump({b"images": b""}, f)  # no b"data"
    with pytest.raises(DatasetUnavailable, match=f"^{path} is not a readable CIFAR batch"):
        load_dataset("cifar100")


def test_an_unreadable_cached_file_is_not_called_damaged(keras_home, monkeypatch):
    path, _ = write_cached("mnist", keras_home / "datasets")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")
    assert str(raised.value) == f"cannot read {path} (Permission denied); fix its permissions"


def test_images_and_labels_of_different_lengths_are_refused(keras_home):
    datasets_dir = keras_home / "datasets"
    write_mnist(datasets_dir, constant_grey_images(TRAIN_LEVELS[:1])[0])
    with np.load(datasets_dir / "mnist.npz") as data:
        arrays = dict(data)
    np.savez(datasets_dir / "mnist.npz", **dict(arrays, y_test=arrays["y_test"][:-1]))
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")
    assert str(raised.value) == (
        f"mnist in {datasets_dir} has 20 training and 10 test images but 20 and 9 labels: "
        f"delete mnist.npz in {datasets_dir} and run again to download it afresh, or put good "
        "copies there"
    )


def test_incomplete_cache_falls_back_to_download(keras_home, monkeypatch):
    datasets_dir = keras_home / "datasets"
    write_cifar10(datasets_dir)
    os.remove(datasets_dir / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch")

    def failing_download():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", failing_download)
    with pytest.raises(DatasetUnavailable, match="cifar10 is not in"):
        load_dataset("cifar10")


def test_downloaded_data_is_used(monkeypatch):
    train_x = np.full((10, 32, 32, 3), 51, dtype=np.uint8)
    test_x = np.full((10, 32, 32, 3), 102, dtype=np.uint8)
    labels = np.arange(10, dtype=np.uint8).reshape(10, 1)  # Keras gives CIFAR labels as (N, 1)
    monkeypatch.setattr(
        keras.datasets.cifar10, "load_data", lambda: ((train_x, labels), (test_x, labels[::-1]))
    )

    data = load_dataset("cifar10")

    assert_common(data, 10, 10, 3, 10)
    assert_one_hot(data.train_y, np.arange(10))
    assert_one_hot(data.test_y, np.arange(10)[::-1])
    np.testing.assert_allclose(data.train_x, 0.2)
    np.testing.assert_allclose(data.test_x, 0.4)


def test_downloaded_channels_first_data_is_made_channels_last(monkeypatch):
    images = np.zeros((10, 3, 32, 32), dtype=np.uint8)
    images[:, 2] = 255  # blue plane
    labels = np.arange(10, dtype=np.uint8).reshape(10, 1)
    monkeypatch.setattr(keras.config, "image_data_format", lambda: "channels_first")
    monkeypatch.setattr(
        keras.datasets.cifar10, "load_data", lambda: ((images, labels), (images, labels))
    )

    data = load_dataset("cifar10")

    assert data.input_shape == (32, 32, 3)
    np.testing.assert_array_equal(data.train_x[:, :, :, 2], 1.0)
    np.testing.assert_array_equal(data.train_x[:, :, :, :2], 0.0)


def test_keyboard_interrupt_is_not_swallowed(monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.datasets.mnist, "load_data", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("mnist")


def test_cache_folder_defaults_to_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.keras_datasets_dir() == os.path.join(str(tmp_path), ".keras", "datasets")


def test_unknown_name():
    with pytest.raises(ValueError) as raised:
        load_dataset("imagenet")
    message = str(raised.value)
    assert "imagenet" in message
    for name in DATASETS:
        assert name in message
