#!/usr/bin/env bash
# Issue #5's GPU measurements as one call of about 7-8 minutes on a lent machine (JAX and
# PyTorch, no TensorFlow, no package registry), most valuable first. Each step has its own time
# limit, so a slow one cannot take the others' time. Results go to $OUT/results.tar.gz, repacked
# after every step (the device tool returns at most 8 files, and a killed call keeps what is
# under $OUT): a call cut short still brings back every step that ended.
#
# The same measurement once varied by up to 2x between calls on an H200 (docs/benchmarks.md), so
# the script also records the GPU's clocks, utilization and power every 250 ms for the whole call
# (gpu_samples.csv), and each step's share of host CPU time that was busy and that the
# hypervisor took (steal), with its start and end times to line the two up. The sweep_ steps
# time train.py as sweep.py runs it, 3 runs sharing the GPU (the 30-minute sweep's estimate
# needs only those; the eighth session timed the ResNet alone too):
#   sweep_resnet   the ResNet, float32: two thirds of the sweep's time (26 of 42 minutes in the
#                  eighth session's estimate)
#   sweep_resnet_bfloat16  the same with --mixed-precision: its device time was 26% shorter than
#                  float32's on an H100 (eighth session), the one lever left towards 30 minutes
#   sweep_others   MiniGoogLeNet and MiniVGGNet, float32: never timed in train.py on an H100
#   mixed_precision  the ResNet's fit throughput in bfloat16, against the eighth session's
#                  float32 figure (the float32 targets' table itself was measured then)
#   googlenet_graphs, googlenet_default_graphs  MiniGoogLeNet's fit with the convolutions in
#                  XLA's CUDA graphs (train.py's setting) and with XLA's default graphs, which
#                  leave them out: the eighth session's pair was not comparable
#
# The first three steps (at most 430 s) decide the bfloat16 question; give the call a limit of
# about 480 s, so that a call that fails at once leaves device time to run it again.
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

BENCHMARK="python3 benchmarks/benchmark.py"
SWEEP="$BENCHMARK --sections sweep --sharing-only --concurrency 3 --epochs 2"
step sweep_resnet 150 $SWEEP --sweep-models resnet --deadline-s 140 \
    --output "$RESULTS/sweep_resnet.json" --markdown "$RESULTS/sweep_resnet.md"
step sweep_resnet_bfloat16 150 $SWEEP --sweep-models resnet --mixed-precision --deadline-s 140 \
    --output "$RESULTS/sweep_resnet_bfloat16.json" --markdown "$RESULTS/sweep_resnet_bfloat16.md"
step sweep_others 130 $SWEEP --sweep-models googlenet,minivggnet --deadline-s 120 \
    --output "$RESULTS/sweep_others.json" --markdown "$RESULTS/sweep_others.md"
step mixed_precision 90 $BENCHMARK --sections throughput --models resnet --mixed-precision \
    --repeats 3 --output "$RESULTS/bfloat16.json" --markdown "$RESULTS/bfloat16.md"
step googlenet_graphs 35 $BENCHMARK --sections throughput --models googlenet --repeats 3 \
    --output "$RESULTS/googlenet_graphs.json" --markdown "$RESULTS/googlenet_graphs.md"
step googlenet_default_graphs 35 env XLA_FLAGS=--xla_gpu_enable_command_buffer=-CONVOLUTION \
    $BENCHMARK --sections throughput --models googlenet --repeats 3 \
    --output "$RESULTS/googlenet_default.json" --markdown "$RESULTS/googlenet_default.md"
nvidia-smi -q -d CLOCK,PERFORMANCE,POWER > "$RESULTS/smi_after.txt" 2>&1
kill "$SAMPLER"
tar -czf "$OUT/results.tar.gz" -C "$RESULTS" .
cd "$RESULTS" && cat ./*.md steps.txt
