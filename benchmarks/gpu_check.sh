#!/usr/bin/env bash
# The measurements behind docs/benchmarks.md's tables, on one GPU: about 9 minutes on an H200.
#
#   bash benchmarks/gpu_check.sh RESULTS_FOLDER
#
# Run it from the project folder with JAX and PyTorch installed for the GPU. Each step writes
# its output to RESULTS_FOLDER/NAME.log (throughput, cpu_augmentation and fixed_costs also their
# tables to NAME.md and NAME.json) and one line with its exit status and seconds to steps.txt; a
# step that fails or runs out of its time does not stop the others. The whole sweep is measured on its own (about 9 minutes more by the estimates):
#   KERAS_BACKEND=jax python benchmarks/whole_sweep.py --results RESULTS_FOLDER
set -u
if [ $# -ne 1 ] || [ ! -f benchmarks/gpu_check.sh ]; then
    echo "usage, from the project folder: bash benchmarks/gpu_check.sh RESULTS_FOLDER" >&2
    exit 2
fi
if ! nvidia-smi -L > /dev/null 2>&1; then
    echo "error: gpu_check.sh measures an NVIDIA GPU, and nvidia-smi finds none here" >&2
    exit 1
fi
if ! python -c "import jax, keras, torch" > /dev/null 2>&1; then
    echo "error: python cannot import jax, keras and torch: activate the environment that has them (e.g. . .venv/bin/activate)" >&2
    exit 1
fi
RESULTS=$1
mkdir -p "$RESULTS" || exit 1
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
{ nvidia-smi -L; grep -m1 "model name" /proc/cpuinfo; nproc; } > "$RESULTS/device.txt" 2>&1

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2 started=$SECONDS
    shift 2
    timeout "$limit" "$@" > "$RESULTS/$name.log" 2>&1
    echo "$name: exit $? after $((SECONDS - started)) s" | tee -a "$RESULTS/steps.txt"
}

# Keras with augmentation on and off beside eager PyTorch, then the 2019 design's CPU rate.
step throughput 300 python benchmarks/throughput.py --results "$RESULTS"
step cpu_augmentation 60 python benchmarks/cpu_augmentation.py \
    --throughput "$RESULTS/throughput.json" --results "$RESULTS"
# Where a run's time outside its epochs goes.
step fixed_costs 150 python benchmarks/fixed_costs.py --results "$RESULTS"
# What a step is made of (device and host), the augmentation alone, validation's batch size.
step step_breakdown 120 python benchmarks/step_breakdown.py
step augmentation_cost 40 python benchmarks/augmentation_cost.py
step validation_cost 60 python benchmarks/validation_cost.py
# What a checkpoint after every epoch costs the training thread.
step checkpoint_cost 60 python benchmarks/checkpoint_cost.py
cat "$RESULTS"/*.md "$RESULTS"/{step_breakdown,augmentation_cost,validation_cost,checkpoint_cost}.log \
    "$RESULTS/steps.txt"
