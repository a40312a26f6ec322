"""readme_results.py: README's Results section says exactly what results/ holds."""

import os
import pickle

import pytest

import readme_results
from pyimagesearch.errors import UserError
from support import REPO

TEMPLATE = (f"# A README\n\n{readme_results.ANSWER_BEGIN}old answer\n{readme_results.ANSWER_END}\n"
            f"{readme_results.BEGIN}old numbers\n{readme_results.END}\nThe rest.\n")


def test_readme_says_what_results_holds():
    assert readme_results.main(["--results", os.path.join(REPO, "results"),
                                "--readme", os.path.join(REPO, "README.md"), "--check"]) == 0


def write_run(folder, stem, test_accuracy):
    folder.mkdir(parents=True, exist_ok=True)
    history = dict(loss=[1.0, 0.5], accuracy=[0.5, 0.8], val_loss=[1.0, 0.6], val_accuracy=[0.4, 0.7])
    (folder / f"{stem}.pickle").write_bytes(pickle.dumps(history))
    (folder / f"{stem}.txt").write_text(
        f"    accuracy                         {test_accuracy:.4f}     10000\n"
        "   macro avg     0.9000    0.9000    0.9000     10000\n")


@pytest.fixture
def results(tmp_path):
    """Three seeds of Adam and RAdam on two combinations, one RAdam with a fair schedule."""
    folder = tmp_path / "results"
    accuracies = {  # (model, data set, optimizer): by seed 42, 1, 2
        ("minivggnet", "mnist", "adam"): (0.9900, 0.9920, 0.9910),
        ("minivggnet", "mnist", "radam"): (0.9880, 0.9870, 0.9890),
        ("minivggnet", "fashion_mnist", "adam"): (0.9300, 0.9300, 0.9400),
        ("minivggnet", "fashion_mnist", "radam"): (0.9000, 0.9100, 0.9050),
    }
    for (model, dataset, optimizer), (seed42, seed1, seed2) in accuracies.items():
        stem = f"{model}_{optimizer}_{dataset}"
        write_run(folder / "original", stem, seed42)
        write_run(folder / "seeds", f"{stem}_seed1", seed1)
        write_run(folder / "seeds", f"{stem}_seed2", seed2)
    write_run(folder / "fair-schedule", "resnet_radam_mnist", 0.9950)
    return folder


def written_readme(results, tmp_path):
    """README's text once readme_results.py has written the Results of `results` into the template."""
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)
    assert readme_results.main(["--results", str(results), "--readme", str(readme)]) == 0
    return readme.read_text()


def rows(text, first_cells):
    return [line for line in text.splitlines() if line.startswith(first_cells)]


