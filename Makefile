# The two fresh-machine entry points: `make demo` (main job) and `make test` (test suite).
# Everything is installed into a virtual environment (.venv, made from $(PYTHON)), and pip, edgeml and pytest
# run from it: a distribution's python3 is "externally managed" (PEP 668) and refuses pip installs, and
# whatever `edgeml` comes first on PATH may belong to another interpreter.
PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
EDGEML := $(VENV)/bin/edgeml
PIP := $(VENV_PYTHON) -m pip install --disable-pip-version-check --quiet
DEMO_EXTRAS ?= train,pi,micro
TEST_EXTRAS ?= all
DEMO_OUT ?= runs/demo
DEMO_DEBIAN_PACKAGES := dataset-fashion-mnist gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
TEST_DEBIAN_PACKAGES := dataset-fashion-mnist gcc-arm-none-eabi libnewlib-arm-none-eabi binutils g++ clang qemu-system-arm openssh-server openssh-client chromium

.PHONY: venv setup setup-dev system-packages system-packages-dev demo test

# Debian packages: Fashion-MNIST (offline dataset), the Arm cross-compiler and QEMU (the demo's emulated Cortex-M4
# row); for the tests also the host compilers, OpenSSH and Chromium.
# Skipped where apt or root is unavailable (the tests that need them then say so).
define apt_install
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		dpkg -s $(1) >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; } || echo "apt-get install failed: $(1) (tests that need them will say so)"; \
	else echo "not root or no apt-get: skipping Debian packages ($(1))"; fi
endef

system-packages:
	$(call apt_install,$(DEMO_DEBIAN_PACKAGES))

system-packages-dev:
	$(call apt_install,$(TEST_DEBIAN_PACKAGES))

# $(VENV) with a working pip, made from $(PYTHON). Debian and Ubuntu ship python3's venv/ensurepip
# modules in a separate package (python3-venv): installed with apt when root, otherwise named in one line.
venv:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python >= 3.10 (apt-get install python3) or run make PYTHON=/path/to/python3"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "error: edgeml needs Python >= 3.10; $(PYTHON) is $$($(PYTHON) -V 2>&1): run make PYTHON=/path/to/python3.10+"; exit 1; }
	@if ! $(VENV_PYTHON) -m pip --version >/dev/null 2>&1; then \
		if ! $(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing python3-venv (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
		fi; \
		$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || { echo "error: $(PYTHON) cannot create a virtual environment (no venv/ensurepip module): install python3-venv (sudo apt-get install python3-venv) or run make PYTHON=/path/to/python3"; exit 1; }; \
		echo "creating $(VENV) from $(PYTHON)"; \
		$(PYTHON) -m venv --clear $(VENV) || { echo "error: $(PYTHON) -m venv $(VENV) failed"; exit 1; }; \
	fi

setup: system-packages venv
	$(PIP) -e ".[$(DEMO_EXTRAS)]"

setup-dev: system-packages-dev venv
	$(PIP) -e ".[$(TEST_EXTRAS)]"

# Main job: the whole pipeline (train → QAT int8 → firmware export → benchmark → report) on
# Fashion-MNIST, offline. Prints where the report is.
demo: setup
	$(EDGEML) pipeline --config examples/fashion_mnist.toml --out $(DEMO_OUT)

test: setup-dev
	$(VENV_PYTHON) -m pytest -q --durations=25
