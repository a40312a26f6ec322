"""The machine a run or a measurement ran on, as results/ manifests and the benchmarks record it:
"1 x NVIDIA H200", or "CPU: <model>, <cores> cores, <widest vector unit>" where there is no GPU.

The campaign times a run by earlier runs of the same device name, so the name stays this format.
"""

import os
import platform
import subprocess


def gpu_names():
    """The names of the GPUs nvidia-smi lists: none where it is missing or finds none."""
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()] if listing.returncode == 0 else []


def cpu_model_and_flags():
    """The CPU's model and its flags (avx2, avx512f, amx_tile ...) from /proc/cpuinfo; where there
    is none, the platform's name for it and no flags."""
    model, flags = platform.processor() or platform.machine() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def cpu_name():
    """The CPU's model, its cores and its widest vector unit: AVX-512, AVX2 or neither."""
    model, flags = cpu_model_and_flags()
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {vectors}"


def device_name():
    names = gpu_names()
    return f"{len(names)} x {names[0]}" if names else f"CPU: {cpu_name()}"
