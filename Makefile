# tinyrepro: reproduce the OctoML MLPerf Tiny v1.0 submission.
# Two commands for a newcomer: `make reproduce` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Offline mirror of the pinned inputs (same relative paths as the lock file).
MIRROR ?= $(TINYREPRO_MIRROR)
ENGINE ?= auto
# Tag of the locally bootstrapped base (used when the digest-pinned one cannot be pulled).
BASE_IMAGE ?= tinyrepro/debian-base:bookworm
# Local tag of the bootstrapped toolchain base (Debian bullseye, TVM's era), used when the
# digest-pinned python:3.8-slim-bullseye cannot be pulled.
TOOLCHAIN_BASE_IMAGE ?= tinyrepro/debian-base:bullseye
# Force the runner's base for `make reproduce` (default: pinned digest, else bootstrapped).
REPRO_BASE_IMAGE ?=
PYTEST_ARGS ?=

export TINYREPRO_MIRROR := $(MIRROR)
# The board-free DUTs (tinyrepro run --dut host|qemu): host compilers, a Cortex-M cross
# compiler with newlib (C and C++) and QEMU's Arm system emulator.
NATIVE_DEBS := build-essential gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
# Test tier only: a real headless browser renders report.html (tests/local/test_report_browser.py).
TEST_DEBS := chromium
# Boards on other hosts (labgrid places): ser2net behind the labgrid exporter (the loopback tests
# run one here).
LAB_DEBS := ser2net
# labgrid places to run on (make reproduce PLACES="p1 p2" COORDINATOR=host:20408).
PLACES ?=
COORDINATOR ?= $(LG_COORDINATOR)

.PHONY: help venv deps test-deps reproduce test test-base-image test-toolchain bench doctor images base-image toolchain-base-image tvm-image tvm-status lock clean distclean

help: ## show this help
	@echo "tinyrepro: reproduce the OctoML MLPerf Tiny v1.0 results"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "  variables: MIRROR=DIR (offline inputs), PORT=/dev/ttyACM0 (a board), SYSTEM=<variant>/<board>, ENGINE=auto|docker|docker-remote|local,"
	@echo "             PLACES=\"p1 p2\" COORDINATOR=host:20408 (labgrid places),"
	@echo "             REPRO_BASE_IMAGE=IMAGE (runner base), PYTEST_ARGS=..., V=1 (reproduce: stream the runs' own output)"

