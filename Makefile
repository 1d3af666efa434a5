# Front door of the build. Every target that builds first installs missing Debian packages.
PRESET ?= dev
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
CONFIG ?=
LOUPE_BIN := build/loupe

.PHONY: all deps configure build run test test-unit test-bpf test-integration demo bench bench-overhead soak fuzz \
        lint format vmlinux clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then cmake --preset $(PRESET); fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)
	@ln -sfn $(PRESET)/loupe $(LOUPE_BIN)
	@echo "built $(LOUPE_BIN)"

# Runs the agent in standalone mode on this host, endpoints on localhost (Ctrl-C stops it).
run: build
	$(LOUPE_BIN) agent $(if $(CONFIG),--config $(CONFIG))

# Unit, BPF and integration tests (root needed for the last two).
test: build
	./scripts/run-tests.sh $(BUILD_DIR)

test-unit: build
	ctest --test-dir $(BUILD_DIR) -L unit --output-on-failure -j $(JOBS)

test-bpf: build
	ctest --test-dir $(BUILD_DIR) -L bpf --output-on-failure

test-integration: build
	ctest --test-dir $(BUILD_DIR) -L integration --output-on-failure

# A lab with three pods and real servers, the agent observing it, and traffic between them.
demo: build
	./scripts/demo.sh

bench: deps
	@if [ ! -f build/release/build.ninja ]; then cmake --preset release; fi
	cmake --build build/release -j $(JOBS) --target loupe_bench
	./build/release/bench/loupe_bench --benchmark_counters_tabular=true

# iperf3 between two lab pods with and without the agent, same run (root): docs/performance.md.
bench-overhead: build
	./scripts/bench-iperf.sh

# Soak run (root, SOAK_SECONDS): nginx under wrk for minutes, keep-alive and connection churn in
# turn, with the agent and its JSON printer; exact records, no loss, RSS levelling off.
SOAK_SECONDS ?= 300
soak: deps
	@if [ ! -f build/release/build.ninja ]; then cmake --preset release; fi
	cmake --build build/release -j $(JOBS) --target loupe
	/usr/bin/python3 bench/soak.py --loupe build/release/loupe --seconds $(SOAK_SECONDS)

# Long fuzzing runs (FUZZ_SECONDS each); CI runs each target briefly through `make test`.
FUZZ_SECONDS ?= 600
fuzz: deps
	@if [ ! -f build/fuzz/build.ninja ]; then cmake --preset fuzz; fi
	cmake --build build/fuzz -j $(JOBS)
	./scripts/run-fuzzers.sh build/fuzz $(FUZZ_SECONDS)

lint: configure
	./scripts/lint.sh $(BUILD_DIR)

format:
	./scripts/lint.sh --fix

vmlinux: configure
	cmake --build $(BUILD_DIR) --target vmlinux

clean:
	rm -rf build
