#!/usr/bin/env bash
# The control plane's benchmarks (bench/RESULTS.md, issue 4), each against a
# peer measured side by side in the same process (bench/cc/coordinator_bench.cc):
#  1. SubmitJob latency through gRPC + the coordinator over RocksDB (one synced
#     batch per submit) vs raw synced RocksDB writes of the same batch size,
#     interleaved in rounds on the same disk; plus the split of the RPC into
#     gRPC, handler CPU and synced write, and a GetJob round trip (the gRPC floor);
#  2. heartbeat handling of the real reca-coordinator for WORKERS simulated
#     workers at 1 Hz: its CPU (cores) vs the load generator's own.
# Targets: SubmitJob p99 <= 10 ms and <= 2x the raw write's p99; heartbeats
# <= 0.25 cores. Exits non-zero if one is missed (after printing the table).
#
#   bench/run_service_bench.sh            (after `make cmake-build`; builds nothing)
#   SUBMITS=300 ROUNDS=5 WORKERS=1000 JOBS=100 WINDOW_S=15 bench/run_service_bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-build/bin}
OUT=${OUT:-build/service_bench}
SUBMITS=${SUBMITS:-300}
ROUNDS=${ROUNDS:-5}
WORKERS=${WORKERS:-1000}
JOBS=${JOBS:-100}
WINDOW_S=${WINDOW_S:-15}
mkdir -p "$OUT"
for b in coordinator_bench reca-coordinator; do
  [[ -x "$BIN/$b" ]] || { echo "no $BIN/$b: run \`make cmake-build\` (or cmake --build build --target coordinator_bench)" >&2; exit 2; }
done
py=/usr/bin/python3
field() { awk -v k="$1" '$1 == k {print $2}' "$OUT/bench.txt"; }
calc() { $py -c "print(f'{$1:.${2:-2}f}')"; }
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -m), $(date -u +'%F %T UTC')"

# The scratch databases live under $OUT: the disk being measured (not a tmpfs).
# The coordinators' logs (one line per job transition) go to bench.log.
if ! "$BIN/coordinator_bench" --dir="$OUT/work" --coordinator_bin="$BIN/reca-coordinator" \
    --submits="$SUBMITS" --rounds="$ROUNDS" --workers="$WORKERS" --jobs="$JOBS" --window_s="$WINDOW_S" \
    2>"$OUT/bench.log" | tee "$OUT/bench.txt"; then
  echo "coordinator_bench failed; the end of $OUT/bench.log:" >&2
  tail -n 20 "$OUT/bench.log" >&2
  exit 1
fi

sub_p50=$(field submit_p50_ms); sub_p99=$(field submit_p99_ms)
raw_p50=$(field raw_p50_ms); raw_p99=$(field raw_p99_ms)
r99=$(field submit_ratio_p99); r50=$(field submit_ratio_p50)
cores=$(field coordinator_cores); client=$(field client_cores)
verdict() { if [[ $($py -c "print(int($1))") == 1 ]]; then echo "**met**"; else echo "**MISSED**"; fi; }
v_p99=$(verdict "$sub_p99 <= 10"); v_r99=$(verdict "$r99 <= 2"); v_hb=$(verdict "$cores <= 0.25")

echo
echo "| measurement | value | peer (same run) | ratio | target |"
echo "|---|---|---|---|---|"
echo "| SubmitJob p99 (gRPC loopback, synced batch of $(field submit_batch_bytes) B) | $sub_p99 ms | raw synced RocksDB write ($(field raw_batch_bytes) B) p99 $raw_p99 ms | $(calc "$r99")x | <= 10 ms: $v_p99; <= 2x: $v_r99 |"
echo "| SubmitJob p50 | $sub_p50 ms | raw write p50 $raw_p50 ms | $(calc "$r50")x | |"
echo "| SubmitJob mean | $(field submit_mean_ms) ms | raw write mean $(field raw_mean_ms) ms | $(calc "$(field submit_mean_ms) / $(field raw_mean_ms)")x | |"
echo "| - of which the synced write (in the handler), p50 / p99 | $(field submit_write_p50_ms) / $(field submit_write_p99_ms) ms | | | |"
echo "| - handler minus write (validation, idempotency read, scheduling, log), p50 / p99 | $(field submit_handler_other_p50_ms) / $(field submit_handler_other_p99_ms) ms | | | |"
echo "| - RPC minus handler (gRPC, both ends), p50 / p99 | $(field submit_grpc_p50_ms) / $(field submit_grpc_p99_ms) ms | GetJob round trip (no disk) $(field getjob_p50_ms) / $(field getjob_p99_ms) ms | | |"
echo "| heartbeats: $(field hb_workers) workers x 1 Hz, $(field hb_channels) connections, $(calc "$(field hb_with_rank_fraction) * 100" 0)% with a running rank + $(field hb_jobs) jobs' metrics | coordinator $cores cores ($(field coordinator_us_per_hb) us CPU/heartbeat) | load generator $client cores ($(field client_us_per_hb) us/heartbeat) | $(calc "$cores / $client")x | <= 0.25 cores: $v_hb |"
echo "| - the handler alone (in-process, no gRPC) | $(field handler_us_per_hb) us CPU/heartbeat | | | |"
echo "| heartbeat rate achieved, latency p50 / p99 | $(field hb_rate_per_s)/s over $(field hb_window_s) s, $(field hb_p50_ms) / $(field hb_p99_ms) ms | | | |"
echo "| coordinator idle (1000 leases, no traffic) | $(field coordinator_idle_cores) cores | | | |"

missed=0
for v in "$v_p99" "$v_r99" "$v_hb"; do [[ $v == "**met**" ]] || missed=1; done
if (( missed )); then
  echo
  echo "A target was missed (see the table)." >&2
  exit 1
fi
