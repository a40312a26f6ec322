"""What XLA's GPU compiler makes of each network's train step for an H100, without one (JAX only).

    pip install "jax[cuda13]==$(python -c 'import jax; print(jax.__version__)')"  # 4.6 GB, once
    KERAS_BACKEND=jax python benchmarks/gpu_program.py [--parts] [--mixed-precision]

JAX's CUDA plugin compiles for a GPU it is told about (H100 below: an H100 SXM's figures as
XLA's device description holds them) when no GPU is present: deviceless ahead-of-time
compilation. It runs XLA's GPU passes, so its fusion decisions should be a real H100's; what it
cannot do is autotune, which picks among cuDNN's convolution algorithms on the device.
`step_breakdown.py` run on a GPU counts the launches of the program the GPU really gets. Per
network (batch 128, augmentation on, Adam, the state donated as Keras' trainer donates it) it
reports:

- launches: the operations the step runs one after another (fused kernels, cuDNN convolutions,
  copies), each a kernel the host starts unless a CUDA graph takes up a run of them; and how
  many of them move under 1 MB, so that starting them costs more than their bytes;
- GB: what the launches read and write, each operand and output counted once (the rule of
  XLA's cost analysis, which deviceless programs lack: `programs.launches`);
- the bandwidth floor: that many bytes at 3.0 TB/s, what a large copy reached on an H100.

`--parts` also splits each network's launches by what they belong to (`part`).

`--cpu` compiles for this machine's CPU instead, so that the script is checked without the plugin.
"""

import collections
import os
import re
import sys
import time

if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # built here, only compiled for the GPU
    os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")  # it looks for a driver
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

from benchmarks.programs import (PATTERNS, built_model, compiled_step, count_program, launches, parse,
                                 print_heading, shared_parser, step_state)
from pyimagesearch.errors import UserError, run_main

H100 = """
gpu_device_info {
  threads_per_block_limit: 1024  threads_per_warp: 32  shared_memory_per_block: 49152
  shared_memory_per_core: 233472  threads_per_core_limit: 2048  core_count: 132
  fpus_per_core: 128  block_dim_limit_x: 2147483647  block_dim_limit_y: 65535
  block_dim_limit_z: 65535  memory_bandwidth: 3352320000000  l2_cache_size: 52428800
  clock_rate_ghz: 1.98  device_memory_size: 84929347584  shared_memory_per_block_optin: 232448
  cuda_compute_capability { major: 9 }  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 28 }
runtime_version { major: 13 }
device_description_str: "NVIDIA H100 80GB HBM3"
"""
COPY_TB_PER_S = 3.0  # what a large copy reached on an H100 SXM (its peak: 3.35 TB/s)
SMALL_BYTES = 1e6


def h100_placement():
    """Where compiled arrays live: one H100 that need not be present."""
    from jax.experimental import topologies

    try:
        topology = topologies.get_topology_desc(
            platform="cuda", target_config=H100, topology="1x1x1"
        )
    except (NotImplementedError, RuntimeError) as error:
        version = jax.__version__
        raise UserError(f"compiling for a GPU needs JAX's CUDA plugin ({error}); install it with "
                        f"pip install \"jax[cuda13]=={version}\", or pass --cpu")  # fmt: skip
    mesh = topologies.make_mesh(topology, (1,), ("gpu",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def compiled_program(name, args, placement):
    """The optimized program of Keras' train step for `name`, compiled for `placement` (None:
    this machine's CPU) as `args` ask, the seconds that took, and the model's network's name."""
    model, batch, _ = built_model(name, args.batch_size, steps=2)
    inputs = (step_state(model), batch)
    if placement is not None:
        describe = lambda array: jax.ShapeDtypeStruct(array.shape, array.dtype, sharding=placement)
        inputs = jax.tree.map(describe, inputs)
    started = time.perf_counter()
    step = compiled_step(model, *inputs, args.hlo_folder, name)
    return step.as_text(), time.perf_counter() - started, model.layers[-1].name


def part(launch, network):
    """What a launch belongs to, read off the name JAX's trace gave it: a layer of `network` (a
    Keras layer type, forward or backward: "batch_normalization, backward") or another layer of
    the model ("affine_augmentation, forward"); a step outside the layers ("adam", "jvp()": the
    loss and the L2 weight decay); a state array's update XLA named after the array ("state");
    or, unnamed, what XLA added ("copy, unnamed")."""
    if not launch.name:
        return f"{launch.opcode}, unnamed"
    steps = launch.name.split("/")[1:] or [launch.name]  # after jit(train_step)
    traced = re.fullmatch(r"(transpose\()?jvp\((\w+)\)\)?", steps[0])
    if not traced:
        return re.sub(r"(_\d+|\[.*)$", "", steps[0])
    layer = steps[1] if traced.group(2) == network and len(steps) > 1 else traced.group(2)
    direction = "backward" if traced.group(1) else "forward"
    return re.sub(r"_\d+$", "", layer) + ", " + direction


def print_parts(step_launches, network):
    moved = collections.defaultdict(list)
    for launch in step_launches:
        moved[part(launch, network)].append(launch.bytes)
    for name, sizes in sorted(moved.items(), key=lambda item: -len(item[1])):
        small = sum(size < SMALL_BYTES for size in sizes)
        print(f"  {name:33}{len(sizes):10d}{small:14d}{sum(sizes) / 1e9:14.2f}")


COLUMNS = ("launches", "under 1 MB", "GB", "ms at 3 TB/s", *PATTERNS, "compile s")


def main(argv=None):
    parser = shared_parser(__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="compile for this machine's CPU")
    parser.add_argument("--parts", action="store_true", help="launches by what they belong to")
    args = parse(parser, argv)

    placement = None if args.cpu else h100_placement()
    target = "this machine's CPU" if args.cpu else "NVIDIA H100, compiled without one"
    print_heading(target, args, COLUMNS)
    for name in args.models.split(","):
        program, compile_s, network = compiled_program(name, args, placement)
        step_launches = launches(program)
        moved = [launch.bytes for launch in step_launches]
        small = sum(size < SMALL_BYTES for size in moved)
        floor_ms = sum(moved) / (COPY_TB_PER_S * 1e12) * 1e3
        row = f"{len(moved):14d}{small:14d}{sum(moved) / 1e9:14.2f}{floor_ms:14.2f}"
        row += "".join(f"{count:14d}" for count in count_program(program).values())
        print(f"{name:11}{row}{compile_s:14.1f}", flush=True)
        if args.parts:
            print_parts(step_launches, network)


if __name__ == "__main__":
    run_main(main)
