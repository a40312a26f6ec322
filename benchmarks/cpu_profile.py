"""Where a training step's time goes on the CPU: TensorFlow's profiler, its ops summed by layer kind.

    python benchmarks/cpu_profile.py [--model minivggnet] [--batch-size 128] [--steps 10]
        [--no-augmentation] [--results FOLDER]

The network trains as cpu.py trains it (`training.build_model`, Adam, `model.fit` on synthetic
32x32x1 images, 10 classes, float32, augmentation on) for three epochs of `--steps` steps: the
first compiles, the second is timed alone, the third is timed under `tf.profiler`. Every
TensorFlow op the profile records in the third is put under what it belongs to, by its name:
convolutions and dense layers (oneDNN's kernels, the forward ones fused with their bias and
ReLU), BatchNormalization, dropout, pooling, the activations' gradients, the augmentation, Adam,
and the rest (summing gradients, the loss, the metrics). An op's time is its wall time on the
thread that ran it; TensorFlow runs two ops at once where it can, so the ops' times can add up to
more than the step's.

The convolutions' and dense layers' share of the roofline (cpu.py's: NumPy's float32 matrix
product on all cores) is their counted FLOPs (cpu.py's count, 3 passes an image) over the time of
their ops alone: how fast the arithmetic itself runs, against how fast the whole step does.
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras

from benchmarks.common import (CLASSES, TRAINING_PASSES, environment, environment_lines, forward_flops,
                               matmul_gflops, report, results_folder, synthetic_images, table)
from pyimagesearch import training
from pyimagesearch.errors import positive_int
from pyimagesearch.original import MODELS

IMAGE_SHAPE = (32, 32, 1)
ARITHMETIC = "convolutions and dense layers"
# What an op belongs to, the first that its name matches: (part of the op's type, part of its scope).
KINDS = [
    (ARITHMETIC, ("Conv2D", "MatMul"), ()),
    ("BatchNormalization", (), ("batch_normalization",)),
    ("dropout", (), ("dropout",)),
    ("pooling", ("Pool",), ("pooling",)),
    ("activations", (), ("activation",)),
    ("augmentation", (), ("augmentation",)),
    ("Adam", (), ("/adam/",)),
]
OTHER = "the rest (gradient sums, loss, metrics)"


def kind_of(op_name):
    """What an op of the profile belongs to, from its 'scope/name:Type'."""
    scope, op_type = op_name.rsplit(":", 1)
    for kind, types, scopes in KINDS:
        if any(part in op_type for part in types) or any(part in f"/{scope}/" for part in scopes):
            return kind
    return OTHER


def op_seconds(profile_folder):
    """Seconds of every TensorFlow op in the profile under `profile_folder`, summed by op name.
    The ops are the events of TensorFlow's executor threads named 'scope/name:Type'."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = glob.glob(os.path.join(profile_folder, "**", "*.xplane.pb"), recursive=True)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as file:
        space.ParseFromString(file.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:
                    seconds[name] += event.duration_ps / 1e12
    return seconds


class ProfileThirdEpoch(keras.callbacks.Callback):
    """Times every epoch; profiles the third into `folder`."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.epoch_s = folder, []

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            import tensorflow as tf

            tf.profiler.experimental.start(self.folder)
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_s.append(time.perf_counter() - self.started)
        if epoch == 2:
            import tensorflow as tf

            tf.profiler.experimental.stop()


def profile(args, profile_folder):
    keras.utils.set_random_seed(0)
    model = training.build_model(args.model, training.make_optimizer("adam"), IMAGE_SHAPE, CLASSES, seed=0,
                                 augmentation=args.augmentation)  # fmt: skip
    images, labels = synthetic_images(args.steps * args.batch_size, shape=IMAGE_SHAPE)
    timer = ProfileThirdEpoch(profile_folder)
    model.fit(training.TrainingBatches(images, labels, args.batch_size, seed=0), epochs=3, verbose=0,
              callbacks=[timer])  # fmt: skip
    by_kind = collections.Counter()
    for name, seconds in op_seconds(profile_folder).items():
        by_kind[kind_of(name)] += seconds
    return dict(
        step_ms=1e3 * timer.epoch_s[1] / args.steps,
        profiled_step_ms=1e3 * timer.epoch_s[2] / args.steps,
        op_ms={kind: 1e3 * seconds / args.steps for kind, seconds in by_kind.most_common()},
        training_flops=TRAINING_PASSES * forward_flops(model) * args.batch_size,
    )


def markdown(data, args):
    step_ms, op_ms, roofline = data["step_ms"], data["op_ms"], data["matmul_gflops"]
    ops_total = sum(op_ms.values())
    arithmetic_gflops = data["training_flops"] / (op_ms[ARITHMETIC] / 1e3) / 1e9
    step_gflops = data["training_flops"] / (step_ms / 1e3) / 1e9
    facts = [
        environment_lines(data["environment"]),
        f"- roofline (NumPy's float32 2048x2048 product, all cores): {roofline:,.1f} GFLOP/s",
        f"- a step: {step_ms:.1f} ms ({args.batch_size / step_ms * 1e3:,.0f} images/s, {step_gflops:,.1f} "
        f"GFLOP/s counted, {step_gflops / roofline:.0%} of the roofline); under the profiler "
        f"{data['profiled_step_ms']:.1f} ms",
        f"- {ARITHMETIC} alone: {data['training_flops'] / 1e9:,.2f} GFLOP a step in {op_ms[ARITHMETIC]:.1f} "
        f"ms of their ops, {arithmetic_gflops:,.1f} GFLOP/s, {arithmetic_gflops / roofline:.0%} of the roofline",
    ]  # fmt: skip
    rows = [[kind, f"{ms:.1f}", f"{ms / ops_total:.0%}"] for kind, ms in op_ms.items()]
    rows.append(["all ops", f"{ops_total:.1f}", "100%"])
    return "\n\n".join([
        f"## Where {args.model}'s training step goes on the CPU (batch {args.batch_size}, augmentation "
        f"{'on' if args.augmentation else 'off'}, TensorFlow)",
        "\n".join(facts),
        table(["ops of", "ms a step", "of the ops' time"], rows),
    ])  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", choices=MODELS, default="minivggnet")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--steps", type=positive_int, default=10, help="of each epoch")
    parser.add_argument("--no-augmentation", dest="augmentation", action="store_false")
    parser.add_argument("--results", type=results_folder, help="also write cpu_profile.md and cpu_profile.json here")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        parser.error(f"it profiles with TensorFlow's profiler: run it with KERAS_BACKEND=tensorflow, "
                     f"not {keras.backend.backend()}")  # fmt: skip

    roofline = matmul_gflops(2048)  # first, while nothing else of this script uses the cores
    with tempfile.TemporaryDirectory() as profile_folder:
        measured = profile(args, profile_folder)
    data = dict(environment=environment("tensorflow"), settings=vars(args), matmul_gflops=roofline, **measured)
    report(args.results, "cpu_profile", markdown(data, args), data)


if __name__ == "__main__":
    main()
