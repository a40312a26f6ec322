"""fetch_data.py and the fetch behind it, against a small web server of the test's own.

Concurrent fetches of one data set download it once; a download that is cut short, killed or
interrupted leaves nothing under the data set's name. No test reaches the network.
"""

import hashlib
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fetch_data
import train
from pyimagesearch import datasets, downloads
from pyimagesearch.errors import UserError
from support import REPO, wait_for

# Runs fetch_data.py with the download table given as JSON, after leaving a file that says it started.
# Ctrl-C is taken as in a terminal's foreground: a background job of a non-interactive shell (a CI
# script's `pytest &`) starts with it ignored, and Python then keeps ignoring it.
RUN_FETCH_DATA = (
    "import json, os, runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from pyimagesearch import downloads\n"
    "downloads.DOWNLOADS = json.loads(sys.argv[1])\n"
    "open(os.path.join(sys.argv[2], f'started-{os.getpid()}'), 'w').close()\n"
    "sys.argv = ['fetch_data.py', *sys.argv[3:]]\n"
    "runpy.run_path('fetch_data.py', run_name='__main__')\n"
)


def tiny_mnist():
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez_compressed(
        buffer,
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=np.arange(20, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10, dtype=np.uint8),
    )
    return buffer.getvalue()


MNIST = tiny_mnist()


