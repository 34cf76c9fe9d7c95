#!/usr/bin/env bash
# `make demo`: the main job on the local default, until the service exists.
# A tiny mar (Harmon-like) model is pre-trained on shapes-world images with
# *sparse* captions (text-to-image + captioning), then post-trained with RecA
# (reconstruction from its own understanding embedding + captioning, 2:2:0)
# on images alone. Losses print as they fall; PNG grids land in runs/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRAIN=${TRAIN:-build/bin/reca-train}
OUT=${OUT:-runs/demo}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-800}
RECA_STEPS=${RECA_STEPS:-400}
THREADS=${THREADS:-1}  # LibTorch intra-op threads; GEMMs use all cores through OpenBLAS

echo "== 1/2 pre-training: text-to-image + captioning on sparse-caption shapes (${PRETRAIN_STEPS} steps)"
"$TRAIN" --mode=pretrain --model=tiny --steps="$PRETRAIN_STEPS" --batch=16 --lr=1e-3 \
  --threads="$THREADS" --log_every=25 --out="$OUT/pretrain"
echo
echo "== 2/2 RecA: reconstruction from the understanding embedding + captioning, no captions needed for recon (${RECA_STEPS} steps)"
"$TRAIN" --mode=reca --init="$OUT/pretrain/model.safetensors" --steps="$RECA_STEPS" --batch=16 \
  --lr=5e-4 --threads="$THREADS" --log_every=25 --out="$OUT/reca"
echo
echo "Done. Compare before/after RecA:"
echo "  reconstructions: $OUT/pretrain/recon_pretrain_final.png  vs  $OUT/reca/recon_reca_final.png"
echo "  text-to-image:   $OUT/pretrain/t2i_pretrain_final.png    vs  $OUT/reca/t2i_reca_final.png"
echo "  weights:         $OUT/reca/model.safetensors (safetensors; loads in Python)"