deps: ## install the Debian packages the project needs (debootstrap, for the local base image)
	@command -v debootstrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq debootstrap; \
	  else echo "debootstrap missing: sudo apt-get install debootstrap"; fi; }
	@missing=$$(for p in $(NATIVE_DEBS) $(LAB_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "missing for the host/qemu DUTs and labgrid places: sudo apt-get install" $$missing; fi; fi

$(STAMP): pyproject.toml requirements.lock requirements-lab.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or set PYTHON=..."; exit 3; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -r requirements-lab.lock
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

venv: $(STAMP) ## create the project venv (.venv) from requirements.lock

reproduce: $(STAMP) deps ## fetch, recompute, run what this host can, diff, report
	@base="$(REPRO_BASE_IMAGE)"; \
	if [ -z "$$base" ] && [ "$(ENGINE)" != local ] && docker info >/dev/null 2>&1; then \
	  base=$$(bash scripts/ensure-base-image.sh $(BASE_IMAGE)); fi; \
	if docker image inspect $(TOOLCHAIN_BASE_IMAGE) >/dev/null 2>&1; then export TOOLCHAIN_BASE_IMAGE=$(TOOLCHAIN_BASE_IMAGE); fi; \
	$(PY) -m bundle $(if $(V),-v) reproduce $(if $(MIRROR),--mirror $(MIRROR)) --engine $(ENGINE) \
	  $(if $(PORT),--port $(PORT)) $(if $(SYSTEM),--system $(SYSTEM)) $${base:+--base-image $$base} \
	  $(if $(PLACES),--coordinator "$(COORDINATOR)" --place "$(PLACES)")

test-deps: ## install the Debian packages only the tests need (chromium, for the report.html test)
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get -o DPkg::Lock::Timeout=900 install -y -qq $$missing; \
	  else echo "missing for the tests: sudo apt-get install" $$missing; fi; fi

test: $(STAMP) deps test-deps test-base-image ## run the test suite (unit, local parts: pty, Docker, TVM, chromium)
	TINYREPRO_BASE_IMAGE=$(BASE_IMAGE) $(PY) -m pytest $(PYTEST_ARGS)

# The Docker tests build the runner image from a locally bootstrapped base (no registry here).
# Without a Docker engine there is nothing to bootstrap: those tests skip (and fail on CI).
test-base-image: deps
	@if docker info >/dev/null 2>&1; then bash scripts/bootstrap-base-image.sh $(BASE_IMAGE); \
	else echo "no Docker engine: the container tests will be skipped (CI fails them)"; fi

# The tvm image: TVM e3a6cb6a built from pinned sources (TVM and its submodules through the
# fetch layer). 1-2 h on 2 cores, in a container whose build folder is a Docker volume: an
# interrupted build resumes where it stopped. DETACH=1 starts/resumes it in the background.
toolchain-base-image: deps ## bootstrap the local Debian bullseye base of the tvm/zephyr images
	SUITE=bullseye bash scripts/bootstrap-base-image.sh $(TOOLCHAIN_BASE_IMAGE)

tvm-image: $(STAMP) deps ## build (or resume) the tvm image from pinned sources; DETACH=1 to background it
	@base=$$(bash scripts/ensure-base-image.sh $(BASE_IMAGE)) && \
	tbase=$$(SUITE=bullseye bash scripts/ensure-base-image.sh $(TOOLCHAIN_BASE_IMAGE) DEFAULT_TOOLCHAIN_BASE_IMAGE) && \
	$(PY) -m bundle images build --target tvm --base-image "$$base" --toolchain-base-image "$$tbase" \
	  $(if $(MIRROR),--mirror $(MIRROR)) $(if $(DETACH),--detach)

tvm-status: $(STAMP) ## how far the TVM build is (steps, rate, time left)
	$(PY) -m bundle images status

# The toolchain tier: the real compile of KWS (native, cmsis_nn) in the tvm image. Skips with
# the reason when the image is not there (building it takes longer than a CI run should).
test-toolchain: tvm-image ## build the tvm image, then run the toolchain tests (real TVM compile)
	TINYREPRO_TOOLCHAIN_TIER=1 TINYREPRO_BASE_IMAGE=$(BASE_IMAGE) TOOLCHAIN_BASE_IMAGE=$(TOOLCHAIN_BASE_IMAGE) \
	  $(PY) -m pytest tests/toolchain tests/local/test_tvm_build_resume.py $(PYTEST_ARGS)

bench: $(STAMP) ## print benchmark figures (also: tinyrepro bench --json)
	$(PY) -m bundle bench $(if $(MIRROR),--mirror $(MIRROR))

doctor: $(STAMP) ## preflight: Docker, images, serial devices, probes, disk, network
	$(PY) -m bundle doctor

base-image: deps ## bootstrap the local Debian base image without a registry
	bash scripts/bootstrap-base-image.sh $(BASE_IMAGE)

images: $(STAMP) deps ## build the images this host can build (pinned base, else a bootstrapped one)
	@base=$$(bash scripts/ensure-base-image.sh $(BASE_IMAGE)) && $(PY) -m bundle images build --base-image "$$base"

lock: ## regenerate requirements.lock from a fresh resolve (needs PyPI)
	$(PYTHON) -m venv /tmp/tinyrepro-lock && /tmp/tinyrepro-lock/bin/pip install -q '.[models,test,stimuli]' \
	  && /tmp/tinyrepro-lock/bin/pip freeze --exclude tinyrepro > requirements.lock

clean: ## remove run outputs (keeps the venv and the download cache)
	rm -rf artifacts/runs

distclean: clean ## remove everything generated, venv and caches included
	rm -rf $(VENV) artifacts/cache artifacts/inputs
