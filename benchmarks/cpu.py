"""Training on the CPU: images/s of each network on Keras' TensorFlow, JAX and PyTorch backends,
against how fast the machine multiplies matrices.

    python benchmarks/cpu.py [--backends tensorflow,jax,torch] [--models resnet,googlenet,minivggnet]
        [--batch-sizes 8,128] [--channels 1] [--steps 3] [--repeats 2] [--mixed-precision]
        [--results FOLDER]

Per backend, network and batch size: training images/s with the augmentation layer on and off,
timed as throughput.py times them (`training.build_model`, Adam, `model.fit` on
`training.TrainingBatches` of synthetic 32x32 images, 10 classes, float32; one `fit` of
1 + `--repeats` epochs of `--steps` steps; images/s of the median epoch after the first, which
compiles). Batch 8 is a small batch like the demo's 4, on scikit-learn's digits resized to
32x32x1; 128 is the original's, whose MNIST and Fashion-MNIST are 32x32x1 too once resized
(`--channels 3` for CIFAR). `--mixed-precision` times the networks in bfloat16 with float32 weights, as train.py's
option of that name trains them; the roofline stays float32's. Keras fixes its backend when it
starts, so each backend runs in a process of its own: this script again, with KERAS_BACKEND set
and any GPU hidden, printing its results as JSON.

The defaults make 36 fits of 3 + 2 x 3 steps, most of the time going to compilation and to the
ResNet and MiniGoogLeNet at batch 128: 11 to 17 minutes on the 2-core CPUs of
docs/benchmarks.md. The report says how long each backend's process took; `--steps 2`, fewer
`--backends` or `--batch-sizes 128` make a run shorter.

The roofline is NumPy's float32 matrix product of two 2048x2048 matrices on all cores, in GFLOP/s,
the best of 5. A network's FLOPs per training image are counted from its Keras layers: each weight
of a Conv2D, DepthwiseConv2D, SeparableConv2D or Dense kernel is one multiply-add (2 FLOPs) per
output position, and a training step is 3 forward passes (the pass itself, then the gradients of
the layers' inputs and of their weights, each as many multiply-adds). Not counted: biases,
BatchNormalization, activations, pooling, the loss, Adam's update and the augmentation. Each
images/s is also given as a share of the roofline: images/s x FLOPs per training image, over the
matrix product's FLOP/s.

Also printed: the CPU's model and its AVX2, AVX-512 and AMX extensions, the thread counts (cores,
OMP_NUM_THREADS, TensorFlow's and PyTorch's thread pools) and the libraries' builds (TensorFlow's
oneDNN, PyTorch's oneDNN, the JAX and jaxlib versions).
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (CLASSES, TRAINING_PASSES, batch_sizes, comma_separated, environment,
                               environment_lines, forward_flops, matmul_gflops, model_names, rate, report,
                               results_folder, table)
from pyimagesearch.errors import positive_int
from pyimagesearch.machine import cpu_model_and_flags
from pyimagesearch.original import MODELS

BACKENDS = ("tensorflow", "jax", "torch")


def vector_extensions():
    """The CPU's AVX2, AVX-512 and AMX flags."""
    _, flags = cpu_model_and_flags()
    return sorted(flag for flag in flags if flag == "avx2" or flag.startswith(("avx512", "amx")))


def extensions_line(flags):
    avx512 = sorted(flag.removeprefix("avx512").lstrip("_") for flag in flags if flag.startswith("avx512"))
    amx = [flag.removeprefix("amx_") for flag in flags if flag.startswith("amx")]
    return (f"AVX2 {'yes' if 'avx2' in flags else 'no'}; AVX-512 {', '.join(avx512) or 'no'}; "
            f"AMX {', '.join(amx) or 'no'}")  # fmt: skip


def library_facts(backend):
    """The thread pools and build of the backend's library, as this process sees them."""
    if backend == "tensorflow":
        import tensorflow as tf

        try:  # TensorFlow's own answer; it follows TF_ENABLE_ONEDNN_OPTS
            from tensorflow.python.util._pywrap_util_port import IsMklEnabled

            onednn = "on" if IsMklEnabled() else "off"
        except ImportError:
            onednn = "not reported"
        return {"TensorFlow": tf.__version__, "oneDNN": onednn,
                "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
                "intra-op / inter-op threads (0: TensorFlow's choice)":
                    f"{tf.config.threading.get_intra_op_parallelism_threads()} / "
                    f"{tf.config.threading.get_inter_op_parallelism_threads()}"}  # fmt: skip
    if backend == "torch":
        import torch

        return {"PyTorch": torch.__version__, "threads": torch.get_num_threads(),
                "inter-op threads": torch.get_num_interop_threads(),
                "oneDNN (mkldnn) available": torch.backends.mkldnn.is_available()}  # fmt: skip
    import jax
    import jaxlib

    return {"JAX": jax.__version__, "jaxlib": jaxlib.__version__,
            "devices": ", ".join(str(device) for device in jax.devices())}  # fmt: skip


def measure_backend(args):
    """In a backend's own process: its library's facts, each network's forward FLOPs and every
    timing, as one line of JSON on stdout."""
    # Importing Keras starts its backend, so only the backends' processes import it.
    import keras

    from benchmarks.throughput import keras_throughput
    from pyimagesearch import training

    backend = keras.backend.backend()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(training.MIXED_PRECISION)
    shape = (32, 32, args.channels)
    flops, runs = {}, []
    for name in args.models:
        flops[name] = forward_flops(training.build_network(name, shape, CLASSES))
        for batch_size in args.batch_sizes:
            for augmentation in (True, False):
                timed = keras_throughput(name, augmentation, batch_size, args.steps, args.repeats, shape)
                runs.append(dict(backend=backend, model=name, batch_size=batch_size, augmentation=augmentation,
                                 **timed))  # fmt: skip
                print(f"{backend}, {name}, batch {batch_size}, augmentation {'on' if augmentation else 'off'}: "
                      f"{rate(timed)} images/s", file=sys.stderr, flush=True)  # fmt: skip
    print(json.dumps(dict(libraries=library_facts(backend), forward_flops=flops, runs=runs)), flush=True)


