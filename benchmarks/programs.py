"""A network's training step as XLA compiles it (JAX only), and what its optimized program holds.

The benchmarks that look at compiled steps share this: step_breakdown.py times the step on this
machine's device, gpu_program.py compiles it for an H100 without one, augmentation_cost.py counts
the kernels of the augmentation alone. Importing it starts Keras: set KERAS_BACKEND first.
"""

import argparse
import collections
import math
import os
import re
import time

import jax
import keras
import numpy as np

from benchmarks.common import results_folder
from pyimagesearch import training
from pyimagesearch.errors import UserError, positive_int
from pyimagesearch.files import write_atomically
from pyimagesearch.original import MODELS

# What to count in XLA's optimized program text.
PATTERNS = {
    "kernels": r"^\s*(?:ROOT )?%?[\w.\-]+ = .*? fusion\(",  # the shape may be a tuple
    "convolutions": r'custom_call_target="__cudnn\$conv',
    "gemms": r'custom_call_target="__cublas',
}
# Operations that move no data: they name a buffer or a part of one.
FREE = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast"}
SHAPE = re.compile(r"\b(pred|bf16|[fsu]\d+)\[([\d,]*)\]")
INSTRUCTION = re.compile(r"\s*(?:ROOT )?%?([\w.\-]+) = ")


def count_program(text):
    return {name: len(re.findall(pattern, text, re.M)) for name, pattern in PATTERNS.items()}


def shape_bytes(shape):
    """Bytes of an HLO shape such as `f32[128,10]{1,0}`, or of a tuple of them."""
    total = 0
    for dtype, dims in SHAPE.findall(shape):
        itemsize = {"pred": 1, "bf16": 2}.get(dtype) or int(dtype[1:]) // 8
        total += itemsize * math.prod(int(size) for size in dims.split(",") if size)
    return total


def closing(text, opened):
    """The index of the parenthesis that closes the one at `text[opened]`."""
    depth = 0
    for index in range(opened, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise ValueError(f"unbalanced parentheses in {text[:80]!r}")


Launch = collections.namedtuple("Launch", "opcode bytes name")


def launches(text):
    """The operations an optimized program's entry computation runs one after another (fused
    kernels, library calls such as cuDNN's, copies), each a Launch: its opcode, the bytes it
    reads and writes (its operands and outputs, each counted once: the rule of XLA's cost
    analysis), and the name JAX's trace gave it ("" if none). What names a buffer or part of one
    (FREE) moves nothing; a loop counts once, without its body."""
    lines = text[text.index("\nENTRY") + 1 :].splitlines()[1:]
    sizes, result = {}, []
    for line in lines:
        if line.startswith("}"):
            break
        match = INSTRUCTION.match(line)
        if not match:
            continue
        rest = line[match.end() :]
        shape_end = closing(rest, 0) + 1 if rest.startswith("(") else rest.index(" ")
        sizes[match.group(1)] = shape_bytes(rest[:shape_end])
        opcode, _, operands = rest[shape_end + 1 :].partition("(")
        if opcode not in FREE:
            names = re.findall(r"%([\w.\-]+)", operands[: closing("(" + operands, 0) - 1])
            moved = sizes[match.group(1)] + sum(sizes[name] for name in names)
            traced = re.search(r'op_name="([^"]*)"', operands)
            result.append(Launch(opcode, moved, traced.group(1) if traced else ""))
    return result


def keras_loop_ms(model, batches):
    """Median ms per step of Keras' fit loop with the compiled step replaced by a stub that only
    takes its batch (from `batches`, and on a GPU Keras' copy of the next one to the device); the
    first `fit` also builds the optimizer's and the metrics' variables, without compiling."""
    step_starts = []

    def stub(state, iterator):
        step_starts.append(time.perf_counter())
        next(iterator)
        return {}, state

    model.make_train_function = lambda force=False: None
    model.train_function = stub
    model.fit(batches, epochs=1, verbose=0)
    return 1e3 * float(np.median(np.diff(step_starts)))


def built_model(name, batch_size, steps):
    """The model with its optimizer's and metrics' variables built, one batch of `batch_size`
    images from NumPy, and Keras' fit loop's ms a step, timed over `steps` batches."""
    images = np.random.default_rng(0).random((batch_size * steps, 32, 32, 3), dtype="float32")
    labels = np.eye(10, dtype="float32")[np.arange(len(images)) % 10]
    batches = training.TrainingBatches(images, labels, batch_size, seed=0)
    model = training.build_model(name, training.make_optimizer("adam"), (32, 32, 3), 10, seed=0)
    loop_ms = keras_loop_ms(model, batches)
    return model, (images[:batch_size], labels[:batch_size]), loop_ms


def step_state(model):
    """The state Keras' JAX trainer threads through its steps, one array per variable."""
    groups = (model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables)  # fmt: skip
    return tuple([variable.value for variable in group] for group in groups)


def compiled_step(model, state, batch, hlo_folder, name):
    """Keras' train step compiled for the state and batch given (arrays, or shapes placed on a
    device), the state donated as Keras' trainer donates it; its optimized program is written to
    `hlo_folder`, if any, as NAME_train_step.hlo.txt."""
    step = jax.jit(model.train_step, donate_argnums=0).lower(state, batch).compile()
    if hlo_folder:
        write_atomically(os.path.join(hlo_folder, f"{name}_train_step.hlo.txt"), step.as_text())
    return step


def shared_parser(description):
    """The options that step_breakdown.py and gpu_program.py share."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--hlo-folder", type=results_folder, help="write each optimized program there")
    parser.add_argument("--mixed-precision", action="store_true", help="as train.py's")
    return parser


def parse(parser, argv):
    """The parsed options, checked, with the Keras precision policy they ask for set."""
    args = parser.parse_args(argv)
    training.record_convolutions_in_graphs()  # as train.py does, before JAX starts
    for name in args.models.split(","):
        if name not in MODELS:
            parser.error(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
    if keras.backend.backend() != "jax":
        raise UserError("this script compiles the step with jax.jit; set KERAS_BACKEND=jax")
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(training.MIXED_PRECISION)
    return args


def print_heading(target, args, columns):
    """The first line says what was compiled, for what and how; the second names the columns."""
    precision = "mixed bfloat16" if args.mixed_precision else "float32"
    versions = f"JAX {jax.__version__}, Keras {keras.__version__}"
    flags = "XLA_FLAGS " + os.environ.get("XLA_FLAGS", "(none)")
    print(f"{target}, batch {args.batch_size}, {precision}, {versions}, {flags}")
    print(f"{'model':11}" + "".join(f"{column:>14}" for column in columns))
