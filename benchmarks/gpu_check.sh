#!/usr/bin/env bash
# Issue #5's GPU measurements as one call of at most 9 minutes on a lent machine (JAX and
# PyTorch, no TensorFlow, no package registry), most valuable first. Each step has its own time
# limit, so a slow one cannot take the others' time. Results go to $OUT/results.tar.gz, repacked
# after every step (the device tool returns at most 8 files, and a killed call keeps what is
# under $OUT).
#
# On 2026-11-26 the same measurement varied by up to 2x between calls on an H200
# (docs/benchmarks.md). So this version also records what could explain that: the GPU's clocks,
# utilization and power every 250 ms for the whole call (gpu_samples.csv), and each step's share
# of host CPU time that was busy and that the hypervisor took (steal), with its start and end
# times to line the two up. Its steps:
#   step_breakdown what XLA made of each network's step (launches, bytes, kernels, convolutions,
#                  its optimized programs in hlo/), its time alone on the device, and the host's
#   float32        Keras, eager PyTorch and the 2019 design side by side (target 2)
#   resnet_graphs  the ResNet's step with XLA's CUDA graphs taking up runs of 1 command or more
#                  (the default is 5): fewer launch gaps for a run alone
#   resnet_bf16    the ResNet's step in mixed bfloat16: the bytes it moves, which bound it
#   resnet_no_donation  the ResNet's step compiled without donating its state: compiled for an
#                  H100 without one (gpu_program.py), that drops 245 of its 1,956 launches, the
#                  copies that write updated weights into the donated buffers
#   resnet_deviceless  gpu_program.py on the same JAX: the program compiled for an H100 without
#                  one, to compare with step_breakdown's real one (launches, hlo/)
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
{ nvidia-smi -L; nproc; grep -m1 "model name" /proc/cpuinfo; } > "$RESULTS/device.txt" 2>&1
nvidia-smi -q -d CLOCK,PERFORMANCE,POWER > "$RESULTS/smi_before.txt" 2>&1
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw,temperature.gpu \
    --format=csv -lms 250 > "$RESULTS/gpu_samples.csv" 2>&1 &
SAMPLER=$!

cpu_times() {  # jiffies of all host CPUs: in all, idle or waiting for I/O, stolen
    awk '/^cpu / {all = 0; for (i = 2; i <= NF; i++) all += $i; print all, $5 + $6, $9}' /proc/stat
}

cpu_share() {  # cpu_share BEFORE AFTER: the share of host CPU time busy and stolen between them
    echo "$1 $2" | awk '{t = $4 - $1; if (t <= 0) {print "none counted"; exit}
        printf "busy %.0f%%, steal %.1f%%", 100 * (t - ($5 - $2)) / t, 100 * ($6 - $3) / t}'
}

step() {  # step NAME SECONDS COMMAND...: its output in NAME.log, one status line here
    local name=$1 limit=$2 started=$SECONDS begun=$(date +%T) before after
    shift 2
    before=$(cpu_times)
    timeout "$limit" "$@" > "$RESULTS/$name.log" 2>&1
    local status=$?
    after=$(cpu_times)
    echo "$name: exit $status after $((SECONDS - started)) s, $begun-$(date +%T);" \
        "host CPUs: $(cpu_share "$before" "$after")" | tee -a "$RESULTS/steps.txt"
    tar -czf "$OUT/results.tar.gz" -C "$RESULTS" .
}

mkdir -p "$RESULTS/hlo"
step step_breakdown 90 python3 benchmarks/step_breakdown.py --hlo-folder "$RESULTS/hlo"
step float32 200 python3 benchmarks/benchmark.py --sections throughput,torch,original \
    --deadline-s 170 --output "$RESULTS/float32.json" --markdown "$RESULTS/float32.md"
step resnet_graphs 60 env XLA_FLAGS=--xla_gpu_graph_min_graph_size=1 python3 \
    benchmarks/step_breakdown.py --models resnet
step resnet_bf16 60 python3 benchmarks/step_breakdown.py --models resnet --mixed-precision
step resnet_no_donation 60 python3 benchmarks/step_breakdown.py --models resnet --no-donation
mkdir -p "$RESULTS/hlo_deviceless"
step resnet_deviceless 45 python3 benchmarks/gpu_program.py --models resnet --parts \
    --hlo-folder "$RESULTS/hlo_deviceless"
nvidia-smi -q -d CLOCK,PERFORMANCE,POWER > "$RESULTS/smi_after.txt" 2>&1
kill "$SAMPLER"
tar -czf "$OUT/results.tar.gz" -C "$RESULTS" .
cd "$RESULTS" && cat ./*.md step_breakdown.log resnet_*.log steps.txt
