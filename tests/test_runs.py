"""A run's name (pyimagesearch/runs.py) and the runs combinations.py names with it."""

import pytest

import combinations
from pyimagesearch import runs
from pyimagesearch.errors import UserError


@pytest.mark.parametrize("rate, text", [(3e-4, "3e-04"), (1e-2, "1e-02"), (2.5e-4, "2.5e-04"), (0.00123, "1.23e-03"),
                                        (1e-10, "1e-10"), (1.2345e-4, "1.2345e-04"),
                                        (0.1 + 0.2, "3.0000000000000004e-01")])
def test_a_rate_is_written_in_the_fewest_digits_that_read_back_exactly(rate, text):
    assert runs.rate_text(rate) == text and float(text) == rate


def test_the_rate_and_the_seed_are_in_a_name_only_when_the_run_gives_them_and_read_back():
    assert runs.stem("resnet", "adam", "mnist") == "resnet_adam_mnist"
    assert runs.stem("resnet", "adam", "mnist", 1e-3, None) == "resnet_adam_mnist"  # Adam's default
    assert runs.stem("resnet", "sgd", "mnist", 1e-3, 2) == "resnet_sgd_mnist_lr1e-03_seed2"
    assert runs.stem("resnet", "sgd", "mnist", 0.01, 2) == "resnet_sgd_mnist_seed2"  # SGD's default
    assert runs.stem("resnet", "sgd", "mnist", 0.01, 0) == "resnet_sgd_mnist_seed0"  # seed 0 is a seed
    assert runs.stem("googlenet", "adam-warmup", "fashion_mnist", 2.5e-4) == "googlenet_adam-warmup_fashion_mnist_lr2.5e-04"
    assert runs.parse_stem("googlenet_adam-warmup_fashion_mnist_lr2.5e-04") == (
        "googlenet", "adam-warmup", "fashion_mnist", 2.5e-4, None)
    assert runs.parse_stem("resnet_sgd_mnist_lr1e-03_seed2") == ("resnet", "sgd", "mnist", 1e-3, 2)
    assert runs.parse_stem("resnet_sgd_mnist") == ("resnet", "sgd", "mnist", 0.01, None)
    for name in ("resnet_sgd_mnist_lr_seed2", "resnet_sgd_mnist_seed2_lr1e-03", "resnet_lamb_mnist", "resnet_sgd_mnist.pickle"):
        assert runs.parse_stem(name) is None


def test_combinations_writes_one_run_per_rate_named_by_its_rate(tmp_path):
    arguments = combinations.parse_arguments(
        ["--output", "out", "--script", "unused", "--datasets", "mnist", "--models", "minivggnet", "--optimizers",
         "adam", "sgd", "--learning-rates", "1e-3", "0.0003", "--training-images", "1000", "--validation-images", "500"])
    commands = combinations.train_commands(arguments)
    assert [command.split()[3] for command in commands] == [
        "out/minivggnet_adam_mnist.pickle", "out/minivggnet_adam_mnist_lr3e-04.pickle",
        "out/minivggnet_sgd_mnist_lr1e-03.pickle", "out/minivggnet_sgd_mnist_lr3e-04.pickle"]
    assert "--learning-rate" not in commands[0] and " --learning-rate 3e-04 " in commands[1]
    assert all(command.endswith("--training-images 1000 --validation-images 500") for command in commands)
    # Without the new options, the commands are the original's, word for word.
    plain = combinations.train_commands(combinations.parse_arguments(
        ["--output", "out", "--script", "unused", "--datasets", "mnist", "--models", "minivggnet"]))
    assert plain == [
        "python train.py --history out/minivggnet_adam_mnist.pickle --report out/minivggnet_adam_mnist.txt "
        "--dataset mnist --model minivggnet --optimizer adam",
        "python train.py --history out/minivggnet_radam_mnist.pickle --report out/minivggnet_radam_mnist.txt "
        "--dataset mnist --model minivggnet --optimizer radam"]


