"""plot.py: histories and classification reports in, figures and tables out, checked by their data.

Most tests call plot.main() in-process; the few that check the exit code and stderr of the script
run it as a subprocess.
"""

import importlib
import os
import pickle
import warnings
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from sklearn.metrics import classification_report, f1_score

import plot
from pyimagesearch import original, results
from pyimagesearch import runs as run_names
from support import REPO, read_csv, run_script


def fake_predictions(errors, total=200):
    """Labels of 4 classes and predictions with exactly `errors` mistakes."""
    truth = np.arange(total) % 4
    predicted = truth.copy()
    predicted[:errors] = (truth[:errors] + 1) % 4
    return truth, predicted


def write_run(folder, model, optimizer, dataset, *, seed=None, epochs=5, val_accuracy=None,
              errors=10, keras2=False, epoch_time=12.5, report=True, curves=None):
    """Write a history pickle with known numbers and its real classification report; return both."""
    val_accuracy = list(val_accuracy or np.linspace(0.5, 0.9, epochs))
    epochs = len(val_accuracy)
    history = {
        "loss": [1.0 / (epoch + 1) for epoch in range(epochs)],
        "val_loss": [1.5 / (epoch + 1) for epoch in range(epochs)],
        "acc" if keras2 else "accuracy": [min(1.0, value + 0.05) for value in val_accuracy],
        "val_acc" if keras2 else "val_accuracy": val_accuracy,
    }
    if not keras2:
        decay = 4.0 if optimizer == "radam" else 1.0
        history["learning_rate"] = [max(1e-5, 1e-3 / decay**epoch) for epoch in range(epochs)]
        history["epoch_time"] = [epoch_time] * epochs
    history.update(curves or {})
    stem = Path(folder) / f"{model}_{optimizer}_{dataset}{'' if seed is None else f'_seed{seed}'}"
    stem.with_suffix(".pickle").write_bytes(pickle.dumps(history))
    truth, predicted = fake_predictions(errors)
    if report:
        stem.with_suffix(".txt").write_text(classification_report(truth, predicted, digits=4))
    return history, (truth, predicted)


def run_plot(input_folder, plots_folder, cwd=REPO):
    return run_script(os.path.join(REPO, "plot.py"), "--input", input_folder, "--plots", plots_folder, cwd=cwd,
                      timeout=120)


@pytest.fixture
def folders(tmp_path):
    (tmp_path / "output").mkdir()
    return tmp_path / "output", tmp_path / "plots"


