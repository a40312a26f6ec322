"""benchmarks/cpu.py: a tiny run of the CPU measurement, and its FLOP count against one by hand."""

import argparse
import json

import pytest

from benchmarks import cpu
from benchmarks.common import forward_flops
from support import run_script
from pyimagesearch import training
from pyimagesearch.errors import UserError

# MiniVGGNet's multiply-adds for one 32x32x1 image: output positions x kernel weights, layer by layer.
MINIVGGNET_MACS = [
    32 * 32 * (3 * 3 * 1 * 32),  # the first convolution: 294,912
    32 * 32 * (3 * 3 * 32 * 32),
    16 * 16 * (3 * 3 * 32 * 64),  # after the first 2x2 pooling
    16 * 16 * (3 * 3 * 64 * 64),
    (8 * 8 * 64) * 512,  # the dense layers, after the second pooling
    512 * 10,
]


def test_forward_flops_of_minivggnet_are_counted_as_by_hand():
    network = training.build_network("minivggnet", (32, 32, 1), 10)
    assert forward_flops(network) == 2 * sum(MINIVGGNET_MACS) == 51_980_288


def test_a_tiny_run_reports_images_per_second_against_the_roofline(tmp_path):
    result = run_script("benchmarks/cpu.py", "--backends", "tensorflow", "--models", "minivggnet",
                        "--batch-sizes", "8", "--steps", "2", "--repeats", "1", "--matmul-size", "256",
                        "--mixed-precision", "--results", tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "cpu.json").read_text())
    assert data["forward_flops"] == {"minivggnet": 2 * sum(MINIVGGNET_MACS)}
    assert data["matmul_gflops"] > 0 and data["usable_cores"] >= 1
    assert data["libraries"]["tensorflow"]["oneDNN"] in ("on", "off", "not reported")
    assert list(data["backend_seconds"]) == ["tensorflow"]
    on, off = data["runs"]
    assert [(run["backend"], run["model"], run["batch_size"], run["augmentation"]) for run in (on, off)] == [
        ("tensorflow", "minivggnet", 8, True), ("tensorflow", "minivggnet", 8, False)]  # fmt: skip
    for run in (on, off):
        assert len(run["epoch_s"]) == 1 and run["images_per_s"] > 0
        assert run["compute_dtype"] == "bfloat16"  # the second fit's too, after Keras cleared its session
        assert run["gflops"] == pytest.approx(run["images_per_s"] * 3 * 2 * sum(MINIVGGNET_MACS) / 1e9)
        assert run["of_matmul"] == pytest.approx(run["gflops"] / data["matmul_gflops"])
    text = (tmp_path / "cpu.md").read_text()
    assert text == result.stdout
    assert f"**{data['matmul_gflops']:,.1f} GFLOP/s** (the roofline)" in text
    assert "| minivggnet | 52.0" in text
    assert "Adam, bfloat16 with float32 weights (mixed_bfloat16); median of 1 epochs of 2 steps" in text
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if "| tensorflow" in line]
    assert rows == [["minivggnet", "8", "tensorflow", cpu.rate(on), cpu.share(on), cpu.rate(off), cpu.share(off),
                     f"{on['compile_s']:.1f} / {off['compile_s']:.1f}"]]  # fmt: skip
    # The same report for a run without --mixed-precision names float32.
    in_float32 = argparse.Namespace(backends=["tensorflow"], models=["minivggnet"], batch_sizes=[8], channels=1,
                                    steps=2, repeats=1, mixed_precision=False, matmul_size=256)  # fmt: skip
    assert "Adam, float32; median of 1 epochs of 2 steps" in cpu.markdown(data, in_float32)


def test_an_unknown_backend_is_a_one_line_error():
    result = run_script("benchmarks/cpu.py", "--backends", "tensorflow,theano")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(
        "error: argument --backends: unknown backend 'theano': choose from tensorflow, jax, torch")


