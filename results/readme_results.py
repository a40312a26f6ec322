"""Write README's Results section, and the answer at its top, from the runs in results/: every
number in them comes from there.

    python results/readme_results.py            # rewrite what lies between their markers
    python results/readme_results.py --check    # exit 1, naming the difference, if README is out of date

Test accuracy is the true accuracy of each run's predictions (its classification report). Runs
of one combination with different seeds give a mean and sample standard deviation; two
optimizers are compared by the difference of their runs with the same seed, with the 95%
confidence interval of its mean (Student's t with pairs - 1 degrees of freedom).
"""

import argparse
import difflib
import itertools
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script of results/
from pyimagesearch import cpu_study, studies  # noqa: E402
from pyimagesearch.errors import UserError, run_main  # noqa: E402
from pyimagesearch.files import opened_regular_file, write_atomically  # noqa: E402
from pyimagesearch.original import MODELS, RADAM  # noqa: E402
from pyimagesearch.results import (described, holds_histories, load_runs, mean_and_std, paired_difference,  # noqa: E402
                                   verdict, warn)

BEGIN = "<!-- The Results below are written by `python results/readme_results.py` from results/; do not edit them by hand. -->\n"
END = "<!-- End of the written Results. -->\n"
# README's answer at the top, the CPU study's Adam - RAdam in one table, is written the same way.
ANSWER_BEGIN = "<!-- The answer below is written by `python results/readme_results.py` from results/. -->\n"
ANSWER_END = "<!-- End of the written answer. -->\n"

# The 2019 experiment's true test accuracies, from its own classification reports (two digits).
ORIGINAL = {  # (data set, model): (Adam, RAdam)
    ("mnist", "minivggnet"): (0.99, 0.99), ("mnist", "googlenet"): (0.99, 0.99), ("mnist", "resnet"): (0.99, 0.99),
    ("fashion_mnist", "minivggnet"): (0.90, 0.89), ("fashion_mnist", "googlenet"): (0.92, 0.92),
    ("fashion_mnist", "resnet"): (0.91, 0.92),
    ("cifar10", "minivggnet"): (0.83, 0.71), ("cifar10", "googlenet"): (0.90, 0.87), ("cifar10", "resnet"): (0.87, 0.84),
    ("cifar100", "minivggnet"): (0.53, 0.41), ("cifar100", "googlenet"): (0.56, 0.57), ("cifar100", "resnet"): (0.63, 0.50),
}
# Each kind of run the table shows: its optimizer and the --radam-total-steps its folders of
# results/ are declared with (studies.py; None: the original's).
CONTROLS = {  # what the table calls it: (optimizer, radam_total_steps)
    "Adam": ("adam", None),
    "RAdam": ("radam", None),
    "RAdam, fair schedule": ("radam", "auto"),
    "Adam + warmup": ("adam-warmup", "0"),
    "RAdam, no schedule": ("radam", "0"),
    "SGD": ("sgd", None),
    "RMSprop": ("rmsprop", None),
}
COMPARISONS = [  # (first, second): first minus second
    ("Adam", "RAdam"),  # the 2019 question
    ("Adam", "RAdam, fair schedule"),  # the same, RAdam's decay spread over the whole run
    ("RAdam, fair schedule", "RAdam"),  # how much of the first the schedule explains
    ("Adam + warmup", "RAdam, no schedule"),  # Ma and Yarats': two warmups at a constant 1e-3
]
NOT_RUN = "not yet run"


def read_results(results):
    """{name in CONTROLS: the runs of that kind in `results`}; an absent folder holds none."""
    runs_by_control = {}
    unreadable = []
    for control, (optimizer, radam_total_steps) in CONTROLS.items():
        folders = [os.path.join(results, name) for name in studies.faithful_folders(optimizer, radam_total_steps)]
        folders = [folder for folder in folders if holds_histories(folder)]
        runs, unreadable_here = load_runs(*folders) if folders else ([], [])
        runs_by_control[control] = [run for run in runs if run["optimizer"] == optimizer and at_default_rate(run)
                                    and with_its_schedule(control, radam_total_steps, run)]
        unreadable += unreadable_here
    if unreadable:
        raise UserError(f"cannot read {', '.join(sorted(set(unreadable)))}; restore them from git before writing README")
    return runs_by_control


