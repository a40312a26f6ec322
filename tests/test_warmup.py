"""adam-warmup: Adam with Ma and Yarats' untuned linear warmup, from the schedule to the scripts."""

import pickle

import keras
import numpy as np
import pytest

import combinations
import plot
import train
from pyimagesearch import runs as run_names
from pyimagesearch import training
from pyimagesearch.histories import read_history
from pyimagesearch.radam import LinearWarmup, untuned_warmup_steps


def rate(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


@pytest.mark.backend
def test_the_untuned_schedule_ramps_over_2000_steps_then_stays():
    optimizer = training.make_optimizer("adam-warmup")
    schedule = optimizer._learning_rate
    assert untuned_warmup_steps(0.999) == 2000 and optimizer.beta_2 == 0.999
    assert schedule.get_config() == {"learning_rate": 1e-3, "warmup_steps": 2000}
    # Step s is the number of updates done before this one: update number s + 1.
    expected = {0: 1e-3 / 2000, 1: 2e-3 / 2000, 1000: 1e-3 * 1001 / 2000, 1998: 1e-3 * 1999 / 2000,
                1999: 1e-3, 2000: 1e-3, 2001: 1e-3, 100_000: 1e-3}  # fmt: skip
    assert {step: rate(schedule, step) for step in expected} == pytest.approx(expected, rel=1e-6)
    optimizer.iterations.assign(1000)  # as Keras calls it
    assert rate(schedule, optimizer.iterations) == pytest.approx(1e-3 * 1001 / 2000, rel=1e-6)


@pytest.mark.backend
def test_the_applied_rate_is_the_latest_updates_not_the_next_ones():
    optimizer = training.make_optimizer("adam-warmup", warmup_steps=10)
    assert training.applied_learning_rate(optimizer) == 0  # no update yet
    for updates, applied in [(1, 1e-4), (4, 4e-4), (10, 1e-3), (25, 1e-3)]:
        optimizer.iterations.assign(updates)
        assert training.applied_learning_rate(optimizer) == pytest.approx(applied, rel=1e-6)


@pytest.mark.backend
def test_radam_with_its_schedule_off_applies_adams_constant_rate():
    # --radam-total-steps 0: the like-for-like partner of adam-warmup in README's comparison.
    optimizer = training.make_optimizer("radam", radam_total_steps=0)
    for updates in [1, 10, 500, 5000, 20_000]:
        optimizer.iterations.assign(updates)
        assert training.applied_learning_rate(optimizer) == pytest.approx(1e-3, rel=1e-6)


@pytest.mark.backend
def test_a_saved_model_keeps_its_warmup_schedule_and_step(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=training.make_optimizer("adam-warmup", warmup_steps=8), loss="mse")
    model.fit(np.ones((12, 3)), np.zeros((12, 2)), batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")

    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer._learning_rate, LinearWarmup)
    assert loaded.optimizer._learning_rate.get_config() == {"learning_rate": 1e-3, "warmup_steps": 8}
    assert int(loaded.optimizer.iterations) == 3
    assert training.applied_learning_rate(loaded.optimizer) == pytest.approx(1e-3 * 3 / 8, rel=1e-6)


# TensorFlow only: on JAX this test took 100 s on 2 busy CPU cores, and the tests above cover the
# schedule's JAX path.
def test_a_digits_run_records_the_ramp_and_resumes_on_it(tmp_path, capsys, monkeypatch):
    # digits: 1347 // 128 = 10 updates an epoch; with 15 warmup steps epoch 1 ends at 10/15 of
    # 1e-3 and epoch 2 at the full rate. The run is stopped after epoch 1's checkpoint and resumed
    # from it, so the schedule also goes through the checkpoint's saved optimizer.
    out = tmp_path / "out"
    arguments = ["--history", str(out / "run.pickle"), "--report", str(out / "run.txt"), "-d", "digits",
                 "-m", "minivggnet", "-o", "adam-warmup", "--warmup-steps", "15", "--epochs", "2",
                 "--checkpoint-every", "1"]  # fmt: skip
    checkpoint = training.RunRecorder.checkpoint

    def checkpoint_then_stop(recorder, steps, seconds):
        checkpoint(recorder, steps, seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.RunRecorder, "checkpoint", checkpoint_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train.main(arguments)
    assert (out / "run.pickle.checkpoint" / "state.json").exists()
    monkeypatch.undo()

    assert train.main(arguments) == 0
    assert "resuming" in capsys.readouterr().out
    history = read_history(out / "run.pickle")
    assert history["learning_rate"] == pytest.approx([1e-3 * 10 / 15, 1e-3], rel=1e-6)
    assert np.all(np.isfinite(history["loss"]))


def test_combinations_pass_warmup_steps_to_adam_warmup_runs_only(tmp_path, capsys):
    script = tmp_path / "s.sh"
    code = combinations.main(["--output", "out", "-s", str(script), "--datasets", "mnist", "--models", "resnet",
                              "--optimizers", "adam", "radam", "adam-warmup", "--warmup-steps", "500",
                              "--radam-total-steps", "0"])  # fmt: skip
    assert code == 0
    common = "--dataset mnist --model resnet --optimizer"
    assert [line for line in script.read_text().splitlines() if "python train.py" in line] == [
        f"run python train.py --history out/resnet_adam_mnist.pickle --report out/resnet_adam_mnist.txt "
        f"{common} adam",
        f"run python train.py --history out/resnet_radam_mnist.pickle --report out/resnet_radam_mnist.txt "
        f"{common} radam --radam-total-steps 0",
        f"run python train.py --history out/resnet_adam-warmup_mnist.pickle --report "
        f"out/resnet_adam-warmup_mnist.txt {common} adam-warmup --warmup-steps 500",
    ]
    assert capsys.readouterr().out == f"wrote 3 runs to {script}\n"


@pytest.mark.parametrize("parse, outputs", [(train.parse_arguments, ["-i", "a.pickle", "-r", "a.txt"]),
                                            (combinations.parse_arguments, ["--output", "out", "-s", "s.sh"])])
@pytest.mark.parametrize("value", ["0", "-5", "1_000", "\u00b2", "many"])
def test_a_warmup_that_is_not_a_whole_number_of_steps_exits_2(parse, outputs, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse([*outputs, "--warmup-steps", value])
    assert stopped.value.code == 2
    message = f"error: argument --warmup-steps: takes a whole number of at least 1, not {value!r}\n"
    assert capsys.readouterr().err.endswith(message)


def test_train_py_leaves_the_warmup_to_the_paper_unless_told():
    arguments = ["-i", "a.pickle", "-r", "a.txt", "-o", "adam-warmup"]
    assert train.parse_arguments(arguments).warmup_steps is None
    assert train.parse_arguments([*arguments, "--warmup-steps", "300"]).warmup_steps == 300


def write_history(folder, optimizer, rates):
    history = dict(loss=[1.0, 0.5], accuracy=[0.5, 0.8], val_loss=[1.1, 0.6], val_accuracy=[0.4, 0.7],
                   learning_rate=rates, epoch_time=[1.0, 1.0])  # fmt: skip
    (folder / f"resnet_{optimizer}_mnist.pickle").write_bytes(pickle.dumps(history))


def test_plot_draws_a_fifth_optimizer_and_its_visible_rate(tmp_path):
    assert run_names.parse_stem("resnet_adam-warmup_mnist") == ("resnet", "adam-warmup", "mnist", 1e-3, None)
    assert run_names.parse_stem("googlenet_adam-warmup_cifar10_seed3") == ("googlenet", "adam-warmup", "cifar10",
                                                                           1e-3, 3)
    for optimizer in ["adam", "radam", "sgd", "rmsprop", "adam-warmup"]:
        write_history(tmp_path, optimizer, [5e-4, 1e-3])
    runs, unreadable = plot.load_runs(str(tmp_path))
    assert [run["optimizer"] for run in runs] == ["adam", "radam", "sgd", "rmsprop", "adam-warmup"] and not unreadable

    figure = plot.draw_summary_figure(runs)
    rate_axis = figure.axes[-1]
    widths = {line.get_color(): line.get_linewidth() for line in rate_axis.get_lines()}
    assert widths == {"#E24A33": 5, "#348ABD": 4, "#988ED5": 3, "#777777": 2, "#FBC15E": 1}
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["Adam", "RAdam", "SGD", "RMSprop", "Adam + warmup"]
    plot.plt.close(figure)

    figure = plot.draw_pair_figure("resnet", "mnist", plot.by_optimizer(runs[-2:]))
    assert figure.axes[0].get_title() == "RMSprop vs. Adam + warmup for 'resnet' on 'mnist' (Accuracy)"
    plot.plt.close(figure)
