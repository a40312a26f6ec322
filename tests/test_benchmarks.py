"""benchmarks/: each script's logic on tiny inputs on the CPU, and the pieces they share."""

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys

import jax
import keras
import numpy as np
import pytest

import combinations
from benchmarks import (common, cpu_augmentation, fixed_costs, gpu_program, programs,
                        throughput, torch_networks, whole_sweep)
from pyimagesearch import training
from pyimagesearch.datasets import load_dataset
from pyimagesearch.errors import UserError
from pyimagesearch.original import MODELS
from support import REPO, run_script


# The networks' trainable parameters for 32x32x3 inputs and 10 classes, as the original's.
SPEC_TRAINABLE = {"minivggnet": 2_169_770, "googlenet": 1_652_826, "resnet": 873_872}


def jax_environment():
    """The scripts' environment on a GPU box: JAX, whatever backend the suite runs on."""
    environment = dict(os.environ, PYTHONPATH=REPO, KERAS_BACKEND="jax")
    environment.pop("XLA_FLAGS", None)
    return environment


def test_synthetic_data_sets_read_back_as_the_real_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    written = common.write_keras_datasets(str(tmp_path / "datasets"), common.DATASET_SHAPES,
                                          train_images=200, test_images=100)  # fmt: skip
    for name, (_, _, shape, classes) in common.DATASET_SHAPES.items():
        data = load_dataset(name)
        (train_x, train_y), (test_x, test_y) = written[name]
        channels = 3 if len(shape) == 3 else 1
        assert data.train_x.shape == (200, 32, 32, channels) and data.test_x.shape == (100, 32, 32, channels)
        assert data.num_classes == classes == len(data.label_names)
        assert data.train_y.argmax(axis=1).tolist() == train_y.tolist()
        assert data.test_y.argmax(axis=1).tolist() == test_y.tolist()
        if channels == 3:  # not resized: the very pixels written
            np.testing.assert_array_equal(np.rint(data.train_x * 255), train_x)
            np.testing.assert_array_equal(np.rint(data.test_x * 255), test_x)


def test_timing_takes_the_median_epoch_and_reports_the_range():
    timed = throughput.timing([2.0, 1.0, 4.0], steps=10, batch_size=100)
    assert (timed["images_per_s"], timed["slowest"], timed["fastest"]) == (500.0, 250.0, 1000.0)
    assert throughput.rate(timed) == "500 (250-1,000)"


def test_throughput_of_keras_and_pytorch_on_tiny_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # restored afterwards
    throughput.main(["--models", "minivggnet", "--batch-size", "4", "--steps", "2", "--repeats", "2",
                     "--results", str(tmp_path)])  # fmt: skip
    results = json.loads((tmp_path / "throughput.json").read_text())["results"]
    entry = results["minivggnet"]
    for key in ("augmentation_on", "augmentation_off", "pytorch"):
        timed = entry[key]
        assert len(timed["epoch_s"]) == 2
        assert timed["slowest"] <= timed["images_per_s"] <= timed["fastest"]
    assert entry["pytorch"]["trainable_params"] == entry["trainable_params"] == SPEC_TRAINABLE["minivggnet"]
    row = [line for line in (tmp_path / "throughput.md").read_text().splitlines() if "minivggnet" in line][0]
    ratio = entry["augmentation_on"]["images_per_s"] / entry["pytorch"]["images_per_s"]
    assert row.split("|")[-2].strip() == f"{ratio:.2f}x"
    assert row.split("|")[2].strip() == throughput.rate(entry["augmentation_on"])


def test_the_2019_design_is_bound_by_one_core_or_by_the_training_step():
    results = {"results": {
        "minivggnet": dict(augmentation_on=dict(images_per_s=5000.0), augmentation_off=dict(images_per_s=6000.0)),
        "resnet": dict(augmentation_on=dict(images_per_s=480.0), augmentation_off=dict(images_per_s=400.0)),
    }}  # fmt: skip
    lines = cpu_augmentation.against_ours(results, core_rate=1000.0).splitlines()
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:]]
    assert rows == [["minivggnet", "5,000", "1,000", "5.0x"], ["resnet", "480", "400", "1.2x"]]


