"""Thousands of mutations of real histories, reports and checkpoints, fed to the readers of plot.py
and of train.py's resume: each is read or refused in one line that names the file, in bounded time
and memory (tests/fuzzing.py does it in a process of its own, under a limit of address space)."""

import json
import os
import subprocess
import sys

from support import REPO

SEED = 33  # FUZZ_SEED=<n> searches with another


def test_mutated_inputs_are_read_or_refused_in_one_line_in_bounded_time_and_memory(tmp_path):
    seed = int(os.environ.get("FUZZ_SEED", SEED))
    result = subprocess.run([sys.executable, os.path.join(REPO, "tests", "fuzzing.py"), str(seed), str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, (f"seed {seed}: exit code {result.returncode}; the input in hand is in "
                                    f"{tmp_path}\n{result.stderr[-3000:]}")  # fmt: skip
    report = json.loads(result.stdout.splitlines()[-1])
    print(f"fuzzing with seed {seed}: {report['counts']}; {report['seconds']} s, "
          f"peak memory {report['peak_mib']} MiB, {report['peak_mib_above_warm_up']} MiB above the warm-up's")
    assert report["findings"] == [], f"seed {seed}"
    assert sum(sum(outcomes.values()) for outcomes in report["counts"].values()) == 3500
    assert report["peak_mib_above_warm_up"] < 200
