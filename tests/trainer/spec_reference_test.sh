#!/bin/sh
# README.md's job spec reference must be exactly `reca-train --spec_reference`
# (the field table in reca/job_spec.cc is the one definition).
#   spec_reference_test.sh RECA_TRAIN README.md
# Regenerate: scripts/update_spec_reference.sh
set -eu
train="${1:-reca/reca-train}"
readme="${2:-README.md}"
tmp="${TEST_TMPDIR:-/tmp}/spec_reference.$$"
"$train" --spec_reference >"$tmp.want"
sed -n '/<!-- spec-reference:begin -->/,/<!-- spec-reference:end -->/p' "$readme" | sed '1d;$d' >"$tmp.have"
if ! diff -u "$tmp.have" "$tmp.want"; then
  echo "README.md's job spec reference is stale: run scripts/update_spec_reference.sh" >&2
  rm -f "$tmp.want" "$tmp.have"
  exit 1
fi
rm -f "$tmp.want" "$tmp.have"
echo "README.md job spec reference up to date ($(wc -l <"$readme") lines checked)"
