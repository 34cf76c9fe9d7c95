#!/usr/bin/env bash
# `make test` after the CMake build: every test under ctest, then every test
# under Bazel. Both suites always run, so one failure does not hide the other;
# the last line totals both ("N passed, M failed") and the exit status is
# non-zero if anything failed or did not build.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" 2>&1 | tee "$logs/ctest" || status=1
bazel test //... 2>&1 | tee "$logs/bazel" || status=1

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
passed=$((c_total - c_failed + b_passed))
failed=$((c_failed + b_failed))
echo "ctest: $((c_total - c_failed)) passed, ${c_failed} failed; bazel: ${b_passed} passed, ${b_failed} failed"
echo "${passed} passed, ${failed} failed"
exit $status
