"""What the tests share: the project folder, running its scripts, waiting for them, and reading
the CSV files they write. (Fixtures are in conftest.py.)"""

import csv
import os
import subprocess
import sys
import time


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, *arguments, **options):
    """Run one of the project's scripts (train.py, combinations.py, ...) from the project folder
    with this Python, its output captured as text; `options` go to subprocess.run."""
    options = dict(dict(cwd=REPO, capture_output=True, text=True), **options)
    return subprocess.run([sys.executable, script, *map(str, arguments)], **options)


def csv_lines(path):
    """The lines of a CSV file after its header (a per-epoch log's epochs); [] where it is missing."""
    return path.read_text().splitlines()[1:] if os.path.exists(path) else []


def wait_for(condition, timeout=300):
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def npy_member(name, shape, data=b"", dtype="<f4"):
    """(name, bytes) of an .npz member whose .npy header says `shape`, whatever `data` follows."""
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return name + ".npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def read_csv(path):
    """The rows of a CSV file with a header, as dicts of strings."""
    with open(path, newline="") as file:
        return list(csv.DictReader(file))
