#!/usr/bin/env bash
# `make demo`: the main job on the local default, until the service exists.
# A tiny mar (Harmon-like) model is pre-trained on shapes-world images with
# *sparse* captions (text-to-image + captioning), then post-trained with RecA
# (reconstruction from its own understanding embedding + captioning, 2 + 2
# batches per step; examples/pretrain.yaml and examples/reca.yaml)
# on images alone. Losses print as they fall; PNG grids land in runs/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRAIN=${TRAIN:-build/bin/reca-train}
OUT=${OUT:-runs/demo}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-800}
RECA_STEPS=${RECA_STEPS:-400}
THREADS=${THREADS:-1}  # LibTorch intra-op threads; GEMMs use all cores through OpenBLAS

rm -rf "$OUT/pretrain" "$OUT/reca"  # a fresh demo (reca-train itself resumes where a run stopped)
echo "== 1/2 pre-training: text-to-image + captioning on sparse-caption shapes (${PRETRAIN_STEPS} steps)"
"$TRAIN" --spec=examples/pretrain.yaml --steps="$PRETRAIN_STEPS" --threads="$THREADS" \
  --progress=false --out="$OUT/pretrain"
echo
echo "== 2/2 RecA: reconstruction from the understanding embedding + captioning, no captions needed for recon (${RECA_STEPS} steps)"
"$TRAIN" --spec=examples/reca.yaml --model.init="$OUT/pretrain/model.safetensors" --steps="$RECA_STEPS" \
  --threads="$THREADS" --progress=false --out="$OUT/reca"
echo
echo "Done. Compare before/after RecA:"
echo "  reconstructions: $OUT/pretrain/recon_final.png  vs  $OUT/reca/recon_final.png"
echo "  text-to-image:   $OUT/pretrain/t2i_final.png    vs  $OUT/reca/t2i_final.png"
echo "  weights:         $OUT/reca/model.safetensors (safetensors; loads in Python)"
echo "  checkpoints:     $OUT/reca/checkpoints/ (resume: rerun the same command)"
echo "  metrics:         $OUT/reca/metrics.jsonl (one JSON line per step)"
