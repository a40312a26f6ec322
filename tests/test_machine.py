"""pyimagesearch/machine.py: the device name that manifests and benchmarks record."""

import os
import re
import stat
import subprocess

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


def test_a_failing_nvidia_smi_that_explains_itself_on_standard_output_lists_no_gpu(tmp_path, monkeypatch):
    # As nvidia-smi does where the driver is not loaded: the reason on stdout, exit 9.
    fake_nvidia_smi(tmp_path, 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\n'
                              "exit 9\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert machine.gpu_names() == []
    assert machine.device_name().startswith("CPU: ")


def test_an_nvidia_smi_that_hangs_lists_no_gpu(monkeypatch):
    def hangs(command, **options):
        raise subprocess.TimeoutExpired(command, options["timeout"])

    monkeypatch.setattr(machine.subprocess, "run", hangs)
    assert machine.gpu_names() == []


def test_mixed_gpus_are_counted_by_the_first_ones_name(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, 'printf "NVIDIA H100 80GB HBM3\\nNVIDIA A100-SXM4-40GB\\n"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert machine.device_name() == "2 x NVIDIA H100 80GB HBM3"


def test_a_cpu_with_avx_512_is_named_by_it_rather_than_by_avx2(monkeypatch):
    for flags, vectors in (({"sse2", "avx2", "avx512f"}, "AVX-512"), ({"sse2", "avx2"}, "AVX2"), ({"sse2"}, "no AVX2")):
        monkeypatch.setattr(machine, "cpu_model_and_flags", lambda: ("Some CPU", flags))
        assert machine.cpu_name() == f"Some CPU, {os.cpu_count()} cores, {vectors}"


def test_without_proc_cpuinfo_the_cpu_is_the_platforms_name_for_it_without_flags(monkeypatch):
    def no_such_file(path, *arguments, **options):
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(machine, "open", no_such_file, raising=False)
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    monkeypatch.setattr(machine.platform, "machine", lambda: "arm64")
    assert machine.cpu_model_and_flags() == ("arm64", set())
    assert machine.cpu_name() == f"arm64, {os.cpu_count()} cores, no AVX2"
