"""Training throughput of the Keras networks, augmentation on and off, beside plain eager PyTorch.

    KERAS_BACKEND=jax python benchmarks/throughput.py [--results FOLDER] [--mixed-precision]

Keras: `training.build_model` and `model.fit` on `training.TrainingBatches` of synthetic 32x32x3
images, 10 classes, Adam, as train.py trains, with the augmentation layer (on) and without it
(off). One `fit` of 1 + `--repeats` epochs of `--steps` steps: images/s of the median epoch after
the first, with the slowest and fastest; the first epoch minus a median one is the compilation.
Keras hands each epoch's losses to the host at its end, so an epoch's time is the device's.

PyTorch: the same networks (`torch_networks.py`, the same trainable parameters), channels-first,
eager, Adam, no augmentation, the data already on the device: the easiest case for PyTorch.
Timed the same way, in windows of `--steps` steps after one that lets cuDNN pick its algorithms.

One network's throughput varied by up to 2x between processes on the same kind of GPU, so compare
figures within one run of this script.
"""

import argparse
import gc
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras

from benchmarks.common import (CLASSES, IMAGE_SHAPE, environment, environment_lines, model_names, rate,
                               report, results_folder, synthetic_images, table, timing)
from pyimagesearch import training
from pyimagesearch.errors import positive_int
from pyimagesearch.original import MODELS


class EpochEnds(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter())


def keras_throughput(name, augmentation, batch_size, steps, repeats, image_shape=IMAGE_SHAPE):
    """One `fit` of 1 + `repeats` epochs of `steps` steps: `timing` of the epochs after the
    first, and the compilation (the first epoch minus a median one)."""
    keras.utils.set_random_seed(0)
    model = training.build_model(name, training.make_optimizer("adam"), image_shape, CLASSES,
                                 seed=0, augmentation=augmentation)  # fmt: skip
    images, labels = synthetic_images(steps * batch_size, shape=image_shape)
    batches = training.TrainingBatches(images, labels, batch_size, seed=0)
    ends = EpochEnds()
    model.fit(batches, epochs=1 + repeats, verbose=0, callbacks=[ends])
    durations = [end - start for start, end in zip(ends.times, ends.times[1:])]
    result = timing(durations[1:], steps, batch_size)
    result["compile_s"] = max(durations[0] - statistics.median(durations[1:]), 0.0)
    result["compute_dtype"] = model.compute_dtype
    del model
    policy = keras.mixed_precision.global_policy()
    keras.backend.clear_session()  # which also sets the global dtype policy back to float32
    keras.mixed_precision.set_global_policy(policy)
    gc.collect()
    return result


def torch_throughput(name, args):
    import torch

    from benchmarks import torch_networks

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True  # cuDNN picks its algorithms, as XLA autotunes
    torch.manual_seed(0)
    network = torch_networks.build(name, IMAGE_SHAPE[2], CLASSES).to(device)
    optimizer = torch.optim.Adam(network.parameter_groups(), lr=1e-3, eps=1e-7)
    loss_function = torch.nn.CrossEntropyLoss()
    count = args.steps * args.batch_size
    images = torch.rand(count, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2], device=device)
    labels = torch.randint(0, CLASSES, (count,), device=device)
    order = torch.randperm(count, device=device)
    network.train()

    def window():
        started = time.perf_counter()
        for step in range(args.steps):
            rows = order[step * args.batch_size : (step + 1) * args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, torch.bfloat16, enabled=args.mixed_precision):
                loss = loss_function(network(images[rows]), labels[rows])
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    window()
    result = timing([window() for _ in range(args.repeats)], args.steps, args.batch_size)
    result["trainable_params"] = torch_networks.trainable_parameters(network)
    return result


def trainable_parameters(model):
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)


def markdown(results, facts, args):
    rows = []
    for name, entry in results.items():
        on, off, peer = entry["augmentation_on"], entry["augmentation_off"], entry.get("pytorch")
        rows.append([
            name, rate(on), rate(off),
            f"{on['compile_s']:.1f} / {off['compile_s']:.1f}",
            "-" if peer is None else rate(peer),
            "-" if peer is None else f"{on['images_per_s'] / peer['images_per_s']:.2f}x",
        ])  # fmt: skip
    headers = ["network", "Keras, augmentation on", "Keras, augmentation off",
               "compilation s (on / off)", "eager PyTorch", "Keras (on) / PyTorch"]  # fmt: skip
    precision = "mixed bfloat16" if args.mixed_precision else "float32"
    return "\n\n".join([
        "## Training throughput (images/s: median epoch, slowest-fastest)",
        environment_lines(facts),
        f"Batch {args.batch_size}, {precision}, median of {args.repeats} epochs of {args.steps} "
        "steps after a first that compiles.",
        table(headers, rows),
    ])  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--models", type=model_names, default=list(MODELS), help="comma-separated")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--steps", type=positive_int, default=100, help="steps in a timed epoch")
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed epochs")
    parser.add_argument("--no-pytorch", dest="pytorch", action="store_false")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="bfloat16 compute: train.py's --mixed-precision, torch.autocast")  # fmt: skip
    parser.add_argument("--results", type=results_folder, help="also write throughput.md and throughput.json here")
    args = parser.parse_args(argv)

    training.record_convolutions_in_graphs()  # as train.py compiles, before JAX starts
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(training.MIXED_PRECISION)
    results = {}
    for name in args.models:
        entry = {key: keras_throughput(name, on, args.batch_size, args.steps, args.repeats)
                 for key, on in (("augmentation_on", True), ("augmentation_off", False))}  # fmt: skip
        entry["trainable_params"] = trainable_parameters(
            training.build_network(name, IMAGE_SHAPE, CLASSES))  # fmt: skip
        if args.pytorch:
            entry["pytorch"] = torch_throughput(name, args)
            if entry["pytorch"]["trainable_params"] != entry["trainable_params"]:
                raise AssertionError(f"{name}: PyTorch's network has other trainable parameters")
        results[name] = entry
        print(f"{name}: {rate(entry['augmentation_on'])} images/s", flush=True)
    facts = environment(keras.backend.backend())
    report(args.results, "throughput", markdown(results, facts, args),
           dict(environment=facts, settings=vars(args), results=results))  # fmt: skip


if __name__ == "__main__":
    main()
