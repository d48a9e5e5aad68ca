# The two fresh-machine entry points: `make demo` (main job) and `make test` (test suite).
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --disable-pip-version-check --quiet
DEMO_OUT ?= runs/demo

.PHONY: setup setup-dev system-packages demo test

# Debian packages: Fashion-MNIST (offline dataset). Skipped where apt or root is unavailable.
system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; \
	else echo "not root or no apt-get: skipping Debian packages (dataset-fashion-mnist)"; fi

setup: system-packages
	$(PIP) -e ".[train]"

setup-dev: system-packages
	$(PIP) -e ".[all]"

# Main job: train the default MLP on Fashion-MNIST (offline) and evaluate it.
demo: setup
	edgeml train --dataset fashion_mnist --epochs 5 --out $(DEMO_OUT) --force
	edgeml evaluate $(DEMO_OUT) --force
	@echo "Run directory: $(DEMO_OUT) (model.keras, history.png, metrics.json, confusion_matrix.png, roc.png)"

test: setup-dev
	$(PYTHON) -m pytest -q
