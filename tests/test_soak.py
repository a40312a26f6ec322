"""A sweep whose train.py processes are SIGKILLed at pseudo-random moments and started again."""

import os
import pickle
import random
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 3


def test_a_sweep_killed_again_and_again_finishes_every_run_whole_and_leaves_nothing_behind(tmp_path):
    moments = random.Random(2026)  # fixed: the same kills every time, at seconds from each start
    kills_left, kills, starts = 4, [], 0
    for seed in ("1", "2", "3"):
        command = [sys.executable, "train.py", "--history", str(tmp_path / f"run{seed}.pickle"),
                   "--report", str(tmp_path / f"run{seed}.txt"), "-d", "digits", "-m", "minivggnet",
                   "--no-augmentation", "--batch-size", "32", "--epochs", str(EPOCHS), "--seed", seed]  # fmt: skip
        while True:
            process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            starts += 1
            kill_at = time.monotonic() + moments.uniform(2, 14) if kills_left else None
            while process.poll() is None and (kill_at is None or time.monotonic() < kill_at):
                time.sleep(0.02)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills_left -= 1
                kills.append(len((tmp_path / f"run{seed}.csv").read_text().splitlines()) - 1
                             if (tmp_path / f"run{seed}.csv").exists() else None)  # fmt: skip
            errors = process.communicate()[1]
            if process.returncode == 0:
                break
            assert process.returncode == -signal.SIGKILL, errors

    assert len(kills) == 4, kills
    for seed in ("1", "2", "3"):
        with open(tmp_path / f"run{seed}.pickle", "rb") as file:
            history = pickle.load(file)
        assert all(len(values) == EPOCHS for values in history.values())
        epochs = [row.split(",")[0] for row in (tmp_path / f"run{seed}.csv").read_text().splitlines()[1:]]
        assert epochs == [str(epoch) for epoch in range(1, EPOCHS + 1)]
        assert (tmp_path / f"run{seed}.txt").read_text().rstrip().endswith("450")
    # No checkpoint folder, lock file or temporary file is left.
    assert sorted(os.listdir(tmp_path)) == sorted(f"run{seed}.{ext}" for seed in "123" for ext in ("csv", "pickle", "txt"))
