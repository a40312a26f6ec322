"""plot.py end to end: fake histories and real classification reports in, figures and tables out."""

import csv
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report, f1_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import plot  # noqa: E402


def fake_predictions(errors, total=200):
    """Labels of 4 classes and predictions with exactly `errors` mistakes."""
    truth = np.arange(total) % 4
    predicted = truth.copy()
    predicted[:errors] = (truth[:errors] + 1) % 4
    return truth, predicted


def write_run(folder, model, optimizer, dataset, *, seed=None, epochs=5, val_accuracy=None,
              errors=10, keras2=False, epoch_time=12.5, report=True):
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
    stem = Path(folder) / f"{model}_{optimizer}_{dataset}{'' if seed is None else f'_seed{seed}'}"
    stem.with_suffix(".pickle").write_bytes(pickle.dumps(history))
    truth, predicted = fake_predictions(errors)
    if report:
        stem.with_suffix(".txt").write_text(classification_report(truth, predicted, digits=4))
    return history, (truth, predicted)


def run_plot(input_folder, plots_folder):
    return subprocess.run([sys.executable, "plot.py", "--input", str(input_folder), "--plots", str(plots_folder)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


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


def test_missing_partner_is_named_and_skipped_while_others_are_drawn(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    write_run(output, "googlenet", "adam", "cifar10")
    result = run_plot(output, plots)
    assert result.returncode == 0, result.stderr
    missing = os.path.join(str(output), "googlenet_radam_cifar10.pickle")
    assert result.stderr.splitlines() == [f"warning: skipping googlenet on cifar10: {missing} is missing"]
    assert (plots / "resnet_mnist.png").is_file()
    assert not (plots / "googlenet_cifar10.png").exists()


NOT_HISTORIES = {
    "garbage": b"\x80\x04 not a pickle",
    "list": pickle.dumps([0.1, 0.2]),
    "no_val_accuracy": pickle.dumps({"loss": [0.1], "val_loss": [0.2], "accuracy": [0.9]}),
}


def test_corrupt_history_is_one_line_naming_it_and_exit_1(folders):
    output, plots = folders
    write_run(output, "resnet", "radam", "mnist")
    (output / "resnet_adam_mnist.pickle").write_bytes(NOT_HISTORIES["garbage"])
    result = run_plot(output, plots)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "resnet_adam_mnist.pickle" in lines[0] and "delete it" in lines[0]


@pytest.mark.parametrize("content", NOT_HISTORIES.values(), ids=NOT_HISTORIES.keys())
def test_anything_but_a_history_dict_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "resnet_adam_mnist.pickle"
    path.write_bytes(content)
    with pytest.raises(plot.Failure) as failure:
        plot.read_history(str(path))
    assert str(path) in str(failure.value) and "\n" not in str(failure.value)


def test_results_tables_hold_the_report_and_history_numbers(folders):
    output, plots = folders
    adam_history, adam_predictions = write_run(
        output, "minivggnet", "adam", "cifar10", val_accuracy=[0.4, 0.7, 0.65, 0.72, 0.6], errors=30)
    radam_history, radam_predictions = write_run(
        output, "minivggnet", "radam", "cifar10", val_accuracy=[0.3, 0.5, 0.55, 0.5], errors=50, epoch_time=7.0)
    result = run_plot(output, plots)
    assert result.returncode == 0, result.stderr

    adam, radam = read_csv(plots / "results.csv")
    adam_accuracy, radam_accuracy = accuracy_score(*adam_predictions), accuracy_score(*radam_predictions)
    assert [adam[key] for key in ["model", "dataset", "optimizer", "seed"]] == ["minivggnet", "cifar10", "adam", ""]
    assert float(adam["test_accuracy"]) == pytest.approx(adam_accuracy) == 0.85
    assert float(adam["macro_f1"]) == pytest.approx(round(f1_score(*adam_predictions, average="macro"), 4))
    assert (adam["epochs"], adam["best_val_accuracy"], adam["best_val_epoch"]) == ("5", "0.72", "4")
    assert (radam["epochs"], radam["best_val_accuracy"], radam["best_val_epoch"]) == ("4", "0.55", "3")
    assert float(adam["final_val_loss"]) == pytest.approx(round(1.5 / 5, 4))
    assert float(adam["training_seconds"]) == pytest.approx(5 * 12.5)
    assert float(radam["training_seconds"]) == pytest.approx(4 * 7.0)

    (pair,) = read_csv(plots / "results_pairs.csv")
    assert float(pair["test_accuracy_difference"]) == pytest.approx(adam_accuracy - radam_accuracy)
    assert float(pair["best_val_accuracy_difference"]) == pytest.approx(0.72 - 0.55)
    markdown = (plots / "results.md").read_text()
    assert "## Adam minus RAdam" in markdown and "| minivggnet | cifar10 | adam |  | 5 | 0.85 |" in markdown


def test_several_seeds_give_mean_and_sample_std(folders):
    output, plots = folders
    errors = {"adam": [10, 20, 36], "radam": [40, 44, 60]}
    for optimizer, counts in errors.items():
        for seed, count in enumerate(counts):
            write_run(output, "resnet", optimizer, "fashion_mnist", seed=seed, errors=count,
                      val_accuracy=[0.5, 0.6 + seed / 100, 0.55], epochs=3)
    result = run_plot(output, plots)
    assert result.returncode == 0, result.stderr

    rows = read_csv(plots / "results.csv")
    assert [(row["optimizer"], row["seed"]) for row in rows] == [
        ("adam", "0"), ("adam", "1"), ("adam", "2"), ("radam", "0"), ("radam", "1"), ("radam", "2")]
    accuracies = {optimizer: [1 - count / 200 for count in counts] for optimizer, counts in errors.items()}
    means = {row["optimizer"]: row for row in read_csv(plots / "results_mean.csv")}
    for optimizer, values in accuracies.items():
        assert means[optimizer]["runs"] == "3"
        assert float(means[optimizer]["test_accuracy_mean"]) == pytest.approx(round(np.mean(values), 4))
        assert float(means[optimizer]["test_accuracy_std"]) == pytest.approx(round(np.std(values, ddof=1), 4))
        assert float(means[optimizer]["best_val_accuracy_mean"]) == pytest.approx(0.61)
    (pair,) = read_csv(plots / "results_pairs.csv")
    difference = np.mean(accuracies["adam"]) - np.mean(accuracies["radam"])
    assert float(pair["test_accuracy_difference"]) == pytest.approx(round(difference, 4))
    assert f"{round(np.mean(accuracies['adam']), 4)} ± {round(np.std(accuracies['adam'], ddof=1), 4)}" in (
        plots / "results.md").read_text()
    assert (plots / "resnet_fashion_mnist.png").is_file()


def test_rows_follow_the_canonical_orders_not_the_alphabet(tmp_path):
    for dataset in ["cifar10", "fashion_mnist", "mnist"]:
        for model in ["minivggnet", "resnet"]:
            for optimizer in ["sgd", "radam", "adam"]:
                write_run(tmp_path, model, optimizer, dataset, epochs=2)
    plot.write_tables(plot.load_runs(str(tmp_path)), str(tmp_path / "plots"))
    order = [(row["dataset"], row["model"], row["optimizer"]) for row in read_csv(tmp_path / "plots/results.csv")]
    assert order == [(dataset, model, optimizer) for dataset in ["mnist", "fashion_mnist", "cifar10"]
                     for model in ["resnet", "minivggnet"] for optimizer in ["adam", "radam", "sgd"]]
    pairs = [(row["dataset"], row["model"]) for row in read_csv(tmp_path / "plots/results_pairs.csv")]
    assert pairs == [(dataset, model) for dataset in ["mnist", "fashion_mnist", "cifar10"]
                     for model in ["resnet", "minivggnet"]]


def test_a_third_optimizer_and_different_lengths_are_drawn(tmp_path):
    write_run(tmp_path, "resnet", "adam", "cifar100", epochs=6)
    write_run(tmp_path, "resnet", "radam", "cifar100", epochs=4)
    write_run(tmp_path, "resnet", "sgd", "cifar100", seed=1, epochs=3)
    write_run(tmp_path, "resnet", "sgd", "cifar100", seed=2, epochs=5)
    figure = plot.draw_pair_figure("resnet", "cifar100", plot.by_optimizer(plot.load_runs(str(tmp_path))))
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


def test_two_optimizers_keep_the_original_figure(tmp_path):
    write_run(tmp_path, "googlenet", "adam", "mnist")
    write_run(tmp_path, "googlenet", "radam", "mnist")
    figure = plot.draw_pair_figure("googlenet", "mnist", plot.by_optimizer(plot.load_runs(str(tmp_path))))
    accuracy, loss = figure.axes
    assert accuracy.get_title() == "Adam vs. RAdam for 'googlenet' on 'mnist' (Accuracy)"
    assert (accuracy.get_xlabel(), accuracy.get_ylabel(), loss.get_ylabel()) == ("Epoch #", "Accuracy", "Loss")
    assert [text.get_text() for text in loss.get_legend().get_texts()] == [
        "adam_train_loss", "adam_val_loss", "radam_train_loss", "radam_val_loss"]
    assert accuracy.get_legend()._loc == 4 and loss.get_legend()._loc == 1  # lower right, upper right
    assert tuple(figure.get_size_inches()) == (7, 9)
    plot.plt.close(figure)


def test_missing_report_leaves_cells_empty_with_a_warning(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "digits", report=False)
    write_run(output, "resnet", "radam", "digits")
    result = run_plot(output, plots)
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: ") and "resnet_adam_digits.txt" in line
    adam, radam = read_csv(plots / "results.csv")
    assert (adam["test_accuracy"], adam["macro_f1"]) == ("", "")
    assert radam["test_accuracy"] != ""
    assert read_csv(plots / "results_pairs.csv")[0]["test_accuracy_difference"] == ""


def test_unwritable_plots_folder_is_one_line_and_exit_1(folders):
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
        result = run_plot(output, plots)
    finally:
        if plots.exists():
            plots.chmod(0o700)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(plots) in lines[0], result.stderr


def test_missing_or_empty_input_folder_is_one_line_and_exit_1(tmp_path):
    result = run_plot(tmp_path / "absent", tmp_path / "plots")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert "absent" in result.stderr
    (tmp_path / "notes.txt").write_text("not a history")
    with pytest.raises(plot.Failure, match="no training histories"):
        plot.load_runs(str(tmp_path))


def test_a_history_with_an_empty_curve_is_refused_but_shorter_ones_are_read(tmp_path):
    path = tmp_path / "resnet_adam_mnist.pickle"
    history = {"loss": [0.5, 0.4], "val_loss": [], "accuracy": [0.8, 0.9], "val_accuracy": []}
    path.write_bytes(pickle.dumps(history))
    with pytest.raises(plot.Failure) as failure:
        plot.read_history(str(path))
    assert str(failure.value) == (
        f"{path} is not a readable training history (ValueError: no 'val_loss' values); delete "
        "it and re-run its train.py line"
    )
    # Validated every other epoch, with a Keras 2 learning rate one value short: still a history.
    history = dict(history, val_loss=[0.6], val_accuracy=[0.7], lr=[1e-3])
    path.write_bytes(pickle.dumps(history))
    read = plot.read_history(str(path))
    assert read["val_accuracy"].tolist() == [0.7] and read["learning_rate"].tolist() == [1e-3]
    assert plot.run_row(dict(model="resnet", dataset="mnist", optimizer="adam", seed=None,
                             test_accuracy=None, macro_f1=None, history=read))["best_val_epoch"] == 1


def test_an_input_that_is_a_file_or_unreadable_is_named(folders, monkeypatch):
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
    with pytest.raises(plot.Failure) as failure:
        plot.load_runs(str(output))
    assert str(failure.value) == (
        f"cannot read the input folder {output} (Permission denied); fix its permissions or --input"
    )


def test_a_folder_named_like_an_output_stops_plot_before_it_draws(folders):
    output, plots = folders
    write_run(output, "resnet", "adam", "mnist")
    write_run(output, "resnet", "radam", "mnist")
    (plots / "summary.png").mkdir(parents=True)
    result = run_plot(output, plots)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {plots / 'summary.png'} is a folder where plot.py writes a file; move it away or "
        "choose another --plots folder\n"
    )
    assert os.listdir(plots) == ["summary.png"]  # the pair's figure was not drawn either


def test_epochs_where_every_value_is_nan_are_a_gap_without_warnings():
    runs = [{"history": {"val_loss": np.array([0.5, np.nan, 0.3])}} for _ in range(2)]
    figure, axis = plot.plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = plot.draw_curve(axis, runs, "val_loss")
    np.testing.assert_array_equal(line.get_ydata(), [0.5, np.nan, 0.3])
    plot.plt.close(figure)
