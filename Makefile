# The two fresh-machine entry points: `make demo` (main job) and `make test` (test suite).
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --disable-pip-version-check --quiet
DEMO_OUT ?= runs/demo
DEMO_DEBIAN_PACKAGES := dataset-fashion-mnist
TEST_DEBIAN_PACKAGES := dataset-fashion-mnist gcc-arm-none-eabi libnewlib-arm-none-eabi binutils g++ openssh-server openssh-client chromium

.PHONY: setup setup-dev system-packages system-packages-dev demo test

# Debian packages: Fashion-MNIST (offline dataset); for the tests also the Arm cross-compiler.
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

setup: system-packages
	$(PIP) -e ".[train,pi,micro]"

setup-dev: system-packages-dev
	$(PIP) -e ".[all]"

# Main job: the whole pipeline (train → QAT int8 → firmware export → benchmark → report) on
# Fashion-MNIST, offline. Prints where the report is.
demo: setup
	edgeml pipeline --config examples/fashion_mnist.toml --out $(DEMO_OUT)

test: setup-dev
	$(PYTHON) -m pytest -q
