"""The command lines that README and the docs give run scripts that exist, with options they take; the
tests they name exist."""

import ast
import glob
import os
import re
import runpy
import shutil
import subprocess
import sys

import pytest

from support import REPO

DOCUMENTS = ["README.md", "results/README.md", *sorted(glob.glob("docs/*.md", root_dir=REPO))]

# `python script.py` and what follows it on the line (and on the lines a trailing backslash
# continues it to), up to the end of the inline code or table cell.
COMMAND = re.compile(r"python3? ((?:[\w.-]+/)*[\w-]+\.py)((?:\\\n|[^`|\n])*)")
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def options_of(script):
    """The option strings a script's argument parser takes: those of its own `add_argument` calls
    and of the benchmarks/ modules it imports them from."""
    tree = ast.parse(open(os.path.join(REPO, script)).read())
    options = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            options |= {arg.value for arg in node.args if isinstance(arg, ast.Constant) and arg.value.startswith("-")}
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchmarks."):
            options |= options_of(node.module.replace(".", "/") + ".py")
    return options | {"-h", "--help"}


def documented_commands(text):
    for match in COMMAND.finditer(text):
        yield match.group(1), match.group(2).replace("\\\n", " ")


def unknown_options(text):
    """(script, option) for every option a documented command gives that its script does not take,
    and (script, None) for a script that does not exist."""
    for script, arguments in documented_commands(text):
        if not os.path.exists(os.path.join(REPO, script)):
            yield script, None
            continue
        known = options_of(script)
        yield from ((script, option) for option in OPTION.findall(arguments) if option not in known)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_documented_command_runs_a_script_with_options_it_takes(document):
    text = open(os.path.join(REPO, document)).read()
    assert len(list(documented_commands(text))) > 0
    assert list(unknown_options(text)) == []


def test_every_test_the_documents_name_exists():
    named = [(document, *test) for document in DOCUMENTS
             for test in re.findall(r"(tests/test_\w+\.py)::(\w+)", open(os.path.join(REPO, document)).read())]
    missing = [(document, test_file, name) for document, test_file, name in named
               if not re.search(rf"^def {name}\(", open(os.path.join(REPO, test_file)).read(), re.M)]
    assert named and missing == []


def test_a_renamed_option_or_a_missing_script_is_caught():
    text = (
        "python train.py --history h.pickle -r r.txt --epoch 3\n"
        "`python combinations.py --output out \\\n    --script run.sh -o x` and\n"
        "| `python benchmarks/cpu.py --models resnet --backends jax` | `python gone.py --x` |\n"
    )
    assert list(documented_commands(text)) == [
        ("train.py", " --history h.pickle -r r.txt --epoch 3"),
        ("combinations.py", " --output out      --script run.sh -o x"),
        ("benchmarks/cpu.py", " --models resnet --backends jax"),
        ("gone.py", " --x"),
    ]
    assert list(unknown_options(text)) == [("train.py", "--epoch"), ("combinations.py", "-o"), ("gone.py", None)]


def test_the_schedule_figure_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    import PIL.Image

    script = tmp_path / "docs" / "schedule_figure.py"
    script.parent.mkdir()
    shutil.copy(os.path.join(REPO, "docs", "schedule_figure.py"), script)
    figure = script.parent / "radam_schedule.png"
    figure.write_bytes(b"the old figure")

    def interrupted(image, path, *arguments, **options):  # Ctrl-C halfway through the write
        with open(path, "wb") as file:
            file.write(b"\x89PNG, half of it")
        raise KeyboardInterrupt

    monkeypatch.setattr(PIL.Image.Image, "save", interrupted)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts its project first
    monkeypatch.setattr(sys, "argv", [str(script)])
    with pytest.raises(KeyboardInterrupt):
        runpy.run_path(str(script), run_name="__main__")
    plt.close("all")
    assert figure.read_bytes() == b"the old figure"
    assert sorted(os.listdir(script.parent)) == ["radam_schedule.png", "schedule_figure.py"]


def test_the_schedule_figure_refuses_options_and_leaves_the_figure_alone(tmp_path):
    script = tmp_path / "docs" / "schedule_figure.py"
    script.parent.mkdir()
    shutil.copy(os.path.join(REPO, "docs", "schedule_figure.py"), script)
    figure = script.parent / "radam_schedule.png"
    figure.write_bytes(b"the old figure")
    result = subprocess.run([sys.executable, str(script), "--output", "figure.png"], cwd=REPO, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3"))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "schedule_figure.py: error: unrecognized arguments: --output figure.png"
    assert figure.read_bytes() == b"the old figure"
