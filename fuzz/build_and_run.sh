#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ (separate from the
# gcc build) and runs them. README.md "Fuzzing".
#
#   fuzz/build_and_run.sh build           # configure + build only
#   fuzz/build_and_run.sh smoke           # make test: replay each seed corpus, then
#                                         #   SMOKE_RUNS (default 15000) inputs of each
#                                         #   target from a fixed seed: reproducible, so a
#                                         #   CI failure is a bug, not bad luck
#   fuzz/build_and_run.sh run [NAME...]   # make fuzz: FUZZ_SECONDS (default 60) each;
#                                         #   new inputs go to build-fuzz/corpus/<name>
#
# Crash inputs are written to build-fuzz/artifacts/. The last line is
# "fuzz: N passed, M failed" (scripts/run_tests.sh counts it); the exit status
# is non-zero when any fuzzer failed or the build failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
FUZZERS=(job_spec safetensors tar image manifest)
mode=${1:-smoke}
shift || true
if [[ $# -gt 0 ]]; then FUZZERS=("$@"); fi

CC_BIN=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}
CXX_BIN=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}

build() {
  if [[ ! -f "$FUZZ_BUILD_DIR/build.ninja" ]]; then
    CC="$CC_BIN" CXX="$CXX_BIN" cmake -G Ninja -S fuzz -B "$FUZZ_BUILD_DIR" >/dev/null || return 1
  fi
  nice cmake --build "$FUZZ_BUILD_DIR" -j"$JOBS"
}

if ! build; then
  echo "fuzz: 0 passed, ${#FUZZERS[@]} failed (build failed)"
  exit 1
fi
[[ $mode == build ]] && exit 0

case $mode in
  smoke) budget=(-runs="${SMOKE_RUNS:-15000}" -seed=1) ;;
  run) seconds=${FUZZ_SECONDS:-60}; budget=(-max_total_time="$seconds") ;;
  *) echo "usage: $0 build|smoke|run [fuzzer...]" >&2; exit 2 ;;
esac

mkdir -p "$FUZZ_BUILD_DIR/artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0 failed=0
for name in "${FUZZERS[@]}"; do
  bin="$FUZZ_BUILD_DIR/${name}_fuzzer"
  seeds="fuzz/corpus/$name"
  # New inputs go to the first directory: a throwaway one for the smoke run,
  # a kept one (outside the repo) for make fuzz. The checked-in seeds are read only.
  if [[ $mode == smoke ]]; then out="$scratch/$name"; else out="$FUZZ_BUILD_DIR/corpus/$name"; fi
  mkdir -p "$out"
  log="$scratch/$name.log"
  # Replay every seed and regression input on its own first: any failure there
  # is a regression, whatever the random fuzzing afterwards finds.
  if ! "$bin" -runs=0 "$seeds" >"$log" 2>&1; then
    echo "FAIL $name: a seed corpus input fails:"; tail -40 "$log"
    failed=$((failed + 1))
    continue
  fi
  dict=()
  [[ -f "fuzz/$name.dict" ]] && dict=(-dict="fuzz/$name.dict")
  started=$SECONDS
  "$bin" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$FUZZ_BUILD_DIR/artifacts/$name-" "${dict[@]}" \
    "$out" "$seeds" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - started > 0 ? SECONDS - started : 1))
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    echo "PASS $name: ${runs:-?} runs in ${took}s ($((${runs:-0} / took)) exec/s), ${cov:-cov: ?}"
    passed=$((passed + 1))
  else
    echo "FAIL $name (rc=$rc): crash input in $FUZZ_BUILD_DIR/artifacts/:"
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -20
    tail -60 "$log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: ${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
