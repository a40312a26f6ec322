"""benchmarks/: benchmark.py's tiny mode end to end on the CPU and its untimed pieces,
step_breakdown.py and gpu_program.py."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import keras
import numpy as np
import pytest
from keras.src.legacy.preprocessing.image import apply_affine_transform

from benchmarks import benchmark, gpu_program, step_breakdown, torch_networks
from pyimagesearch import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# shared/spec/architectures.md: trainable parameters for 32x32x3 inputs and 10 classes.
SPEC_TRAINABLE = {"minivggnet": 2_169_770, "googlenet": 1_652_826, "resnet": 873_872}


def test_tiny_run_measures_every_section(tmp_path):
    output, markdown = tmp_path / "b.json", tmp_path / "b.md"
    # The GPU run uses JAX; so does this one, whatever backend the rest of the suite runs on.
    environment = dict(os.environ, PYTHONPATH=REPO, KERAS_BACKEND="jax")
    environment.pop("XLA_FLAGS", None)
    result = subprocess.run(
        [sys.executable, "benchmarks/benchmark.py", "--tiny",
         "--output", str(output), "--markdown", str(markdown)],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads(output.read_text())
    # measured as train.py trains
    assert results["environment"]["xla_flags"] == training.CONVOLUTION_GRAPHS
    assert f"- XLA_FLAGS: `{training.CONVOLUTION_GRAPHS}`" in markdown.read_text().splitlines()

    models = [name for name in results["throughput"] if name in benchmark.MODELS]
    assert models
    for name in models:
        entry = results["throughput"][name]
        assert entry["augmentation_on"]["images_per_s"] > 0
        assert entry["augmentation_off"]["images_per_s"] > 0
        assert entry["augmentation_on"]["first_epoch_s"] > 0
        for key in ("augmentation_on", "augmentation_off"):
            timed = entry[key]
            assert len(timed["epoch_s"]) == 2  # tiny mode's --repeats
            low, high = timed["images_per_s_range"]
            assert low <= timed["images_per_s"] <= high
        assert len(results["torch"][name]["epoch_s"]) == 2
        assert results["torch"][name]["images_per_s"] > 0
        torch_count = results["torch"][name]["trainable_params"]
        assert torch_count == results["torch"][name]["keras_trainable_params"]
        assert torch_count == entry["augmentation_on"]["trainable_params"]
        assert results["original"]["models"][name]["ours_over_original"] > 0
    assert results["original"]["cpu_augmentation"]["images_per_s"] > 0

    estimate = results["sweep"]["estimate"]
    assert estimate["sequential"]["total_s"] > 0
    assert estimate["concurrent"]["total_s"] > 0
    assert estimate["models_measured"]
    for section in benchmark.SECTIONS:
        assert "error" not in results[section]
    text = markdown.read_text()
    assert "## Benchmark results" in text and "### Targets" in text


@pytest.mark.parametrize("name", benchmark.MODELS)
def test_torch_networks_have_the_keras_trainable_parameters(name):
    keras_network = training.build_network(name, benchmark.IMAGE_SHAPE, benchmark.CLASSES)
    torch_network = torch_networks.build(name, 3, 10)
    count = torch_networks.trainable_parameters(torch_network)
    assert count == benchmark.trainable_parameters(keras_network) == SPEC_TRAINABLE[name]
    groups = torch_network.parameter_groups()
    assert sum(len(group["params"]) for group in groups) == len(list(torch_network.parameters()))


def test_resnet_weight_decay_is_the_keras_l2_on_the_same_kernels():
    groups = torch_networks.ResNet().parameter_groups()
    decays = {group["weight_decay"]: group["params"] for group in groups}
    assert len(decays[2 * 0.0005]) == 2  # the stem convolution and the dense kernel
    assert len(decays[2 * 0.0001]) == 27 * 3 + 3  # three convolutions a module, three shortcuts
    assert all(w.ndim == 1 for w in decays[0.0])  # biases and BatchNorm only


def test_scipy_fallback_matches_the_legacy_apply_affine_transform():
    image = np.random.default_rng(0).random((20, 28, 3)).astype(np.float32)
    for params in [
        dict(theta=12.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0),
        dict(theta=-7.0, tx=3.2, ty=-2.5, shear=0.1, zx=0.9, zy=1.12),
    ]:
        ours = benchmark.scipy_affine_transform(image, **params)
        legacy = apply_affine_transform(image, row_axis=0, col_axis=1, channel_axis=2, **params)
        np.testing.assert_allclose(ours, legacy, atol=1e-6)


def test_scipy_random_transform_draws_within_the_ranges():
    image = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    transform = benchmark.scipy_random_transform(training.AUGMENTATION, np.random.default_rng(0))
    outputs = [transform(image) for _ in range(8)]
    assert all(output.shape == image.shape for output in outputs)
    assert not np.allclose(outputs[0], outputs[1])


def test_sweep_estimate_arithmetic():
    alone = dict(steady_epoch_s=2.0, overhead_s=10.0)
    shared = dict(steady_epoch_s=4.5, overhead_s=20.0)
    section = {"minivggnet": dict(alone=alone, shared=shared)}
    estimate = benchmark.estimate_sweep(section, 3, ["minivggnet"])
    # 8 runs: CIFAR-10 and CIFAR-100 epochs count once, MNIST's and Fashion-MNIST's 1.2 times.
    assert estimate["sequential"]["total_s"] == pytest.approx(8 * 10 + 60 * 2.0 * 8.8)
    assert estimate["concurrent"]["total_s"] == pytest.approx((8 * 20 + 60 * 4.5 * 8.8) / 3)
    assert estimate["models_missing"] == ["resnet", "googlenet"]
    assert estimate["speedup"] > 1


def test_sweep_with_the_sharing_runs_only(tmp_path, monkeypatch):
    requested = []

    def fake_group(model, count, epochs, folder, workspace, args):
        requested.append((model, count))
        return [dict(wall_s=30.0 + 2 * 5.0, epoch_times=[9.0, 5.0])] * count

    monkeypatch.setattr(benchmark, "run_group", fake_group)
    args = benchmark.parse_arguments(["--tiny", "--sections", "sweep", "--sweep-models",
                                      "resnet,minivggnet", "--concurrency", "3", "--sharing-only"])
    results = {}
    benchmark.measure_sweep(args, results, save=lambda: None)
    assert requested == [("resnet", 3), ("minivggnet", 3)]

    estimate = results["sweep"]["estimate"]
    # 256 fake training images: an epoch of 50,000 takes 50,000 / 256 times as long.
    resnet_s = (8 * 30.0 + 60 * 5.0 * 50_000 / 256 * 8.8) / 3
    assert estimate["concurrent"]["total_s"] == pytest.approx(2 * resnet_s)
    assert estimate["concurrent"]["missing"] == ["googlenet"]
    assert estimate["sequential"]["total_s"] == 0 and "speedup" not in estimate
    assert estimate["models_measured"] == ["resnet", "minivggnet"]
    lines = benchmark.sweep_table(results["sweep"]).splitlines()
    assert "- one run at a time: not measured" in lines
    assert f"- 3 runs at once: {2 * resnet_s:,.0f} s = {2 * resnet_s / 3600:.2f} h" in lines
    assert "    - not measured, so not in this total: googlenet" in lines
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    assert rows[2:] == [["resnet", "-", "-", "5.00", "30.0", "-"], ["minivggnet", "-", "-", "5.00", "30.0", "-"]]


def test_timing_takes_the_median_epoch_and_reports_the_range():
    timed = benchmark.timing([2.0, 1.0, 4.0], steps=10, batch_size=100)
    assert timed["images_per_s"] == 500.0  # 1,000 images in the median 2 s
    assert timed["images_per_s_range"] == [250.0, 1000.0]
    assert timed["step_ms"] == 200.0
    assert benchmark.rate(timed) == "500 (250-1,000)"


def test_an_augmentation_share_inside_the_epochs_spread_is_no_verdict():
    def entry(on_range, off_range, share):
        on = dict(images_per_s_range=on_range, compile_s=1.0)
        off = dict(images_per_s_range=off_range, compile_s=1.0)
        return dict(augmentation_on=on, augmentation_off=off, augmentation_share=share)

    # the H200's MiniVGGNet epochs of 2026-11-26, and two settings apart by more than their spread
    results = {"throughput": {"minivggnet": entry([49_094, 57_724], [42_221, 54_781], 0.003),
                              "googlenet": entry([20_000, 21_000], [30_000, 31_000], 0.35)}}  # fmt: skip
    verdicts = {c["what"]: c["passed"] for c in benchmark.check_targets(results)}
    assert verdicts["minivggnet: augmentation's share of a step"] is None
    assert verdicts["googlenet: augmentation's share of a step"] is False
    assert "within the epochs' spread" in benchmark.markdown(
        dict(environment=dict(date="d", device="g", cpu="c", keras="3", backend="jax", jax="j",
                              torch="t", numpy="n", scipy="s", python="p", precision="float32"),
             settings=dict(command="c", batch_size=128, repeats=5, steps=100, tiny=False),
             **results))  # fmt: skip


def test_step_breakdown_times_the_device_and_host_shares_of_a_step(tmp_path):
    environment = dict(os.environ, PYTHONPATH=REPO, KERAS_BACKEND="jax")
    environment.pop("XLA_FLAGS", None)
    command = [sys.executable, "benchmarks/step_breakdown.py", "--models", "minivggnet",
               "--batch-size", "8", "--steps", "6", "--calls", "3",
               "--hlo-folder", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    title, header, row = result.stdout.splitlines()[:3]
    assert title.endswith(f"float32, JAX {jax.__version__}, Keras {keras.__version__}, "
                          f"XLA_FLAGS {training.CONVOLUTION_GRAPHS}")  # as train.py compiles
    assert header.split()[:3] == ["model", "state", "arrays"]
    name, arrays, gflop, gb, fused_gb, launches, kernels, convolutions, gemms, *times = row.split()
    # 22 trainable (augmentation has none); 5 BatchNorms' 2 statistics and the seeds of the
    # augmentation and 3 dropouts; Adam's 2 slots a weight, its iteration and learning rate; the
    # loss's and the accuracy's total and count.
    assert (name, int(arrays)) == ("minivggnet", 22 + (10 + 4) + (44 + 2) + 4)
    program = (tmp_path / "minivggnet_train_step.hlo.txt").read_text()
    assert int(kernels) == step_breakdown.count_program(program)["kernels"] > 0
    assert int(launches) == len(step_breakdown.launches(program)) > int(kernels)
    assert float(gflop) > 0 and float(gb) > 0
    assert fused_gb == "0.03"  # see the next test
    assert (convolutions, gemms) == ("0", "0")  # XLA on a CPU calls no cuDNN
    device_ms, call_ms, loop_ms, host_ms = map(float, times)
    assert device_ms > 0 and call_ms > 0 and loop_ms > 0
    assert host_ms == pytest.approx(call_ms + loop_ms, abs=0.002)

    # Without donation XLA writes the updated state to new buffers, with no copies into the old.
    result = subprocess.run(command + ["--no-donation"], cwd=REPO, env=environment,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    title, _, row = result.stdout.splitlines()[:3]
    assert "float32, state not donated, JAX" in title
    kept = (tmp_path / "minivggnet_train_step.hlo.txt").read_text()
    copies = [[launch.opcode for launch in step_breakdown.launches(text)].count("copy")
              for text in (program, kept)]  # fmt: skip
    assert int(launches) - int(row.split()[5]) == copies[0] - copies[1] > 0

    # The one-pass variance takes BatchNorm's two reductions in one pass: fewer launches.
    result = subprocess.run(command + ["--one-pass-variance"], cwd=REPO, env=environment,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    title, _, row = result.stdout.splitlines()[:3]
    assert "float32, one-pass BatchNorm variance, JAX" in title
    assert int(row.split()[5]) < int(launches)

    environment["KERAS_BACKEND"] = "tensorflow"
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "error: this script compiles the step with jax.jit; set KERAS_BACKEND=jax"
    )


def test_one_pass_variance_gives_keras_moments_and_never_a_negative_variance():
    images = np.random.default_rng(0).normal(3.0, 0.5, (16, 8, 8, 4)).astype("float32")
    for keepdims in (False, True):
        mean, variance = step_breakdown.one_pass_moments(
            jax.numpy.asarray(images), (0, 1, 2), keepdims=keepdims
        )
        expected_mean, expected_variance = keras.ops.moments(images, (0, 1, 2), keepdims=keepdims)
        np.testing.assert_allclose(mean, keras.ops.convert_to_numpy(expected_mean), rtol=1e-6)
        np.testing.assert_allclose(variance, keras.ops.convert_to_numpy(expected_variance), rtol=1e-4)
    # E[x^2] - E[x]^2 of a constant 7.3 rounds to -2.3e-05 in float32.
    constant = jax.numpy.full((64, 8, 8, 3), 7.3, "float32")
    _, variance = step_breakdown.one_pass_moments(constant, (0, 1, 2))
    assert variance.tolist() == [0.0, 0.0, 0.0]
    _, variance = step_breakdown.one_pass_moments(constant.astype("bfloat16"), (0, 1, 2))
    assert variance.dtype == "bfloat16"


# An optimized GPU program's entry in XLA's text format, cut down: what is launched, what is not.
PROGRAM = """HloModule jit_train_step
%fused_computation.1 (p: f32[8]) -> f32[8] {
  %p = f32[8]{0} parameter(0)
  ROOT %negate = f32[8]{0} negate(%p)
}
ENTRY %main (a: f32[8,32,32,16], w: bf16[16,3,3,16], x: f32[8]) -> (f32[8], f32[8,32,32,16]) {
  %a = f32[8,32,32,16]{3,2,1,0} parameter(0), sharding={replicated}
  %w = bf16[16,3,3,16]{3,2,1,0} parameter(1), metadata={op_name="state[0][1]"}
  %x = f32[8]{0} parameter(2)
  %cudnn-conv = (f32[8,32,32,16]{3,2,1,0}, u8[0]{0}) custom-call(%a, %w), custom_call_target="__cudnn$convForward"
  %get-tuple-element = f32[8,32,32,16]{3,2,1,0} get-tuple-element(%cudnn-conv), index=0
  %cudnn-conv.1 = (f32[8,32,32,16]{3,2,1,0}, u8[0]{0}) custom-call(%get-tuple-element, %w), custom_call_target="__cudnn$convBackwardInput"
  %gemm = (f32[8,10]{1,0}, s8[0]{0}) custom-call(%x, %x), custom_call_target="__cublas$gemm"
  %loop_fusion = (f32[8]{0}, pred[8]{0}) fusion(%x), kind=kLoop, calls=%fused_computation.1, metadata={op_name="jit(f)/neg(x)"}
  %bitcast = f32[8]{0} bitcast(%x)
  %copy.1 = f32[8]{0} copy(%bitcast), control-predecessors={%gemm}
  ROOT %tuple = (f32[8]{0}, f32[8,32,32,16]{3,2,1,0}) tuple(%copy.1, %get-tuple-element)
}
"""


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="the stub stands in for the JAX trainer's step")  # fmt: skip
def test_keras_loop_timing_takes_every_batch_and_compiles_nothing():
    class CountedBatches(training.TrainingBatches):
        taken = 0

        def __getitem__(self, index):
            CountedBatches.taken += 1
            return super().__getitem__(index)

    images, labels = np.zeros((5 * 4, 32, 32, 3), "float32"), np.eye(10, dtype="float32")[:4]
    batches = CountedBatches(images, np.repeat(labels, 5, axis=0), batch_size=4, seed=0)
    model = training.build_model("minivggnet", training.make_optimizer("adam"), (32, 32, 3), 10)
    assert step_breakdown.keras_loop_ms(model, batches) > 0
    assert CountedBatches.taken == 1 + 5  # Keras peeks at one batch first; the stub takes all 5
    assert model.optimizer.built and model.train_function.__name__ == "stub"


def test_step_breakdown_counts_kernels_convolutions_and_gemms():
    counts = step_breakdown.count_program(PROGRAM)
    assert counts == dict(kernels=1, convolutions=2, gemms=1)


def test_launches_are_the_entrys_operations_with_the_bytes_they_move():
    activations, filters = 8 * 32 * 32 * 16 * 4, 16 * 3 * 3 * 16 * 2  # f32 and bf16
    assert step_breakdown.launches(PROGRAM) == [
        ("custom-call", activations + filters + activations, ""),
        ("custom-call", activations + filters + activations, ""),
        ("custom-call", 8 * 4 * 2 + 8 * 10 * 4, ""),
        ("fusion", 8 * 4 + 8 * 4 + 8 * 1, "jit(f)/neg(x)"),
        ("copy", 8 * 4 + 8 * 4, ""),
    ]


def test_launches_count_what_xla_cost_analysis_counts():
    def step(x, w, b):
        y = jax.numpy.tanh(x @ w + b)
        return y.sum(0), (y * y).mean()

    arrays = (np.ones((64, 32), "float32"), np.ones((32, 16), "float32"), np.ones(16, "float32"))
    compiled = jax.jit(step).lower(*arrays).compile()
    moved = sum(launch.bytes for launch in step_breakdown.launches(compiled.as_text()))
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # XLA also counts the output tuple's table of two 8-byte pointers, which no kernel moves.
    assert moved == cost["bytes accessed"] - 2 * 8


def test_gpu_program_runs_on_the_cpu_and_counts_the_saved_program(tmp_path):
    environment = dict(os.environ, PYTHONPATH=REPO, KERAS_BACKEND="jax")
    command = [sys.executable, "benchmarks/gpu_program.py", "--models", "minivggnet", "--cpu",
               "--batch-size", "8", "--hlo-folder", str(tmp_path), "--parts"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    title, header, row, *parts = result.stdout.splitlines()
    assert title.startswith("this machine's CPU, batch 8, float32, JAX ")
    assert header.split()[:4] == ["model", "launches", "under", "1"]
    name, launches, small, gb, floor_ms, kernels, convolutions, gemms, compile_s = row.split()
    moved = [launch.bytes for launch in step_breakdown.launches(
        (tmp_path / "minivggnet_train_step.hlo.txt").read_text())]  # fmt: skip
    assert (name, int(launches)) == ("minivggnet", len(moved))
    assert int(small) == sum(size < 1e6 for size in moved) > 0
    assert gb == f"{sum(moved) / 1e9:.2f}" and floor_ms == f"{sum(moved) / 3e12 * 1e3:.2f}"
    assert (convolutions, gemms) == ("0", "0") and float(compile_s) > 0
    counts = {line[:35].strip(): int(line[35:45]) for line in parts}
    assert sum(counts.values()) == len(moved)
    assert counts["batch_normalization, forward"] > 0 and counts["conv2d, backward"] > 0


def test_launches_are_split_by_the_layer_their_traced_name_gives():
    names = {
        "jit(train_step)/jvp(resnet)/batch_normalization_12/jit(_var)/reduce_sum":
            "batch_normalization, forward",
        "jit(train_step)/transpose(jvp(resnet))/conv2d_3/conv_general_dilated":
            "conv2d, backward",
        "jit(train_step)/jvp(affine_augmentation)/scatter": "affine_augmentation, forward",
        "jit(train_step)/jvp()/reduce_sum": "jvp()",
        "jit(train_step)/adam_1/sub": "adam",
        "state[0][173]": "state",
    }  # fmt: skip
    for name, expected in names.items():
        assert gpu_program.part(step_breakdown.Launch("fusion", 4, name), "resnet") == expected
    assert gpu_program.part(step_breakdown.Launch("copy", 4, ""), "resnet") == "copy, unnamed"


@pytest.mark.skipif(importlib.util.find_spec("jax_plugins") is not None,
                    reason="a JAX GPU plugin is installed here")  # fmt: skip
def test_gpu_program_without_the_cuda_plugin_says_how_to_install_it():
    environment = dict(os.environ, PYTHONPATH=REPO, KERAS_BACKEND="jax")
    command = [sys.executable, "benchmarks/gpu_program.py", "--models", "minivggnet"]
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "error: compiling for a GPU needs JAX's CUDA plugin (topology not implemented for cuda);"
        f' install it with pip install "jax[cuda13]=={jax.__version__}", or pass --cpu'
    )


def test_step_breakdown_fused_estimate_counts_convolutions_and_additions():
    # MiniVGGNet's four convolutions, (input, output) values per image: 11 X + 3 Y each.
    shapes = [(32 * 32 * 3, 32 * 32 * 32), (32 * 32 * 32, 32 * 32 * 32),
              (16 * 16 * 32, 16 * 16 * 64), (16 * 16 * 64, 16 * 16 * 64)]  # fmt: skip
    network = training.build_network("minivggnet", (32, 32, 3), 10)
    expected = sum(11 * x + 3 * y for x, y in shapes) * 8 * 4 / 1e9
    assert step_breakdown.fused_estimate_gb(network, 8) == pytest.approx(expected, rel=1e-12)

    inputs = keras.Input((4, 4, 2))
    outputs = keras.layers.Add()([keras.layers.Conv2D(2, 1)(inputs), inputs])
    residual = keras.Model(inputs, outputs)
    assert step_breakdown.fused_estimate_gb(residual, 1) == (11 * 32 + 3 * 32 + 6 * 32) * 4 / 1e9
    # in mixed bfloat16 the values between layers take 2 bytes
    convolution = keras.layers.Conv2D(2, 1, dtype="mixed_bfloat16")
    outputs = keras.layers.Add(dtype="mixed_bfloat16")([convolution(inputs), inputs])
    residual = keras.Model(inputs, outputs)
    assert step_breakdown.fused_estimate_gb(residual, 1) == (11 * 32 + 3 * 32 + 6 * 32) * 2 / 1e9


def test_validation_cost_times_each_batch_size_and_gets_the_same_loss():
    environment = dict(os.environ, PYTHONPATH=REPO)
    command = [sys.executable, "benchmarks/validation_cost.py", "--models", "minivggnet",
               "--images", "60", "--batch-sizes", "8,60", "--repeats", "1"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    title, small, whole = result.stdout.splitlines()
    assert title.endswith(", 60 images")
    assert small.split()[:3] == ["minivggnet", "batch", "8:"]
    assert whole.split()[:3] == ["minivggnet", "batch", "60:"]
    assert float(small.split()[3]) > 0
    losses = [float(line.split("loss ")[1]) for line in (small, whole)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
