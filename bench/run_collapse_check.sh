#!/usr/bin/env bash
# The copy-collapse detector end to end (bench/RESULTS.md, issue 6): a maskgit
# base pre-trained on the shapes world, then two reconstruction-only runs
# from it: the default bottleneck (CLIP frozen, 16x16 view) and the bottleneck
# removed (CLIP trained, full 32x32 view). Fails unless the detector fires in
# the second and stays quiet in the first. ~10 min on 2 cores; not in
# `make test` for that reason (make test checks the detector's parts).
#
#   bench/run_collapse_check.sh            # STEPS=800 PRETRAIN_STEPS=1500 OUT=build/collapse
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TRAIN=${TRAIN:-build/bin/reca-train}
OUT=${OUT:-build/collapse}
STEPS=${STEPS:-800}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-1500}
rm -rf "$OUT" && mkdir -p "$OUT"

"$TRAIN" --spec=examples/maskgit_pretrain.yaml --steps="$PRETRAIN_STEPS" --samples.count=0 \
  --reca.collapse_every=0 --log_every=500 --progress=false --out="$OUT/base" >"$OUT/base.log"
common=(--model.family=maskgit --model.init="$OUT/base/model.safetensors" --steps="$STEPS"
        --batch_per_rank=16 --log_every=50 --optimizer.lr=1e-3 --schedule.decay=constant
        --data.sources='[{"task":"recon"}]' --reca.cfg_drop=0 --reca.collapse_every=50
        --samples.count=0 --heldout=false --progress=false)
"$TRAIN" "${common[@]}" --out="$OUT/default" >"$OUT/default.log" &
"$TRAIN" "${common[@]}" --model.und_image_size=32 --model.frozen='["vq"]' --out="$OUT/removed" \
  >"$OUT/removed.log" &
wait %1 && wait %2

for run in default removed; do
  echo "== $run: $(grep 'collapse detector' "$OUT/$run.log")"
  grep -o 'step *[0-9]*/[0-9]* .*recon/t2i [0-9.]*' "$OUT/$run.log" | awk '{print "  " $1, $2, $NF}' | tail -4
  grep 'COLLAPSE ALARM' "$OUT/$run.log" | cut -c1-120 || true
done
grep -q 'COLLAPSE ALARM' "$OUT/removed.log" || { echo "FAIL: no alarm with the bottleneck removed"; exit 1; }
! grep -q 'COLLAPSE ALARM' "$OUT/default.log" || { echo "FAIL: alarm with the default bottleneck"; exit 1; }
echo "PASS: the detector fired with the bottleneck removed and stayed quiet with the default"
