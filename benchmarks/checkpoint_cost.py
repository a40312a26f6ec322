"""What one train.py checkpoint costs: the seconds `model.save` takes and the file's size.

    python benchmarks/checkpoint_cost.py

For each network (32x32x3 inputs, 10 classes, Adam, augmentation layer included, after one
training step so that the optimizer's slots exist), saves the `.keras` file train.py writes
`--repeats` times and prints the median time after a first, untimed save.
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

from pyimagesearch import training


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    images = np.random.default_rng(0).random((8, 32, 32, 3), dtype="float32")
    labels = np.eye(10, dtype="float32")[np.arange(8) % 10]
    print(f"Keras {keras.__version__} on {keras.backend.backend()}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        for name in ("resnet", "googlenet", "minivggnet"):
            model = training.build_model(name, training.make_optimizer("adam"), (32, 32, 3), 10, seed=0)
            model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
            model.save(path)
            seconds = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                model.save(path)
                seconds.append(time.perf_counter() - started)
            size = os.path.getsize(path) / 1e6
            print(f"{name:11} {statistics.median(seconds):6.3f} s a save, {size:5.1f} MB")


if __name__ == "__main__":
    main()
