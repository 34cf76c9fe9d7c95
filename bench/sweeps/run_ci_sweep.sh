#!/usr/bin/env bash
# The CI benchmark sweep, as .github/workflows/benchmark-sweep.yml runs it (and
# anyone can, after `make cmake-build`): a local cluster (2 workers, 1
# evaluator) in a fresh folder, `recactl sweep run --wait` of SWEEP (default
# bench/sweeps/ci.yaml) gated against its baseline, the report in REPORT_DIR
# (default runs/sweep-report), the cluster stopped whatever happened.
#   bench/sweeps/run_ci_sweep.sh [--update-baseline] [SWEEP]
# Exit status: recactl's (0 pass; 1 a point failed or a metric regressed;
# 2 a bad sweep file or baseline). --update-baseline: run without the gate and
# write the report as the new baseline.json next to SWEEP.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
update=0
if [[ "${1:-}" == "--update-baseline" ]]; then update=1; shift; fi
sweep=${1:-bench/sweeps/ci.yaml}
report_dir=${REPORT_DIR:-runs/sweep-report}
cluster_dir=${CLUSTER_DIR:-runs/sweep-cluster}
recactl=${RECACTL:-build/bin/recactl}

rm -rf "$cluster_dir" "$report_dir"
"$recactl" local up --dir "$cluster_dir" --workers 2 --evaluators 1 >/dev/null
trap '"$recactl" local down --dir "$cluster_dir" >&2 || true' EXIT
export RECA_COORDINATOR RECA_TOKEN_FILE="$cluster_dir/tokens/user.token"
RECA_COORDINATOR=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' \
  "$cluster_dir/cluster.json")

args=(sweep run "$sweep" --wait --report-dir "$report_dir")
if [[ $update -eq 1 ]]; then
  # Without the relative rules (the old baseline is what is being replaced);
  # only a run whose every point succeeded becomes the baseline.
  "$recactl" "${args[@]}" --no-baseline
  cp "$report_dir/report.json" "$(dirname "$sweep")/baseline.json"
  echo "run_ci_sweep: wrote $(dirname "$sweep")/baseline.json" >&2
  exit 0
fi
"$recactl" "${args[@]}"