class Origin(http.server.ThreadingHTTPServer):
    """Serves `files` (URL path -> bytes) and counts the requests. `halfway(path)`, called once
    half a file is sent, may wait, or return False to close the connection there."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.files, self.requests = {}, []
        self.halfway = lambda path: True
        self.closing = threading.Event()

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class OriginHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        if self.server.halfway(self.path):
            self.wfile.write(body[half:])

    def log_message(self, *arguments):
        pass


@pytest.fixture
def http_origin(monkeypatch):
    server = Origin()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.files["/mnist.npz"] = MNIST
    table = dict(downloads.DOWNLOADS, mnist={"mnist.npz": (server.url("/mnist.npz"), hashlib.sha256(MNIST).hexdigest())})
    monkeypatch.setattr(downloads, "DOWNLOADS", table)
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()


def start_fetch_data(tmp_path, keras_home, *names):
    environment = dict(os.environ, KERAS_HOME=str(keras_home))
    return subprocess.Popen(
        [sys.executable, "-c", RUN_FETCH_DATA, json.dumps(downloads.DOWNLOADS), str(tmp_path), *names],
        cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def temporaries(folder):
    return [name for name in os.listdir(folder) if name.endswith(".part")]


def test_concurrent_fetches_download_once_and_all_read_the_whole_file(tmp_path, keras_home, http_origin):
    processes = 4

    def hold_the_download(path):
        # Hold the first download halfway until every process has started, and a second more:
        # without the lock, each of them would be downloading by then.
        wait_for(lambda: len(list(tmp_path.glob("started-*"))) == processes, timeout=60)
        time.sleep(1.0)
        return True

    http_origin.halfway = hold_the_download
    fetches = [start_fetch_data(tmp_path, keras_home, "mnist") for _ in range(processes)]
    results = [fetch.communicate(timeout=120) for fetch in fetches]

    assert [fetch.returncode for fetch in fetches] == [0] * processes, results
    assert http_origin.requests == ["/mnist.npz"]
    datasets_dir = keras_home / "datasets"
    for stdout, stderr in results:
        assert stdout.splitlines()[-1] == f"mnist: 20 training and 10 test images in {datasets_dir}, read and checked"
        assert stderr == ""
    assert (datasets_dir / "mnist.npz").read_bytes() == MNIST
    assert sorted(os.listdir(datasets_dir)) == [".mnist.lock", "mnist.npz"]
    waited = [stdout for stdout, _ in results if "waiting for another process" in stdout]
    downloaded = [stdout for stdout, _ in results if stdout.startswith("mnist: downloading ")]
    assert len(downloaded) == 1
    for stdout in waited:
        assert stdout.splitlines()[0] == f"mnist: waiting for another process that is downloading it into {datasets_dir}"


def test_a_download_cut_short_leaves_no_file(keras_home, http_origin):
    http_origin.halfway = lambda path: False  # the connection closes after half the file
    with pytest.raises(datasets.DatasetUnavailable) as raised:
        datasets.fetch("mnist")
    datasets_dir = keras_home / "datasets"
    assert str(raised.value).startswith(
        f"mnist is not in {datasets_dir} and could not be downloaded from {http_origin.url('/mnist.npz')} "
        f"(the connection closed after {len(MNIST) // 2:,} of {len(MNIST):,} bytes): connect to the internet"
    )
    assert os.listdir(datasets_dir) == [".mnist.lock"]


def test_a_killed_download_leaves_no_file_and_the_next_fetch_clears_its_leftover(tmp_path, keras_home, http_origin):
    http_origin.halfway = lambda path: http_origin.closing.wait(60) and False  # never finishes
    fetch = start_fetch_data(tmp_path, keras_home, "mnist")
    datasets_dir = keras_home / "datasets"
    wait_for(lambda: http_origin.requests and temporaries(datasets_dir), timeout=60)  # half the file is on its way
    fetch.kill()
    fetch.wait()
    assert not (datasets_dir / "mnist.npz").exists()
    assert len(temporaries(datasets_dir)) == 1

    http_origin.halfway = lambda path: True
    eleven_minutes_ago = time.time() - 660  # older than any download still alive
    for leftover in temporaries(datasets_dir):
        os.utime(datasets_dir / leftover, (eleven_minutes_ago, eleven_minutes_ago))
    (train_x, _), _ = datasets.fetch("mnist")

    assert len(train_x) == 20
    assert sorted(os.listdir(datasets_dir)) == [".mnist.lock", "mnist.npz"]


def test_ctrl_c_stops_fetch_data_in_one_line_and_leaves_no_file(tmp_path, keras_home, http_origin):
    http_origin.halfway = lambda path: http_origin.closing.wait(60) and False
    fetch = start_fetch_data(tmp_path, keras_home, "mnist")
    datasets_dir = keras_home / "datasets"
    wait_for(lambda: http_origin.requests and temporaries(datasets_dir), timeout=60)
    fetch.send_signal(signal.SIGINT)
    _, stderr = fetch.communicate(timeout=60)
    assert fetch.returncode == 130
    assert stderr == "error: interrupted before the end; nothing half-written was left, run it again\n"
    assert os.listdir(datasets_dir) == [".mnist.lock"]


def test_fetch_data_fails_in_one_line_and_exit_1_offline(tmp_path, keras_home, http_origin):
    del http_origin.files["/mnist.npz"]
    fetch = start_fetch_data(tmp_path, keras_home, "digits", "mnist")
    stdout, stderr = fetch.communicate(timeout=60)
    assert fetch.returncode == 1
    assert stdout.splitlines()[0] == "digits: ships with scikit-learn, nothing to fetch"
    assert stderr.count("\n") == 1
    assert stderr.startswith(
        f"error: mnist is not in {keras_home / 'datasets'} and could not be downloaded from "
        f"{http_origin.url('/mnist.npz')} (HTTP 404 Not Found): "
    )


def test_fetch_data_checks_each_data_set_once_and_reads_what_is_there(keras_home, http_origin, capsys):
    assert fetch_data.main(["mnist", "digits", "mnist"]) == 0
    assert fetch_data.main(["mnist"]) == 0
    datasets_dir = keras_home / "datasets"
    lines = capsys.readouterr().out.splitlines()
    checked = f"mnist: 20 training and 10 test images in {datasets_dir}, read and checked"
    assert lines[0] == f"mnist: downloading {http_origin.url('/mnist.npz')}"
    assert lines[2:] == [checked, "digits: ships with scikit-learn, nothing to fetch", checked]
    assert http_origin.requests == ["/mnist.npz"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "the following arguments are required: DATASET"),
        (["imagenet"], "argument DATASET: invalid choice: 'imagenet'"),
        (["-d", "mnist"], "unrecognized arguments: -d"),
    ],
)
def test_fetch_data_usage_errors_exit_2(arguments, message, capsys):
    with pytest.raises(SystemExit) as exited:
        fetch_data.main(arguments)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_train_py_no_download_fails_in_one_line_naming_fetch_data(tmp_path, keras_home, http_origin):
    out = tmp_path / "out"
    with pytest.raises(UserError) as refused:
        train.main([
            "--history", str(out / "run.pickle"), "--report", str(out / "run.txt"),
            "-d", "mnist", "-m", "minivggnet", "--no-download",
        ])  # fmt: skip
    assert str(refused.value) == (
        f"mnist is not in {keras_home / 'datasets'}: run `python fetch_data.py mnist` on a "
        "machine with internet access (a cluster's login node, say) that shares this folder, or put "
        f"mnist.npz in {keras_home / 'datasets'}"
    )
    assert http_origin.requests == []
    assert not out.joinpath("run.pickle").exists() and not out.joinpath("run.txt").exists()


def test_no_download_is_not_a_run_setting_so_a_run_resumes_either_way(tmp_path):
    arguments = ["--history", str(tmp_path / "h.pickle"), "--report", str(tmp_path / "r.txt")]
    assert train.run_settings(train.parse_arguments(arguments)) == train.run_settings(
        train.parse_arguments([*arguments, "--no-download"])
    )


def test_the_origins_and_hashes_are_those_of_the_installed_keras():
    import importlib.util

    keras_datasets = os.path.join(os.path.dirname(importlib.util.find_spec("keras").origin), "src", "datasets")
    for name, files in downloads.DOWNLOADS.items():
        with open(os.path.join(keras_datasets, f"{name}.py")) as file:
            source = file.read()
        for path, (url, sha256) in files.items():
            folder, base = url.rsplit("/", 1)
            assert f'"{folder}/' in source and base in source
            assert f'"{path.split(os.sep)[0]}' in source
            if sha256 is None:
                assert "file_hash" not in source
            else:
                assert f'"{sha256}"' in source
