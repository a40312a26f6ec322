"""The measured figures that plan runs: how many share a GPU, which go first, how long each takes.

One home for them: sweep.py, combinations.py, results/campaign.py and benchmarks/sweep_schedule.py read
them here. Each says where and when it was measured.
"""

# Runs sharing one GPU, the default of the scripts combinations.py writes. On one H200
# (2026-11-30), 3 ResNets sharing it took 8.96 s an epoch each: an epoch per 2.99 s of the GPU,
# against about 3.75 s for one ResNet alone by throughput.py's figure. On 2026-11-26, 3 ResNets
# at once trained 1.93x as many images a second as one on an H100 and 1.84x on an H200, and 4 at
# once 1.66x on an H200. No other number of runs was timed on all three networks, and with 3 at
# once the 24-run sweep ends within 1% of its total run time divided by 3
# (benchmarks/sweep_schedule.py): no idle tail argues for fewer.
RUNS_PER_GPU = 3

# Runs at once on a machine without a GPU, each held to its own share of the cores (sweep.py
# --cpu-runs). On a 2-core AMD EPYC (AVX-512, TensorFlow 2.21, 2026-12-03), two ResNet runs of
# the demo's (digits, 1 epoch of batch 8) took 89 s side by side, one core each, against 169 s one
# after the other on both cores; two of the CPU study's MiniVGGNet (Fashion-MNIST, 12,800 images,
# 2 epochs of batch 128) 105 s against 165 s, mostly from overlapping their start-up: its epochs
# took 43 s on one core against 23.5 s on two, and its 10-epoch runs about 230 s of the machine
# each, two at a time, against 280 s one at a time. Not measured on more cores.
CPU_RUNS = 2

# The models from the longest run to the shortest: epochs of 8.96, 2.58 and 0.84 s with 3 runs
# sharing an H200 (benchmarks/sweep_schedule.py).
LONGEST_FIRST = ("resnet", "googlenet", "minivggnet")

# What one run costs when nothing of its kind from this device is in results/ yet: seconds per
# epoch of 50,000 training images (validation included) and seconds outside its epochs, of
# train.py runs on CIFAR-10-shaped data, on one NVIDIA H200, Keras 3.15.1 on JAX 0.11.2, float32.
# Epoch: the median of a run's epochs after its first (and of that over the runs sharing); fixed:
# the run's wall time (the longest one's) minus that many epochs.
# - Alone (1): runs alone on the GPU on 2026-11-26, timed by benchmark.py's sweep section (the
#   sweep measurement of that day): MiniGoogLeNet and MiniVGGNet in runs of 3 epochs; the ResNet
#   in a run of 2 epochs, the fastest of its three measurements that day (the others: 7.41 and
#   10.30 s an epoch).
# - 3 sharing (3): 2026-11-30, the table "Estimated from parts" in docs/benchmarks.md.
# Other numbers of runs sharing are interpolated, or extrapolated beyond 3.
MEASURED = {  # model: {runs sharing: (epoch seconds, fixed seconds)}
    "resnet": {1: (5.05, 35.7), 3: (8.96, 63.8)},
    "googlenet": {1: (2.47, 35.2), 3: (2.58, 52.4)},
    "minivggnet": {1: (0.97, 18.5), 3: (0.84, 23.4)},
}
# Epoch times above are for 50,000 training images (CIFAR); MNIST and Fashion-MNIST have 60,000.
TRAINING_IMAGES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000, "digits": 1347}
