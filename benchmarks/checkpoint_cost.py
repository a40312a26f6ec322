"""What one train.py checkpoint costs: the training thread's pause, the background write, the bytes.

    python benchmarks/checkpoint_cost.py [--repeats 5]

For each network (32x32x3 inputs, 10 classes, Adam, augmentation layer included, after one
training step so that the optimizer's slots exist), times what train.py does at an epoch's end:

- pause: the training thread's share, `checkpoints.snapshot` (the variables copied to host
  memory) and handing it to the `CheckpointWriter`'s thread; training goes on after it.
- write: the background thread's share, the .npz and state.json written and fsynced.
- .keras save: what train.py did before, `model.save`, all on the training thread.

Prints the median of `--repeats` after a first, untimed round, and the size of each file.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np

from pyimagesearch import checkpoints, training
from pyimagesearch.errors import positive_int
from pyimagesearch.original import MODELS


def median_seconds(action, repeats, untimed_before=lambda: None):
    untimed_before()
    action()
    seconds = []
    for _ in range(repeats):
        untimed_before()
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--repeats", type=positive_int, default=5)
    args = parser.parse_args()
    images = np.random.default_rng(0).random((8, 32, 32, 3), dtype="float32")
    labels = np.eye(10, dtype="float32")[np.arange(8) % 10]
    history = {key: [0.5] * 30 for key in checkpoints.HISTORY_KEYS}
    state = dict(run={"model": "any"}, history=history, steps=0, seconds=0.0, variables_file="variables-epoch30.npz")
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, median of {args.repeats}")
    print(f"{'':13} {'pause':>8} {'write':>8} {'.npz':>8} {'.keras save':>12} {'.keras':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            model = training.build_model(name, training.make_optimizer("adam"), (32, 32, 3), 10, seed=0)
            model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
            writer = checkpoints.CheckpointWriter(folder)

            # Each pause starts once the previous write is done, as after an epoch's training.
            pause_s = median_seconds(
                lambda: writer.save(state, checkpoints.snapshot(model)), args.repeats, untimed_before=writer.wait
            )
            writer.wait()
            arrays = checkpoints.snapshot(model)
            write_s = median_seconds(lambda: checkpoints.write_checkpoint(folder, state, arrays), args.repeats)
            npz_mb = os.path.getsize(os.path.join(folder, state["variables_file"])) / 1e6
            keras_path = os.path.join(folder, "model.keras")
            save_s = median_seconds(lambda: model.save(keras_path), args.repeats)
            keras_mb = os.path.getsize(keras_path) / 1e6
            print(f"{name:13} {1e3 * pause_s:6.1f}ms {1e3 * write_s:6.1f}ms {npz_mb:5.1f} MB "
                  f"{1e3 * save_s:10.1f}ms {keras_mb:5.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