def at_default_rate(run):
    """Whether `run` ran at its optimizer's default rate, as the faithful study does; named on stderr if not."""
    if run["variant"] == run["optimizer"]:
        return True
    warn(f"{run['path']} ran with {run['variant']}, not at {run['optimizer']}'s default rate, the faithful "
         "study's; left out of README's tables: move it to a folder of its own")
    return False


def with_its_schedule(control, radam_total_steps, run):
    """Whether `run`, of the kind `control`, ran with that kind's `radam_total_steps` (None: the
    original's) as its settings say (where they do), or is no RAdam run; named on stderr if not."""
    if run["optimizer"] != "radam":
        return True
    wanted = str(RADAM["total_steps"]) if radam_total_steps is None else radam_total_steps
    said = (run["settings"] or {}).get("radam_total_steps", wanted)
    if said == wanted:
        return True
    warn(f"{run['path']} ran with --radam-total-steps {said}, not {wanted} as the runs of {control} do; left out of "
         "README's tables: move it to a folder of its own")
    return False


def of(runs, dataset, model):
    return [run for run in runs if run["dataset"] == dataset and run["model"] == model]


def accuracy(runs):
    """'mean ± std (n)' of the runs' test accuracy, n the runs with a report, naming those without
    one; or NOT_RUN."""
    text = described([run["test_accuracy"] for run in runs])
    if text is None:
        return NOT_RUN
    missing = [os.path.basename(run["path"]) for run in runs if run["test_accuracy"] is None]
    return text + (f", no report: {', '.join(missing)}" if missing else "")


def difference(first, second):
    """(the paired difference in words, its verdict), or ("", "") with fewer than 2 pairs; the
    verdict is "" where the pairs cannot say (results.verdict)."""
    found = paired_difference(first, second, "test_accuracy")
    if found.pairs < 2:
        return "", ""
    return f"{found.mean:+.4f} [{found.low:+.4f}, {found.high:+.4f}] ({found.pairs})", verdict(found)


def further_than_the_spread(runs, original):
    """Whether the runs' mean differs from the original's two-digit figure by more than their
    sample std plus the 0.005 of its rounding."""
    mean, std = mean_and_std([run["test_accuracy"] for run in runs])
    return mean is not None and std is not None and abs(mean - original) > std + 0.005


