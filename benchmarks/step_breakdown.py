"""Where a training step's time goes: the device's program and the host's share (JAX only).

    KERAS_BACKEND=jax python benchmarks/step_breakdown.py [--hlo-folder FOLDER]

Per network (batch 128, augmentation on, Adam), it compiles Keras' own train step with
`jax.jit` and reports:

- the program XLA made of it: the arithmetic and the bytes its operations read and write (XLA's
  cost analysis), its fused kernels, cuDNN convolutions and cuBLAS GEMMs, and its launches: the
  operations it runs one after another, each a kernel or library call the host starts (a run of
  them may go out as one CUDA graph, which XLA now forms after the program's text is final, so
  the text does not show it);
- device ms: the compiled step alone, back to back with the data already on the device;
- the host's time per step, which JAX's asynchronous dispatch overlaps with the device's: the
  step's call until it returns, data handed over from NumPy, with nothing queued before it; and
  Keras' fit loop around the call with its data path (the batch from NumPy, and on a GPU its
  copy to the device), timed with the step replaced by a stub that only takes its batch.

A step in `fit` costs about the larger of device and host time. Launching the program's kernels
costs host time too, in the step's call or on a thread of XLA's runtime: a GPU program of many
small kernels can be bound by their launches unless CUDA graphs take them up. On a CPU the device
is the host's own cores, so there the host times include some of the device's work.
"""

import argparse
import collections
import math
import os
import re
import statistics
import sys
import time

if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import keras
import numpy as np

from pyimagesearch import training
from pyimagesearch.errors import UserError, run_main
from pyimagesearch.names import MODELS

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
        with open(os.path.join(hlo_folder, f"{name}_train_step.hlo.txt"), "w") as file:
            file.write(step.as_text())
    return step


def breakdown(name, batch_size, steps, calls, hlo_folder):
    model, host_batch, loop_ms = built_model(name, batch_size, steps)
    state = step_state(model)
    step = compiled_step(model, state, host_batch, hlo_folder, name)
    program = step.as_text()

    device_batch = jax.device_put(host_batch)
    _, state = step(state, device_batch)
    jax.block_until_ready(state)
    started = time.perf_counter()
    for _ in range(calls):
        _, state = step(state, device_batch)
    jax.block_until_ready(state)
    device_ms = 1e3 * (time.perf_counter() - started) / calls

    call_s = []
    for _ in range(calls):
        started = time.perf_counter()
        _, state = step(state, host_batch)
        call_s.append(time.perf_counter() - started)
        jax.block_until_ready(state)
    call_ms = 1e3 * statistics.median(call_s)
    arrays = sum(len(group) for group in state)
    cost = step.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # older JAX: one dict per program
    cost = dict(gflop=cost["flops"] / 1e9, gb=cost["bytes accessed"] / 1e9)
    times = dict(device_ms=device_ms, call_ms=call_ms, loop_ms=loop_ms, host_ms=call_ms + loop_ms)
    counts = dict(launches=len(launches(program)), **count_program(program))
    return dict(arrays=arrays, **cost, **counts, **times)


COLUMNS = ("state arrays", "GFLOP", "GB", "launches", "kernels", "convolutions", "gemms",
           "device ms", "step call ms", "loop ms", "host ms")  # fmt: skip
COUNTS = ("launches", *PATTERNS)
TIMES = ("device_ms", "call_ms", "loop_ms", "host_ms")


def shared_parser(description):
    """The options of this script that gpu_program.py shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hlo-folder", help="write each optimized program there")
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
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    return args


def print_heading(target, args, columns):
    """The first line says what was compiled, for what and how; the second names the columns."""
    precision = "mixed bfloat16" if args.mixed_precision else "float32"
    versions = f"JAX {jax.__version__}, Keras {keras.__version__}"
    flags = "XLA_FLAGS " + os.environ.get("XLA_FLAGS", "(none)")
    print(f"{target}, batch {args.batch_size}, {precision}, {versions}, {flags}")
    print(f"{'model':11}" + "".join(f"{column:>14}" for column in columns))


def main(argv=None):
    parser = shared_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps of the timed Keras loop")
    parser.add_argument("--calls", type=int, default=50, help="timed calls of the compiled step")
    args = parse(parser, argv)

    print_heading(jax.devices()[0].device_kind, args, COLUMNS)
    for name in args.models.split(","):
        row = breakdown(name, args.batch_size, args.steps, args.calls, args.hlo_folder)
        counts = f"{row['arrays']:14d}{row['gflop']:14.1f}{row['gb']:14.2f}"
        counts += "".join(f"{row[key]:14d}" for key in COUNTS)
        times = "".join(f"{row[key]:14.3f}" for key in TIMES)
        print(f"{name:11}{counts}{times}", flush=True)


if __name__ == "__main__":
    run_main(main)
