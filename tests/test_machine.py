"""pyimagesearch/machine.py: the device name that manifests and benchmarks record."""

import os
import re
import stat

import pytest

from pyimagesearch import machine


def fake_nvidia_smi(folder, script):
    path = folder / "nvidia-smi"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_gpus_are_counted_by_the_first_ones_name(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, 'printf "NVIDIA H200\\nNVIDIA H200\\n\\n"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert machine.gpu_names() == ["NVIDIA H200", "NVIDIA H200"]
    assert machine.device_name() == "2 x NVIDIA H200"


def test_without_a_working_nvidia_smi_the_device_is_the_cpu(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, 'echo "NVIDIA-SMI has failed" >&2; exit 9\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert machine.gpu_names() == []
    name = machine.device_name()
    assert name == f"CPU: {machine.cpu_name()}"
    assert re.fullmatch(rf"CPU: .+, {os.cpu_count()} cores, (AVX-512|AVX2|no AVX2)", name)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert machine.device_name() == name


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="no /proc/cpuinfo on this system")
def test_the_cpu_model_and_flags_are_those_proc_cpuinfo_lists():
    with open("/proc/cpuinfo") as file:
        lines = [line.partition(":") for line in file]
    model = next(value.strip() for key, _, value in lines if key.strip() == "model name")
    flags = next(value.split() for key, _, value in lines if key.strip() == "flags")
    assert machine.cpu_model_and_flags() == (model, set(flags))
