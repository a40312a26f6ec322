"""A copy of the project folder whose train.py and fetch_data.py are stand-ins, for the tests of
the sweep scripts: the scripts and sweep.py run for real, and no run trains.

The stand-in train.py appends a "start" and an "end" record to runs.jsonl (its arguments, times,
CUDA_VISIBLE_DEVICES, XLA_PYTHON_CLIENT_MEM_FRACTION, the cores it may run on and OMP_NUM_THREADS) and, as plan.json says for its
history file's name, sleeps, exits with a code, or ignores SIGTERM; on SIGTERM it exits 75 as
train.py does after its checkpoint. A run that exits 0 writes its history and report. The
stand-in fetch_data.py records its arguments and exits as plan.json's "fetch_data.py" says.
"""

import json
import os
import shutil
import stat
import sys

from support import REPO


TRAIN = '''\
import argparse, json, os, signal, sys, time

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("-i", "--history", required=True)
parser.add_argument("-r", "--report", required=True)
args, _ = parser.parse_known_args()
with open(os.path.join(here, "plan.json")) as file:
    plan = json.load(file).get(os.path.basename(args.history), {})
record = {"history": args.history, "argv": sys.argv[1:], "pid": os.getpid(),
          "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
          "memory": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
          "cores": sorted(os.sched_getaffinity(0)), "threads": os.environ.get("OMP_NUM_THREADS")}


def write(event, **extra):
    with open(os.path.join(here, "runs.jsonl"), "a") as file:
        file.write(json.dumps(dict(record, event=event, time=time.time(), **extra)) + "\\n")


def stop(signum, frame):
    write("end", exit=75, stopped=True)
    sys.exit(75)


def interrupted(signum, frame):  # as train.py: Ctrl-C ends the run, which dies of it
    write("end", exit=-signal.SIGINT, stopped=False)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


signal.signal(signal.SIGTERM, signal.SIG_IGN if plan.get("ignore_sigterm") else stop)
signal.signal(signal.SIGINT, interrupted)
write("start")
time.sleep(plan.get("seconds", 0))
code = plan.get("exit", 0)
if code == 0:
    for path in (args.history, args.report):
        with open(path, "w") as file:
            file.write(path)
write("end", exit=code, stopped=False)
sys.exit(code)
'''

FETCH = '''\
import json, os, sys, time

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "plan.json")) as file:
    plan = json.load(file).get("fetch_data.py", {})
with open(os.path.join(here, "runs.jsonl"), "a") as file:
    file.write(json.dumps({"event": "fetch", "argv": sys.argv[1:], "time": time.time()}) + "\\n")
if plan.get("exit"):
    print(plan["message"], file=sys.stderr)
sys.exit(plan.get("exit", 0))
'''


def make_project(folder, plan=None):
    """A project folder with the real sweep.py and pyimagesearch/, and the stand-ins."""
    os.makedirs(folder)
    shutil.copy(os.path.join(REPO, "sweep.py"), folder)
    shutil.copytree(os.path.join(REPO, "pyimagesearch"), os.path.join(folder, "pyimagesearch"),
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name, text in (("train.py", TRAIN), ("fetch_data.py", FETCH), ("plan.json", json.dumps(plan or {}))):
        with open(os.path.join(folder, name), "w") as file:
            file.write(text)
    return folder


def fake_programs(folder, **programs):
    """A folder of executables, `name=shell script body`, to put first on PATH."""
    os.makedirs(folder, exist_ok=True)
    for name, body in programs.items():
        path = os.path.join(folder, name.replace("_", "-"))
        with open(path, "w") as file:
            file.write("#!/bin/sh\n" + body)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return folder


def environment(*folders):
    """os.environ with `python` this interpreter, and `folders` first on PATH."""
    path = os.pathsep.join([*map(str, folders), os.path.dirname(sys.executable), os.environ["PATH"]])
    return dict(os.environ, PATH=path)


def records(project, event=None):
    path = os.path.join(project, "runs.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as file:
        lines = [json.loads(line) for line in file]
    return [line for line in lines if event is None or line["event"] == event]


def files_under(folder):
    """Every file under `folder`, as paths relative to it."""
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, _, names in os.walk(folder)
        for name in names
    )