def test_2019_and_current_histories_give_700x900_figures_and_a_summary(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist", keras2=True)
    write_run(output, "resnet", "radam", "mnist")
    (output / ".resnet_adam_mnist.pickle").write_bytes(b"ignored: hidden")
    (output / "notes.pickle").write_bytes(b"ignored: not a run name")
    result = run_plot(output, plots)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert matplotlib.image.imread(plots / "resnet_mnist.png").shape[:2] == (900, 700)
    assert (plots / "summary.png").is_file()
    assert {"results.csv", "results_mean.csv", "results_pairs.csv", "results.md"} <= set(os.listdir(plots))
    assert not [name for name in os.listdir(plots) if name.startswith(".")]  # no temporary files left
    rows = read_csv(plots / "results.csv")
    assert [row["training_seconds"] for row in rows] == ["", "62.5"]  # 2019 pickles have no epoch_time


def test_missing_partner_is_named_and_skipped_while_others_are_drawn(folders, capsys):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    write_run(output, "googlenet", "adam", "cifar10")
    plot.main(["--input", str(output), "--plots", str(plots)])
    missing = os.path.join(str(output), "googlenet_radam_cifar10.pickle")
    assert capsys.readouterr().err.splitlines() == [f"warning: skipping googlenet on cifar10: {missing} is missing"]
    assert (plots / "resnet_mnist.png").is_file()
    assert not (plots / "googlenet_cifar10.png").exists()


# ## Histories that cannot be read: named, left out, listed at the end


def test_unreadable_histories_are_named_left_out_and_listed_with_exit_1(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    write_run(output, "minivggnet", "radam", "mnist")
    (output / "minivggnet_adam_mnist.pickle").write_bytes(b"\x80\x04 not a pickle")

    class Payload:
        def __reduce__(self):
            return os.system, ("touch PWNED",)

    (output / "googlenet_adam_mnist.pickle").write_bytes(pickle.dumps({"loss": [Payload()]}))
    result = run_plot(output, plots, cwd=output)
    assert not (output / "PWNED").exists()
    assert result.returncode == 1
    corrupt, evil = output / "minivggnet_adam_mnist.pickle", output / "googlenet_adam_mnist.pickle"
    assert result.stderr.splitlines() == [
        f"warning: {evil} is not a readable training history (it would call posix.system; refused, nothing "
        "was called); delete it and re-run its train.py line",
        f"warning: {corrupt} is not a readable training history (it is cut short or damaged: at position 2, "
        "opcode b' ' unknown); delete it and re-run its train.py line",
        "warning: skipping minivggnet on mnist: adam's history could not be read",
        f"error: these histories could not be read and are left out of the figures and tables: {evil}, "
        f"{corrupt}; delete them and re-run their train.py lines",
    ]
    # Everything else was drawn and tabulated.
    assert sorted(os.listdir(plots)) == ["resnet_mnist.png", "results.csv", "results.md", "results_mean.csv",
                                         "results_pairs.csv", "summary.png"]
    rows = read_csv(plots / "results.csv")
    assert [(row["model"], row["optimizer"]) for row in rows] == [
        ("resnet", "adam"), ("resnet", "radam"), ("minivggnet", "radam")]


def test_when_no_history_can_be_read_nothing_is_drawn(folders, capsys):
    output, plots = folders
    (output / "resnet_adam_mnist.pickle").write_bytes(pickle.dumps([0.5]))
    with pytest.raises(plot.UserError) as error:
        plot.main(["--input", str(output), "--plots", str(plots)])
    path = output / "resnet_adam_mnist.pickle"
    assert str(error.value) == (f"these histories could not be read and are the only ones, so nothing was drawn: "
                                f"{path}; delete them and re-run their train.py lines")
    assert capsys.readouterr().err == (f"warning: {path} is not a readable training history (it holds a list, "
                                       "not a dict); delete it and re-run its train.py line\n")
    assert not plots.exists()


NOT_HISTORIES = {
    "garbage": b"\x80\x04 not a pickle",
    "list": pickle.dumps([0.1, 0.2]),
    "no_val_accuracy": pickle.dumps({"loss": [0.1], "val_loss": [0.2], "accuracy": [0.9]}),
}


@pytest.mark.parametrize("content", NOT_HISTORIES.values(), ids=NOT_HISTORIES.keys())
def test_anything_but_a_history_dict_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "resnet_adam_mnist.pickle"
    path.write_bytes(content)
    with pytest.raises(plot.UserError) as failure:
        results.read_curves(str(path))
    assert str(path) in str(failure.value) and "\n" not in str(failure.value)


def test_a_history_with_an_empty_curve_is_refused_but_shorter_ones_are_read(tmp_path):
    path = tmp_path / "resnet_adam_mnist.pickle"
    history = {"loss": [0.5, 0.4], "val_loss": [], "accuracy": [0.8, 0.9], "val_accuracy": []}
    path.write_bytes(pickle.dumps(history))
    with pytest.raises(plot.UserError) as failure:
        results.read_curves(str(path))
    assert str(failure.value) == (
        f"{path} is not a readable training history (no 'val_loss' values); delete "
        "it and re-run its train.py line"
    )
    # Validated every other epoch, with a Keras 2 learning rate one value short: still a history.
    history = dict(history, val_loss=[0.6], val_accuracy=[0.7], lr=[1e-3])
    path.write_bytes(pickle.dumps(history))
    read = results.read_curves(str(path))
    assert read["val_accuracy"].tolist() == [0.7] and read["learning_rate"].tolist() == [1e-3]
    assert plot.run_row(dict(model="resnet", dataset="mnist", optimizer="adam", learning_rate=1e-3, seed=None, best_val_accuracy=0.7,
                             test_accuracy=None, macro_f1=None, history=read))["best_val_epoch"] == 1


@pytest.mark.parametrize("key, values, problem", [
    ("val_accuracy", [0.5, float("nan"), 0.7], "its 'val_accuracy' is nan in epoch 2"),
    ("loss", [float("inf"), 0.5, 0.4], "its 'loss' is inf in epoch 1"),
    ("learning_rate", [1e-3, 1e-3, -float("inf")], "its 'learning_rate' is -inf in epoch 3"),
    ("val_loss", [0.5, 10**400, 0.3], "its 'val_loss' holds a number too large for a float"),
    ("accuracy", [0.5, 1.7e308, -1.7e308], "its 'accuracy' is 1.7e+308 in epoch 2"),  # beyond float32's
])
def test_a_history_with_nan_or_infinity_is_named_and_left_out_with_exit_1(folders, capsys, key, values, problem):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist", epochs=3, curves={key: values})
    write_run(output, "resnet", "radam", "mnist", epochs=3)
    path = output / "resnet_adam_mnist.pickle"
    with pytest.raises(plot.UserError) as error:
        plot.main(["--input", str(output), "--plots", str(plots)])
    assert str(error.value) == (f"these histories could not be read and are left out of the figures and tables: "
                                f"{path}; delete them and re-run their train.py lines")
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {path} is not a readable training history ({problem}); delete it and re-run its train.py line",
        "warning: skipping resnet on mnist: adam's history could not be read",
    ]
    assert [row["optimizer"] for row in read_csv(plots / "results.csv")] == ["radam"]


def test_an_infinite_validation_loss_is_drawn_as_far_as_it_is_finite(folders):
    # Keras records it while training goes on (a training loss of 1e10 can validate at inf).
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist", epochs=3, curves={"val_loss": [float("inf"), 0.6, float("inf")]})
    write_run(output, "resnet", "radam", "mnist", epochs=3)
    assert plot.main(["--input", str(output), "--plots", str(plots)]) is None
    adam, radam = read_csv(plots / "results.csv")
    assert (adam["final_val_loss"], radam["final_val_loss"]) == ("inf", "0.5")
    assert (plots / "resnet_mnist.png").is_file()


# ## The figures, checked by the data they draw


def band(axis, line):
    """(lowest, highest) value per epoch of the min-max band drawn in `line`'s colour."""
    (collection,) = [collection for collection in axis.collections if np.allclose(
        collection.get_facecolor()[0][:3], matplotlib.colors.to_rgb(line.get_color()))]
    vertices = collection.get_paths()[0].vertices
    at = [vertices[:, 0] == epoch for epoch in line.get_xdata()]
    return [vertices[here, 1].min() for here in at], [vertices[here, 1].max() for here in at]


# Three Adam seeds and two RAdam seeds, 3 epochs; each mean and min/max below is worked out by hand.
ADAM_SEEDS = {
    1: dict(accuracy=[0.5, 0.7, 0.8], val_accuracy=[0.40, 0.60, 0.65], loss=[1.0, 0.6, 0.4], val_loss=[1.2, 0.9, 0.8]),
    2: dict(accuracy=[0.6, 0.8, 0.9], val_accuracy=[0.50, 0.55, 0.75], loss=[0.8, 0.5, 0.3], val_loss=[1.1, 1.0, 0.7]),
    3: dict(accuracy=[0.7, 0.75, 0.85], val_accuracy=[0.45, 0.65, 0.7], loss=[0.9, 0.4, 0.2], val_loss=[1.0, 0.8, 0.9]),
}
RADAM_SEEDS = {
    1: dict(accuracy=[0.4, 0.5, 0.6], val_accuracy=[0.3, 0.4, 0.5], loss=[1.5, 1.0, 0.8], val_loss=[1.6, 1.2, 1.0]),
    2: dict(accuracy=[0.6, 0.7, 0.8], val_accuracy=[0.5, 0.6, 0.5], loss=[1.3, 0.8, 0.6], val_loss=[1.4, 1.0, 1.2]),
}
# label: (mean, lowest, highest) per epoch
EXPECTED_PAIR_LINES = {
    "adam_train_acc": ([0.60, 0.75, 0.85], [0.5, 0.7, 0.8], [0.7, 0.8, 0.9]),
    "adam_val_acc": ([0.45, 0.60, 0.70], [0.40, 0.55, 0.65], [0.50, 0.65, 0.75]),
    "radam_train_acc": ([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [0.6, 0.7, 0.8]),
    "radam_val_acc": ([0.4, 0.5, 0.5], [0.3, 0.4, 0.5], [0.5, 0.6, 0.5]),
    "adam_train_loss": ([0.9, 0.5, 0.3], [0.8, 0.4, 0.2], [1.0, 0.6, 0.4]),
    "adam_val_loss": ([1.1, 0.9, 0.8], [1.0, 0.8, 0.7], [1.2, 1.0, 0.9]),
    "radam_train_loss": ([1.4, 0.9, 0.7], [1.3, 0.8, 0.6], [1.5, 1.0, 0.8]),
    "radam_val_loss": ([1.5, 1.1, 1.1], [1.4, 1.0, 1.0], [1.6, 1.2, 1.2]),
}


def write_seeds(folder, model, dataset):
    for optimizer, seeds in [("adam", ADAM_SEEDS), ("radam", RADAM_SEEDS)]:
        for seed, curves in seeds.items():
            write_run(folder, model, optimizer, dataset, seed=seed, epochs=3, curves=curves)


def test_the_pair_figure_draws_each_curve_as_the_mean_over_seeds_with_a_min_max_band(tmp_path):
    write_seeds(tmp_path, "resnet", "cifar10")
    runs, _ = plot.load_runs(str(tmp_path))
    figure = plot.draw_pair_figure("resnet", "cifar10", plot.by_optimizer(runs))
    accuracy, loss = figure.axes
    for axis, short in [(accuracy, "acc"), (loss, "loss")]:
        lines = axis.get_lines()
        assert [line.get_label() for line in lines] == [
            f"adam_train_{short}", f"adam_val_{short}", f"radam_train_{short}", f"radam_val_{short}"]
        for line in lines:
            mean, lowest, highest = EXPECTED_PAIR_LINES[line.get_label()]
            assert line.get_xdata().tolist() == [1, 2, 3]
            assert line.get_ydata() == pytest.approx(mean), line.get_label()
            assert band(axis, line) == (pytest.approx(lowest), pytest.approx(highest)), line.get_label()
    plot.plt.close(figure)


def test_the_summary_draws_validation_accuracy_per_panel_and_the_learning_rates(tmp_path):
    write_seeds(tmp_path, "resnet", "cifar10")
    write_run(tmp_path, "minivggnet", "adam", "cifar10", val_accuracy=[0.2, 0.3, 0.35, 0.4])
    write_run(tmp_path, "resnet", "radam", "mnist", val_accuracy=[0.9, 0.95], curves=dict(
        learning_rate=[1e-4, 1e-3]))
    runs, _ = plot.load_runs(str(tmp_path))
    figure = plot.draw_summary_figure(runs)
    panels = {axis.get_title(): axis for axis in figure.axes}
    assert list(panels) == ["resnet on mnist", "minivggnet on mnist", "resnet on cifar10",
                            "minivggnet on cifar10", "Learning rate applied per epoch"]
    for title, axis in list(panels.items())[:4]:
        assert (axis.get_xlabel(), axis.get_ylabel(), axis.get_ylim()) == ("Epoch #", "Val accuracy", (0, 1.02))
    lines = {title: {line.get_label(): line for line in axis.get_lines()} for title, axis in panels.items()}
    assert list(lines["resnet on mnist"]) == ["RAdam"] and not lines["minivggnet on mnist"]
    assert lines["resnet on mnist"]["RAdam"].get_ydata() == pytest.approx([0.9, 0.95])
    assert list(lines["minivggnet on cifar10"]) == ["Adam"]
    assert lines["minivggnet on cifar10"]["Adam"].get_ydata() == pytest.approx([0.2, 0.3, 0.35, 0.4])
    pair = panels["resnet on cifar10"]
    assert list(lines["resnet on cifar10"]) == ["Adam", "RAdam"]
    for name, label in [("Adam", "adam_val_acc"), ("RAdam", "radam_val_acc")]:
        mean, lowest, highest = EXPECTED_PAIR_LINES[label]
        line = lines["resnet on cifar10"][name]
        assert line.get_ydata() == pytest.approx(mean)
        assert band(pair, line) == (pytest.approx(lowest), pytest.approx(highest))
        assert line.get_color() == plot.OPTIMIZER_COLORS[name.lower()]
    # One line per data set and optimizer, from its longest run (Adam on cifar10: MiniVGGNet's 4
    # epochs, not the ResNet's 3): write_run's learning rates (Adam constant, RAdam / 4 per epoch).
    rates = panels["Learning rate applied per epoch"]
    assert (rates.get_yscale(), rates.get_ylabel()) == ("log", "Learning rate")
    assert {label: line.get_ydata().tolist() for label, line in lines["Learning rate applied per epoch"].items()} == {
        "RAdam on mnist": [1e-4, 1e-3],
        "Adam on cifar10": [1e-3, 1e-3, 1e-3, 1e-3],
        "RAdam on cifar10": [1e-3, 2.5e-4, 6.25e-5],
    }
    assert [text.get_text() for text in rates.get_legend().get_texts()] == ["mnist", "cifar10"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["Adam", "RAdam"]
    plot.plt.close(figure)


def test_the_summary_draws_the_learning_rate_of_every_rate_an_optimizer_ran_at(tmp_path):
    write_run(tmp_path, "minivggnet", "adam", "mnist", curves=dict(learning_rate=[1e-3] * 5))
    write_run(tmp_path, "minivggnet", "adam", "mnist", curves=dict(learning_rate=[1e-2] * 5))
    (tmp_path / "minivggnet_adam_mnist.pickle").rename(tmp_path / "minivggnet_adam_mnist_lr1e-02.pickle")
    (tmp_path / "minivggnet_adam_mnist.txt").rename(tmp_path / "minivggnet_adam_mnist_lr1e-02.txt")
    write_run(tmp_path, "minivggnet", "adam", "mnist", curves=dict(learning_rate=[1e-3] * 5))
    runs, _ = plot.load_runs(str(tmp_path))
    figure = plot.draw_summary_figure(runs)
    rates = {line.get_label(): line.get_ydata().tolist() for line in figure.axes[-1].get_lines()}
    assert rates == {"Adam on mnist": [1e-3] * 5, "Adam lr=1e-02 on mnist": [1e-2] * 5}
    # In the validation panel and the legend, each rate in the optimizer's colour, in a style of its own.
    styles = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in figure.axes[0].get_lines()}
    adam = plot.OPTIMIZER_COLORS["adam"]
    assert styles == {"Adam": (adam, "-"), "Adam lr=1e-02": (adam, "--")}
    legend = {text.get_text(): handle.get_linestyle()
              for text, handle in zip(figure.legends[0].get_texts(), figure.legends[0].legend_handles)}
    assert legend == {"Adam": "-", "Adam lr=1e-02": "--"}
    plot.plt.close(figure)


def test_a_pair_figure_of_more_than_ten_optimizers_and_rates_repeats_no_colour_and_style(tmp_path):
    for rate in ("1e-05", "3e-05", "1e-04", "3e-04", "3e-03", "1e-02"):
        write_run(tmp_path, "resnet", "adam", "mnist")
        for suffix in (".pickle", ".txt"):
            (tmp_path / f"resnet_adam_mnist{suffix}").rename(tmp_path / f"resnet_adam_mnist_lr{rate}{suffix}")
    for optimizer in ("adam", "radam", "sgd", "rmsprop", "adam-warmup"):
        write_run(tmp_path, "resnet", optimizer, "mnist")
    runs, _ = plot.load_runs(str(tmp_path))
    figure = plot.draw_pair_figure("resnet", "mnist", plot.by_optimizer(runs))
    lines = figure.axes[0].get_lines()
    assert len(lines) == 22
    assert len({(line.get_color(), line.get_linestyle()) for line in lines}) == 22
    plot.plt.close(figure)


def test_the_means_over_seeds_are_of_the_runs_own_values_not_the_rounded_table(tmp_path):
    for seed, best in ((1, 0.12344), (2, 0.12344), (3, 0.12349)):
        write_run(tmp_path, "resnet", "adam", "mnist", seed=seed, val_accuracy=[0.1, best])
    plot.write_tables(plot.load_runs(str(tmp_path))[0], str(tmp_path / "plots"))
    (row,) = read_csv(tmp_path / "plots/results_mean.csv")
    assert (row["best_val_accuracy_mean"], row["best_val_accuracy_std"]) == ("0.1235", "0.0")  # 0.123457, 0.000029


def test_a_third_optimizer_and_different_lengths_are_drawn(tmp_path):
    write_run(tmp_path, "resnet", "adam", "cifar100", epochs=6)
    write_run(tmp_path, "resnet", "radam", "cifar100", epochs=4)
    write_run(tmp_path, "resnet", "sgd", "cifar100", seed=1, epochs=3)
    write_run(tmp_path, "resnet", "sgd", "cifar100", seed=2, epochs=5)
    figure = plot.draw_pair_figure("resnet", "cifar100", plot.by_optimizer(plot.load_runs(str(tmp_path))[0]))
    accuracy, loss = figure.axes
    assert [text.get_text() for text in accuracy.get_legend().get_texts()] == [
        "adam_train_acc", "adam_val_acc", "radam_train_acc", "radam_val_acc", "sgd_train_acc", "sgd_val_acc"]
    assert [text.get_text() for text in loss.get_legend().get_texts()][-1] == "sgd_val_loss"
    assert accuracy.get_title() == "Adam vs. RAdam vs. SGD for 'resnet' on 'cifar100' (Accuracy)"
    assert loss.get_title() == "Adam vs. RAdam vs. SGD for 'resnet' on 'cifar100' (Loss)"
    assert [(line.get_xdata()[0], line.get_xdata()[-1]) for line in accuracy.get_lines()] == [
        (1, 6), (1, 6), (1, 4), (1, 4), (1, 5), (1, 5)]
    assert len(accuracy.collections) == 2  # min-max bands for the two sgd seeds
    plot.plt.close(figure)


def test_a_long_title_of_many_optimizers_and_rates_stays_inside_the_figure(tmp_path):
    # "SGD lr=1e-05 vs. SGD vs. Adam + warmup lr=1e-05 vs. Adam + warmup for 'minivggnet' on ...":
    # cut at both sides of the figure on one line.
    for optimizer in ("sgd", "adam-warmup"):
        write_run(tmp_path, "minivggnet", optimizer, "digits")
        for path in tmp_path.glob(f"minivggnet_{optimizer}_digits.*"):
            path.rename(path.with_name(path.name.replace("_digits", "_digits_lr1e-05")))
        write_run(tmp_path, "minivggnet", optimizer, "digits")
    figure = plot.draw_pair_figure("minivggnet", "digits", plot.by_optimizer(plot.load_runs(str(tmp_path))[0]))
    figure.canvas.draw()
    for axis in figure.axes:
        assert "for 'minivggnet' on 'digits'" in axis.get_title().replace("\n", " ")
        extent = axis.title.get_window_extent()
        assert figure.bbox.x0 <= extent.x0 and extent.x1 <= figure.bbox.x1 and extent.y1 <= figure.bbox.y1
    plot.plt.close(figure)


@pytest.mark.parametrize("optimizers, rates", [(("adam", "radam", "sgd"), ("1e-04", "3e-04", "3e-03")),
                                               (("adam", "radam", "sgd", "adam-warmup"), ("1e-04", "3e-04", "3e-03", "3e-02"))])
def test_the_legend_and_title_of_many_optimizers_and_rates_stay_inside_the_figure_beside_the_curves(
        tmp_path, optimizers, rates):
    # A learning-rate grid, as results/cpu-study's: inside a 7 x 9 figure, the legend of 9 optimizers
    # and rates ran out of it, and with 20 the title too, the legend covering the curves.
    for optimizer in optimizers:
        for rate in rates:
            write_run(tmp_path, "minivggnet", optimizer, "digits", epochs=3)
            for suffix in (".pickle", ".txt"):
                (tmp_path / f"minivggnet_{optimizer}_digits{suffix}").rename(
                    tmp_path / f"minivggnet_{optimizer}_digits_lr{rate}{suffix}")
        write_run(tmp_path, "minivggnet", optimizer, "digits", epochs=3)
    runs = plot.by_optimizer(plot.load_runs(str(tmp_path))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Tight layout not applied"
        figure = plot.draw_pair_figure("minivggnet", "digits", runs)
        figure.canvas.draw()
    inside = figure.bbox
    for axis in figure.axes:
        assert len(axis.get_legend().get_texts()) == 2 * len(runs)
        for text in (axis.title, axis.get_legend()):
            extent = text.get_window_extent()
            assert inside.x0 <= extent.x0 and extent.x1 <= inside.x1 and inside.y0 <= extent.y0 and extent.y1 <= inside.y1
        assert axis.get_legend().get_window_extent().x0 >= axis.get_window_extent().x1  # beside the curves
        assert axis.title.get_window_extent().y0 >= axis.get_window_extent().y1
    plot.plt.close(figure)


def test_two_optimizers_keep_the_original_figure(tmp_path):
    write_run(tmp_path, "googlenet", "adam", "mnist")
    write_run(tmp_path, "googlenet", "radam", "mnist")
    figure = plot.draw_pair_figure("googlenet", "mnist", plot.by_optimizer(plot.load_runs(str(tmp_path))[0]))
    accuracy, loss = figure.axes
    assert accuracy.get_title() == "Adam vs. RAdam for 'googlenet' on 'mnist' (Accuracy)"
    assert (accuracy.get_xlabel(), accuracy.get_ylabel(), loss.get_ylabel()) == ("Epoch #", "Accuracy", "Loss")
    assert [text.get_text() for text in loss.get_legend().get_texts()] == [
        "adam_train_loss", "adam_val_loss", "radam_train_loss", "radam_val_loss"]
    assert accuracy.get_legend()._loc == 4 and loss.get_legend()._loc == 1  # lower right, upper right
    assert tuple(figure.get_size_inches()) == (7, 9)
    plot.plt.close(figure)


def test_epochs_where_every_value_is_nan_are_a_gap_without_warnings():
    runs = [{"history": {"val_loss": np.array([0.5, np.nan, 0.3])}} for _ in range(2)]
    figure, axis = plot.plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = plot.draw_curve(axis, runs, "val_loss")
    np.testing.assert_array_equal(line.get_ydata(), [0.5, np.nan, 0.3])
    plot.plt.close(figure)


def test_a_run_of_one_epoch_and_a_value_between_gaps_are_drawn_as_dots(tmp_path):
    # A line of one point draws nothing: `--epochs 1` would give empty figures.
    write_run(tmp_path, "minivggnet", "adam", "digits", epochs=1)
    write_run(tmp_path, "minivggnet", "radam", "digits", epochs=3, curves={"val_loss": [float("inf"), 0.6, float("nan")]})
    figure = plot.draw_pair_figure("minivggnet", "digits", plot.by_optimizer(plot.load_runs(str(tmp_path))[0]))
    lines = {line.get_label(): line for line in figure.axes[1].get_lines()}
    dots = {label: (line.get_marker(), line.get_markevery()) for label, line in lines.items()}
    assert dots == {"adam_train_loss": ("o", [0]), "adam_val_loss": ("o", [0]),
                    "radam_train_loss": ("None", None), "radam_val_loss": ("o", [1])}
    plot.plt.close(figure)

    # One epoch in all: its axis is marked at epoch 1 alone, not at 0.945, 0.96, ...
    (tmp_path / "minivggnet_radam_digits.pickle").unlink()
    write_run(tmp_path, "minivggnet", "radam", "digits", epochs=1)
    figure = plot.draw_pair_figure("minivggnet", "digits", plot.by_optimizer(plot.load_runs(str(tmp_path))[0]))
    for axis in figure.axes:
        low, high = axis.get_xlim()
        assert [tick for tick in axis.get_xticks() if low <= tick <= high] == [1]
    plot.plt.close(figure)


@pytest.fixture
def with_sgd_nesterov(monkeypatch):
    """plot reloaded with a sixth optimizer, "sgd-nesterov", in original.OPTIMIZERS; restored after."""
    monkeypatch.setattr(original, "OPTIMIZERS", original.OPTIMIZERS + ("sgd-nesterov",))
    monkeypatch.setitem(original.DEFAULT_LEARNING_RATES, "sgd-nesterov", 0.01)
    for module in (run_names, results):
        importlib.reload(module)
    yield importlib.reload(plot)
    monkeypatch.undo()
    for module in (run_names, results, plot):
        importlib.reload(module)


def test_optimizers_added_to_the_table_get_a_display_name_and_a_colour(tmp_path, with_sgd_nesterov):
    plot = with_sgd_nesterov
    assert plot.display_name("sgd-nesterov") == "SGD-Nesterov" and plot.display_name("radam") == "RAdam"
    assert len(set(plot.OPTIMIZER_COLORS[optimizer] for optimizer in plot.OPTIMIZERS)) == 6
    for optimizer in ["adam", "radam", "sgd-nesterov"]:
        write_run(tmp_path, "resnet", optimizer, "mnist", epochs=2)
    runs, _ = plot.load_runs(str(tmp_path))
    assert [run["optimizer"] for run in runs] == ["adam", "radam", "sgd-nesterov"]
    figure = plot.draw_pair_figure("resnet", "mnist", plot.by_optimizer(runs))
    assert figure.axes[0].get_title() == "Adam vs. RAdam vs. SGD-Nesterov for 'resnet' on 'mnist' (Accuracy)"
    plot.plt.close(figure)
    figure = plot.draw_summary_figure(runs)
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["Adam", "RAdam", "SGD-Nesterov"]
    widths = [line.get_linewidth() for line in figure.axes[-1].get_lines()]
    assert widths == [6, 5, 1]  # earlier optimizers wider, so that equal rates stay visible
    plot.plt.close(figure)


# ## The tables, checked against values worked out by hand


def test_results_tables_hold_the_report_and_history_numbers(folders):
    output, plots = folders
    _, adam_predictions = write_run(
        output, "minivggnet", "adam", "cifar10", val_accuracy=[0.4, 0.7, 0.65, 0.72, 0.6], errors=30)
    write_run(output, "minivggnet", "radam", "cifar10", val_accuracy=[0.3, 0.5, 0.55, 0.5], errors=50, epoch_time=7.0)
    plot.main(["--input", str(output), "--plots", str(plots)])

    adam, radam = read_csv(plots / "results.csv")
    assert [adam[key] for key in ["model", "dataset", "optimizer", "seed"]] == ["minivggnet", "cifar10", "adam", ""]
    assert (adam["test_accuracy"], radam["test_accuracy"]) == ("0.85", "0.75")  # 30 and 50 errors in 200
    assert float(adam["macro_f1"]) == pytest.approx(round(f1_score(*adam_predictions, average="macro"), 4))
    assert (adam["epochs"], adam["best_val_accuracy"], adam["best_val_epoch"]) == ("5", "0.72", "4")
    assert (radam["epochs"], radam["best_val_accuracy"], radam["best_val_epoch"]) == ("4", "0.55", "3")
    assert adam["final_val_loss"] == "0.3"  # 1.5 / 5
    assert (adam["training_seconds"], radam["training_seconds"]) == ("62.5", "28.0")  # 5 x 12.5, 4 x 7

    (pair,) = read_csv(plots / "results_pairs.csv")  # one pair (seed 42): no std, no interval
    assert pair == dict(model="minivggnet", dataset="cifar10", difference="adam - radam", pairs="1",
                        test_accuracy_difference="0.1",
                        test_accuracy_difference_std="", test_accuracy_difference_low="",
                        test_accuracy_difference_high="", best_val_accuracy_difference="0.17")
    markdown = (plots / "results.md").read_text()
    assert "| minivggnet | cifar10 | adam | 0.001 |  | 5 | 0.85 |" in markdown
    assert "## Each optimizer minus RAdam, paired by seed\n" in markdown
    assert "| model | dataset | difference | pairs | test_accuracy_difference | interval_95 |" in markdown
    assert "| minivggnet | cifar10 | adam - radam | 1 | 0.1 |  | 0.17 |" in markdown


# Test accuracies (from errors in 200) and best validation accuracies per seed, and by hand:
# Adam 0.95, 0.93, 0.91: mean 0.93, sample std sqrt((0.02² + 0 + 0.02²) / 2) = 0.02
# RAdam 0.94, 0.90, 0.89: mean 0.91, std sqrt((0.03² + 0.01² + 0.02²) / 2) = sqrt(0.0007) = 0.026458
# paired Adam - RAdam 0.01, 0.03, 0.02: mean 0.02, std 0.01, t(0.975, 2) = 4.302653,
#   half-width 4.302653 x 0.01 / sqrt(3) = 0.024841: 95% interval -0.004841 to 0.044841
# best val: Adam 0.80, 0.76, 0.78 (mean 0.78, std 0.02), RAdam 0.75, 0.70, 0.74 (mean 0.73,
#   std 0.026458); paired differences 0.05, 0.06, 0.04: mean 0.05
SEED_ERRORS = {"adam": [10, 14, 18], "radam": [12, 20, 22]}
SEED_BEST_VAL = {"adam": [0.80, 0.76, 0.78], "radam": [0.75, 0.70, 0.74]}


def test_several_seeds_give_mean_sample_std_and_a_paired_difference_with_its_interval(folders):
    output, plots = folders
    for optimizer in ["radam", "adam"]:
        for seed, (errors, best) in enumerate(zip(SEED_ERRORS[optimizer], SEED_BEST_VAL[optimizer]), start=1):
            write_run(output, "resnet", optimizer, "fashion_mnist", seed=seed, errors=errors,
                      val_accuracy=[0.5, best, best - 0.1])
    plot.main(["--input", str(output), "--plots", str(plots)])

    rows = read_csv(plots / "results.csv")
    assert [(row["optimizer"], row["seed"], row["test_accuracy"]) for row in rows] == [
        ("adam", "1", "0.95"), ("adam", "2", "0.93"), ("adam", "3", "0.91"),
        ("radam", "1", "0.94"), ("radam", "2", "0.9"), ("radam", "3", "0.89")]
    means = {row["optimizer"]: row for row in read_csv(plots / "results_mean.csv")}
    assert {key: means["adam"][key] for key in list(means["adam"])[3:]} == dict(
        learning_rate="0.001", runs="3", reports="3", test_accuracy_mean="0.93", test_accuracy_std="0.02",
        best_val_accuracy_mean="0.78", best_val_accuracy_std="0.02")
    assert {key: means["radam"][key] for key in list(means["radam"])[3:]} == dict(
        learning_rate="0.001", runs="3", reports="3", test_accuracy_mean="0.91", test_accuracy_std="0.0265",
        best_val_accuracy_mean="0.73", best_val_accuracy_std="0.0265")
    (pair,) = read_csv(plots / "results_pairs.csv")
    assert pair == dict(model="resnet", dataset="fashion_mnist", difference="adam - radam", pairs="3",
                        test_accuracy_difference="0.02",
                        test_accuracy_difference_std="0.01", test_accuracy_difference_low="-0.0048",
                        test_accuracy_difference_high="0.0448", best_val_accuracy_difference="0.05")
    markdown = (plots / "results.md").read_text()
    assert "| resnet | fashion_mnist | adam | 0.001 | 3 | 3 | 0.93 ± 0.02 | 0.78 ± 0.02 |" in markdown
    assert "| resnet | fashion_mnist | adam - radam | 3 | 0.02 ± 0.01 | -0.0048 to 0.0448 | 0.05 |" in markdown
    assert (plots / "resnet_fashion_mnist.png").is_file()


# The four-way comparison's second folder: Adam + warmup and RAdam (schedule off), three seeds.
# Test accuracies (from errors in 200): adam-warmup 0.97, 0.93, 0.94; RAdam 0.93, 0.93, 0.92;
# paired adam-warmup - radam 0.04, 0, 0.02: mean 0.02, std sqrt((0.02² + 0.02² + 0) / 2) = 0.02,
#   half-width 4.302653 x 0.02 / sqrt(3) = 0.049683: 95% interval -0.029683 to 0.069683
# best val: adam-warmup 0.82, 0.80, 0.84, RAdam 0.80, 0.81, 0.80; differences 0.02, -0.01, 0.04:
#   mean 0.05 / 3 = 0.016667
WARMUP_SEED_ERRORS = {"adam-warmup": [6, 14, 12], "radam": [14, 14, 16]}
WARMUP_SEED_BEST_VAL = {"adam-warmup": [0.82, 0.80, 0.84], "radam": [0.80, 0.81, 0.80]}


def test_adam_with_warmup_is_paired_with_radam_by_seed(tmp_path):
    for optimizer in ["radam", "adam-warmup"]:
        for seed, (errors, best) in enumerate(zip(WARMUP_SEED_ERRORS[optimizer], WARMUP_SEED_BEST_VAL[optimizer]),
                                              start=1):
            write_run(tmp_path, "minivggnet", optimizer, "mnist", seed=seed, errors=errors,
                      val_accuracy=[0.5, best, best - 0.1])
    plot.write_tables(plot.load_runs(str(tmp_path))[0], str(tmp_path / "plots"))

    (pair,) = read_csv(tmp_path / "plots/results_pairs.csv")
    assert pair == dict(model="minivggnet", dataset="mnist", difference="adam-warmup - radam", pairs="3",
                        test_accuracy_difference="0.02", test_accuracy_difference_std="0.02",
                        test_accuracy_difference_low="-0.0297", test_accuracy_difference_high="0.0697",
                        best_val_accuracy_difference="0.0167")
    markdown = (tmp_path / "plots/results.md").read_text()
    assert "| minivggnet | mnist | adam-warmup - radam | 3 | 0.02 ± 0.02 | -0.0297 to 0.0697 | 0.0167 |" in markdown


# One seed each: Adam 0.95 (10 errors in 200), SGD 0.85 (30), RMSprop 0.9 (20, no RAdam beside
# it), RAdam 0.9 (20): adam - radam 0.95 - 0.9 = 0.05, sgd - radam 0.85 - 0.9 = -0.05; best val
# Adam 0.8, SGD 0.7, RAdam 0.75: 0.05 and -0.05.
def test_every_optimizer_beside_radam_is_paired_with_it_in_the_names_order(tmp_path):
    for optimizer, errors, best in [("sgd", 30, 0.7), ("radam", 20, 0.75), ("adam", 10, 0.8)]:
        write_run(tmp_path, "resnet", optimizer, "cifar10", errors=errors, val_accuracy=[0.5, best, best - 0.1])
    write_run(tmp_path, "resnet", "rmsprop", "mnist", errors=20)
    plot.write_tables(plot.load_runs(str(tmp_path))[0], str(tmp_path / "plots"))

    pairs = read_csv(tmp_path / "plots/results_pairs.csv")
    assert [(row["dataset"], row["difference"], row["pairs"], row["test_accuracy_difference"],
             row["test_accuracy_difference_std"], row["best_val_accuracy_difference"]) for row in pairs] == [
        ("cifar10", "adam - radam", "1", "0.05", "", "0.05"), ("cifar10", "sgd - radam", "1", "-0.05", "", "-0.05")]
    markdown = (tmp_path / "plots/results.md").read_text()
    assert ("| resnet | cifar10 | adam - radam | 1 | 0.05 |  | 0.05 |\n"
            "| resnet | cifar10 | sgd - radam | 1 | -0.05 |  | -0.05 |\n") in markdown


def test_without_radam_beside_another_optimizer_there_is_nothing_to_pair(tmp_path):
    write_run(tmp_path, "resnet", "adam", "mnist")
    write_run(tmp_path, "resnet", "sgd", "mnist")
    write_run(tmp_path, "resnet", "radam", "digits")
    plot.write_tables(plot.load_runs(str(tmp_path))[0], str(tmp_path / "plots"))
    assert (tmp_path / "plots/results_pairs.csv").read_text() == ",".join(plot.PAIR_COLUMNS) + "\n"
    markdown = (tmp_path / "plots/results.md").read_text()
    assert markdown.endswith("## Each optimizer minus RAdam, paired by seed\n\n" + plot.PAIRS_EXPLAINED
                             + "\nNo model/data set ran RAdam and another optimizer at the same learning rate or "
                               "at RAdam's default.\n")


def run(seed, test_accuracy, path="run.pickle"):
    return dict(seed=seed, test_accuracy=test_accuracy, path=path)


def test_paired_difference_pairs_runs_by_seed_only():
    # Seed None is train.py's default, 42; seeds 7 and 5 have no partner; the order does not matter.
    adam = [run(3, 0.91), run(None, 0.95), run(7, 0.50), run(2, 0.93)]
    radam = [run(5, 0.10), run(2, 0.90), run(42, 0.94), run(3, 0.89)]
    pairs, mean, std, low, high = plot.paired_difference(adam, radam, "test_accuracy")
    assert pairs == 3
    assert (mean, std, low, high) == pytest.approx((0.02, 0.01, -0.004841, 0.044841), abs=1e-6)
    reverse = plot.paired_difference(radam, adam, "test_accuracy")
    assert (reverse.mean, reverse.std, reverse.low, reverse.high) == pytest.approx(
        (-0.02, 0.01, -0.044841, 0.004841), abs=1e-6)


def test_paired_difference_with_too_few_pairs_gives_what_it_can():
    one = plot.paired_difference([run(1, 0.9), run(2, None)], [run(1, 0.85), run(2, 0.8)], "test_accuracy")
    assert (one.pairs, one.std, one.low, one.high) == (1, None, None, None) and one.mean == pytest.approx(0.05)
    assert plot.paired_difference([run(1, 0.9)], [run(2, 0.8)], "test_accuracy") == (0, None, None, None, None)
    # Two pairs: t(0.975, 1) = 12.706205; differences 0.1, 0.2: mean 0.15, std 0.070711
    two = plot.paired_difference([run(1, 0.9), run(2, 0.8)], [run(1, 0.8), run(2, 0.6)], "test_accuracy")
    half_width = 12.706205 * 0.070711 / 1.414214
    assert tuple(two) == pytest.approx((2, 0.15, 0.070711, 0.15 - half_width, 0.15 + half_width), abs=1e-5)


def test_two_runs_with_one_seed_cannot_be_paired():
    first = [run(None, 0.9, "a/resnet_adam_mnist.pickle"), run(42, 0.9, "b/resnet_adam_mnist_seed42.pickle")]
    with pytest.raises(plot.UserError) as error:
        plot.paired_difference(first, [run(42, 0.8)], "test_accuracy")
    assert str(error.value) == ("a/resnet_adam_mnist.pickle and b/resnet_adam_mnist_seed42.pickle both ran with "
                                "seed 42, so they cannot be paired by seed; move one of them away")


def test_plot_stops_before_drawing_when_two_runs_share_a_seed(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "adam", "mnist", seed=42)
    write_run(output, "resnet", "radam", "mnist")
    with pytest.raises(plot.UserError) as error:
        plot.main(["--input", str(output), "--plots", str(plots)])
    assert str(error.value) == (f"{output / 'resnet_adam_mnist.pickle'} and "
                                f"{output / 'resnet_adam_mnist_seed42.pickle'} both ran with seed 42, so they "
                                "cannot be paired by seed; move one of them away")
    assert not plots.exists()


def test_load_runs_reads_several_folders_for_comparisons_across_them(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_run(tmp_path / "a", "resnet", "adam", "mnist", seed=1, errors=10)
    write_run(tmp_path / "b", "resnet", "radam", "mnist", seed=1, errors=16)
    write_run(tmp_path / "b", "resnet", "radam", "digits", seed=1)
    runs, unreadable = plot.load_runs(str(tmp_path / "a"), str(tmp_path / "b"))
    assert unreadable == []
    assert [(run["dataset"], run["optimizer"], Path(run["path"]).parent.name) for run in runs] == [
        ("mnist", "adam", "a"), ("mnist", "radam", "b"), ("digits", "radam", "b")]
    adam, radam = runs[0], runs[1]
    assert plot.paired_difference([adam], [radam], "test_accuracy")[:2] == (1, pytest.approx(0.03))
    assert (adam["test_accuracy"], adam["best_val_accuracy"]) == (0.95, 0.9)


def test_rows_follow_the_canonical_orders_not_the_alphabet(tmp_path):
    for dataset in ["cifar10", "fashion_mnist", "mnist"]:
        for model in ["minivggnet", "resnet"]:
            for optimizer in ["sgd", "radam", "adam"]:
                write_run(tmp_path, model, optimizer, dataset, epochs=2)
    plot.write_tables(plot.load_runs(str(tmp_path))[0], str(tmp_path / "plots"))
    order = [(row["dataset"], row["model"], row["optimizer"]) for row in read_csv(tmp_path / "plots/results.csv")]
    assert order == [(dataset, model, optimizer) for dataset in ["mnist", "fashion_mnist", "cifar10"]
                     for model in ["resnet", "minivggnet"] for optimizer in ["adam", "radam", "sgd"]]
    pairs = [(row["dataset"], row["model"], row["difference"])
             for row in read_csv(tmp_path / "plots/results_pairs.csv")]
    assert pairs == [(dataset, model, difference) for dataset in ["mnist", "fashion_mnist", "cifar10"]
                     for model in ["resnet", "minivggnet"] for difference in ["adam - radam", "sgd - radam"]]


def test_missing_report_leaves_cells_empty_with_a_warning(folders, capsys):
    output, plots = folders
    write_run(output, "resnet", "adam", "digits", report=False)
    write_run(output, "resnet", "radam", "digits")
    plot.main(["--input", str(output), "--plots", str(plots)])
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"warning: cannot read {output / 'resnet_adam_digits.txt'} (FileNotFoundError); "
                    "its test accuracy and F1 stay empty")
    adam, radam = read_csv(plots / "results.csv")
    assert (adam["test_accuracy"], adam["macro_f1"]) == ("", "")
    assert radam["test_accuracy"] == "0.95"
    (pair,) = read_csv(plots / "results_pairs.csv")
    assert (pair["pairs"], pair["test_accuracy_difference"], pair["best_val_accuracy_difference"]) == ("0", "", "0.0")


def test_the_means_over_seeds_count_the_reports_their_test_accuracy_comes_from(folders):
    output, plots = folders
    for seed, errors in ((1, 10), (2, 14), (3, 18)):  # test accuracy 0.95, 0.93, 0.91
        write_run(output, "resnet", "adam", "digits", seed=seed, errors=errors, report=seed != 3)
    plot.main(["--input", str(output), "--plots", str(plots)])
    (row,) = read_csv(plots / "results_mean.csv")
    assert (row["runs"], row["reports"], row["test_accuracy_mean"], row["test_accuracy_std"]) == (
        "3", "2", "0.94", "0.0141")
    assert "| resnet | digits | adam | 0.001 | 3 | 2 | 0.94 ± 0.0141 |" in (plots / "results.md").read_text()


# What scikit-learn 0.20 (2019, the original's) printed: no accuracy line, but a micro average.
REPORT_2019 = """\
              precision    recall  f1-score   support

           0       0.98      0.99      0.99       980
           1       0.99      0.99      0.99      1135
           2       0.96      0.95      0.95      1032

   micro avg       0.97      0.97      0.97      3147
   macro avg       0.96      0.97      0.96      3147
weighted avg       0.97      0.97      0.97      3147
"""


def test_2019_reports_give_the_micro_average_as_test_accuracy(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist", keras2=True)
    (output / "resnet_adam_mnist.txt").write_text(REPORT_2019)
    # The original's pickle: Keras 2 keys, NumPy 1.x's float32 scalars (numpy.core, protocol 2).
    history = {"loss": [np.float32(0.5)], "acc": [np.float32(0.75)], "val_loss": [np.float32(0.25)],
               "val_acc": [np.float32(0.875)]}
    numpy1 = pickle.dumps(history, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy._core" not in numpy1
    (output / "resnet_radam_mnist.pickle").write_bytes(numpy1)
    (output / "resnet_radam_mnist.txt").write_text(REPORT_2019.replace("micro avg       0.97", "micro avg       0.94"))
    assert results.read_report(output / "resnet_adam_mnist.txt") == (0.97, 0.96)
    plot.main(["--input", str(output), "--plots", str(plots)])
    adam, radam = read_csv(plots / "results.csv")
    assert (adam["test_accuracy"], adam["macro_f1"], radam["test_accuracy"]) == ("0.97", "0.96", "0.94")
    assert (radam["epochs"], radam["best_val_accuracy"]) == ("1", "0.875")


def test_a_report_with_both_lines_is_read_by_its_accuracy_line(tmp_path):
    path = tmp_path / "report.txt"
    accuracy_line = "    accuracy                           0.93      3147\n"
    path.write_text(REPORT_2019.replace("   macro avg", accuracy_line + "   macro avg"))
    assert results.read_report(path) == (0.93, 0.96)


@pytest.mark.parametrize("content, problem", [
    (b"\x80\x04\x95\xff garbage \xfe\x00", "it is not text"),
    (b"no summary here\n", "it has no accuracy (or micro avg) or macro avg line"),
    (REPORT_2019.replace("micro avg       0.97", "micro avg        nan").encode(),
     "it says 'nan' where a number from 0 to 1 belongs"),
    (REPORT_2019.replace("0.97      0.96      3147", "0.97     1e300      3147").encode(),
     "it says '1e300' where a number from 0 to 1 belongs"),
    (b"x" * (2**20 + 1), "it is larger than 1 MiB, far more than a report"),
    ("folder", "it is not a regular file"),
    ("fifo", "it is not a regular file"),
], ids=["binary", "no-summary", "nan", "out-of-range", "too-large", "folder", "fifo"])
def test_a_report_that_cannot_be_read_is_named_its_cells_stay_empty_and_plot_exits_1(folders, capsys, content,
                                                                                     problem):  # fmt: skip
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist", report=False)
    write_run(output, "resnet", "radam", "mnist")
    report = output / "resnet_adam_mnist.txt"
    if content == "folder":
        report.mkdir()
    elif content == "fifo":
        os.mkfifo(report)
    else:
        report.write_bytes(content)
    with pytest.raises(plot.UserError) as error:
        plot.main(["--input", str(output), "--plots", str(plots)])
    assert str(error.value) == (f"these reports could not be read, so their runs have no test accuracy or F1: "
                                f"{report}; delete them and re-run their train.py lines")
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {report} is not a readable classification report ({problem}); its test accuracy and F1 stay empty"]
    adam, radam = read_csv(plots / "results.csv")  # both runs drawn and tabulated
    assert (adam["test_accuracy"], adam["macro_f1"], radam["test_accuracy"]) == ("", "", "0.95")
    assert (plots / "resnet_mnist.png").is_file()


def test_a_manifest_or_settings_file_that_is_no_regular_file_is_not_read(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    os.mkfifo(output / "manifest.json")  # a read would wait for a writer
    (output / "resnet_adam_mnist.json").mkdir()
    assert plot.main(["--input", str(output), "--plots", str(plots)]) is None
    assert [row["optimizer"] for row in read_csv(plots / "results.csv")] == ["adam", "radam"]


# ## Bad input and unwritable outputs


def test_unwritable_plots_folder_is_one_line(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    if os.geteuid() == 0:  # root writes through chmod; nothing can be written below a regular file
        blocker = plots.parent / "a_file"
        blocker.write_text("")
        plots = blocker / "plots"
    else:
        plots.mkdir()
        plots.chmod(0o500)
    try:
        with pytest.raises(plot.UserError) as error:
            plot.main(["--input", str(output), "--plots", str(plots)])
    finally:
        if plots.exists():
            plots.chmod(0o700)
    assert str(plots) in str(error.value) and "\n" not in str(error.value)


def test_missing_or_empty_input_folder_is_one_line(tmp_path):
    with pytest.raises(plot.UserError) as error:
        plot.main(["--input", str(tmp_path / "absent"), "--plots", str(tmp_path / "plots")])
    assert str(error.value) == (
        f"input folder {tmp_path / 'absent'} does not exist; run the experiments first or fix --input")
    (tmp_path / "notes.txt").write_text("not a history")
    with pytest.raises(plot.UserError, match="no training histories"):
        plot.load_runs(str(tmp_path))


def test_an_input_that_is_a_file_or_unreadable_is_named_and_exits_1(folders, monkeypatch):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    result = run_plot(output / "resnet_adam_mnist.pickle", plots)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: --input {output / 'resnet_adam_mnist.pickle'} is a file; give the folder that "
        "holds the .pickle files\n"
    )

    def denied(folder):
        raise PermissionError(13, "Permission denied", folder)

    monkeypatch.setattr(plot.os, "listdir", denied)
    with pytest.raises(plot.UserError) as failure:
        plot.load_runs(str(output))
    assert str(failure.value) == (
        f"cannot read the input folder {output} (Permission denied); fix its permissions or --input"
    )


def test_a_blank_plots_folder_is_refused_before_anything_is_written(folders, monkeypatch, capsys, tmp_path):
    # An unset shell variable, say: the figures and tables would land in the current folder.
    output, _ = folders
    write_run(output, "resnet", "adam", "mnist")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    for arguments in (["--input", str(output)], ["--cpu-study", str(output)]):
        with pytest.raises(SystemExit) as exited:
            plot.main([*arguments, "--plots", ""])
        assert exited.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1].endswith(": error: argument -p/--plots: needs a folder")
    assert os.listdir(".") == []


@pytest.mark.parametrize("output_name", ["summary.png", "resnet_mnist.png"])  # a figure of all, one of a pair
def test_a_folder_named_like_an_output_stops_plot_before_it_draws(folders, output_name):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    (plots / output_name).mkdir(parents=True)
    with pytest.raises(plot.UserError) as error:
        plot.main(["--input", str(output), "--plots", str(plots)])
    assert str(error.value) == (
        f"{plots / output_name} is a folder where plot.py writes a file; move it away or "
        "choose another --plots folder"
    )
    assert os.listdir(plots) == [output_name]  # nor any other figure drawn


def test_the_help_says_that_input_is_a_folder(capsys):
    with pytest.raises(SystemExit) as exit:
        plot.main(["--help"])
    assert exit.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--input FOLDER [FOLDER ...] the folder(s) that hold the training histories" in help_text
    assert "-i FOLDER" not in help_text
    assert "folders, not one history file as train.py's --history" in help_text


def test_several_input_folders_are_read_as_one(tmp_path, capsys):
    original, seeds, plots = tmp_path / "original", tmp_path / "seeds", tmp_path / "plots"
    original.mkdir(), seeds.mkdir()
    for optimizer, errors in (("adam", 10), ("radam", 30)):
        write_run(original, "minivggnet", optimizer, "mnist", errors=errors)
        write_run(seeds, "minivggnet", optimizer, "mnist", seed=1, errors=errors)
    write_run(seeds, "resnet", "adam", "mnist", seed=1)

    plot.main(["--input", str(original), str(seeds), "--plots", str(plots)])

    means = read_csv(plots / "results_mean.csv")
    assert [(row["model"], row["optimizer"], row["runs"]) for row in means] == [
        ("resnet", "adam", "1"), ("minivggnet", "adam", "2"), ("minivggnet", "radam", "2")]
    (pair,) = read_csv(plots / "results_pairs.csv")
    assert (pair["model"], pair["pairs"]) == ("minivggnet", "2")
    missing = os.path.join(str(seeds), "resnet_radam_mnist_seed1.pickle")
    assert capsys.readouterr().err.splitlines() == [f"warning: skipping resnet on mnist: {missing} is missing"]


def test_a_perfect_report_a_class_named_accuracy_and_a_report_of_the_largest_size_are_read(tmp_path):
    truth = np.arange(200) % 4
    assert results.summary_of(classification_report(truth, truth, digits=4)) == (1.0, 1.0)
    # Without an accuracy line (2019), a class called "accuracy" is no summary: the micro avg is.
    named_accuracy = REPORT_2019.replace("           0       0.98", "    accuracy       0.50")
    assert results.summary_of(named_accuracy) == (0.97, 0.96)
    path = tmp_path / "resnet_adam_mnist.txt"
    path.write_text(REPORT_2019 + " " * (results.MAX_REPORT_BYTES - len(REPORT_2019)))  # 1 MiB exactly
    assert results.read_report(str(path)) == (0.97, 0.96)


def test_a_history_without_epochs_says_so_and_one_at_float32s_largest_number_is_read(tmp_path):
    path = tmp_path / "resnet_adam_mnist.pickle"
    path.write_bytes(pickle.dumps({"loss": [], "val_loss": [0.5], "accuracy": [], "val_accuracy": [0.5]}))
    with pytest.raises(plot.UserError) as failure:
        results.read_curves(str(path))
    assert str(failure.value) == (f"{path} is not a readable training history (no epochs); delete it and re-run "
                                  "its train.py line")
    largest = float(np.finfo(np.float32).max)
    path.write_bytes(pickle.dumps({"loss": [largest, 0.5], "val_loss": [largest, 0.5], "accuracy": [0.5, 0.6],
                                   "val_accuracy": [0.5, 0.6]}))
    assert results.read_curves(str(path))["loss"].tolist() == [largest, 0.5]


def test_a_folder_named_like_a_history_is_not_one(tmp_path):
    (tmp_path / "resnet_adam_mnist.pickle").mkdir()
    write_run(tmp_path, "resnet", "radam", "mnist")
    assert results.history_names(str(tmp_path)) == ["resnet_radam_mnist.pickle"]


def test_runs_of_one_optimizer_come_in_the_order_of_their_rates(tmp_path):
    history = {"loss": [0.5], "val_loss": [0.5], "accuracy": [0.5], "val_accuracy": [0.5]}
    for name in ("minivggnet_adam_digits_lr1e-02", "minivggnet_adam_digits", "minivggnet_adam_digits_lr3e-04"):
        (tmp_path / f"{name}.pickle").write_bytes(pickle.dumps(history))
    runs, _ = results.load_runs(str(tmp_path))
    assert [run["learning_rate"] for run in runs] == [3e-4, 1e-3, 1e-2]
    assert [run["variant"] for run in runs] == ["adam lr=3e-04", "adam", "adam lr=1e-02"]


def test_a_manifest_whose_budget_is_no_budget_leaves_every_run_in(tmp_path):
    write_run(tmp_path, "resnet", "adam", "mnist")
    (tmp_path / "manifest.json").write_text('{"budget": "cpu"}')
    assert [run["optimizer"] for run in results.load_runs(str(tmp_path))[0]] == ["adam"]


def test_a_run_whose_settings_contradict_its_name_is_named_left_out_and_exits_1(folders, capsys):
    # train.py --seed 7 --learning-rate 0.01 under a plain name: its rate and seed are not the name's.
    output, plots = folders
    write_run(output, "minivggnet", "adam", "digits")
    (output / "minivggnet_adam_digits.json").write_text('{"model": "minivggnet", "learning_rate": 0.001, "seed": 42}')
    write_run(output, "minivggnet", "radam", "digits")
    (output / "minivggnet_radam_digits.json").write_text('{"optimizer": "radam", "learning_rate": 0.01, "seed": 7}')
    write_run(output, "minivggnet", "sgd", "digits", seed=2)
    (output / "minivggnet_sgd_digits_seed2.json").write_text('{"learning_rate": 0.01, "seed": 2}')
    with pytest.raises(plot.UserError):
        plot.main(["--input", str(output), "--plots", str(plots)])
    radam = output / "minivggnet_radam_digits"
    assert capsys.readouterr().err.splitlines()[0] == (
        f"warning: {radam}.pickle is named as another run than its settings ({radam}.json) say: learning_rate "
        "0.01 where the name says 0.001, seed 7 where the name says 42; left out: rename the run's files to "
        "minivggnet_radam_digits_lr1e-02_seed7.*, or delete them")
    assert [(row["optimizer"], row["seed"]) for row in read_csv(plots / "results.csv")] == [("adam", ""), ("sgd", "2")]


def test_a_history_of_other_epochs_than_its_settings_say_is_named_left_out_and_exits_1(folders, capsys):
    # Another run's history copied over this one's: train.py writes a history only with all its epochs.
    output, plots = folders
    write_run(output, "minivggnet", "adam", "digits", epochs=5)
    (output / "minivggnet_adam_digits.json").write_text('{"epochs": 5, "learning_rate": 0.001}')
    write_run(output, "minivggnet", "radam", "digits", epochs=5)
    (output / "minivggnet_radam_digits.json").write_text('{"epochs": 10, "learning_rate": 0.001}')
    with pytest.raises(plot.UserError):
        plot.main(["--input", str(output), "--plots", str(plots)])
    radam = output / "minivggnet_radam_digits"
    assert capsys.readouterr().err.splitlines()[0] == (
        f"warning: {radam}.pickle holds 5 epochs where its settings ({radam}.json) say 10: it is another run's "
        "history; left out: delete the run's files and train it again")
    assert [row["optimizer"] for row in read_csv(plots / "results.csv")] == ["adam"]


@pytest.mark.parametrize("settings", ['{"optimizer": "foo"}', '{"learning_rate": "x"}', '{"learning_rate": NaN}',
                                      '{"seed": [1]}', '{"seed": true}', '{"model": {"a": 1}}', '[1, 2]',
                                      '{"epochs": "5"}', '{"epochs": 5.0}'])
def test_settings_that_train_py_did_not_write_leave_the_run_to_its_name(tmp_path, capsys, settings):
    write_run(tmp_path, "minivggnet", "adam", "digits")
    (tmp_path / "minivggnet_adam_digits.json").write_text(settings)
    runs, unreadable = results.load_runs(str(tmp_path))
    assert [(run["optimizer"], run["learning_rate"], run["seed"]) for run in runs] == [("adam", 1e-3, None)]
    assert unreadable == [] and capsys.readouterr().err == ""


def test_a_pair_whose_second_run_has_no_report_is_left_out():
    difference = plot.paired_difference([run(1, 0.9), run(2, 0.8)], [run(1, None), run(2, 0.7)], "test_accuracy")
    assert (difference.pairs, difference.std) == (1, None) and difference.mean == pytest.approx(0.1)


def test_runs_of_one_seed_each_give_no_table_of_means_over_seeds(folders):
    output, plots = folders
    for optimizer in ("adam", "radam"):
        write_run(output, "minivggnet", optimizer, "cifar10")
    runs, _ = results.load_runs(str(output))
    plot.write_tables(runs, str(plots))
    markdown = (plots / "results.md").read_text()
    assert markdown.startswith("# Results\n\n## Runs\n") and "## Mean ± std over seeds" not in markdown
    assert "\n## Each optimizer minus RAdam, paired by seed\n" in markdown


def test_a_report_of_a_run_that_learned_nothing_is_read_as_its_zeros():
    # A diverged CIFAR-100 run that predicts one class: macro F1 (2 x 0.01 / 1.01) / 100 = 0.0002,
    # which a 2019 report prints as 0.00.
    report = ("             precision    recall  f1-score   support\n\n"
              "  micro avg       0.01      0.01      0.01     10000\n"
              "  macro avg       0.00      0.01      0.00     10000\n")
    assert results.summary_of(report) == (0.01, 0.0)
    assert results.summary_of(report.replace("0.01      0.01      0.01", "0.00      0.00      0.00")) == (0.0, 0.0)
