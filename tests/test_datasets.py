"""Tests for pyimagesearch.datasets, on tiny files written in Keras' own cache formats.

No test reaches the network: every test gets an empty KERAS_HOME, and every download comes from a
file:// URL in the test's own folder, where nothing lies until the test puts it there.
"""

import errno
import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zipfile

import cv2
import numpy as np
import pytest

from pyimagesearch import datasets, downloads
from pyimagesearch.datasets import DATASETS, DatasetUnavailable, held_out, load_dataset
from pyimagesearch.errors import UserError
from pyimagesearch.timings import TRAINING_IMAGES
from support import REPO, npy_member

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")

# Labels that cover every class, and a distinct constant grey level for every image.
TRAIN_LABELS_10 = np.array([3, 1, 4, 0, 5, 9, 2, 6, 8, 7] * 2, dtype=np.uint8)
TEST_LABELS_10 = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], dtype=np.uint8)
TRAIN_LEVELS = np.arange(20, dtype=np.uint8) * 12 + 3
TEST_LEVELS = 250 - np.arange(10, dtype=np.uint8) * 7


pytestmark = pytest.mark.usefixtures("keras_home")


@pytest.fixture(autouse=True)
def file_origin(tmp_path, monkeypatch):
    """The folder every download comes from (as file:// URLs), empty until a test serves files."""
    folder = tmp_path / "file_origin"
    folder.mkdir()
    local = {
        name: {path: (f"file://{folder}/{os.path.basename(url)}", sha256) for path, (url, sha256) in files.items()}
        for name, files in downloads.DOWNLOADS.items()
    }
    monkeypatch.setattr(downloads, "DOWNLOADS", local)
    return folder


def unchecked(name, path):
    """The URL of data set `name`'s file `path`, whose download is then taken without a SHA-256 check,
    as Fashion-MNIST's files are (Keras publishes no hash for them)."""
    url, _ = downloads.DOWNLOADS[name][path]
    downloads.DOWNLOADS[name][path] = (url, None)
    return url


def serve_cifar100_archive_of_one_file(file_origin, arcname):
    """The URL of a CIFAR-100 archive, served without a hash check, that holds one text file as `arcname`."""
    (file_origin / "notes.txt").write_text("not CIFAR")
    with tarfile.open(file_origin / "cifar-100-python.tar.gz", "w:gz") as archive:
        archive.add(file_origin / "notes.txt", arcname=arcname)
    return unchecked("cifar100", "cifar-100-python-target")


def serve(name, file_origin, tmp_path):
    """Put data set `name`'s tiny test files at its origin, as Keras downloads them, with their hashes."""
    staging = tmp_path / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    write_cached(name, staging)
    for path, (url, published) in downloads.DOWNLOADS[name].items():
        served = file_origin / os.path.basename(url)
        if url.endswith(".tar.gz"):
            with tarfile.open(served, "w:gz") as archive:  # holding cifar-10-batches-py/..., say
                for inside in (staging / path).iterdir():
                    archive.add(inside, arcname=inside.name)
        else:
            shutil.copyfile(staging / path, served)
        if published:  # Keras publishes none for Fashion-MNIST
            downloads.DOWNLOADS[name][path] = (url, hashlib.sha256(served.read_bytes()).hexdigest())


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