def test_cpu_augmentation_rate_on_one_core(tmp_path, capsys):
    assert cpu_augmentation.one_core_rate(8) > 0
    with pytest.raises(SystemExit) as stopped:
        cpu_augmentation.main(["--throughput", str(tmp_path / "missing.json")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"error: argument --throughput: cannot read {tmp_path / 'missing.json'} (no such file); give the "
        "throughput.json that throughput.py --results wrote"
    )


@pytest.mark.parametrize("content", [
    "{}", "[1]", '{"results": []}', '{"results": {}}', '{"results": {"resnet": 1}}',
    '{"results": {"resnet": {"augmentation_on": {"images_per_s": 5}}}}',
    '{"results": {"resnet": {"augmentation_on": {"images_per_s": 5}, "augmentation_off": {"images_per_s": 0}}}}',
    "/dev/zero",
])  # fmt: skip
def test_cpu_augmentation_refuses_what_is_not_throughput_results(content, tmp_path, capsys):
    path = content if content.startswith("/dev/") else tmp_path / "throughput.json"
    if path != content:
        path.write_text(content)
    with pytest.raises(SystemExit) as stopped:
        cpu_augmentation.main(["--throughput", str(path)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"error: argument --throughput: cannot read {path} (not throughput.py's results); give the "
        "throughput.json that throughput.py --results wrote"
    )


def test_fixed_costs_times_every_phase_of_a_run(tmp_path):
    command = [sys.executable, "benchmarks/fixed_costs.py", "--models", "minivggnet",
               "--train-images", "64", "--test-images", "20", "--results", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=jax_environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    seconds = json.loads((tmp_path / "fixed_costs.json").read_text())["results"]["minivggnet"]
    assert list(seconds) == list(fixed_costs.PHASES) + ["total"]
    assert all(value >= 0 for value in seconds.values())
    assert seconds["train_compile"] > 0 and seconds["imports"] > 0
    assert seconds["total"] == pytest.approx(sum(seconds[key] for key in fixed_costs.PHASES))
    text = (tmp_path / "fixed_costs.md").read_text()
    assert f"| **the run's fixed time**                     | **{seconds['total']:.1f}**" in text


def test_the_report_fixed_costs_writes_has_every_class_when_few_test_images_hold_fewer(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    common.write_keras_datasets(str(tmp_path / "datasets"), ["cifar10"], train_images=20, test_images=5)
    data = load_dataset("cifar10")
    predictions = np.eye(10, dtype="float32")[[0, 1, 2, 3, 9]]  # a class the 5 test images lack
    rows = training.report(data, predictions).splitlines()
    assert [row.split()[0] for row in rows[2:12]] == data.label_names
    assert "accuracy" in rows[13]


def test_fixed_costs_refuses_fewer_training_images_than_classes(capsys):
    with pytest.raises(SystemExit) as exit:
        fixed_costs.main(["--train-images", "9"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "error: argument --train-images: takes at least 10 images, one of each class, not '9'")


def test_the_summary_replays_the_runs_on_as_many_lanes_as_ran_at_once():
    # Two lanes: 10 s from 0, 6 s from 0.5, then 5 s on the lane free at 6 (it ends at 11).
    runs = [dict(start_s=0.0, wall_s=10.0), dict(start_s=0.5, wall_s=6.0), dict(start_s=6.5, wall_s=5.0)]
    assert whole_sweep.lanes_used(runs) == 2
    totals = whole_sweep.summary([dict(run, full_s=100.0) for run in runs], wall=13.0, epochs=2)
    assert totals["measured_schedule_s"] == 11.0 and totals["outside_runs_s"] == 2.0
    assert totals["full_schedule_s"] == 200.0 and totals["full_estimate_s"] == 202.0


def test_a_run_is_timed_from_the_lines_that_name_it_and_its_history(tmp_path):
    history = tmp_path / "resnet_adam_mnist.pickle"
    history.write_bytes(pickle.dumps(dict(loss=[1.0] * 3, epoch_time=[20.0, 4.0, 6.0])))
    lines = [(0.2, "3 runs, 3 at a time on 1 GPU(s)"), (1.0, f"started on GPU 0: python train.py --history {history}"),
             (7.0, "started on GPU 0: python train.py --history other.pickle"),
             (31.0, f"[1/3] done: python train.py --history {history}")]  # fmt: skip
    (run,) = whole_sweep.timed_runs([str(history)], lines, epochs=3)
    assert run == dict(run="resnet_adam_mnist", start_s=1.0, wall_s=30.0, epoch_s=[20.0, 4.0, 6.0],
                       steady_epoch_s=5.0, fixed_s=15.0, full_s=315.0)  # fmt: skip
    with pytest.raises(UserError) as error:
        whole_sweep.timed_runs(["other.pickle"], lines, epochs=3)
    assert str(error.value) == (
        "sweep.py's output names other.pickle 1 time(s), not at its start and its end: the run "
        "cannot be timed"
    )


def test_the_runs_are_read_from_the_generated_script(tmp_path):
    script, output = tmp_path / "parallel.sh", tmp_path / "out"
    args = whole_sweep.parse_arguments(["--models", "minivggnet", "--datasets", "mnist", "cifar100",
                                        "--epochs", "3"])  # fmt: skip
    command = whole_sweep.script_command(args, str(output), str(script))
    combinations.main(command[2:])
    assert whole_sweep.history_paths(str(script)) == [
        f"{output}/minivggnet_{optimizer}_{dataset}.pickle"
        for dataset in ("mnist", "cifar100") for optimizer in ("adam", "radam")
    ]  # fmt: skip
    assert "--epochs 3" in script.read_text()


def test_the_sweep_timed_whole_on_tiny_data(tmp_path):
    command = [sys.executable, "benchmarks/whole_sweep.py", "--models", "minivggnet",
               "--datasets", "cifar10", "--optimizers", "adam", "--epochs", "2",
               "--train-images", "256", "--test-images", "100", "--results", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=jax_environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    measured = json.loads((tmp_path / "whole_sweep.json").read_text())
    (run,) = measured["runs"]
    assert run["run"] == "minivggnet_adam_cifar10" and len(run["epoch_s"]) == 2
    assert run["steady_epoch_s"] == run["epoch_s"][1]
    assert run["fixed_s"] == pytest.approx(run["wall_s"] - 2 * run["steady_epoch_s"])
    assert run["full_s"] == pytest.approx(run["fixed_s"] + 60 * run["steady_epoch_s"])
    totals = measured["totals"]
    assert (totals["runs"], totals["lanes"]) == (1, 1)  # no GPU: sweep.py runs one at a time
    assert totals["measured_schedule_s"] == pytest.approx(run["wall_s"])
    assert totals["full_estimate_s"] == pytest.approx(totals["outside_runs_s"] + run["full_s"])
    assert 0 <= totals["outside_runs_s"] < totals["wall_s"]
    text = (tmp_path / "whole_sweep.md").read_text()
    assert f"{run['fixed_s']:.1f} + 60 x {run['steady_epoch_s']:.2f} = {run['full_s']:,.0f}" in text
    assert "minivggnet_adam_cifar10.pickle" in (tmp_path / "whole_sweep.log").read_text()


@pytest.mark.parametrize("name", MODELS)
def test_torch_networks_have_the_keras_trainable_parameters(name):
    keras_network = training.build_network(name, common.IMAGE_SHAPE, common.CLASSES)
    torch_network = torch_networks.build(name, 3, 10)
    count = torch_networks.trainable_parameters(torch_network)
    assert count == throughput.trainable_parameters(keras_network) == SPEC_TRAINABLE[name]
    groups = torch_network.parameter_groups()
    assert sum(len(group["params"]) for group in groups) == len(list(torch_network.parameters()))


def test_resnet_weight_decay_is_the_keras_l2_on_the_same_kernels():
    groups = torch_networks.ResNet().parameter_groups()
    decays = {group["weight_decay"]: group["params"] for group in groups}
    assert len(decays[2 * 0.0005]) == 2  # the stem convolution and the dense kernel
    assert len(decays[2 * 0.0001]) == 27 * 3 + 3  # three convolutions a module, three shortcuts
    assert all(w.ndim == 1 for w in decays[0.0])  # biases and BatchNorm only


def test_step_breakdown_times_the_device_and_host_shares_of_a_step(tmp_path):
    environment = jax_environment()
    command = [sys.executable, "benchmarks/step_breakdown.py", "--models", "minivggnet",
               "--batch-size", "8", "--steps", "6", "--calls", "3",
               "--hlo-folder", str(tmp_path / "programs")]  # made as it is written into; fmt: skip
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    title, header, row = result.stdout.splitlines()[:3]
    assert title.endswith(f"float32, JAX {jax.__version__}, Keras {keras.__version__}, "
                          f"XLA_FLAGS {training.CONVOLUTION_GRAPHS}")  # as train.py compiles
    assert header.split()[:3] == ["model", "state", "arrays"]
    name, arrays, gflop, gb, launches, kernels, convolutions, gemms, *times = row.split()
    # 22 trainable (augmentation has none); 5 BatchNorms' 2 statistics and the seeds of the
    # augmentation and 3 dropouts; Adam's 2 slots a weight, its iteration and learning rate; the
    # loss's and the accuracy's total and count.
    assert (name, int(arrays)) == ("minivggnet", 22 + (10 + 4) + (44 + 2) + 4)
    program = (tmp_path / "programs" / "minivggnet_train_step.hlo.txt").read_text()
    assert int(kernels) == programs.count_program(program)["kernels"] > 0
    assert int(launches) == len(programs.launches(program)) > int(kernels)
    assert float(gflop) > 0 and float(gb) > 0
    assert (convolutions, gemms) == ("0", "0")  # XLA on a CPU calls no cuDNN
    device_ms, call_ms, loop_ms, host_ms = map(float, times)
    assert device_ms > 0 and call_ms > 0 and loop_ms > 0
    assert host_ms == pytest.approx(call_ms + loop_ms, abs=0.002)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the suite runs on JAX")
def test_step_breakdown_on_another_backend_says_to_use_jax():
    parser = programs.shared_parser("")
    with pytest.raises(UserError) as error:
        programs.parse(parser, ["--models", "minivggnet"])
    assert str(error.value) == "this script compiles the step with jax.jit; set KERAS_BACKEND=jax"


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
    assert programs.keras_loop_ms(model, batches) > 0
    assert CountedBatches.taken == 1 + 5  # Keras peeks at one batch first; the stub takes all 5
    assert model.optimizer.built and model.train_function.__name__ == "stub"


def test_step_breakdown_counts_kernels_convolutions_and_gemms():
    counts = programs.count_program(PROGRAM)
    assert counts == dict(kernels=1, convolutions=2, gemms=1)


def test_launches_are_the_entrys_operations_with_the_bytes_they_move():
    activations, filters = 8 * 32 * 32 * 16 * 4, 16 * 3 * 3 * 16 * 2  # f32 and bf16
    assert programs.launches(PROGRAM) == [
        ("custom-call", activations + filters + activations, ""),
        ("custom-call", activations + filters + activations, ""),
        ("custom-call", 8 * 4 * 2 + 8 * 10 * 4, ""),
        ("fusion", 8 * 4 + 8 * 4 + 8 * 1, "jit(f)/neg(x)"),
        ("copy", 8 * 4 + 8 * 4, ""),
    ]


# In the JAX pass: compiling starts JAX's runtime in the test process, and a subprocess forked after
# that, in a test of the TensorFlow pass, draws JAX's warning that os.fork() may deadlock.
@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="compiles with JAX: runs in the JAX pass")
def test_launches_count_what_xla_cost_analysis_counts():
    def step(x, w, b):
        y = jax.numpy.tanh(x @ w + b)
        return y.sum(0), (y * y).mean()

    arrays = (np.ones((64, 32), "float32"), np.ones((32, 16), "float32"), np.ones(16, "float32"))
    compiled = jax.jit(step).lower(*arrays).compile()
    moved = sum(launch.bytes for launch in programs.launches(compiled.as_text()))
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
    moved = [launch.bytes for launch in programs.launches(
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
        assert gpu_program.part(programs.Launch("fusion", 4, name), "resnet") == expected
    assert gpu_program.part(programs.Launch("copy", 4, ""), "resnet") == "copy, unnamed"


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


@pytest.mark.parametrize("arguments, message", [
    (["--models", "resnet,foo"], "argument --models: unknown model 'foo': choose from resnet, googlenet, minivggnet"),
    (["--batch-sizes", "8,x"], "argument --batch-sizes: takes a whole number of at least 1, not 'x'"),
    (["--images", "0"], "argument --images: takes a whole number of at least 1, not '0'"),
])  # fmt: skip
def test_validation_cost_refuses_bad_arguments_in_one_line(arguments, message):
    result = run_script("benchmarks/validation_cost.py", *arguments)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"validation_cost.py: error: {message}"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine may have a GPU to measure")
def test_gpu_check_without_a_gpu_says_so_and_measures_nothing(tmp_path):
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(tmp_path / "results")], cwd=REPO,
                            capture_output=True, text=True)  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: gpu_check.sh measures an NVIDIA GPU, and nvidia-smi finds none here\n"
    assert not (tmp_path / "results").exists()


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


def refusal(script, arguments, monkeypatch, capsys):
    """The line a benchmark's argument parser refuses `arguments` with, having exited with code 2."""
    module = importlib.import_module(f"benchmarks.{script}")
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *arguments])
    with pytest.raises(SystemExit) as exit:
        module.main()
    assert exit.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("script, option, value", [
    ("cpu_augmentation", "--images", "0"),
    ("checkpoint_cost", "--repeats", "0"),
    ("augmentation_cost", "--repeats", "0"),
    ("augmentation_cost", "--batch-size", "0"),
    ("fixed_costs", "--repeats", "0"),
    ("fixed_costs", "--train-images", "-1"),
    ("fixed_costs", "--test-images", "0"),
    ("step_breakdown", "--steps", "0"),
    ("step_breakdown", "--calls", "0"),
    ("step_breakdown", "--batch-size", "0"),
])  # fmt: skip
def test_counts_below_one_are_refused_in_one_line(script, option, value, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())  # augmentation_cost's default is JAX
    assert refusal(script, [option, value], monkeypatch, capsys) == (
        f"{script}.py: error: argument {option}: takes a whole number of at least 1, not {value!r}")


@pytest.mark.parametrize("script, option", [
    ("throughput", "--results"), ("cpu_augmentation", "--results"), ("fixed_costs", "--results"),
    ("cpu", "--results"), ("cpu_profile", "--results"), ("cpu_runs", "--results"), ("whole_sweep", "--results"),
    ("step_breakdown", "--hlo-folder"), ("gpu_program", "--hlo-folder"),
])  # fmt: skip
@pytest.mark.parametrize("folder, message", [
    ("taken", "'{tmp}/taken' or a folder above it is a file, not a folder; choose another folder"),
    ("taken/results", "'{tmp}/taken/results' or a folder above it is a file, not a folder; choose another folder"),
    ("", "needs a folder"),
])  # fmt: skip
def test_an_output_folder_that_cannot_be_written_is_refused_before_measuring(script, option, folder, message,
                                                                              tmp_path, monkeypatch, capsys):  # fmt: skip
    (tmp_path / "taken").write_text("not a folder")
    path = str(tmp_path / folder) if folder else ""
    assert refusal(script, [option, path], monkeypatch, capsys) == (
        f"{script}.py: error: argument {option}: {message.format(tmp=tmp_path)}")
    assert os.listdir(tmp_path) == ["taken"]


@pytest.mark.parametrize("script, option", [
    ("cpu_augmentation", "--results"), ("fixed_costs", "--results"), ("step_breakdown", "--hlo-folder"),
])  # fmt: skip
def test_a_command_refused_after_its_output_folder_leaves_no_folder(script, option, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())
    assert refusal(script, [option, str(tmp_path / "new" / "results"), "--unknown"], monkeypatch, capsys) == (
        f"{script}.py: error: unrecognized arguments: --unknown")
    assert os.listdir(tmp_path) == []


def test_a_saved_program_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    saved = tmp_path / "net_train_step.hlo.txt"
    saved.write_text("the old program")

    class Interrupted:  # a compiled step whose program text Ctrl-C cuts short; no JAX started in this process
        def lower(self, *arguments):
            return self

        def compile(self):
            return self

        def as_text(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(programs.jax, "jit", lambda function, **options: Interrupted())
    model = type("Model", (), {"train_step": None})
    with pytest.raises(KeyboardInterrupt):
        programs.compiled_step(model, None, None, str(tmp_path), "net")
    assert saved.read_text() == "the old program"
    assert os.listdir(tmp_path) == [saved.name]


def test_the_whole_sweep_refuses_fewer_training_images_than_a_batch(capsys):
    with pytest.raises(SystemExit) as exit:
        whole_sweep.parse_arguments(["--train-images", "127"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "error: argument --train-images: takes at least 128 images, a batch of train.py's, not '127'")
    assert whole_sweep.parse_arguments(["--train-images", "128"]).train_images == 128


def test_a_failed_sweep_says_why_its_runs_failed_as_their_logs_go(monkeypatch):
    def failed(script, environment):
        output = os.path.join(os.path.dirname(script), "output")
        os.makedirs(output, exist_ok=True)
        with open(os.path.join(output, "minivggnet_adam_cifar10.log"), "w") as log:
            log.write("Epoch 1/2\nerror: the run could not go on\n\n")
        with open(os.path.join(output, "minivggnet_radam_cifar10.log"), "w") as log:
            log.write("it finished\n")
        with open(os.path.join(output, "minivggnet_radam_cifar10.txt"), "w") as report:
            report.write("its report\n")
        return [], 1.0, 1

    monkeypatch.setattr(whole_sweep, "run_script", failed)
    with pytest.raises(UserError) as error:
        whole_sweep.main(["--models", "minivggnet", "--datasets", "cifar10", "--train-images", "128",
                          "--test-images", "10"])  # fmt: skip
    assert str(error.value) == ("the sweep's script failed (exit 1); its output is above; "
                                "minivggnet_adam_cifar10.log: error: the run could not go on")
