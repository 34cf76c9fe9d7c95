# Front door (DESIGN.md §3). Every target that builds first runs scripts/setup.sh, which
# apt-installs whatever is missing and costs ~50 ms when nothing is.
BUILD_DIR ?= build
JOBS      ?= 2

.PHONY: setup build cmake-build test fuzz demo bench clean

setup:
	scripts/setup.sh

cmake-build: setup
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j$(JOBS)

build: cmake-build
	bazel build //...

# Both suites always run; scripts/run_tests.sh totals them on its last line.
test: cmake-build
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) scripts/run_tests.sh

# libFuzzer targets (README "Fuzzing"): a separate clang build in build-fuzz/,
# then FUZZ_SECONDS of fuzzing per target; FUZZERS="tar image" picks some.
FUZZ_SECONDS ?= 60
FUZZERS ?=
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) fuzz/build_and_run.sh run $(FUZZERS)

demo: cmake-build
	scripts/demo.sh

bench: cmake-build
	bench/run_bench.sh

clean:
	rm -rf $(BUILD_DIR)
	bazel clean
