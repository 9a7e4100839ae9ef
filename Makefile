# Argus: the single entry point. See README.md.
#   make run                 start the desktop app on its embedded default
#   make test                the whole test suite
#   make fuzz                the fuzzers, FUZZ_SECONDS (60) per target (cargo-fuzz; see scripts/fuzz)
#   make soak                sync under a faulty network at scale (20 seeds x 10,000 changes)
#   make bench [ONLY=area]   benchmarks, one figure per line
#   make real-model          MobileSAM (real weights, from PyPI) into the model cache
#   make dist                the release packages (.deb, .rpm) into dist/ (scripts/dist)
#   make dist-check          installs the .deb into a clean Debian 12 root and starts it (root)
# Each target first runs scripts/bootstrap, which installs only what is missing.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

# Caches live outside the checkout so a fresh clone reuses earlier builds.
export ARGUS_DEV_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/argus-dev
export CARGO_TARGET_DIR ?= $(ARGUS_DEV_CACHE)/target
# ONNX Runtime from the PyPI wheel (scripts/bootstrap) and the tests' Python.
export ORT_DYLIB_PATH ?= $(ARGUS_DEV_CACHE)/onnxruntime/1.31.1/libonnxruntime.so
export ARGUS_PYTHON ?= $(ARGUS_DEV_CACHE)/venv/bin/python

ONLY ?=

.PHONY: run test fuzz soak bench bootstrap real-model dist dist-check check-deps fmt lint

bootstrap:
	@scripts/bootstrap

run: bootstrap
	@scripts/run

test: bootstrap
	@scripts/test

# The fuzzers of crates/argus-fuzz for FUZZ_SECONDS each (`make test` replays
# their committed corpus). FUZZ_SECONDS=600 make fuzz for a longer run.
fuzz: bootstrap
	@scripts/fuzz

# Sync under a faulty network at scale: 20 seeds of 10,000 changes.
soak: bootstrap
	@ARGUS_SYNC_SEEDS=20 ARGUS_SYNC_CHANGES=10000 scripts/with-postgres cargo test -q -p argus-client --test client -- --exact sync::sync_survives_a_faulty_network

bench: bootstrap
	@scripts/bench $(ONLY)

real-model: bootstrap
	@scripts/real-model

# Release packages with Tauri's bundler: a release build, ONNX Runtime's CPU
# library, the sample project, the licence file (see scripts/dist).
dist: bootstrap
	@scripts/dist

# Outside `make test` (minutes, root, the Debian mirror): apt-installs the
# newest dist/*.deb into a debootstrap'ed Debian 12 and starts it under Xvfb.
dist-check: bootstrap
	@scripts/dist-check

check-deps:
	@scripts/check-deps

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
