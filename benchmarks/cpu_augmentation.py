"""The 2019 design's augmentation: how many images one CPU core augments a second.

    python benchmarks/cpu_augmentation.py [--throughput FOLDER/throughput.json] [--results FOLDER]

The original trained with Keras 2's `ImageDataGenerator`, which augments one image at a time on
the CPU (scipy's affine warp) in one generator thread feeding the GPU. Its training could go no
faster than that thread. This times Keras' own copy of that code (`keras.src.legacy`'s
`ImageDataGenerator.random_transform`, with the experiment's parameters) on synthetic 32x32x3
images, pinned to one core. Given throughput.py's results from the same machine, it also prints
each network's training rate with augmentation on the GPU against the 2019 design's rate:
min(Keras without augmentation, one core's rate).
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from keras.src.legacy.preprocessing.image import ImageDataGenerator

from benchmarks.common import environment, environment_lines, report, results_folder, synthetic_images, table
from pyimagesearch.errors import positive_int
from pyimagesearch.files import read_json
from pyimagesearch.original import AUGMENTATION


def one_core_rate(count):
    """Images/s that `random_transform` augments on one core, into batches of 128 as the legacy
    iterator filled them."""
    generator = ImageDataGenerator(**AUGMENTATION)
    images, _ = synthetic_images(count, seed=2)
    batch = np.empty((128,) + images.shape[1:], np.float32)
    previous = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    if previous is not None:
        os.sched_setaffinity(0, {min(previous)})
    try:
        generator.random_transform(images[0])  # scipy's first call loads its code
        started = time.perf_counter()
        for index, image in enumerate(images):
            batch[index % 128] = generator.random_transform(image)
        return count / (time.perf_counter() - started)
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)


def throughput_results(path):
    """throughput.py's JSON results, read and checked."""
    data = read_json(path)  # None, rather than a hang, for a folder, a FIFO or /dev/zero
    entries = data.get("results") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries or not all(map(rates_given, entries.values())):
        reason = "not throughput.py's results" if os.path.exists(path) else "no such file"
        raise argparse.ArgumentTypeError(f"cannot read {path} ({reason}); give the throughput.json "
                                         "that throughput.py --results wrote")
    return data


def rates_given(entry):
    """Whether a network's entry holds its images/s with augmentation on and off."""
    try:
        rates = [entry[key]["images_per_s"] for key in ("augmentation_on", "augmentation_off")]
    except (TypeError, KeyError):
        return False
    return all(isinstance(rate, (int, float)) and 0 < rate < math.inf for rate in rates)


def against_ours(throughput, core_rate):
    """Per network: ours (augmentation on), the 2019 design's rate, and their ratio."""
    rows = []
    for name, entry in throughput["results"].items():
        ours = entry["augmentation_on"]["images_per_s"]
        original = min(entry["augmentation_off"]["images_per_s"], core_rate)
        rows.append([name, f"{ours:,.0f}", f"{original:,.0f}", f"{ours / original:.1f}x"])
    return table(["network", "ours, augmentation on the device", "the 2019 design", "ratio"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--images", type=positive_int, default=2048, help="images to augment")
    parser.add_argument("--throughput", type=throughput_results,
                        help="throughput.py's throughput.json from the same machine, to compare")
    parser.add_argument("--results", type=results_folder, help="also write cpu_augmentation.md and .json here")
    args = parser.parse_args(argv)
    core_rate = one_core_rate(args.images)
    facts = environment("no backend: NumPy and scipy on the CPU")
    parts = ["## The 2019 design: augmentation on one CPU core", environment_lines(facts),
             f"One core augments **{core_rate:,.0f} images/s** ({args.images:,} images)."]  # fmt: skip
    if args.throughput:
        parts.append(against_ours(args.throughput, core_rate))
    report(args.results, "cpu_augmentation", "\n\n".join(parts),
           dict(environment=facts, images=args.images, images_per_s=core_rate))  # fmt: skip


if __name__ == "__main__":
    main()