def test_a_sweep_gives_each_run_in_turn_to_the_lane_that_falls_free_first():
    # Runs of 4, 5, 6 and 10 s on 2 lanes. In that order: 4 and 5 start at once; 6 takes the lane
    # free at 4 (ends at 10), 10 the one free at 5 (ends at 15). Longest first: 10 and 6 start; 5
    # follows 6 (ends at 11), 4 follows 10 (ends at 14).
    assert runs.schedule([4, 5, 6, 10], 2) == [[0, 2], [1, 3]]
    assert runs.makespan([4, 5, 6, 10], 2) == 15
    assert runs.schedule([10, 6, 5, 4], 2) == [[0, 3], [1, 2]]
    assert runs.makespan([10, 6, 5, 4], 2) == 14
    assert runs.makespan([10, 6, 5, 4], 1) == 25
    assert runs.makespan([10, 6, 5, 4], 4) == 10
    assert runs.schedule([7], 3) == [[0], [], []]


def test_a_value_given_twice_is_one_run():
    commands = runs.train_commands("out", ["digits", "digits"], ["minivggnet"], ["adam", "adam"],
                                   learning_rates=[1e-3, 0.001, 3e-4])
    assert commands == [
        "python train.py --history out/minivggnet_adam_digits.pickle --report out/minivggnet_adam_digits.txt "
        "--dataset digits --model minivggnet --optimizer adam",
        "python train.py --history out/minivggnet_adam_digits_lr3e-04.pickle --report "
        "out/minivggnet_adam_digits_lr3e-04.txt --dataset digits --model minivggnet --optimizer adam "
        "--learning-rate 3e-04"]


def test_a_rate_of_1_or_more_is_named_and_read_back():
    assert runs.stem("resnet", "sgd", "mnist", 2.0) == "resnet_sgd_mnist_lr2e+00"
    assert runs.parse_stem("resnet_sgd_mnist_lr2e+00_seed3") == ("resnet", "sgd", "mnist", 2.0, 3)


def test_commands_carry_every_setting_and_refuse_unknown_ones():
    assert runs.train_commands("out/", ["digits"], ["minivggnet"], ["adam"], checkpoint_every=2) == [
        "python train.py --history out/minivggnet_adam_digits.pickle --report out/minivggnet_adam_digits.txt "
        "--dataset digits --model minivggnet --optimizer adam --checkpoint-every 2"]
    with pytest.raises(TypeError, match=r"^train_commands\(\) got unknown settings: epoch, seed$"):
        runs.train_commands("out", ["digits"], ["minivggnet"], ["adam"], epoch=3, seed=1)


def test_a_sweep_reads_each_lines_last_history_and_refuses_one_without_a_value():
    assert runs.read_runs(["python train.py --history a.pickle -m googlenet --history b.pickle\n"]) == [
        ("python train.py --history a.pickle -m googlenet --history b.pickle", "b.log", "googlenet")]
    # A line without --model trains train.py's default, the ResNet, and goes first.
    lines = ["python train.py --history a.pickle -m minivggnet", "python train.py --history b.pickle"]
    assert [model for _, _, model in runs.read_runs(lines)] == ["minivggnet", "resnet"]
    assert [log for _, log, _ in runs.longest_first(runs.read_runs(lines))] == ["b.log", "a.log"]
    with pytest.raises(UserError) as refused:
        runs.read_runs(["python train.py -i"])
    assert str(refused.value) == "no --history in 'python train.py -i'; every line must be a train.py command"


def test_longest_first_keeps_the_given_order_within_a_model():
    given = [("z", "minivggnet"), ("b", "resnet"), ("y", "minivggnet"), ("a", "resnet"), ("x", "googlenet")]
    assert runs.longest_first(given, model=lambda run: run[1]) == [
        ("b", "resnet"), ("a", "resnet"), ("x", "googlenet"), ("z", "minivggnet"), ("y", "minivggnet")]
