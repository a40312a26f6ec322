# make test: create .venv, install everything, run the whole suite (TensorFlow, then JAX).
# make demo: the experiment in miniature on scikit-learn's digits, CPU only, no network.
# make study: the CPU study (README, "The question at a CPU's budget"), STUDY_MINUTES at a time.
# make clean: delete the demo's folder and pytest's cache.

PYTHON := .venv/bin/python
DEMO := demo
# Every demo run: digits without augmentation (flipped digits make little sense), in batches of 4
# (1,347 images give 336 steps an epoch), with RAdam's warm-up and decay fitted to the run. Two
# runs at a time where there are two cores, each on its own (sweep.py --cpu-runs): at such small
# batches a run keeps one core nearly as busy as two (README, On a CPU). Each run's output is in its log.
DEMO_CPU_RUNS = $(shell python3 -c "import os; print(min(2, len(os.sched_getaffinity(0))) if hasattr(os, 'sched_getaffinity') else 1)")
DEMO_RUNS = --output $(DEMO)/output --datasets digits --batch-size 4 --no-augmentation --radam-total-steps auto \
	--runner parallel --cpu-runs $(DEMO_CPU_RUNS)

STUDY_MINUTES := 480

.PHONY: test demo study clean

.venv/runtime: requirements.txt
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

.venv/tests: .venv/runtime requirements-test.txt
	$(PYTHON) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $@

# One test process a core (pytest-xdist): most tests wait on a subprocess or a single-threaded
# step, so they share the cores well. Each pass ends with its 15 slowest tests: whole train.py
# runs, sweeps and slots of the campaign.
test: .venv/tests
	$(PYTHON) -m pytest -n auto --durations 15
	KERAS_BACKEND=jax $(PYTHON) -m pytest -n auto -m backend --durations 15

# Two epochs, 672 steps, for every network: MiniGoogLeNet and MiniVGGNet keep the original's
# BatchNormalization momentum of 0.99, whose test-time statistics need about 500 steps to catch up
# (after 504 steps at batch 8, RAdam's MiniGoogLeNet still tests at 0.26), and RAdam's ResNet
# needs about as many to learn. On one core a batch of 4 costs half a batch of 8, so the steps come
# at half the images of the batch-8 demo (docs/benchmarks.md, The demo on the CPU). TensorFlow's
# oneDNN kernels are on, as on CPUs with AVX-512, where TensorFlow turns them on by itself: on CPUs
# without, the demo's epochs take a fifth to a half less time (docs/benchmarks.md, The demo on the CPU).
demo: .venv/runtime
	$(PYTHON) combinations.py $(DEMO_RUNS) --script $(DEMO)/experiments.sh --epochs 2
	TF_ENABLE_ONEDNN_OPTS=$${TF_ENABLE_ONEDNN_OPTS:-1} PATH="$(CURDIR)/.venv/bin:$$PATH" $(DEMO)/experiments.sh
	$(PYTHON) plot.py --input $(DEMO)/output --plots $(DEMO)/plots
	@echo "The demo's figures and results.md are in $(DEMO)/plots/"

# A slot of the CPU study: its missing runs two at a time, in order, for STUDY_MINUTES; the runs in
# flight at the end keep their checkpoints, and the next `make study` goes on from there.
study: .venv/runtime
	$(PYTHON) results/campaign.py --study cpu --minutes $(STUDY_MINUTES) --archive study.tar.gz
	$(PYTHON) plot.py --cpu-study results --plots plots/cpu-study
	@echo "The CPU study's figures and study.md are in plots/cpu-study/"

clean:
	rm -rf $(DEMO) .pytest_cache
