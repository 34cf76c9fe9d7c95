#!/usr/bin/env bash
# Regenerates README.md's job spec reference (`reca-train --spec_reference`) and
# proto/reca/v1/job_spec.proto (`reca-train --spec_proto`) from the field table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TRAIN=${TRAIN:-build/bin/reca-train}
ref=$("$TRAIN" --spec_reference)
python3 - "$ref" <<'PY'
import sys
ref = sys.argv[1]
s = open("README.md").read()
a = s.index("<!-- spec-reference:begin -->") + len("<!-- spec-reference:begin -->\n")
b = s.index("<!-- spec-reference:end -->")
open("README.md", "w").write(s[:a] + ref + "\n" + s[b:])
PY
"$TRAIN" --spec_proto >proto/reca/v1/job_spec.proto
echo "README.md: job spec reference updated; proto/reca/v1/job_spec.proto regenerated"