def test_means_spreads_and_paired_intervals_are_the_hand_worked_ones(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)

    assert readme_results.main(["--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()

    # No CPU study in these results: the answer says the rates are not chosen yet.
    assert text.startswith(f"# A README\n\n{readme_results.ANSWER_BEGIN}The learning-rate grid has not chosen the "
                           f"rates yet, so there is no answer so far.\n\n{readme_results.ANSWER_END}\n"
                           f"{readme_results.BEGIN}\n| data set |")
    assert text.endswith(f"{readme_results.END}\nThe rest.\n") and "old numbers" not in text
    # MNIST: Adam 0.990, 0.992, 0.991 and RAdam 0.988, 0.987, 0.989 by seed: differences 0.002,
    # 0.005, 0.002, mean 0.003, sample std sqrt((1 + 4 + 1)e-6 / 2) = 0.0017321, half-width of the 95%
    # interval t(0.975, 2) x 0.0017321 / sqrt(3) = 4.302653 x 0.001 = 0.0043.
    assert rows(text, "| mnist | minivggnet | 0.99") == [
        "| mnist | minivggnet | 0.99 | 0.99 | 0.9910 ± 0.0010 (3) | 0.9880 ± 0.0010 (3) "
        "| +0.0030 [-0.0013, +0.0073] (3) | no difference |"]
    # Fashion-MNIST: differences 0.030, 0.020, 0.035: mean 0.028333, std 0.0076376, half-width
    # 4.302653 x 0.0076376 / sqrt(3) = 0.018973: the interval excludes 0.
    assert rows(text, "| fashion_mnist | minivggnet | 0.90") == [
        "| fashion_mnist | minivggnet | 0.90 | 0.89 | 0.9333 ± 0.0058 (3) | 0.9050 ± 0.0050 (3) "
        "| +0.0283 [+0.0094, +0.0473] (3) | higher |"]
    assert rows(text, "| mnist | resnet | 0.99 | 0.99 |") == ["| mnist | resnet | 0.99 | 0.99 | not yet run | not yet run |  |  |"]
    assert rows(text, "| cifar10 | resnet |") == ["| cifar10 | resnet | 0.87 | 0.84 | not run here |  |  |  |"]
    assert ("Adam - RAdam: of the 2 model/data-set pairs with three seeds or more of both (and differences that are not all equal), Adam's test accuracy is "
            "higher in 1, lower in 0, and indistinguishable in 1") in text
    # 0.9333 is 0.0333 from 0.90, more than 0.0058 + 0.005; 0.9050 is 0.015 from 0.89.
    assert ("for: minivggnet on fashion_mnist with Adam (0.9333 ± 0.0058 (3) against 0.90); "
            "minivggnet on fashion_mnist with RAdam (0.9050 ± 0.0050 (3) against 0.89).") in text
    # One run of RAdam with a fair schedule: a figure, no spread and no interval.
    controls = rows(text, "| mnist | resnet |")[1:]
    assert controls[0].startswith("| mnist | resnet | 0.9950 (1) | not yet run |")
    assert controls[1] == "| mnist | resnet | not yet run | not yet run | not yet run |"

    assert readme_results.main(["--results", str(results), "--readme", str(readme), "--check"]) == 0


def test_a_readme_out_of_step_with_results_is_named_and_left_alone(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)

    with pytest.raises(UserError) as error:
        readme_results.main(["--results", str(results), "--readme", str(readme), "--check"])

    assert str(error.value) == (
        f"{readme} does not say what {results} holds (first change: -old answer); run python results/readme_results.py "
        f"--results {results} --readme {readme}")
    assert readme.read_text() == TEMPLATE


def test_a_readme_without_its_markers_is_refused(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# A README\n")
    with pytest.raises(UserError, match="^README.md must hold the Results markers once each; restore them from git$"):
        readme_results.main(["--results", str(results), "--readme", str(readme)])
    assert readme.read_text() == "# A README\n"


def test_a_readme_that_cannot_be_read_is_named_in_one_line(results, tmp_path):
    with pytest.raises(UserError) as refused:
        readme_results.main(["--results", str(results), "--readme", str(tmp_path / "README.md"), "--check"])
    assert str(refused.value) == (f"cannot read {tmp_path / 'README.md'} (No such file or directory); run from the "
                                  "repository's root, or give --readme the project's README.md")


def test_the_controls_show_another_data_set_once_results_hold_runs_of_it(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)
    write_run(results / "baselines", "minivggnet_sgd_cifar10", 0.8125)

    assert readme_results.main(["--results", str(results), "--readme", str(readme)]) == 0

    text = readme.read_text()
    assert rows(text, "| cifar10 | minivggnet |")[1:] == [
        "| cifar10 | minivggnet | not yet run | not yet run | not yet run | 0.8125 (1) | not yet run |",
        "| cifar10 | minivggnet | not yet run | not yet run | not yet run |"]
    assert rows(text, "| cifar100 |")[3:] == []  # CIFAR-100: the first table's rows alone


def test_a_run_without_its_report_is_not_counted_and_is_named(results, tmp_path):
    (results / "seeds" / "minivggnet_adam_mnist_seed2.txt").unlink()
    text = written_readme(results, tmp_path)
    (row,) = rows(text, "| mnist | minivggnet | 0.99 |")
    # Seeds 42 and 1 only: (0.9900 + 0.9920) / 2, and two pairs give no verdict.
    assert row == ("| mnist | minivggnet | 0.99 | 0.99 | 0.9910 ± 0.0014 (2), no report: minivggnet_adam_mnist_seed2.pickle "
                   "| 0.9880 ± 0.0010 (3) | +0.0035 [-0.0156, +0.0226] (2) |  |")


def test_a_run_at_another_learning_rate_is_named_and_neither_averaged_nor_paired(results, tmp_path, capsys):
    # Seed 2 of Adam at 1e-2 in place of its 1e-3 run: paired with RAdam's at 1e-3, it would read as
    # Adam's seed 2.
    for suffix in ("pickle", "txt"):
        (results / "seeds" / f"minivggnet_adam_mnist_seed2.{suffix}").rename(
            results / "seeds" / f"minivggnet_adam_mnist_lr1e-02_seed2.{suffix}")
    text = written_readme(results, tmp_path)
    (row,) = rows(text, "| mnist | minivggnet | 0.99 |")
    # Seeds 42 and 1 only: (0.9900 + 0.9920) / 2, and two pairs give no verdict.
    assert row == ("| mnist | minivggnet | 0.99 | 0.99 | 0.9910 ± 0.0014 (2) | 0.9880 ± 0.0010 (3) "
                   "| +0.0035 [-0.0156, +0.0226] (2) |  |")
    assert capsys.readouterr().err == (f"warning: {results / 'seeds' / 'minivggnet_adam_mnist_lr1e-02_seed2.pickle'} "
                                       "ran with adam lr=1e-02, not at adam's default rate, the faithful study's; "
                                       "left out of README's tables: move it to a folder of its own\n")


def test_a_radam_run_with_another_schedule_than_its_folders_is_named_and_neither_averaged_nor_paired(results, tmp_path,
                                                                                                    capsys):
    # RAdam's seed 2 with the schedule of fair-schedule/ (--radam-total-steps auto), in seeds/.
    (results / "seeds" / "minivggnet_radam_mnist_seed2.json").write_text('{"radam_total_steps": "auto"}')
    text = written_readme(results, tmp_path)
    (row,) = rows(text, "| mnist | minivggnet | 0.99 |")
    # Seeds 42 and 1 only: (0.9880 + 0.9870) / 2, and Adam's 0.9900, 0.9920 less those.
    assert row == ("| mnist | minivggnet | 0.99 | 0.99 | 0.9910 ± 0.0010 (3) | 0.9875 ± 0.0007 (2) "
                   "| +0.0035 [-0.0156, +0.0226] (2) |  |")
    assert capsys.readouterr().err == (f"warning: {results / 'seeds' / 'minivggnet_radam_mnist_seed2.pickle'} ran with "
                                       "--radam-total-steps auto, not 5000 as the runs of RAdam do; left out of "
                                       "README's tables: move it to a folder of its own\n")


def test_a_readme_with_its_markers_twice_is_refused(results, tmp_path):
    readme = tmp_path / "README.md"
    for text in (TEMPLATE + TEMPLATE, TEMPLATE.replace(readme_results.END, readme_results.BEGIN + readme_results.END)):
        readme.write_text(text)
        with pytest.raises(UserError) as refused:
            readme_results.main(["--results", str(results), "--readme", str(readme)])
        assert str(refused.value) == "README.md must hold the Results markers once each; restore them from git"
        assert readme.read_text() == text


@pytest.mark.parametrize("markers", ["answer's missing", "answer's in reverse", "Results' in reverse"])
def test_a_readme_without_the_answers_markers_or_with_markers_out_of_order_is_refused(results, tmp_path, markers):
    begin, end, what = ((readme_results.ANSWER_BEGIN, readme_results.ANSWER_END, "answer's") if "answer" in markers
                        else (readme_results.BEGIN, readme_results.END, "Results"))
    text = (TEMPLATE.replace(begin, "").replace(end, "") if "missing" in markers else
            TEMPLATE.replace(begin, "BEGIN").replace(end, begin).replace("BEGIN", end))
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(UserError) as refused:
        readme_results.main(["--results", str(results), "--readme", str(readme)])
    assert str(refused.value) == f"README.md must hold the {what} markers once each; restore them from git"
    assert readme.read_text() == text


def test_radam_runs_of_a_data_set_beyond_the_faithful_study_are_shown_without_adam_runs(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)
    write_run(results / "original", "minivggnet_radam_cifar10", 0.7125)
    assert readme_results.main(["--results", str(results), "--readme", str(readme)]) == 0
    assert rows(readme.read_text(), "| cifar10 | minivggnet | 0.83 |") == [
        "| cifar10 | minivggnet | 0.83 | 0.71 | not yet run | 0.7125 (1) |  |  |"]


def test_histories_that_cannot_be_read_are_named_once_each_and_readme_is_left_alone(results, tmp_path):
    # Each is read for Adam's and RAdam's figures both.
    for stem in ("minivggnet_radam_mnist", "minivggnet_adam_fashion_mnist"):
        (results / "original" / f"{stem}.pickle").write_bytes(b"not a pickle")
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)
    with pytest.raises(UserError) as refused:
        readme_results.main(["--results", str(results), "--readme", str(readme)])
    assert str(refused.value) == (
        f"cannot read {results / 'original' / 'minivggnet_adam_fashion_mnist.pickle'}, "
        f"{results / 'original' / 'minivggnet_radam_mnist.pickle'}; restore them from git before writing README")
    assert readme.read_text() == TEMPLATE


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_readme_that_is_no_regular_file_is_refused_without_reading_it(results, tmp_path, special):
    readme = "/dev/zero" if special == "/dev/zero" else str(tmp_path / "README.md")
    if special == "fifo":
        os.mkfifo(readme)  # no writer: opening it would wait for ever
    with pytest.raises(UserError) as refused:
        readme_results.main(["--results", str(results), "--readme", readme, "--check"])
    assert str(refused.value) == (f"cannot read {readme} (it is not a regular file); run from the repository's root, or "
                                  "give --readme the project's README.md")


def test_a_results_folder_that_is_not_there_is_refused_and_readme_is_left_alone(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE)
    with pytest.raises(UserError) as refused:
        readme_results.main(["--results", str(tmp_path / "reslts"), "--readme", str(readme)])
    assert str(refused.value) == (f"--results {tmp_path / 'reslts'} is not a folder; give the campaign's folder, "
                                  "such as results")
    assert readme.read_text() == TEMPLATE


def test_a_folder_of_the_study_that_holds_no_run_yet_counts_as_none(results, tmp_path):
    (results / "warmup").mkdir()  # made, say, by a slot that has not finished a run of it
    text = written_readme(results, tmp_path)
    assert "| +0.0030 [-0.0013, +0.0073] (3) | no difference |" in text


def test_a_control_compared_over_two_pairs_shows_the_difference_without_a_verdict(results, tmp_path):
    write_run(results / "fair-schedule", "minivggnet_radam_mnist", 0.9890)
    write_run(results / "fair-schedule", "minivggnet_radam_mnist_seed1", 0.9900)
    text = written_readme(results, tmp_path)
    # Adam 0.9900, 0.9920 less 0.9890, 0.9900: 0.0010 and 0.0020, half-width t(0.975, 1) x 0.0005 =
    # 0.0064; RAdam's 0.9880, 0.9870 from the same: 0.0010 and 0.0030, half-width 12.706 x 0.001.
    assert rows(text, "| mnist | minivggnet |")[-1] == (
        "| mnist | minivggnet | +0.0015 [-0.0049, +0.0079] (2) | +0.0020 [-0.0107, +0.0147] (2) | not yet run |")


def test_a_control_compared_over_three_pairs_shows_its_verdict(results, tmp_path):
    for stem, accuracy in (("minivggnet_radam_mnist", 0.9800), ("minivggnet_radam_mnist_seed1", 0.9810),
                           ("minivggnet_radam_mnist_seed2", 0.9850)):
        write_run(results / "fair-schedule", stem, accuracy)
    text = written_readme(results, tmp_path)
    # Adam 0.990, 0.992, 0.991 less 0.980, 0.981, 0.985 by seed: 0.010, 0.011, 0.006, mean 0.009, std
    # sqrt(14e-6 / 2) = 0.0026458, half-width 4.302653 x 0.0026458 / sqrt(3) = 0.0065724: above 0.
    # The fair schedule less RAdam's 0.988, 0.987, 0.989: -0.008, -0.006, -0.004, mean -0.006, std
    # 0.002, half-width 4.302653 x 0.002 / sqrt(3) = 0.0049683: below 0.
    assert rows(text, "| mnist | minivggnet |")[-1] == (
        "| mnist | minivggnet | +0.0090 [+0.0024, +0.0156] (3): higher | -0.0060 [-0.0110, -0.0010] (3): lower "
        "| not yet run |")


def test_runs_further_below_the_2019_figure_than_their_spread_are_named(results, tmp_path):
    for stem, accuracy in (("original/minivggnet_radam_mnist", 0.9700), ("seeds/minivggnet_radam_mnist_seed1", 0.9720),
                           ("seeds/minivggnet_radam_mnist_seed2", 0.9710)):
        folder, name = stem.split("/")
        write_run(results / folder, name, accuracy)
    text = written_readme(results, tmp_path)
    # RAdam's 0.9710 ± 0.0010 on MNIST is 0.019 below 2019's 0.99, more than 0.0010 + 0.005.
    assert ("for: minivggnet on mnist with RAdam (0.9710 ± 0.0010 (3) against 0.99); minivggnet on fashion_mnist "
            "with Adam (0.9333 ± 0.0058 (3) against 0.90); minivggnet on fashion_mnist with RAdam (0.9050 ± 0.0050 "
            "(3) against 0.89).") in text
