# make test: create .venv, install everything, run the whole suite (TensorFlow, then JAX).
# make demo: the experiment in miniature on scikit-learn's digits, CPU only, no network.

PYTHON := .venv/bin/python
DEMO := demo
DEMO_EPOCHS ?= 3

.PHONY: test demo clean

.venv/runtime: requirements.txt
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

.venv/tests: .venv/runtime requirements-test.txt
	$(PYTHON) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $@

test: .venv/tests
	$(PYTHON) -m pytest
	KERAS_BACKEND=jax $(PYTHON) -m pytest -m backend

demo: .venv/runtime
	$(PYTHON) combinations.py --output $(DEMO)/output --script $(DEMO)/experiments.sh \
		--datasets digits --epochs $(DEMO_EPOCHS) --batch-size 32 --no-augmentation --radam-total-steps auto
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(DEMO)/experiments.sh
	$(PYTHON) plot.py --input $(DEMO)/output --plots $(DEMO)/plots
	@echo "The demo's figures and results.md are in $(DEMO)/plots/"

clean:
	rm -rf $(DEMO) .pytest_cache