def run_backend(backend, argv):
    """This script in a process of its own on `backend`, any GPU hidden: what it measured."""
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--backend-process"],
                          env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"cpu.py: the {backend} backend's process failed (exit {done.returncode}); "
                         "its error is above")
    return json.loads(done.stdout.splitlines()[-1])


def share(run):
    return f"{run['of_matmul']:.1%}"


def markdown(data, args):
    facts, roofline = data["environment"], data["matmul_gflops"]
    lines = [
        environment_lines(facts),
        f"- CPU: {facts['cpu']}, {data['usable_cores']} usable; {extensions_line(data['vector_extensions'])}",
        f"- float32 matrix product in NumPy, {args.matmul_size}x{args.matmul_size}, best of 5, all cores: "
        f"**{roofline:,.1f} GFLOP/s** (the roofline)",
        f"- OMP_NUM_THREADS: {data['omp_num_threads']}",
    ]  # fmt: skip
    for backend, libraries in data["libraries"].items():
        lines.append(f"- {backend}: " + "; ".join(f"{key} {value}" for key, value in libraries.items()))
    seconds = ", ".join(f"{backend} {value:.0f} s" for backend, value in data["backend_seconds"].items())
    lines.append(f"- each backend's process took: {seconds}")
    flops = table(["network", "forward MFLOP an image", f"training MFLOP an image ({TRAINING_PASSES}x)"],
                  [[name, f"{value / 1e6:,.1f}", f"{TRAINING_PASSES * value / 1e6:,.1f}"]
                   for name, value in data["forward_flops"].items()])  # fmt: skip
    runs = {(run["model"], run["batch_size"], run["backend"], run["augmentation"]): run for run in data["runs"]}
    rows = []
    for name in args.models:
        for batch_size in args.batch_sizes:
            for backend in args.backends:
                on, off = runs[name, batch_size, backend, True], runs[name, batch_size, backend, False]
                rows.append([name, batch_size, backend, rate(on), share(on), rate(off), share(off),
                             f"{on['compile_s']:.1f} / {off['compile_s']:.1f}"])  # fmt: skip
    headers = ["network", "batch", "backend", "augmentation on", "of roofline", "augmentation off",
               "of roofline", "compilation s (on / off)"]  # fmt: skip
    return "\n\n".join([
        "## Training on the CPU (images/s: median epoch, slowest-fastest; share of the roofline)",
        "\n".join(lines),
        f"Synthetic 32x32x{args.channels} images, 10 classes, Adam, "
        f"{'bfloat16 with float32 weights (mixed_bfloat16)' if args.mixed_precision else 'float32'}; median of {args.repeats} "
        f"epochs of {args.steps} steps after a first that compiles. The share of the roofline is "
        "images/s x training FLOPs an image (below; convolutions and dense layers only) over the "
        "matrix product's FLOP/s.",
        flops,
        table(headers, rows),
    ])  # fmt: skip


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()), allow_abbrev=False)
    parser.add_argument("--backends", type=comma_separated(BACKENDS, "backend"), default=list(BACKENDS),
                        help="comma-separated Keras backends")  # fmt: skip
    parser.add_argument("--models", type=model_names, default=list(MODELS), help="comma-separated")
    parser.add_argument("--batch-sizes", type=batch_sizes, default=[8, 128], help="comma-separated")
    parser.add_argument("--channels", type=positive_int, default=1, help="of the 32x32 images (3: CIFAR)")
    parser.add_argument("--steps", type=positive_int, default=3, help="steps in a timed epoch")
    parser.add_argument("--repeats", type=positive_int, default=2, help="timed epochs")
    parser.add_argument("--mixed-precision", action="store_true", help="compute in bfloat16, keep float32 weights")
    parser.add_argument("--matmul-size", type=positive_int, default=2048, help="of the roofline's matrices")
    parser.add_argument("--results", type=results_folder, help="also write cpu.md and cpu.json here")
    parser.add_argument("--backend-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.backend_process:
        measure_backend(args)
        return

    # First, while nothing else of this script uses the cores.
    roofline = matmul_gflops(args.matmul_size)
    data = dict(
        environment=environment(", ".join(args.backends) + ", a process each"),
        settings={key: value for key, value in vars(args).items() if key != "backend_process"},
        usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        vector_extensions=vector_extensions(),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS", "unset"),
        matmul_gflops=roofline,
        libraries={}, backend_seconds={}, forward_flops={}, runs=[],
    )  # fmt: skip
    for backend in args.backends:
        started = time.perf_counter()
        measured = run_backend(backend, argv)
        data["backend_seconds"][backend] = time.perf_counter() - started
        data["libraries"][backend] = measured["libraries"]
        data["forward_flops"].update(measured["forward_flops"])
        for run in measured["runs"]:
            run["gflops"] = run["images_per_s"] * TRAINING_PASSES * measured["forward_flops"][run["model"]] / 1e9
            run["of_matmul"] = run["gflops"] / roofline
            data["runs"].append(run)
    report(args.results, "cpu", markdown(data, args), data)


if __name__ == "__main__":
    main()
