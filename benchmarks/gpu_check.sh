#!/usr/bin/env bash
# Issue #5's GPU measurements as one call of at most 10 minutes on a lent machine (JAX and
# PyTorch, no TensorFlow, no package registry), most valuable first. Run on 2026-11-26 on an H200
# (docs/benchmarks.md); since then each throughput measurement times 1 + 5 epochs, so the steps
# below have the time that takes, and checkpoint_cost.py, measured then, is left out. Each step
# has its own time limit, so a slow one cannot take the others' time. Results go to
# $OUT/results.tar.gz, repacked after every step (the device tool returns at most 8 files, and a
# killed call keeps what is under $OUT).
#
#   bash benchmarks/gpu_check.sh        # with the keras, namex and optree wheels in .whl/
set -u
OUT=${OUT:-/tmp/gpu-check}
RESULTS=$(mktemp -d)
mkdir -p "$OUT"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax
nvidia-smi -L > "$RESULTS/device.txt" 2>&1

step() {  # step NAME SECONDS COMMAND...: its output in NAME.log, one status line here
    local name=$1 limit=$2 started=$SECONDS
    shift 2
    timeout "$limit" "$@" > "$RESULTS/$name.log" 2>&1
    echo "$name: exit $? after $((SECONDS - started)) s"
    tar -czf "$OUT/results.tar.gz" -C "$RESULTS" .
}

step augmentation_cost 45 python3 benchmarks/augmentation_cost.py
step float32 200 python3 benchmarks/benchmark.py --sections throughput,torch,original \
    --deadline-s 170 --output "$RESULTS/float32.json" --markdown "$RESULTS/float32.md"
step bfloat16 170 python3 benchmarks/benchmark.py --sections throughput,torch --mixed-precision \
    --deadline-s 140 --output "$RESULTS/bfloat16.json" --markdown "$RESULTS/bfloat16.md"
step resnet_sweep 170 python3 benchmarks/benchmark.py --sections sweep --sweep-models resnet \
    --concurrency 4 --epochs 2 --deadline-s 160 --output "$RESULTS/sweep.json" --markdown "$RESULTS/sweep.md"
cat "$RESULTS"/*.md
