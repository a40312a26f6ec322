"""What the on-device augmentation costs per batch, in time and in compiled kernels (JAX only).

    KERAS_BACKEND=jax python benchmarks/augmentation_cost.py

Times three jitted pieces of `AffineAugmentation` on a batch of 32x32x3 images: drawing the
parameters and composing the matrices, the warp, and the whole layer in training mode. Next to
each time it counts the fusions in XLA's optimized program: on a GPU every fusion is at least one
kernel launch, and for a network whose step takes 2.5 ms (MiniVGGNet on an H200) a few dozen
launches are what augmentation costs, more than the arithmetic.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import keras
import numpy as np

from benchmarks.programs import count_program
from pyimagesearch.augmentation import AffineAugmentation, affine_matrices, warp
from pyimagesearch.errors import UserError, positive_int, run_main
from pyimagesearch.original import AUGMENTATION


def timed(function, arguments, repeats):
    compiled = jax.jit(function).lower(*arguments).compile()
    fusions = count_program(compiled.as_text())["kernels"]
    jax.block_until_ready(compiled(*arguments))
    started = time.perf_counter()
    for _ in range(repeats):
        result = compiled(*arguments)
    jax.block_until_ready(result)
    return (time.perf_counter() - started) / repeats * 1e3, fusions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--repeats", type=positive_int, default=50)
    args = parser.parse_args()
    if keras.backend.backend() != "jax":
        raise UserError("this script reads XLA's compiled program; run it with KERAS_BACKEND=jax")

    layer = AffineAugmentation(**AUGMENTATION, seed=1)
    images = jax.numpy.asarray(
        np.random.default_rng(0).random((args.batch_size, 32, 32, 3), dtype="float32")
    )
    layer.build(images.shape)
    seed_state = layer.seed_generator.state.value

    def matrices(seed_state):
        with keras.StatelessScope(state_mapping=[(layer.seed_generator.state, seed_state)]):
            p = layer.draw_parameters(args.batch_size, 32, 32)
            return affine_matrices(p["theta"], p["tx"], p["ty"], p["shear"], p["zx"], p["zy"], 32, 32)

    def whole_layer(seed_state, images):
        outputs, _ = layer.stateless_call([], [seed_state], images, training=True)
        return outputs

    pieces = (
        ("parameters and matrices", matrices, (seed_state,)),
        ("warp", warp, (images, jax.jit(matrices)(seed_state))),
        ("whole layer", whole_layer, (seed_state, images)),
    )
    print(f"{jax.devices()[0].device_kind}, batch {args.batch_size}, JAX {jax.__version__}")
    for name, function, arguments in pieces:
        milliseconds, fusions = timed(function, arguments, args.repeats)
        print(f"{name:24} {milliseconds:8.3f} ms  {fusions:3d} fusions")


if __name__ == "__main__":
    run_main(main)
