#!/usr/bin/env bash
# The toy reproduction of RecA's generation gain (issue 5, bench/RESULTS.md):
# pre-train the mar model on the shapes world with *sparse* captions, score
# that base with ShapesEval + recon, post-train it with RecA (images only +
# captioning), score the result, and write the before/after report.
#
#   bench/run_toy_reproduction.sh            # defaults below
#   PRETRAIN_STEPS=800 RECA_STEPS=400 bench/run_toy_reproduction.sh   # quick
#   NAME=reca-lr1e-4 RECA_FLAGS="--optimizer.lr=1e-4" bench/run_toy_reproduction.sh
#
# Re-running reuses what exists: the pre-training resumes from its last
# checkpoint (or is skipped when finished), the base is scored once, and each
# RecA variant (NAME, RECA_FLAGS: any reca-train spec flags, the knobs) gets
# its own directory under OUT. SAMPLE_FLAGS are reca-eval's sampling flags,
# the same for base and after (chosen on the base, never on the result).
# BASE=DIR skips the pre-training and starts from that checkpoint.
# Output: OUT/NAME/eval/report.md and report.png, printed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-build/bin}
OUT=${OUT:-runs/toy}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-12000}
RECA_STEPS=${RECA_STEPS:-2000}
BATCH=${BATCH:-32}
NAME=${NAME:-reca}
RECA_FLAGS=${RECA_FLAGS:-}
SAMPLE_FLAGS=${SAMPLE_FLAGS:-}
EVAL_FLAGS=${EVAL_FLAGS:---images_per_prompt=2}
THREADS=${THREADS:-2}            # reca-train's
EVAL_THREADS=${EVAL_THREADS:-1}  # reca-eval's (the tiny model samples faster on one)

latest() { ls -d "$1"/checkpoints/step-* 2>/dev/null | sort | tail -1; }
step() { printf '\n== %s\n' "$*"; }
# score CHECKPOINT DIR: both suites, unless DIR already has its scores.
score() {
  [ -s "$2/scores.json" ] && { echo "(scored already: $2)"; return; }
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$EVAL_THREADS OPENBLAS_NUM_THREADS=$EVAL_THREADS \
    "$BIN/reca-eval" --checkpoint="$1" --out="$2" --threads="$EVAL_THREADS" $EVAL_FLAGS $SAMPLE_FLAGS
}

if [ -z "${BASE:-}" ]; then
  step "1/4 pre-training ($PRETRAIN_STEPS steps, batch $BATCH, sparse captions) in $OUT/pretrain"
  OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$BIN/reca-train" --spec=examples/pretrain.yaml --out="$OUT/pretrain" --steps="$PRETRAIN_STEPS" \
    --batch_per_rank="$BATCH" --checkpoint.every=1000 --checkpoint.keep=3 --samples.every=2000 \
    --log_every=200 --threads="$THREADS" --progress=false
  BASE=$(latest "$OUT/pretrain")
fi

step "2/4 scoring the base $BASE"
score "$BASE" "$OUT/base-eval"

step "3/4 RecA '$NAME' ($RECA_STEPS steps${RECA_FLAGS:+, $RECA_FLAGS}) from the base in $OUT/$NAME"
# shellcheck disable=SC2086
OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$BIN/reca-train" --spec=examples/reca.yaml --model.init="$BASE" --out="$OUT/$NAME" \
  --steps="$RECA_STEPS" --batch_per_rank="$BATCH" --checkpoint.every="$RECA_STEPS" \
  --checkpoint.keep=1 --log_every=200 --threads="$THREADS" --progress=false $RECA_FLAGS

step "4/4 scoring RecA's last checkpoint; the before/after report"
mkdir -p "$OUT/$NAME/eval"
rm -rf "$OUT/$NAME/eval/step-00000000"
cp -r "$OUT/base-eval" "$OUT/$NAME/eval/step-00000000"
AFTER=$(latest "$OUT/$NAME")
score "$AFTER" "$OUT/$NAME/eval/$(basename "$AFTER")"
"$BIN/reca-eval" --report_dir="$OUT/$NAME/eval"
cat "$OUT/$NAME/eval/report.md"