def write_cifar_batch(path, levels, labels, label_key, **more_labels):
    # Python 2 pickled these with str keys, which Python 3 reads as bytes (encoding="bytes").
    batch = {
        b"batch_label": b"test batch",
        label_key: [int(label) for label in labels],
        b"data": cifar_rows(levels),
        b"filenames": [f"image_{i}.png".encode() for i in range(len(labels))],
    }
    batch.update({key.encode(): values for key, values in more_labels.items()})
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
        # The coarse labels are there too and must not be the ones read.
        write_cifar_batch(folder / file, levels, labels, b"fine_labels",
                          coarse_labels=[int(label) // 5 for label in labels])


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
FIRST_DOWNLOAD = {
    "mnist": "mnist.npz",
    "fashion_mnist": "train-images-idx3-ubyte.gz",
    "cifar10": "cifar-10-python.tar.gz",
    "cifar100": "cifar-100-python.tar.gz",
}


@pytest.mark.parametrize("name", KERAS_DATASETS)
def test_absent_and_not_downloadable(name, keras_home, file_origin):
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset(name)

    datasets_dir = os.path.join(str(keras_home), "datasets")
    files, subfolder = EXPECTED_IN_MESSAGE[name]
    folder = os.path.join(datasets_dir, subfolder) if subfolder else datasets_dir
    missing = file_origin / FIRST_DOWNLOAD[name]
    assert str(raised.value) == (
        f"{name} is not in {datasets_dir} and could not be downloaded from file://{missing} "
        f"([Errno 2] No such file or directory: '{missing}'): connect to the internet, or run "
        f"`python fetch_data.py {name}` on a machine with internet access that shares this folder, "
        f"or put {files} in {folder}"
    )
    assert isinstance(raised.value, UserError)
    left = [str(path) for path in (keras_home / "datasets").rglob("*") if not path.is_dir()]
    assert left == [os.path.join(datasets_dir, f".{name}.lock")]  # not even a temporary file


@pytest.mark.parametrize("name", KERAS_DATASETS)
def test_without_download_a_missing_data_set_names_fetch_data(name, keras_home, file_origin, tmp_path):
    serve(name, file_origin, tmp_path)  # it could be downloaded, but must not be

    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset(name, download=False)

    datasets_dir = os.path.join(str(keras_home), "datasets")
    files, subfolder = EXPECTED_IN_MESSAGE[name]
    folder = os.path.join(datasets_dir, subfolder) if subfolder else datasets_dir
    assert str(raised.value) == (
        f"{name} is not in {datasets_dir}: run `python fetch_data.py {name}` on a machine with "
        f"internet access (a cluster's login node, say) that shares this folder, or put {files} in {folder}"
    )
    assert not os.path.exists(datasets_dir)


@pytest.mark.parametrize("name", KERAS_DATASETS)
def test_a_data_set_present_is_read_without_downloading(name, keras_home):
    write_cached(name, keras_home / "datasets")  # and nothing at the file_origin: a download would fail
    assert len(load_dataset(name, download=False).train_x) == (100 if name == "cifar100" else 20)


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


def refused_within(name, path, kind):
    """The peak memory, in bytes, that load_dataset(`name`) takes to refuse the damaged `path` (a
    `kind`) in its one line."""
    tracemalloc.start()
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset(name)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(raised.value) == (
        f"{path} is not a readable {kind} (damaged or cut short?): delete it and run "
        f"`python fetch_data.py {name}` to download it afresh, or put a good copy there"
    )
    return peak


def with_member(path, member, replacing=None):
    """The .npz at `path` rewritten with `member` (its name and bytes) first, then its own members
    but the one named `replacing`."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist() if info.filename != replacing]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(*member)
        for name, content in members:
            archive.writestr(name, content)


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
        f"{path} is not a readable {kind} (damaged or cut short?): delete it and run "
        f"`python fetch_data.py {name}` to download it afresh, or put a good copy there"
    )


def test_cached_files_that_would_build_more_than_they_hold_are_named_in_one_line(keras_home):
    datasets_dir = keras_home / "datasets"
    damaged = {}
    # MNIST: an array whose header alone gives 2**40 numbers, which np.load would allocate.
    path, kind = write_cached("mnist", datasets_dir)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(*npy_member("x_huge", (2**40,), dtype="|u1"))
    damaged["mnist"] = path, kind
    # Fashion-MNIST: 200 MB of zeros in a 200 KB gzip file.
    path, kind = write_cached("fashion_mnist", datasets_dir)
    with gzip.open(path, "wb") as f:
        for _ in range(200):
            f.write(bytes(2**20))
    damaged["fashion_mnist"] = path, kind
    # CIFAR: an array made by its shape of 2**40 numbers alone, with no data.
    path, kind = write_cached("cifar10", datasets_dir)
    path.write_bytes(b"\x80\x02}(U\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                     b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85U\x02u1\x87Ru.")  # fmt: skip
    damaged["cifar10"] = path, kind
    # CIFAR-100: numpy.ndarray called on a shape of 2**40 numbers, which it would allocate.
    path, kind = write_cached("cifar100", datasets_dir)
    path.write_bytes(b"\x80\x02}(U\x04datacnumpy\nndarray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85U\x02u1\x86Ru.")
    damaged["cifar100"] = path, kind
    for name, (path, kind) in damaged.items():
        assert refused_within(name, path, kind) < 100 * 2**20, name  # the largest good file, 47 MB, takes 70 MB


def test_a_cifar_batch_with_a_deeply_nested_key_is_named_and_crashes_nothing(keras_home):
    # The C unpickler hashes a key nested 200,000 deep on its stack, and dies of SIGSEGV.
    path, kind = write_cached("cifar10", keras_home / "datasets")
    path.write_bytes(b"\x80\x02}" + b")" + b"\x85" * 200_000 + b"]s.")
    load = "from pyimagesearch.datasets import load_dataset\nfrom pyimagesearch.errors import run_main\n" \
           "run_main(lambda: load_dataset('cifar10') and 0)\n"  # fmt: skip
    result = subprocess.run([sys.executable, "-c", load], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {path} is not a readable {kind} (damaged or cut short?): delete it and run "
        "`python fetch_data.py cifar10` to download it afresh, or put a good copy there\n"
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
        f"mnist in {datasets_dir} has (20, 28, 28) training images with (20,) labels and (10, 28, 28) "
        "test images with (9,) labels, not (N, 28, 28) with (N,): delete mnist.npz in "
        f"{datasets_dir} and run `python fetch_data.py mnist` to download it afresh, or put good "
        "copies there"
    )


def test_an_npz_member_named_as_numpy_never_names_them_is_refused_before_it_is_read(keras_home):
    # np.load's data["x_train"] would read a member named "x_train" rather than the "x_train.npy"
    # whose header was checked: here one whose header alone gives 2**40 numbers.
    path, kind = write_cached("mnist", keras_home / "datasets")
    with_member(path, ("x_train", npy_member("x_train", (2**40,), dtype="|u1")[1]))
    assert refused_within("mnist", path, kind) < 10 * 2**20


@pytest.mark.parametrize("change, problem", [
    (dict(x_train=np.zeros((20, 28, 28), np.float32)), "training images of float32, not uint8"),
    (dict(x_test=np.zeros((10, 28, 28), np.int64)), "test images of int64, not uint8"),
    (dict(y_test=TEST_LABELS_10 + 0.5), "test labels other than the whole numbers 0 to 9"),
    (dict(y_train=TRAIN_LABELS_10 + 1), "training labels other than the whole numbers 0 to 9"),
    (dict(y_train=-TRAIN_LABELS_10.astype(np.int8)), "training labels other than the whole numbers 0 to 9"),
    (dict(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8)), "no test images"),
])
def test_images_and_labels_a_model_cannot_train_on_are_refused_in_one_line(keras_home, change, problem):
    datasets_dir = keras_home / "datasets"
    write_mnist(datasets_dir, constant_grey_images(TRAIN_LEVELS[:1])[0])
    with np.load(datasets_dir / "mnist.npz") as data:
        arrays = dict(data)
    np.savez(datasets_dir / "mnist.npz", **dict(arrays, **change))
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")
    assert str(raised.value) == (
        f"mnist in {datasets_dir} has {problem}: delete mnist.npz in {datasets_dir} and run `python fetch_data.py "
        "mnist` to download it afresh, or put good copies there"
    )


def test_images_of_another_size_are_refused(keras_home):
    datasets_dir = keras_home / "datasets"
    write_mnist(datasets_dir, constant_grey_images(TRAIN_LEVELS[:1])[0])
    with np.load(datasets_dir / "mnist.npz") as data:
        arrays = dict(data)
    np.savez(datasets_dir / "mnist.npz", **dict(arrays, x_train=np.zeros((20, 32, 32), np.uint8)))
    with pytest.raises(DatasetUnavailable, match=r"has \(20, 32, 32\) training images with \(20,\) labels"):
        load_dataset("mnist")


@pytest.mark.parametrize("name", KERAS_DATASETS)
def test_a_download_is_laid_out_as_keras_lays_it_out_and_read(name, keras_home, file_origin, tmp_path, capsys):
    serve(name, file_origin, tmp_path)

    data = load_dataset(name)

    if name == "cifar100":
        assert_one_hot(data.train_y, CIFAR100_TRAIN_LABELS)
        assert_cifar_pixels(data.train_x, CIFAR100_TRAIN_LEVELS)
    else:
        assert_one_hot(data.train_y, TRAIN_LABELS_10)
        assert_one_hot(data.test_y, TEST_LABELS_10)
        if name.startswith("cifar"):
            assert_cifar_pixels(data.test_x, TEST_LEVELS)
        else:
            assert_constant_images(data.test_x, TEST_LEVELS)
    datasets_dir = keras_home / "datasets"
    layout = downloads.LAYOUTS[name]
    cached = sorted(str(path.relative_to(datasets_dir)) for path in datasets_dir.rglob("*"))
    folders = [layout.folder] if name == "fashion_mnist" else [os.path.dirname(layout.folder), layout.folder]
    expected = [f".{name}.lock"] + [os.path.join(layout.folder, file) for file in layout.files]
    assert cached == sorted(expected + [folder for folder in folders if folder])  # no archive, no temporaries
    origins = [url for url, _ in downloads.DOWNLOADS[name].values()]
    printed = capsys.readouterr().out.splitlines()
    assert printed[::2] == [f"{name}: downloading {url}" for url in origins]
    checked = ", SHA-256 checked" if name != "fashion_mnist" else ""
    assert all(line.startswith(f"{name}: ") and line.endswith(f" s{checked}") for line in printed[1::2])


def test_an_incomplete_cifar_folder_is_extracted_again_and_replaced(keras_home, file_origin, tmp_path):
    datasets_dir = keras_home / "datasets"
    write_cifar10(datasets_dir)
    folder = datasets_dir / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    os.remove(folder / "test_batch")
    (folder / "stray").write_text("from before")
    serve("cifar10", file_origin, tmp_path)

    data = load_dataset("cifar10")

    assert_cifar_pixels(data.test_x, TEST_LEVELS)
    assert sorted(os.listdir(folder)) == sorted(downloads.CIFAR10_FILES)
    assert sorted(os.listdir(datasets_dir)) == [".cifar10.lock", "cifar-10-batches-py-target"]


def test_a_download_unlike_the_published_hash_is_refused_and_not_kept(keras_home, file_origin, tmp_path):
    serve("mnist", file_origin, tmp_path)
    url, _ = downloads.DOWNLOADS["mnist"]["mnist.npz"]
    downloads.DOWNLOADS["mnist"]["mnist.npz"] = (url, "0" * 64)
    actual = hashlib.sha256((file_origin / "mnist.npz").read_bytes()).hexdigest()

    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")

    datasets_dir = keras_home / "datasets"
    assert str(raised.value) == (
        f"the download of {url} has SHA-256 {actual}, not the {'0' * 64} that Keras publishes, so "
        f"{datasets_dir / 'mnist.npz'} was not written: run again to download it afresh, or put a "
        "good copy there"
    )
    assert os.listdir(datasets_dir) == [".mnist.lock"]


def test_an_archive_without_the_data_set_is_refused(keras_home, file_origin):
    url = serve_cifar100_archive_of_one_file(file_origin, "cifar-100-python/notes.txt")

    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("cifar100")

    datasets_dir = keras_home / "datasets"
    assert str(raised.value) == (
        f"the archive from {url} has no cifar-100-python/train, cifar-100-python/test, so "
        f"{datasets_dir / 'cifar-100-python-target'} was not written: put cifar-100-python/ (train, "
        f"test) in {datasets_dir} yourself"
    )
    assert os.listdir(datasets_dir) == [".cifar100.lock"]


def test_only_the_missing_files_are_downloaded(keras_home, file_origin, tmp_path):
    serve("fashion_mnist", file_origin, tmp_path)
    write_fashion_mnist(keras_home / "datasets")
    kept = keras_home / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    os.remove(keras_home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz")
    os.remove(file_origin / "train-images-idx3-ubyte.gz")  # a download of the file still there would fail
    before = kept.stat().st_mtime_ns

    assert_one_hot(load_dataset("fashion_mnist").test_y, TEST_LABELS_10)
    assert kept.stat().st_mtime_ns == before


def test_old_leftovers_of_downloads_that_died_are_removed(keras_home, file_origin, tmp_path):
    datasets_dir = keras_home / "datasets"
    datasets_dir.mkdir(parents=True)
    for leftover in (".mnist.npz.k1ll3d.part", ".mnist.npz.y0ung.part", ".cifar-10-batches-py-target.x.part"):
        (datasets_dir / leftover).write_bytes(b"half a download")
    eleven_minutes_ago = time.time() - 660
    for leftover in (".mnist.npz.k1ll3d.part", ".cifar-10-batches-py-target.x.part"):
        os.utime(datasets_dir / leftover, (eleven_minutes_ago, eleven_minutes_ago))
    serve("mnist", file_origin, tmp_path)

    load_dataset("mnist")

    # A young one may be another machine's download in progress; another data set's is not ours.
    assert sorted(os.listdir(datasets_dir)) == [
        ".cifar-10-batches-py-target.x.part", ".mnist.lock", ".mnist.npz.y0ung.part", "mnist.npz",
    ]  # fmt: skip


def test_a_file_system_without_locks_downloads_without_one(keras_home, file_origin, tmp_path, monkeypatch, capsys):
    def no_locks(file, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(downloads.fcntl, "flock", no_locks)
    serve("mnist", file_origin, tmp_path)

    assert len(load_dataset("mnist").train_x) == 20
    assert capsys.readouterr().out.splitlines()[0] == (
        f"mnist: {keras_home / 'datasets'} cannot be locked (No locks available); downloading without a lock"
    )


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_download_lock_that_is_no_regular_file_is_named_in_one_line(keras_home, file_origin, tmp_path, kind):
    serve("mnist", file_origin, tmp_path)
    datasets_dir = keras_home / "datasets"
    datasets_dir.mkdir(parents=True)
    lock = datasets_dir / ".mnist.lock"
    os.mkfifo(lock) if kind == "fifo" else lock.mkdir()  # a FIFO would keep the download waiting for a reader
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")
    assert str(raised.value) == (f"{lock} is not a regular file, where the lock of mnist's download goes; move it "
                                 "away, then try again")
    assert sorted(os.listdir(datasets_dir)) == [".mnist.lock"]


def test_a_folder_or_broken_link_of_a_data_set_files_name_is_named_not_taken_for_absent(keras_home, file_origin):
    datasets_dir = keras_home / "datasets"
    datasets_dir.mkdir(parents=True)
    (datasets_dir / "mnist.npz").mkdir()
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")
    assert str(raised.value) == (f"{datasets_dir / 'mnist.npz'} is not a regular file, where mnist's mnist.npz goes; "
                                 "move it away, then run `python fetch_data.py mnist`")
    (datasets_dir / "mnist.npz").rmdir()
    (datasets_dir / "mnist.npz").symlink_to(datasets_dir / "gone.npz")
    with pytest.raises(DatasetUnavailable, match="mnist.npz is not a regular file, where mnist's mnist.npz goes"):
        load_dataset("mnist")


def test_a_file_of_a_data_set_folders_name_is_named_not_taken_for_a_full_disk(keras_home):
    datasets_dir = keras_home / "datasets"
    datasets_dir.mkdir(parents=True)
    (datasets_dir / "fashion-mnist").write_text("")  # the download used to fail with "File exists: free some space"
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("fashion_mnist")
    assert str(raised.value) == (f"{datasets_dir / 'fashion-mnist'} is not a folder, where fashion_mnist's files go; "
                                 "move it away, then run `python fetch_data.py fashion_mnist`")


def test_an_unwritable_cache_is_named(tmp_path, monkeypatch, file_origin):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KERAS_HOME", str(blocker))
    serve("mnist", file_origin, tmp_path)
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("mnist")
    assert str(raised.value) == (
        f"cannot download mnist into {blocker / 'datasets'} (Not a directory): free some space or "
        "fix its permissions, or set KERAS_HOME to a folder that has room"
    )


class InterruptedResponse:
    """A download that gets one chunk, then Ctrl-C."""

    headers = {"Content-Length": "100"}

    def __init__(self):
        self.chunks = [b"x" * 50]

    def read(self, size):
        if self.chunks:
            return self.chunks.pop()
        raise KeyboardInterrupt

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        return False


def test_ctrl_c_during_a_download_leaves_nothing_behind(keras_home, monkeypatch):
    monkeypatch.setattr(downloads.urllib.request, "urlopen", lambda url, timeout: InterruptedResponse())
    with pytest.raises(KeyboardInterrupt):
        load_dataset("mnist")
    assert os.listdir(keras_home / "datasets") == [".mnist.lock"]


def test_cache_folder_defaults_to_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert downloads.keras_datasets_dir() == os.path.join(str(tmp_path), ".keras", "datasets")


def test_unknown_name():
    with pytest.raises(ValueError) as raised:
        load_dataset("imagenet")
    message = str(raised.value)
    assert "imagenet" in message
    for name in DATASETS:
        assert name in message


SHARED_DATASETS = os.path.join(REPO, "..", "shared", "datasets")


@pytest.mark.skipif(not os.path.isdir(SHARED_DATASETS), reason="no real data sets in ../shared/datasets")
def test_the_real_mnist_and_fashion_mnist_are_read_as_they_are(keras_home):
    # The shared mnist.npz is a recompressed copy: its hash is not the one Keras publishes, and
    # it is read all the same, without a download (a file already there is read, not hashed).
    datasets_dir = keras_home / "datasets"
    datasets_dir.mkdir(parents=True)
    for entry in ("mnist.npz", "fashion-mnist"):
        os.symlink(os.path.join(SHARED_DATASETS, entry), datasets_dir / entry)

    (train_x, train_y), (test_x, test_y) = datasets.fetch("mnist", download=False)
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert np.bincount(train_y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert round(float(train_x.mean()) / 255, 4) == 0.1307

    (train_x, train_y), (test_x, test_y) = datasets.fetch("fashion_mnist", download=False)
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert np.bincount(train_y).tolist() == [6000] * 10 and np.bincount(test_y).tolist() == [1000] * 10
    assert round(float(train_x.mean()) / 255, 4) == 0.2860


def test_held_out_splits_are_stratified_fixed_and_independent_of_the_training_subset():
    data = load_dataset("digits")  # 1,347 training images, about 135 a class
    labels = data.train_y.argmax(axis=1)
    assert held_out(data) is data  # nothing held out: the original's data, not a copy

    split = held_out(data, validation_images=300, training_images=500)
    assert (len(split.train_x), len(split.validation_x), len(split.test_x)) == (500, 300, len(data.test_x))
    assert np.all(np.bincount(split.validation_y.argmax(axis=1)) >= 29)  # 30 a class, give or take one
    assert np.all(np.bincount(split.train_y.argmax(axis=1)) >= 49)
    rows = {image.tobytes() for image in data.train_x}
    validation = {image.tobytes() for image in split.validation_x}
    training = {image.tobytes() for image in split.train_x}
    assert validation <= rows and training <= rows and not validation & training
    again = held_out(data, validation_images=300, training_images=900)
    np.testing.assert_array_equal(again.validation_x, split.validation_x)
    np.testing.assert_array_equal(held_out(data, 300, 500).train_x, split.train_x)
    # Without a validation split the test split validates, as in the original.
    subset = held_out(data, training_images=500)
    assert subset.validation_x is data.test_x and len(subset.train_x) == 500
    assert np.bincount(labels).sum() == len(data.train_x)


@pytest.mark.parametrize("validation, training, message", [
    (5, None, "--validation-images 5 does not fit the 1347 training images: give 10 to 1337 (at least one image "
              "a class on each side)"),
    (1340, None, "--validation-images 1340 does not fit the 1347 training images: give 10 to 1337"),
    (300, 1048, "--training-images 1048 does not fit the 1047 training images left after the validation split: "
                "give 10 to 1037, or 1047 for all of them"),
    (0, 5, "--training-images 5 does not fit the 1347 training images: give 10 to 1337, or 1347 for all of them"),
    (0, 1340, "--training-images 1340 does not fit the 1347 training images: give 10 to 1337, or 1347 for all of "
              "them"),  # 7 left over: too few to split by class
    # 10 or 17 left after the validation split: too few for any subset, so all of them or nothing.
    (1337, 5, "--training-images 5 does not fit the 10 training images left after the validation split: give 10, "
              "all of them (a subset needs 20 images or more to choose from)"),
    (1330, 8, "--training-images 8 does not fit the 17 training images left after the validation split: give 17, "
              "all of them (a subset needs 20 images or more to choose from)"),
])
def test_held_out_numbers_that_do_not_fit_are_one_line(validation, training, message):
    with pytest.raises(UserError) as refused:
        held_out(load_dataset("digits"), validation, training)
    assert str(refused.value).startswith(message)


def test_the_plans_count_the_digits_training_images_the_data_set_has():
    assert TRAINING_IMAGES["digits"] == len(load_dataset("digits").train_x) == 1347


def test_a_fashion_mnist_file_of_exactly_60000_images_is_read(keras_home):
    # As large as the real training file: only a larger one is refused.
    datasets_dir = keras_home / "datasets"
    write_fashion_mnist(datasets_dir)
    images = np.zeros((60_000, 28, 28), np.uint8)
    images[-1] = 255  # the last image, which a read one byte short would lose
    write_idx(datasets_dir / "fashion-mnist" / "train-images-idx3-ubyte.gz", images)
    write_idx(datasets_dir / "fashion-mnist" / "train-labels-idx1-ubyte.gz", np.arange(60_000) % 10)
    (train_x, train_y), _ = datasets.fetch("fashion_mnist", download=False)
    assert train_x.shape == (60_000, 28, 28) and train_y.shape == (60_000,)
    assert train_x[-1].min() == 255 and train_x[:-1].max() == 0


def test_running_out_of_memory_while_reading_is_not_called_damage(keras_home, monkeypatch):
    # A good file on a machine short of memory: not to be deleted.
    write_cached("mnist", keras_home / "datasets")

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "load", out_of_memory)
    with pytest.raises(MemoryError):
        load_dataset("mnist")


def test_a_cifar_batch_larger_than_any_is_refused_without_reading_it(keras_home):
    path, kind = write_cached("cifar10", keras_home / "datasets")
    with open(path, "wb") as file:
        file.truncate(2**28 + 1)  # sparse: 256 MiB of zeros that take no room on disk
    assert refused_within("cifar10", path, kind) < 10 * 2**20


def test_held_out_numbers_at_their_bounds_are_taken():
    data = load_dataset("digits")  # 1,347 training images of 10 classes
    for validation, training, sizes in [(10, None, (1337, 10)), (1337, None, (10, 1337)), (0, 10, (10, 450)),
                                        (0, 1337, (1337, 450)), (300, 10, (10, 300)), (300, 1037, (1037, 300)),
                                        (300, 1047, (1047, 300))]:  # fmt: skip
        split = held_out(data, validation, training)
        assert (len(split.train_x), len(split.validation_x)) == sizes, (validation, training)
    assert held_out(data, 0, 1347) is data  # all of them, nothing held out: the original's data, not a copy


def test_an_mnist_array_larger_than_mnist_is_refused_before_it_is_read(keras_home):
    # Named as NumPy names it and one of the four, but its header gives 2**30 numbers.
    path, kind = write_cached("mnist", keras_home / "datasets")
    with_member(path, npy_member("x_train", (2**30,), dtype="|u1"), replacing="x_train.npy")
    assert refused_within("mnist", path, kind) < 10 * 2**20


def test_an_old_file_beside_a_data_set_that_no_download_left_is_kept(keras_home, file_origin, tmp_path):
    datasets_dir = keras_home / "datasets"
    datasets_dir.mkdir(parents=True)
    backup = datasets_dir / ".mnist.npz.backup"
    backup.write_bytes(b"the user's own")
    os.utime(backup, (time.time() - 3600, time.time() - 3600))
    serve("mnist", file_origin, tmp_path)
    load_dataset("mnist")
    assert backup.read_bytes() == b"the user's own"


def test_a_full_disk_while_extracting_is_named_as_the_disks_not_the_archives(keras_home, file_origin, tmp_path,
                                                                              monkeypatch):
    serve("cifar10", file_origin, tmp_path)

    def disk_full(self, path, **options):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", disk_full)
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset("cifar10")
    datasets_dir = keras_home / "datasets"
    assert str(raised.value) == (
        f"cannot download cifar10 into {datasets_dir} (No space left on device): free some space or fix its "
        "permissions, or set KERAS_HOME to a folder that has room"
    )
    assert os.listdir(datasets_dir) == [".cifar10.lock"]


def test_an_archive_with_a_member_outside_its_folder_is_refused_and_nothing_is_written_there(keras_home, file_origin):
    url = serve_cifar100_archive_of_one_file(file_origin, "../escaped.txt")

    with pytest.raises(DatasetUnavailable, match=f"^the archive from {url} cannot be extracted \\(.+\\): run again$"):
        load_dataset("cifar100")
    datasets_dir = keras_home / "datasets"
    assert os.listdir(datasets_dir) == [".cifar100.lock"]


def test_keras_home_may_start_with_a_tilde_and_an_unwritable_home_falls_back_to_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", "~/keras")
    assert downloads.keras_datasets_dir() == str(tmp_path / "keras" / "datasets")
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setattr(downloads.os, "access", lambda path, mode: False)
    assert downloads.keras_datasets_dir() == "/tmp/.keras/datasets"


def test_an_archive_cut_short_is_refused_in_one_line(keras_home, file_origin, tmp_path):
    serve("cifar100", file_origin, tmp_path)
    archive = file_origin / "cifar-100-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-100])  # the end of its gzip stream is missing
    url = unchecked("cifar100", "cifar-100-python-target")

    with pytest.raises(DatasetUnavailable, match=f"^the archive from {url} cannot be extracted \\(.+\\): run again$"):
        load_dataset("cifar100")
    assert os.listdir(keras_home / "datasets") == [".cifar100.lock"]


def test_downloaded_files_and_folders_are_readable_as_any_file_this_user_makes(keras_home, file_origin, tmp_path):
    # Not the temporary files' 0600: other users of a shared cache read them too.
    umask = os.umask(0o022)
    try:
        for name in ("mnist", "cifar10"):
            serve(name, file_origin, tmp_path)
            load_dataset(name)
    finally:
        os.umask(umask)
    datasets_dir = keras_home / "datasets"
    assert (datasets_dir / "mnist.npz").stat().st_mode & 0o777 == 0o644
    assert (datasets_dir / "cifar-10-batches-py-target").stat().st_mode & 0o777 == 0o755
