#!/usr/bin/env bash
# The ShapesEdit before/after experiment (issue 11, bench/RESULTS.md): pre-train
# the tiny flow model (BAGEL-like) on the shapes world with text-to-image,
# captioning and exact edit pairs phrased *sparsely* ("make the circle blue ."),
# then post-train it three ways from the same base, with the understanding
# side frozen as BAGEL's RecA does:
#   reca-recon  RecA alone: reconstruction x2 (the paper's recipe)
#   reca-mix    RecA + the edit pairs: reconstruction x2 + edit x1
#   ctrl-edit   the control: edit x1 alone, same steps and learning rate
# and score the base and each with ShapesEdit (the fixed pairs, prompted with
# their *dense* instructions, judged per category by the detector).
#
#   bench/run_edit_experiment.sh                              # defaults below
#   BASE_STEPS=800 POST_STEPS=200 PAIRS=5 bench/run_edit_experiment.sh   # quick
#
# Re-running reuses what exists (finished runs, scored checkpoints).
# Output: a Markdown table of every run's scores, also in OUT/results.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-build/bin}
OUT=${OUT:-runs/edit}
BASE_STEPS=${BASE_STEPS:-2500}
POST_STEPS=${POST_STEPS:-600}
PAIRS=${PAIRS:-25}           # ShapesEdit pairs per category
EVAL_FLAGS=${EVAL_FLAGS:---diffusion_steps=25}
EVAL_THREADS=${EVAL_THREADS:-1}

step() { printf '\n== %s\n' "$*"; }
train() {  # NAME SPEC FLAGS...
  local name=$1 spec=$2
  shift 2
  if [ -s "$OUT/$name/model.safetensors" ]; then echo "(trained already: $OUT/$name)"; return; fi
  "$BIN/reca-train" --spec="$spec" --out="$OUT/$name" --eval.suites='[]' --progress=false "$@"
}
score() {  # NAME
  local dir="$OUT/$1/shapes_edit"
  if [ -s "$dir/scores.json" ]; then echo "(scored already: $dir)"; return; fi
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$EVAL_THREADS OPENBLAS_NUM_THREADS=$EVAL_THREADS \
    "$BIN/reca-eval" --checkpoint="$OUT/$1/model.safetensors" --out="$dir" --suites=shapes_edit \
    --edit_pairs_per_category="$PAIRS" --threads="$EVAL_THREADS" $EVAL_FLAGS
}

step "base: text-to-image + captioning + sparse edit pairs, $BASE_STEPS steps"
train base examples/flow_edit_pretrain.yaml --steps="$BASE_STEPS"
init="--model.init=$OUT/base/model.safetensors"
step "reca-recon: RecA, reconstruction x2, $POST_STEPS steps"
train reca-recon examples/flow_edit_reca.yaml "$init" --steps="$POST_STEPS" \
  --data.sources='[{"type": "shapes", "task": "recon", "repeat": 2}]'
step "reca-mix: RecA + edit pairs, $POST_STEPS steps"
train reca-mix examples/flow_edit_reca.yaml "$init" --steps="$POST_STEPS"
step "ctrl-edit: edit pairs alone, $POST_STEPS steps"
train ctrl-edit examples/flow_edit_reca.yaml "$init" --steps="$POST_STEPS" \
  --data.sources='[{"type": "shapes", "task": "edit"}]'
for run in base reca-recon reca-mix ctrl-edit; do
  step "ShapesEdit: $run"
  score "$run"
done

python3 - "$OUT" <<'PY' | tee "$OUT/results.md"
import json, os, sys
out = sys.argv[1]
cats = ["add", "remove", "replace", "adjust", "move", "background", "compose", "extract"]
print("| run | overall | " + " | ".join(cats) + " | carried out | preserved | masked PSNR |")
print("|---" * (len(cats) + 5) + "|")
for run in ["base", "reca-recon", "reca-mix", "ctrl-edit"]:
    e = json.load(open(os.path.join(out, run, "shapes_edit", "scores.json")))["suites"]["shapes_edit"]
    cells = [f"{e['overall']:.3f}"] + [f"{e['categories'].get(c, 0):.2f}" for c in cats]
    cells += [f"{e['carried_out']:.3f}", f"{e['preserved']:.3f}", f"{e['masked_psnr']:.2f} dB"]
    print(f"| {run} | " + " | ".join(cells) + " |")
PY
