"""What train.py's per-epoch validation costs, by the batch size it is evaluated in.

    python benchmarks/validation_cost.py [--batch-sizes 128,1000] [--images 10000]

For each network (32x32x3 inputs, 10 classes, Adam, float32), evaluates `--images` random
images as `fit` does after every epoch, at each batch size, and prints the median seconds of
`--repeats` passes after a first, untimed one (which compiles). Batch size changes only how the
images are split, not the accuracy or the loss (BatchNorm uses its moving statistics here).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks.common import batch_sizes, model_names
from pyimagesearch.errors import positive_int
from pyimagesearch.original import MODELS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--models", type=model_names, default=list(MODELS), help="comma-separated")
    parser.add_argument("--batch-sizes", type=batch_sizes, default=[128, 1000], help="comma-separated")
    parser.add_argument("--images", type=positive_int, default=10_000)
    parser.add_argument("--repeats", type=positive_int, default=5)
    args = parser.parse_args()
    # Keras takes seconds to start its backend, so it is imported once the arguments are checked.
    import keras

    from pyimagesearch import training

    training.record_convolutions_in_graphs()  # as train.py does, before JAX starts
    images = np.random.default_rng(0).random((args.images, 32, 32, 3), dtype="float32")
    labels = np.eye(10, dtype="float32")[np.arange(args.images) % 10]
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {args.images} images")
    for name in args.models:
        model = training.build_model(name, training.make_optimizer("adam"), (32, 32, 3), 10, seed=0)
        for batch_size in args.batch_sizes:
            results = model.evaluate(images, labels, batch_size=batch_size, verbose=0)
            seconds = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                model.evaluate(images, labels, batch_size=batch_size, verbose=0)
                seconds.append(time.perf_counter() - started)
            median = statistics.median(seconds)
            print(f"{name:11} batch {batch_size:5}: {median:6.3f} s a pass "
                  f"({args.images / median:8,.0f} images/s), loss {results[0]:.6f}", flush=True)


if __name__ == "__main__":
    main()
