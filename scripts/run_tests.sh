#!/usr/bin/env bash
# `make test` after the CMake build: every test under ctest, then every test
# under Bazel, then a smoke run of each libFuzzer target (fuzz/build_and_run.sh:
# a clang build in build-fuzz/, every seed replayed, SMOKE_SECONDS of fuzzing
# each). All suites always run, so one failure does not hide another; the last
# line totals them ("N passed, M failed") and the exit status is non-zero if
# anything failed or did not build.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" 2>&1 | tee "$logs/ctest" || status=1
bazel test //... 2>&1 | tee "$logs/bazel" || status=1
fuzz/build_and_run.sh smoke 2>&1 | tee "$logs/fuzz" || status=1

# ctest: "NN% tests passed, F tests failed out of T".
read -r c_failed c_total < <(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1 \2/p' "$logs/ctest")
c_failed=${c_failed:-0} c_total=${c_total:-0}
# Bazel: one summary line per test target.
b_passed=$(grep -cE '^//.* PASSED( |$)' "$logs/bazel" || true)
b_failed=$(grep -cE '^//.* (FAILED|NO STATUS|TIMEOUT|FLAKY)' "$logs/bazel" || true)
if [[ $c_total -eq 0 || $((b_passed + b_failed)) -eq 0 ]]; then
  echo "run_tests: a suite reported no tests" >&2
  status=1
fi
# Fuzzers: "fuzz: N passed, M failed", one per fuzz target.
read -r f_passed f_failed < <(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logs/fuzz")
f_passed=${f_passed:-0} f_failed=${f_failed:-0}
if [[ $((f_passed + f_failed)) -eq 0 ]]; then
  echo "run_tests: the fuzz smoke run reported no fuzzers" >&2
  status=1
fi
passed=$((c_total - c_failed + b_passed + f_passed))
failed=$((c_failed + b_failed + f_failed))
echo "ctest: $((c_total - c_failed)) passed, ${c_failed} failed; bazel: ${b_passed} passed, ${b_failed} failed; fuzz: ${f_passed} passed, ${f_failed} failed"
echo "${passed} passed, ${failed} failed"
exit $status
