"""Fixtures the tests share; shared helpers are in support.py."""

import atexit
import gc
import os
import shutil
import tempfile

import pytest

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 and the like; the
# tests run them on every CPU, so that a test sees the same kernels on all of them (and the
# small-batch steps most tests take run faster on AVX2-only CPUs). Set before any test imports
# TensorFlow; the test processes' runs inherit it. A setting of the user's stays.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# On JAX, the test processes and the train.py runs they start share one compilation cache for the
# session, as a user's runs share the one in their Keras home (train.py): the many runs of the same
# small networks compile each program once, and no test fills the user's ~/.keras/jax_cache. Set
# before any test imports JAX (which reads it then); pytest-xdist's workers inherit it from the
# process that starts them, and that process removes the cache as it exits. Other backends ignore it.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jax-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def pytest_unconfigure(config):
    # A test process that trained models would spend seconds of its exit in Python's collector,
    # walking them once more, and a pass waits for its last worker: spare it, as run_main spares
    # the scripts (pyimagesearch/errors.py).
    gc.freeze()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras home of the test's own (KERAS_HOME), so that no test sees or fills the user's."""
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home
