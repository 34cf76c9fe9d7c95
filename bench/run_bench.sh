#!/usr/bin/env bash
# Training-speed benchmark: reca-train (C++) against the same model in Python
# PyTorch (bench/python), side by side in one script, on the same initial
# weights, recorded batches and thread count; plus the machine's fp32 GEMM rate
# measured here, for MFU. Rounds alternate C++ / Python so that both see the
# same machine noise. Reported: each side's best round, and the median of the
# rounds' C++/Python ratios (each pair runs back to back, so a noisy
# neighbour skews that median least).
#
#   bench/run_bench.sh                 # mar, flow and maskgit; tiny and medium
#   FAMILIES=flow PRESETS=tiny ROUNDS=3 THREADS=1 bench/run_bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRAIN=${TRAIN:-build/bin/reca-train}
PY=/usr/bin/python3
THREADS=${THREADS:-1}  # torch intra-op threads; GEMMs use all cores through OpenBLAS
ROUNDS=${ROUNDS:-3}
PRESETS=${PRESETS:-tiny medium}
FAMILIES=${FAMILIES:-mar flow maskgit}
OUT=${OUT:-build/bench}
mkdir -p "$OUT"

declare -A BATCH=([tiny]=16 [medium]=8)
declare -A STEPS=([tiny]=25 [medium]=6)
declare -A PER_STEP=([mar]=4 [flow]=2 [maskgit]=4)  # batches per step of the family's default sources

gemm=$($PY bench/python/gemm_rate.py --threads "$THREADS" | awk '/gemm_flops_per_second/ {print $2}')
calc() { $PY -c "print($1)"; }
printf "machine: %s, %s cores, torch threads %s (OpenBLAS: all cores); fp32 GEMM (1024^3 mm) %.1f GFLOP/s\n" \
  "$(uname -n)" "$(nproc)" "$THREADS" "$(calc "$gemm / 1e9")"

summary="$OUT/summary.md"
{
  echo "| family | preset | batch x batches/step | C++ samples/s | Python samples/s | C++/Python (bests) | C++/Python (median of rounds) | C++ model GFLOP/s | MFU C++ | MFU Python |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$summary"

for family in $FAMILIES; do
for preset in $PRESETS; do
  b=${BATCH[$preset]}
  n=${STEPS[$preset]}
  tag="$family.$preset"
  init="$OUT/$tag.init.safetensors"
  batches="$OUT/$tag.batches.safetensors"
  # The family's RecA default: sources (mar: reconstruction x2 + captioning
  # x2 per step; flow: reconstruction x2) and frozen modules.
  "$TRAIN" --model.family="$family" --model.preset="$preset" --save_init="$init" >/dev/null
  "$TRAIN" --model.family="$family" --model.preset="$preset" --batch_per_rank="$b" \
    --dump_batches="$batches" --dump_steps=2 >/dev/null
  per_step=${PER_STEP[$family]}
  best_cpp=0 best_py=0 cpp_gflops=0 cpp_ms=0 py_ms=0 ratios=""
  for round in $(seq "$ROUNDS"); do
    log="$OUT/$tag.cpp.$round.log"
    rm -rf "$OUT/$tag.run"
    "$TRAIN" --model.family="$family" --model.init="$init" --batches_file="$batches" --batch_per_rank="$b" \
      --steps="$n" --threads="$THREADS" --samples.count=0 --heldout=false --progress=false --log_every="$n" \
      --out="$OUT/$tag.run" >"$log"
    # throughput: S samples/s (1 rank), M ms/step, data wait ..., all-reduce ..., G model GFLOP/s ...
    read -r sps ms gflops < <(awk '/^throughput:/ {print $2, $6, $13}' "$log")
    if [[ $(calc "$sps > $best_cpp") == True ]]; then best_cpp=$sps cpp_ms=$ms cpp_gflops=$gflops; fi
    pyout=$($PY bench/python/train_bench.py --init="$init" --batches="$batches" --steps="$n" --threads="$THREADS")
    psps=$(awk '/python_samples_per_second/ {print $2}' <<<"$pyout")
    pms=$(awk '/python_ms_per_step/ {print $2}' <<<"$pyout")
    if [[ $(calc "$psps > $best_py") == True ]]; then best_py=$psps py_ms=$pms; fi
    ratios+="$(calc "$sps / $psps"),"  # this round's pair, run back to back
    printf '  %-11s round %d: C++ %7.1f samples/s (%s ms/step) | Python %7.1f samples/s (%s ms/step)\n' \
      "$tag" "$round" "$sps" "$ms" "$psps" "$pms"
  done
  # Both sides run the same FLOPs per step; C++ reports them as GFLOP/s.
  flops_per_step=$(calc "$cpp_gflops * 1e9 * $cpp_ms / 1e3")
  printf '| %s | %s | %s x %s | %.1f | %.1f | %.2fx | **%.2fx** | %.1f | %.0f%% | %.0f%% |\n' \
    "$family" "$preset" "$b" "$per_step" "$best_cpp" "$best_py" "$(calc "$best_cpp / $best_py")" \
    "$(calc "__import__('statistics').median([$ratios])")" "$cpp_gflops" \
    "$(calc "100 * $flops_per_step / ($cpp_ms / 1e3) / $gemm")" \
    "$(calc "100 * $flops_per_step / ($py_ms / 1e3) / $gemm")" >> "$summary"
done
done
echo
cat "$summary"
