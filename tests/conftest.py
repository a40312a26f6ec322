"""Fixtures the tests share; shared helpers are in support.py."""

import os

import pytest

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 and the like; the
# tests run them on every CPU, so that a test sees the same kernels on all of them (and the
# small-batch steps most tests take run faster on AVX2-only CPUs). Set before any test imports
# TensorFlow; the test processes' runs inherit it. A setting of the user's stays.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras home of the test's own (KERAS_HOME), so that no test sees or fills the user's."""
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home
