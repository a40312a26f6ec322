"""Fixtures the tests share; shared helpers are in support.py."""

import pytest


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras home of the test's own (KERAS_HOME), so that no test sees or fills the user's."""
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home
