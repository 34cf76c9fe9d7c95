#!/bin/sh
# Python parity of every native family (mar; flow in its shared-attention and
# meta-query modes; maskgit): the C++ model writes weights, inputs, noise,
# losses and gradients; bench/python/reca_<family>.py must reproduce them to 1e-5.
#
#   parity_test.sh [DUMP_BINARY [REPO_ROOT]]
#
# Bazel runs it from the runfiles root with the binary's runfiles path; CMake
# passes the built binary and the source tree.
set -eu

dump="${1:-tests/parity/reca-parity-dump}"
root="${2:-.}"
python=/usr/bin/python3

tmp_parent="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
mkdir -p "$tmp_parent"
out="$(mktemp -d "$tmp_parent/parity.XXXXXX")"
trap 'rm -rf "$out"' EXIT

# One intra-op thread on both sides: identical reduction orders, and the test
# stays cheap next to others under `ctest -j` / Bazel.
export OMP_NUM_THREADS=1

for variant in "--family=mar" "--family=flow" "--family=flow --config=meta_queries=8,timestep_shift=3" \
  "--family=maskgit"; do
  echo "=== reca-parity-dump $variant"
  rm -rf "$out"/*
  # shellcheck disable=SC2086 # the variant is several flags
  "$dump" --out_dir="$out" --seed=0 --threads=1 $variant
  "$python" "$root/tests/parity/check_parity.py" --dir="$out" \
    --python_path="$root/bench/python" --threads=1
done
