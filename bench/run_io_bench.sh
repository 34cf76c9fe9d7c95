#!/usr/bin/env bash
# The trainer's I/O and scaling benchmarks (bench/RESULTS.md, issue 3):
#  1. data pipeline throughput from WebDataset tar shards (JPEG decode + resize
#     + batches, one loader thread) vs what the training step consumes;
#  2. 2 data-parallel ranks vs 1 rank, samples/s and the all-reduce share;
#  3. checkpoint commit speed vs fsync'd sequential disk bandwidth.
# Every comparison runs side by side in this script on the same machine.
#
#   bench/run_io_bench.sh            (after `make cmake-build`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-build/bin}
OUT=${OUT:-build/io_bench}
STEPS=${STEPS:-30}
mkdir -p "$OUT"
py=/usr/bin/python3
port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
field() { awk -v k="$1" '$1 == k {print $2}'; }
# From a reca-train log: samples/s, ms/step, data wait %, all-reduce %.
throughput() { awk '/^throughput:/ {gsub(/%,?/, "", $10); gsub(/%,?/, "", $12); print $2, $6, $10, $12}' "$1"; }
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%F)"

echo "== 1. data pipeline from tar shards"
"$BIN/reca-data-bench" --dir="$OUT/shards" --shards=8 --per_shard=500 --px=256 --image_size=32 \
  --batch=64 --steps=30 | tee "$OUT/data.txt"
decode=$(field decode_images_per_s <"$OUT/data.txt")
pipeline=$(field pipeline_samples_per_s <"$OUT/data.txt")
rm -rf "$OUT/train_tar"
"$BIN/reca-train" --model.preset=tiny --steps="$STEPS" --batch_per_rank=16 --log_every="$STEPS" \
  --samples.count=0 --heldout=false --progress=false --out="$OUT/train_tar" \
  --data.sources="[{\"type\":\"webdataset\",\"task\":\"recon\",\"repeat\":2,\"shards\":\"$OUT/shards/shard-{0000..0007}.tar\"},
                   {\"type\":\"webdataset\",\"task\":\"i2t\",\"repeat\":2,\"shards\":\"$OUT/shards/shard-{0000..0007}.tar\"}]" \
  >"$OUT/train_tar.log"
read -r train_sps train_ms train_wait _ < <(throughput "$OUT/train_tar.log")

echo "== 2. data parallel: 1 rank vs 2 ranks (tiny, batch 16 per rank)"
rm -rf "$OUT/dp1" "$OUT/dp2"
common="--model.preset=tiny --steps=$STEPS --batch_per_rank=16 --log_every=$STEPS --samples.count=0
  --heldout=false --progress=false"
# shellcheck disable=SC2086
"$BIN/reca-train" $common --out="$OUT/dp1" >"$OUT/dp1.log"
p=$(port)
# Two processes on 2 cores: each gets one OpenBLAS thread.
# shellcheck disable=SC2086
OPENBLAS_NUM_THREADS=1 "$BIN/reca-train" $common --out="$OUT/dp2" --rank=1 --world_size=2 \
  --master_port="$p" >"$OUT/dp2.rank1.log" &
# shellcheck disable=SC2086
OPENBLAS_NUM_THREADS=1 "$BIN/reca-train" $common --out="$OUT/dp2" --rank=0 --world_size=2 \
  --master_port="$p" >"$OUT/dp2.log"
wait
read -r dp1_sps dp1_ms _ _ < <(throughput "$OUT/dp1.log")
read -r dp2_sps dp2_ms _ dp2_ar < <(throughput "$OUT/dp2.log")

echo "== 3. checkpoint commit vs fsync'd sequential write"
"$BIN/reca-checkpoint-bench" --dir="$OUT/ckpt" --mb=256 --rounds=7 | tee "$OUT/ckpt.txt"

calc() { $py -c "print(f'{$1:.2f}')"; }
echo
echo "| measurement | value | peer | ratio |"
echo "|---|---|---|---|"
echo "| tar shards -> decoded 32px images (256px JPEG), 1 thread | $decode img/s | training step consumes $train_sps samples/s | $(calc "$decode / $train_sps")x |"
echo "| tar shards -> training batches (decode + tokens + tensors), 1 thread | $pipeline samples/s | $train_sps samples/s | $(calc "$pipeline / $train_sps")x |"
echo "| data wait while training on the shards | $train_wait% of step time | | |"
echo "| 2 ranks x 16 (Gloo, loopback) | $dp2_sps samples/s, $dp2_ms ms/step | 1 rank x 16: $dp1_sps samples/s, $dp1_ms ms/step | $(calc "$dp2_sps / $dp1_sps")x |"
echo "| all-reduce share of the 2-rank step (exposed) | $dp2_ar% | | |"
echo "| checkpoint commit (256 MB, SHA-256 + fsync + rename) | $(field commit_mb_per_s <"$OUT/ckpt.txt") MB/s | fsync'd sequential write $(field disk_fsync_mb_per_s <"$OUT/ckpt.txt") MB/s | $(field ratio <"$OUT/ckpt.txt") |"
