# Front door (DESIGN.md §3). Every target that builds first runs scripts/setup.sh, which
# apt-installs whatever is missing and costs ~50 ms when nothing is.
BUILD_DIR ?= build
JOBS      ?= 2

.PHONY: setup build cmake-build test demo bench clean

setup:
	scripts/setup.sh

cmake-build: setup
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j$(JOBS)

build: cmake-build
	bazel build //...

# Both suites always run, so one failure does not hide the other; the exit status is
# non-zero if either failed.
test: cmake-build
	@status=0; \
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS) || status=1; \
	bazel test //... || status=1; \
	exit $$status

demo: cmake-build
	scripts/demo.sh

bench: cmake-build
	bench/run_bench.sh

clean:
	rm -rf $(BUILD_DIR)
	bazel clean
