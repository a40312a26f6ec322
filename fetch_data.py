"""Fetch data sets into Keras' cache and check them, once, before a sweep.

    python fetch_data.py mnist fashion_mnist cifar10 cifar100

Each missing file is downloaded once from Keras' own origins, checked against the hash Keras
publishes, and renamed into place only when whole; processes that ask for the same data set
meanwhile wait for that download instead of starting their own. A data set already there is read
and checked, not downloaded again. On a cluster, run it on the login node (compute nodes often
have no internet access) with the KERAS_HOME the runs will use; their train.py --no-download then
never downloads. `digits` ships with scikit-learn and needs nothing.
"""

import argparse
import sys

from pyimagesearch.datasets import fetch
from pyimagesearch.downloads import keras_datasets_dir
from pyimagesearch.errors import run_main
from pyimagesearch.original import BUNDLED_DATASETS, DATASETS


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument(
        "datasets", nargs="+", choices=DATASETS, metavar="DATASET", help=f"one of: {', '.join(DATASETS)}"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(argv)
    for name in dict.fromkeys(args.datasets):  # each once, in the order given
        if name in BUNDLED_DATASETS:
            print(f"{name}: ships with scikit-learn, nothing to fetch")
            continue
        (train_x, _), (test_x, _) = fetch(name)
        print(f"{name}: {len(train_x):,} training and {len(test_x):,} test images in {keras_datasets_dir()}, read and checked")
    return 0


if __name__ == "__main__":
    try:
        run_main(main)
    except KeyboardInterrupt:
        print("error: interrupted before the end; nothing half-written was left, run it again", file=sys.stderr)
        sys.exit(130)
