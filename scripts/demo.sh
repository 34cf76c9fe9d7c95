#!/usr/bin/env bash
# `make demo`: the main job on the embedded local cluster (DESIGN.md §5.7).
# `recactl local up` starts a coordinator, two workers and an evaluator on
# loopback (state and checkpoints under runs/demo/); a tiny mar (Harmon-like) model is pre-trained on
# shapes-world images with *sparse* captions (text-to-image + captioning), then
# post-trained with RecA (reconstruction from its own understanding embedding +
# captioning) starting from the pre-training job's last checkpoint. Each job has
# 2 data-parallel ranks, one on each worker; recactl follows both with progress
# bars. The evaluator scores the RecA job's base and last checkpoints
# (ShapesEval: GenEval's rules over the shapes world; reconstruction PSNR/SSIM);
# the demo prints a summary and the before/after table, and stops the cluster.
#
# Settings (environment): BIN (the binaries and recactl, default build/bin), DIR
# (the cluster's folder, default runs/demo), PRETRAIN_STEPS (800), RECA_STEPS
# (400), EVAL_PROMPTS_PER_TAG (50: all 300 ShapesEval prompts) and
# EVAL_IMAGES_PER_PROMPT (2). make test runs this script with small values
# (tests/service/demo_test.py). Any step that fails stops the demo with a
# non-zero exit status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-build/bin}
DIR=${DIR:-runs/demo}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-800}
RECA_STEPS=${RECA_STEPS:-400}
EVAL_PROMPTS_PER_TAG=${EVAL_PROMPTS_PER_TAG:-50}
EVAL_IMAGES_PER_PROMPT=${EVAL_IMAGES_PER_PROMPT:-2}
RECACTL=("$BIN/recactl")
export RECA_BIN="$BIN"

step() { printf '\n== %s\n' "$*"; }

step "1/5 starting the local cluster: a coordinator, 2 workers (1 CPU slot each) and an evaluator in $DIR"
"${RECACTL[@]}" local down --dir "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
# By default all 300 ShapesEval prompts, 2 images each (~1 min per checkpoint on one
# core; the evaluator's default is 4).
"${RECACTL[@]}" local up --dir "$DIR" --workers 2 --slots 1 \
  --evaluator-flag=--images_per_prompt="$EVAL_IMAGES_PER_PROMPT" \
  --evaluator-flag=--prompts_per_tag="$EVAL_PROMPTS_PER_TAG"
trap '"${RECACTL[@]}" local down --dir "$DIR" >/dev/null 2>&1 || true' EXIT
export RECA_COORDINATOR RECA_TOKEN_FILE="$DIR/tokens/user.token"
RECA_COORDINATOR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$DIR/cluster.json")

# 2 ranks x 8 samples = the global batch of 16 that examples/*.yaml use on one rank.
step "2/5 pre-training (examples/pretrain.yaml, ${PRETRAIN_STEPS} steps, 2 ranks): text-to-image + captioning on sparse-caption shapes"
PRETRAIN=$("${RECACTL[@]}" submit examples/pretrain.yaml --ranks 2 --set batch_per_rank=8 \
  --set steps="$PRETRAIN_STEPS")
echo "submitted $PRETRAIN"
"${RECACTL[@]}" watch "$PRETRAIN"

step "3/5 RecA (examples/reca.yaml, ${RECA_STEPS} steps, 2 ranks) from $PRETRAIN's last checkpoint: reconstruction from the understanding embedding, no captions needed"
# The evaluator scores the base (the pre-training's last checkpoint) and RecA's last checkpoint.
RECA=$("${RECACTL[@]}" submit examples/reca.yaml --ranks 2 --set batch_per_rank=8 --set steps="$RECA_STEPS" \
  --set model.init="job:$PRETRAIN" --set 'eval.suites=[shapes_eval, recon]' --set eval.every_n_checkpoints=0)
echo "submitted $RECA"
"${RECACTL[@]}" watch "$RECA"

step "4/5 summary"
"${RECACTL[@]}" list
/usr/bin/python3 scripts/demo_summary.py "$PRETRAIN" "$RECA"
echo
echo "ShapesEval (GenEval's rules over the shapes world) and reconstruction, before (base) and after RecA:"
"${RECACTL[@]}" eval "$RECA" --wait

step "5/5 stopping the cluster"
"${RECACTL[@]}" local down --dir "$DIR"
trap - EXIT