def adam_against_radam(runs):
    """The 2019 question, per data set and model, beside the 2019 figures; and where ours departs
    from them by more than the spread over seeds."""
    lines = [
        "| data set | model | 2019 Adam | 2019 RAdam | Adam | RAdam | Adam - RAdam [95% CI] (pairs) | Adam is |",
        "|---|---|---|---|---|---|---|---|",
    ]
    departures = []
    for (dataset, model), (original_adam, original_radam) in ORIGINAL.items():
        adam, radam = of(runs["Adam"], dataset, model), of(runs["RAdam"], dataset, model)
        cells = [f"{original_adam:.2f}", f"{original_radam:.2f}", accuracy(adam), accuracy(radam), *difference(adam, radam)]
        if dataset not in studies.FAITHFUL_DATASETS and not adam and not radam:
            cells[2:] = ["not run here", "", "", ""]
        for name, found, original in (("Adam", adam, original_adam), ("RAdam", radam, original_radam)):
            if further_than_the_spread(found, original):
                departures.append(f"{model} on {dataset} with {name} ({accuracy(found)} against {original:.2f})")
        lines.append(f"| {dataset} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", departures


def controls(runs):
    """The accuracy of every other kind of run, and the paired comparisons beyond the first: on
    MNIST and Fashion-MNIST, and on any other data set that results/ holds runs of."""
    names = [name for name in CONTROLS if name not in ("Adam", "RAdam")]
    found = {run["dataset"] for kind in runs.values() for run in kind}
    datasets = [dataset for dataset in dict.fromkeys(dataset for dataset, _ in ORIGINAL)
                if dataset in studies.FAITHFUL_DATASETS or dataset in found]
    pairs = list(itertools.product(datasets, MODELS[::-1]))
    lines = ["| data set | model | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for dataset, model in pairs:
        lines.append(f"| {dataset} | {model} | " + " | ".join(accuracy(of(runs[name], dataset, model)) for name in names) + " |")
    lines += ["", "| data set | model | " + " | ".join(f"{first} - {second}" for first, second in COMPARISONS[1:]) + " |",
              "|---|---|" + "---|" * (len(COMPARISONS) - 1)]
    for dataset, model in pairs:
        cells = []
        for first, second in COMPARISONS[1:]:
            words, said = difference(of(runs[first], dataset, model), of(runs[second], dataset, model))
            cells.append(f"{words}: {said}" if said else words or NOT_RUN)
        lines.append(f"| {dataset} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def in_words(runs, departures):
    """One sentence per comparison that has model/data-set pairs with two seeds or more of both."""
    sentences = []
    for first, second in COMPARISONS:
        verdicts = [difference(of(runs[first], dataset, model), of(runs[second], dataset, model))[1]
                    for dataset, model in ORIGINAL]
        compared = [said for said in verdicts if said]
        if compared:
            sentences.append(
                f"{first} - {second}: of the {len(compared)} model/data-set pairs with three seeds or more of both "
                "(and differences that are not all equal), "
                f"{first}'s test accuracy is higher in {compared.count('higher')}, lower in "
                f"{compared.count('lower')}, and indistinguishable in {compared.count('no difference')} (the 95% "
                "confidence interval of the paired difference contains 0).")
    if not sentences:
        sentences.append("No model and data set has three seeds of two kinds of run in results/ yet, so there is "
                         "no answer here yet: the figures above are left empty rather than guessed.")
    if departures:
        sentences.append("Ours differs from the 2019 figure by more than the spread over seeds (plus the 0.005 of "
                         "its rounding) for: " + "; ".join(departures) + ".")
    return "\n\n".join(sentences) + "\n"


def sections(results):
    """(README's answer, README's Results section), each between its markers."""
    runs = read_results(results)
    table, departures = adam_against_radam(runs)
    verdicts = {}
    study, study_runs, _, chosen = cpu_study.report(results, verdicts)
    return ANSWER_BEGIN + cpu_study.answer(study_runs, chosen, verdicts) + "\n" + ANSWER_END, "".join([
        BEGIN, "\n", table, "\n", in_words(runs, departures), "\n",
        "The controls, with the same seeds (differences paired by seed, 95% confidence interval, pairs):\n\n",
        controls(runs), "\n",
        f"#### The CPU study: {len(study_runs)} of its runs are in results/\n\n", study, "\n", END,
    ])


def replaced_section(readme_text, new_section, begin=BEGIN, end=END, what="Results"):
    if readme_text.count(begin) != 1 or readme_text.count(end) != 1 or readme_text.index(end) < readme_text.index(begin):
        raise UserError(f"README.md must hold the {what} markers once each; restore them from git")
    before, rest = readme_text.split(begin)
    return before + new_section + rest.split(end)[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--results", default="results", help="the campaign's folder (default %(default)s)")
    parser.add_argument("--readme", default="README.md", help="the README to write (default %(default)s)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if README is out of date")
    args = parser.parse_args(argv)
    try:
        with opened_regular_file(args.readme) as file:  # not a FIFO's or /dev/zero's endless wait
            current = file.read().decode()
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {args.readme} ({getattr(error, 'strerror', None) or error}); run from the "
                        "repository's root, or give --readme the project's README.md") from None
    if not os.path.isdir(args.results):
        raise UserError(f"--results {args.results} is not a folder; give the campaign's folder, such as results")
    answer, results_section = sections(args.results)
    wanted = replaced_section(replaced_section(current, results_section), answer, ANSWER_BEGIN, ANSWER_END, "answer's")
    if args.check:
        if wanted != current:
            changed = [line for line in difflib.unified_diff(current.splitlines(), wanted.splitlines(), lineterm="", n=0)
                       if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            given = [f"--{option} {shlex.quote(getattr(args, option))}" for option in ("results", "readme")
                     if getattr(args, option) != parser.get_default(option)]
            raise UserError(f"{args.readme} does not say what {args.results} holds (first change: {changed[0]}); "
                            f"run {' '.join(['python results/readme_results.py', *given])}")
        return 0
    write_atomically(args.readme, wanted)
    return 0


if __name__ == "__main__":
    run_main(main)
