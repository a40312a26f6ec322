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

import os
import statistics
import sys
import time

if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

from benchmarks.programs import (PATTERNS, built_model, compiled_step, count_program, launches, parse,
                                 print_heading, shared_parser, step_state)
from pyimagesearch.errors import positive_int, run_main


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


def main(argv=None):
    parser = shared_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, default=200, help="steps of the timed Keras loop")
    parser.add_argument("--calls", type=positive_int, default=50, help="timed calls of the compiled step")
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