@pytest.mark.parametrize("kind", ["study", "demo"])
def test_cpu_runs_times_train_py_runs_that_differ_only_in_their_seed(kind):
    import shlex

    import train
    from benchmarks import cpu_runs

    lines = cpu_runs.commands(kind, 2, 3, "/tmp/out")
    parsed = [train.parse_arguments(shlex.split(line)[2:]) for line in lines]
    assert [args.seed for args in parsed] == [1, 2] and {args.epochs for args in parsed} == {3}
    assert [args.history for args in parsed] == ["/tmp/out/run1.pickle", "/tmp/out/run2.pickle"]
    first, second = (dict(vars(args), seed=None, history=None, report=None) for args in parsed)
    assert first == second
    assert (first["model"], first["batch_size"]) == (("minivggnet", 128) if kind == "study" else ("resnet", 8))


def test_cpu_runs_refuses_one_run_at_once_in_one_line(monkeypatch, capsys):
    from benchmarks import cpu_runs

    # One at once would time one at a time twice and report the two as 1.00 times as fast.
    monkeypatch.setattr(cpu_runs, "timed_sweep", lambda lines, runs, folder: pytest.fail("it measured"))
    monkeypatch.setattr("sys.argv", ["cpu_runs.py", "--kind", "demo", "--cpu-runs", "1"])
    with pytest.raises(SystemExit) as exit:
        cpu_runs.main()
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "cpu_runs.py: error: argument --cpu-runs: takes at least 2 runs at once, to time against one at a "
        "time, not '1'")


def test_cpu_runs_names_why_a_run_failed_from_its_log(tmp_path):
    from benchmarks import cpu_runs

    # Runs that fail before Keras starts: the first on its arguments, the second on its data set.
    lines = [f"python train.py --history {tmp_path}/run1.pickle --report {tmp_path}/run1.txt --epochs 0",
             f"python train.py --history {tmp_path}/run2.pickle --report {tmp_path}/run2.txt --dataset cifar10 "
             "--no-download"]  # fmt: skip
    with pytest.raises(UserError) as failed:
        cpu_runs.timed_sweep(lines, 1, str(tmp_path))
    message = str(failed.value)
    assert message.startswith("a run failed under sweep.py --cpu-runs 1 (run1.log: train.py: error: argument --epochs: "
                              "takes a whole number of at least 1, not '0'; run2.log: error: cifar10 is not in ")  # fmt: skip
    assert "\n" not in message


@pytest.mark.parametrize("op_name, kind", [
    ("StatefulPartitionedCall/sequential_1/minivggnet_1/activation_1_2/Relu:_MklNativeFusedConv2D",
     "convolutions and dense layers"),
    ("StatefulPartitionedCall/gradient_tape/sequential_1/minivggnet_1/dense_1/MatMul/MatMul_1:_MklMatMul",
     "convolutions and dense layers"),
    ("StatefulPartitionedCall/gradient_tape/sequential_1/minivggnet_1/batch_normalization_1/moments/sub:Sub",
     "BatchNormalization"),
    ("StatefulPartitionedCall/sequential_1/minivggnet_1/max_pooling2d_1/MaxPool2d:_MklNativeMaxPool", "pooling"),
    ("StatefulPartitionedCall/gradient_tape/sequential_1/minivggnet_1/activation_1/ReluGrad:ReluGrad", "activations"),
    ("StatefulPartitionedCall/adam/Square_16:Square", "Adam"),
    ("StatefulPartitionedCall/AddN_7:AddN", "the rest (gradient sums, loss, metrics)"),
])  # fmt: skip
def test_the_profile_puts_each_op_under_its_layer_kind(op_name, kind):
    from benchmarks import cpu_profile

    assert cpu_profile.kind_of(op_name) == kind


def test_a_tiny_profile_sums_the_ops_of_a_step_by_layer_kind(tmp_path):
    result = run_script("benchmarks/cpu_profile.py", "--batch-size", "8", "--steps", "2", "--results", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "cpu_profile.json").read_text())
    assert data["training_flops"] == 3 * 8 * 2 * sum(MINIVGGNET_MACS)
    assert data["op_ms"]["convolutions and dense layers"] > 0 and data["op_ms"]["BatchNormalization"] > 0
    assert data["op_ms"]["augmentation"] > 0 and data["step_ms"] > 0
    text = (tmp_path / "cpu_profile.md").read_text()
    assert text == result.stdout
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines()[-len(data["op_ms"]) - 1:]]
    assert [row[0] for row in rows] == [*data["op_ms"], "all ops"]
    assert [row[1] for row in rows[:-1]] == [f"{ms:.1f}" for ms in data["op_ms"].values()]
