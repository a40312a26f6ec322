"""A sweep whose train.py processes are SIGKILLed at pseudo-random moments and started again."""

import os
import random
import signal
import subprocess
import sys
import time

from pyimagesearch.histories import read_history
from support import REPO, csv_lines

RUNS, EPOCHS = 3, 3


class Run:
    """One run of the sweep, started again after each kill until it finishes."""

    def __init__(self, folder, seed, kills):
        self.log = folder / f"run{seed}.csv"
        self.stderr = folder.parent / f"run{seed}.stderr"
        self.command = [sys.executable, "train.py", "--history", str(folder / f"run{seed}.pickle"),
                        "--report", str(folder / f"run{seed}.txt"), "-d", "digits", "-m", "minivggnet",
                        "--no-augmentation", "--batch-size", "64", "--training-images", "640",
                        "--epochs", str(EPOCHS), "--seed", str(seed)]  # fmt: skip
        self.kills = kills  # (epochs logged, then seconds) for each kill, in order
        self.killed_after = []  # epochs logged when each kill came
        self.start()

    def start(self):
        with open(self.stderr, "w") as stderr:
            self.process = subprocess.Popen(self.command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        self.kill_at = None

    def step(self):
        """Kill, start again or leave the process as planned; False once the run has finished."""
        if self.kill_at is not None and time.monotonic() >= self.kill_at and self.process.poll() is None:
            self.killed_after.append(len(csv_lines(self.log)))
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills.pop(0)
        code = self.process.poll()
        if code is not None:
            assert code in (0, -signal.SIGKILL), self.stderr.read_text()
            if code == 0:
                return False
            self.start()
        elif self.kills and self.kill_at is None and len(csv_lines(self.log)) >= self.kills[0][0]:
            self.kill_at = time.monotonic() + self.kills[0][1]
        return True


def test_a_sweep_killed_again_and_again_finishes_every_run_whole_and_leaves_nothing_behind(tmp_path):
    # The runs share the machine as with --runner parallel. Each kill comes a pseudo-random time
    # after the run's log has shown a pseudo-random epoch: in the next epoch, while a checkpoint is
    # being written, after the last epoch; the run holds its lock by then.
    moments = random.Random(2026)
    plans = [[(moments.randrange(1, EPOCHS), moments.uniform(0, 1.5))] for _ in range(RUNS)]
    out = tmp_path / "out"
    out.mkdir()
    runs = [Run(out, seed, plan) for seed, plan in enumerate(plans, start=1)]
    deadline = time.monotonic() + 600
    while any([run.step() for run in runs]):
        assert time.monotonic() < deadline
        time.sleep(0.02)

    # Each kill lands on a CPU, where an epoch takes over a second; a fast machine may finish first.
    assert sum(len(run.killed_after) for run in runs) >= 1, [run.killed_after for run in runs]
    for seed in range(1, RUNS + 1):
        history = read_history(out / f"run{seed}.pickle")
        assert all(len(values) == EPOCHS for values in history.values())
        epochs = [row.split(",")[0] for row in csv_lines(out / f"run{seed}.csv")]
        assert epochs == [str(epoch) for epoch in range(1, EPOCHS + 1)]
        assert (out / f"run{seed}.txt").read_text().rstrip().endswith("450")
    # No checkpoint folder, lock file or temporary file is left behind.
    outputs = [f"run{seed}.{ext}" for seed in range(1, RUNS + 1) for ext in ("csv", "json", "pickle", "txt")]
    assert sorted(os.listdir(out)) == sorted(outputs)
