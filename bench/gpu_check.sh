#!/usr/bin/env bash
# One-shot GPU checks and benchmarks on a device machine (one H100/H200, pip
# torch with CUDA; see bench/RESULTS.md "GPU"). Builds reca/ + reca-train with
# -DRECA_WITH_CUDA=ON against that pip LibTorch, then:
#  1. C++ vs Python (the same pip torch) training speed on recorded batches,
#     tiny and medium, fp32 and bf16 autocast, side by side;
#  2. correctness on the GPU: bit-exact resume with --deterministic (6
#     straight vs 3 + stop + 3), NCCL as a 1-rank process group (one GPU
#     cannot hold two NCCL ranks, and the pip LibTorch has no Gloo headers);
#  3. checkpoint commit vs fsync'd sequential write on the machine's disk, and
#     the data pipeline from tar shards.
#
#   OUT=/some/dir bench/gpu_check.sh      (the device tool sets $OUT)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-/tmp/reca-gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
STEPS=${STEPS:-30}
BATCH=${BATCH:-64}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
echo "cores: $(nproc)"
start=$SECONDS
if ! cmake -S . -B build-cuda -G Ninja -DRECA_WITH_CUDA=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1; then
  tail -40 "$OUT/cmake.log"; exit 1
fi
grep -E "NCCL|LibTorch" "$OUT/cmake.log"
if ! ninja -C build-cuda reca-train reca-checkpoint-bench reca-data-bench >"$OUT/build.log" 2>&1; then
  grep -E "error|Error" -A3 "$OUT/build.log" | head -80; exit 1
fi
echo "CUDA build: $((SECONDS - start)) s"
T=build-cuda/bin/reca-train
quiet="--samples.count=0 --heldout=false --progress=false"

echo "== 1. training speed, C++ vs Python, batch $BATCH x 4 batches/step (recon x2 + i2t x2)"
echo "| preset | precision | C++ samples/s | Python samples/s | C++/Python | C++ ms/step | C++ model TFLOP/s |"
echo "|---|---|---|---|---|---|---|"
for preset in tiny medium; do
  init="$OUT/$preset.init.safetensors" batches="$OUT/$preset.batches.safetensors"
  $T --model.preset=$preset --save_init="$init" >/dev/null
  $T --model.preset=$preset --batch_per_rank="$BATCH" --dump_batches="$batches" --dump_steps=2 >/dev/null
  for prec in fp32 bf16; do
    flag=""; [ $prec = bf16 ] && flag="--bf16"
    log="$OUT/$preset.$prec.log"
    rm -rf "$OUT/run"
    # shellcheck disable=SC2086
    $T --model.init="$init" --batches_file="$batches" --batch_per_rank="$BATCH" --steps="$STEPS" \
      --device=cuda $flag $quiet --log_every="$STEPS" --out="$OUT/run" >"$log" 2>&1 || { tail -5 "$log"; continue; }
    read -r sps ms gflops < <(awk '/^throughput:/ {print $2, $6, $13}' "$log")
    # shellcheck disable=SC2086
    py=$(python3 bench/python/train_bench.py --init="$init" --batches="$batches" --steps="$STEPS" \
      --threads=4 --device=cuda $flag 2>&1) || { echo "python peer failed: $(tail -3 <<<"$py")"; py=""; }
    psps=$(awk '/python_samples_per_second/ {print $2}' <<<"$py")
    ratio=$(python3 -c "print(f'{$sps / $psps:.2f}x')" 2>/dev/null || echo "-")
    echo "| $preset | $prec | $sps | ${psps:--} | $ratio | $ms | $(python3 -c "print(f'{$gflops / 1e3:.2f}')") |"
  done
done

echo "== 2a. bit-exact resume on the GPU (tiny, 6 steps straight vs 3 + stop + 3, --deterministic)"
common="--model.preset=tiny --steps=6 --batch_per_rank=16 --device=cuda --deterministic $quiet --log_every=1"
rm -rf "$OUT/straight" "$OUT/split"
# shellcheck disable=SC2086
$T $common --out="$OUT/straight" >"$OUT/straight.log" 2>&1 || tail -5 "$OUT/straight.log"
# shellcheck disable=SC2086
$T $common --out="$OUT/split" --stop_after=3 >"$OUT/split1.log" 2>&1 || tail -5 "$OUT/split1.log"
# shellcheck disable=SC2086
$T $common --out="$OUT/split" >"$OUT/split2.log" 2>&1 || tail -5 "$OUT/split2.log"
if cmp -s "$OUT/straight/model.safetensors" "$OUT/split/model.safetensors"; then
  echo "GPU resume: bit-exact"
else
  echo "GPU resume: NOT bit-exact"
  grep -h "reca-train: [A-Z]" "$OUT"/straight.log "$OUT"/split*.log
  rm -rf "$OUT/straight2"
  # shellcheck disable=SC2086
  $T $common --out="$OUT/straight2" >/dev/null 2>&1
  cmp -s "$OUT/straight/model.safetensors" "$OUT/straight2/model.safetensors" &&
    echo "  ...yet two straight runs are identical" || echo "  two straight runs differ too: GPU nondeterminism, not resume"
fi

echo "== 2b. NCCL as a 1-rank process group (the pip LibTorch has no Gloo headers; one GPU cannot hold two NCCL ranks)"
rm -rf "$OUT/nccl1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
$T $common --steps=5 --dist_backend=nccl --world_size=1 --master_port="$port" --out="$OUT/nccl1" \
  >"$OUT/nccl1.log" 2>&1; echo "nccl 1 rank rc=$?"
grep -E "backend=|^throughput|reca-train: [A-Z]" "$OUT/nccl1.log"
echo "== 2c. throughput with --deterministic (medium, bf16)"
rm -rf "$OUT/run"
# shellcheck disable=SC2086
$T --model.init="$OUT/medium.init.safetensors" --batches_file="$OUT/medium.batches.safetensors" \
  --batch_per_rank="$BATCH" --steps="$STEPS" --device=cuda --bf16 --deterministic $quiet \
  --log_every="$STEPS" --out="$OUT/run" 2>&1 | grep -E "^throughput|reca-train: [A-Z]"

echo "== 3. checkpoint commit vs fsync'd sequential write; data pipeline from tar shards"
build-cuda/bin/reca-checkpoint-bench --dir="$OUT/ckpt" --mb=512 --rounds=5
for lt in 1 8; do
  build-cuda/bin/reca-data-bench --dir="$OUT/shards" --shards=8 --per_shard=500 --px=256 --image_size=64 \
    --batch=64 --steps=30 --loader_threads=$lt | grep pipeline_samples
done
rm -rf "$OUT/shards" "$OUT/run" "$OUT"/*.safetensors "$OUT/straight" "$OUT/straight2" "$OUT/split" "$OUT/nccl1"
echo "total: $((SECONDS - start)) s"
