#!/bin/sh
# The job spec has one definition, the field table in reca/job_spec_fields.h.
# Its two checked-in renderings must be current:
#  - README.md's job spec reference == `reca-train --spec_reference`;
#  - proto/reca/v1/job_spec.proto   == `reca-train --spec_proto`.
#   spec_reference_test.sh RECA_TRAIN README.md JOB_SPEC.PROTO
# Regenerate both: scripts/update_spec_reference.sh
set -eu
train="${1:-reca/reca-train}"
readme="${2:-README.md}"
proto="${3:-proto/reca/v1/job_spec.proto}"
tmp="${TEST_TMPDIR:-/tmp}/spec_reference.$$"
trap 'rm -f "$tmp".*' EXIT
"$train" --spec_reference >"$tmp.want"
sed -n '/<!-- spec-reference:begin -->/,/<!-- spec-reference:end -->/p' "$readme" | sed '1d;$d' >"$tmp.have"
if ! diff -u "$tmp.have" "$tmp.want"; then
  echo "README.md's job spec reference is stale: run scripts/update_spec_reference.sh" >&2
  exit 1
fi
"$train" --spec_proto >"$tmp.proto"
if ! diff -u "$proto" "$tmp.proto"; then
  echo "$proto is stale: run scripts/update_spec_reference.sh" >&2
  exit 1
fi
echo "README.md job spec reference and $proto are current"
