#!/bin/sh
# reca-train as separate processes: data-parallel ranks (mar, flow, maskgit, torchscript), bit-exact
# resume in a new process, SIGTERM, kill -9 (of a rank; during checkpoint writes).
#
#   trainer_process_test.sh [RECA_TRAIN [REPO_ROOT]]
#
# Loopback only, ports picked free at run time; every step is bounded in time.
set -eu

train="${1:-reca/reca-train}"
root="${2:-.}"
python=/usr/bin/python3
tmp_parent="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
mkdir -p "$tmp_parent"
tmp="$(mktemp -d "$tmp_parent/trainer_process.XXXXXX")"
pids=""
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits (at most $2 seconds) until file $1 contains $3.
wait_for() {
  i=0
  while ! grep -q "$3" "$1" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le $(($2 * 10)) ] || fail "timed out waiting for '$3' in $1"
    sleep 0.1
  done
}

# recon + t2i: per-sample means, so B x 2 ranks is the same objective as 2B x 1.
common='--steps=6 --batch_per_rank=4 --samples.count=0 --heldout=false --log_every=1
  --progress=false --data.sources=[{"task":"recon"},{"task":"t2i"}] --dist_timeout_s=20'

# two_ranks OUT [FLAGS...]: runs ranks 0 and 1 to completion.
two_ranks() {
  out="$1"; shift
  port="$(free_port)"
  # shellcheck disable=SC2086
  timeout 120 "$train" $common --out="$out" --rank=0 --world_size=2 --master_port="$port" "$@" \
    >"$out.rank0.log" 2>&1 &
  p0=$!
  # shellcheck disable=SC2086
  timeout 120 "$train" $common --out="$out" --rank=1 --world_size=2 --master_port="$port" "$@" \
    >"$out.rank1.log" 2>&1 &
  p1=$!
  pids="$pids $p0 $p1"
  wait "$p0" || { cat "$out.rank0.log"; fail "rank 0 of $out failed"; }
  wait "$p1" || { cat "$out.rank1.log"; fail "rank 1 of $out failed"; }
}

echo "== 2 ranks straight vs 2 ranks stopped at step 3 and resumed by new processes"
two_ranks "$tmp/straight2"
two_ranks "$tmp/split2" --stop_after=3
grep -q "stop_after reached: checkpoint at step 3 committed" "$tmp/split2.rank0.log" ||
  fail "no stop checkpoint"
two_ranks "$tmp/split2"
grep -q "resuming from $tmp/split2/checkpoints/step-00000003 at step 3" "$tmp/split2.rank1.log" ||
  fail "rank 1 did not resume"
cmp "$tmp/straight2/model.safetensors" "$tmp/split2/model.safetensors" ||
  fail "2-rank resume is not bit-exact"
echo "bit-exact: 2-rank final weights identical after stop + resume"

echo "== 1 rank with batch 8 vs 2 ranks with batch 4"
# shellcheck disable=SC2086
timeout 120 "$train" $common --out="$tmp/one8" --batch_per_rank=8 >"$tmp/one8.log" 2>&1 ||
  { cat "$tmp/one8.log"; fail "1-rank run failed"; }
# shellcheck disable=SC2086
timeout 120 "$train" $common --out="$tmp/seed1" --seed=1 >"$tmp/seed1.log" 2>&1 ||
  { cat "$tmp/seed1.log"; fail "seed-1 run failed"; }
# Same samples, same noise (keyed by each sample's global position), same
# mean: the only difference is float32 summation order (per-rank means then
# the all-reduce, vs one mean over 8). After 6 AdamW steps the L2 distance
# measured 1.4e-6 of a different seed's (the control); we allow 1e-4.
"$python" "$root/tests/trainer/compare_weights.py" "$tmp/straight2/model.safetensors" \
  "$tmp/one8/model.safetensors" "$tmp/seed1/model.safetensors" --root="$root" --tol=1e-4

echo "== flow family (understanding side frozen): 2 Gloo ranks, bit-exact resume, 2 x 4 = 1 x 8"
two_ranks "$tmp/flow2" --model.family=flow
grep -q "frozen: vit, connector, und (" "$tmp/flow2.rank0.log" || { cat "$tmp/flow2.rank0.log"; fail "flow: default frozen set not applied"; }
# The copy-collapse detector measured its level before step 1 and checked at the end.
grep -q "collapse detector: held-out text-to-image level" "$tmp/flow2.rank0.log" || fail "flow: no collapse detector"
grep '"step":6,' "$tmp/flow2/metrics.jsonl" | grep -q '"collapse_alarm":0' || fail "flow: no collapse check in metrics.jsonl"
two_ranks "$tmp/flowsplit" --model.family=flow --stop_after=3
two_ranks "$tmp/flowsplit" --model.family=flow
cmp "$tmp/flow2/model.safetensors" "$tmp/flowsplit/model.safetensors" ||
  fail "flow: 2-rank resume is not bit-exact"
grep -q "collapse detector: held-out text-to-image level [0-9.]* (from the checkpoint)" "$tmp/flowsplit.rank0.log" ||
  fail "flow: the resumed job re-measured its collapse level"
# shellcheck disable=SC2086
timeout 120 "$train" $common --model.family=flow --out="$tmp/flow8" --batch_per_rank=8 >"$tmp/flow8.log" 2>&1 ||
  { cat "$tmp/flow8.log"; fail "flow 1-rank run failed"; }
# shellcheck disable=SC2086
timeout 120 "$train" $common --model.family=flow --out="$tmp/flowseed1" --seed=1 >"$tmp/flowseed1.log" 2>&1 ||
  { cat "$tmp/flowseed1.log"; fail "flow seed-1 run failed"; }
"$python" "$root/tests/trainer/compare_weights.py" "$tmp/flow2/model.safetensors" \
  "$tmp/flow8/model.safetensors" "$tmp/flowseed1/model.safetensors" --root="$root" --tol=1e-4
echo "flow: loss $(grep -o 'step     1/6 | loss [0-9.]*' "$tmp/flow2.rank0.log" | grep -o '[0-9.]*$') -> $(grep -o 'step     6/6 | loss [0-9.]*' "$tmp/flow2.rank0.log" | grep -o '[0-9.]*$')"

echo "== maskgit family (CLIP and codebook frozen): 2 Gloo ranks, bit-exact resume"
two_ranks "$tmp/mg2" --model.family=maskgit
grep -q "frozen: clip, vq (" "$tmp/mg2.rank0.log" || { cat "$tmp/mg2.rank0.log"; fail "maskgit: default frozen set not applied"; }
two_ranks "$tmp/mgsplit" --model.family=maskgit --stop_after=3
two_ranks "$tmp/mgsplit" --model.family=maskgit
cmp "$tmp/mg2/model.safetensors" "$tmp/mgsplit/model.safetensors" ||
  fail "maskgit: 2-rank resume is not bit-exact"
echo "maskgit: loss $(grep -o 'step     1/6 | loss [0-9.]*' "$tmp/mg2.rank0.log" | grep -o '[0-9.]*$') -> $(grep -o 'step     6/6 | loss [0-9.]*' "$tmp/mg2.rank0.log" | grep -o '[0-9.]*$'), resume bit-exact"

echo "== torchscript family (tools/export_torchscript.py): loss falls, 2 ranks, bit-exact resume, contract errors"
vocab="$("$train" --print_vocab_size)"
"$python" "$root/tools/export_torchscript.py" --out="$tmp/umm.pt" --vocab_size="$vocab" >"$tmp/export.log" 2>&1 ||
  { cat "$tmp/export.log"; fail "tools/export_torchscript.py failed"; }
ts="--model.family=torchscript --model.module=$tmp/umm.pt"
# shellcheck disable=SC2086
timeout 120 "$train" $common $ts --steps=30 --log_every=29 --out="$tmp/ts1" >"$tmp/ts1.log" 2>&1 ||
  { cat "$tmp/ts1.log"; fail "torchscript 1-rank run failed"; }
grep -q "frozen: as the model says (342576 of 348816 parameters train)" "$tmp/ts1.log" ||
  { grep frozen "$tmp/ts1.log"; fail "torchscript: the module's requires_grad was not kept"; }
first=$(grep -o 'step     1/30 | loss [0-9.]*' "$tmp/ts1.log" | grep -o '[0-9.]*$')
last=$(grep -o 'step    30/30 | loss [0-9.]*' "$tmp/ts1.log" | grep -o '[0-9.]*$')
"$python" -c "import sys; sys.exit(0 if $last < 0.85 * $first else 1)" ||
  fail "torchscript: loss did not fall ($first -> $last)"
echo "torchscript: loss $first -> $last over 30 steps"
# shellcheck disable=SC2086
two_ranks "$tmp/ts2" $ts
# shellcheck disable=SC2086
two_ranks "$tmp/tssplit" $ts --stop_after=3
# shellcheck disable=SC2086
two_ranks "$tmp/tssplit" $ts
cmp "$tmp/ts2/model.safetensors" "$tmp/tssplit/model.safetensors" ||
  fail "torchscript: 2-rank resume is not bit-exact"
echo "torchscript: 2-rank final weights identical after stop + resume"
"$python" "$root/tests/trainer/make_bad_torchscript.py" "$tmp" "$vocab" "$root" >"$tmp/bad_export.log" 2>&1 ||
  { cat "$tmp/bad_export.log"; fail "make_bad_torchscript.py failed"; }
for bad in "no_i2t.pt:lacks method 'i2t_loss'" \
           "flat_visual.pt:method 'understanding_embed' returned \[2, 1536\]" \
           "not_a_module.pt:spec.model.module: .* is not a TorchScript module" \
           "missing.pt:spec.model.module: .*cannot read"; do
  file="${bad%%:*}" want="${bad#*:}"
  rc=0
  timeout 60 "$train" --model.family=torchscript --model.module="$tmp/$file" --steps=1 \
    --out="$tmp/bad" >"$tmp/bad.log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] && grep -q "INVALID_ARGUMENT: .*$want" "$tmp/bad.log" ||
    { cat "$tmp/bad.log"; fail "$file: expected an INVALID_ARGUMENT naming '$want'"; }
  echo "$file: $(tail -1 "$tmp/bad.log" | cut -c1-160)"
done

echo "== a rank killed with SIGKILL fails the other within a bounded time"
port="$(free_port)"
# Rank 0 under timeout (a hang shows as 124); rank 1 bare, so that $! is its pid.
# shellcheck disable=SC2086
timeout 120 "$train" $common --steps=100000 --out="$tmp/die" --rank=0 --world_size=2 \
  --master_port="$port" >"$tmp/die.rank0.log" 2>&1 &
die0=$!
# shellcheck disable=SC2086
"$train" $common --steps=100000 --out="$tmp/die" --rank=1 --world_size=2 \
  --master_port="$port" >"$tmp/die.rank1.log" 2>&1 &
die1=$!
pids="$pids $die0 $die1"
wait_for "$tmp/die.rank0.log" 60 "step     2/"
start=$(date +%s)
kill -9 "$die1"
rc=0
wait "$die0" || rc=$?
elapsed=$(( $(date +%s) - start ))
[ "$rc" -ne 0 ] || fail "rank 0 exited 0 after its peer died"
[ "$rc" -ne 124 ] || fail "rank 0 hung until the test's timeout"
[ "$elapsed" -le 25 ] || fail "rank 0 took ${elapsed}s to notice its dead peer"
grep -q "reca-train: .*dist: " "$tmp/die.rank0.log" || { cat "$tmp/die.rank0.log"; fail "no dist error"; }
echo "rank 0 failed ${elapsed}s after rank 1 was killed: $(grep 'reca-train: ' "$tmp/die.rank0.log" | head -c 200)"

echo "== SIGTERM commits a checkpoint and exits 0"
# shellcheck disable=SC2086
timeout 120 "$train" $common --steps=100000 --out="$tmp/term" >"$tmp/term.log" 2>&1 &
term=$!
pids="$pids $term"
wait_for "$tmp/term.log" 60 "step     2/"
kill -TERM "$term"
wait "$term" || { cat "$tmp/term.log"; fail "SIGTERM exit status $?"; }
grep -q "stop requested (SIGTERM): checkpoint at step" "$tmp/term.log" || fail "no SIGTERM checkpoint"
ls "$tmp/term/checkpoints" | grep -q '^step-' || fail "no committed checkpoint after SIGTERM"
echo "SIGTERM: $(grep 'stop requested' "$tmp/term.log")"

echo "== kill -9 at random moments while checkpointing every step"
# Each run is killed a moment after its own first commit (not after a fixed
# time: a loaded machine may take longer than that to start), so each kill
# lands somewhere in the step/commit cycle and every run leaves checkpoints.
for delay in 0.05 0.3 0.55 0.8; do
  commits=$(grep -c ' committed (' "$tmp/crash.log" 2>/dev/null || true)
  # shellcheck disable=SC2086
  "$train" $common --steps=60 --checkpoint.every=1 --checkpoint.keep=2 \
    --out="$tmp/crash" >>"$tmp/crash.log" 2>&1 &
  victim=$!
  pids="$pids $victim"
  for _ in $(seq 600); do  # up to 60 s
    [ "$(grep -c ' committed (' "$tmp/crash.log" || true)" -gt "${commits:-0}" ] && break
    kill -0 "$victim" 2>/dev/null || break
    sleep 0.1
  done
  sleep "$delay"
  kill -9 "$victim" 2>/dev/null || true
  wait "$victim" 2>/dev/null || true
done
# shellcheck disable=SC2086
timeout 120 "$train" $common --steps=60 --checkpoint.every=1 --checkpoint.keep=2 \
  --out="$tmp/crash" >"$tmp/crash.final.log" 2>&1 || { cat "$tmp/crash.final.log"; fail "resume after kill -9 failed"; }
grep -q "resuming from" "$tmp/crash.final.log" || fail "the last run did not resume"
echo "after 4 kills: $(grep 'resuming from' "$tmp/crash.final.log")"

echo "== the service's epoch is in each manifest; an unusable recorded checkpoint exits 3"
# shellcheck disable=SC2086
timeout 120 "$train" $common --steps=2 --checkpoint.every=1 --epoch=7 --out="$tmp/fence" \
  >"$tmp/fence.log" 2>&1 || { cat "$tmp/fence.log"; fail "the fenced run failed"; }
ck="$tmp/fence/checkpoints/step-00000001"
grep -q '"epoch": 7' "$ck/MANIFEST.json" || { cat "$ck/MANIFEST.json"; fail "no epoch in the manifest"; }
sha=$(sha256sum "$ck/MANIFEST.json" | cut -d' ' -f1)
# resume_unusable WHAT: a run told to resume from $ck must exit 3 (not the job's fault).
resume_unusable() {
  rc=0
  # shellcheck disable=SC2086
  timeout 120 "$train" $common --steps=2 --out="$tmp/fence" --resume_from="$ck" \
    --resume_manifest_sha256="$sha" >"$tmp/unusable.log" 2>&1 || rc=$?
  [ "$rc" -eq 3 ] || { cat "$tmp/unusable.log"; fail "$1: exit status $rc, not 3"; }
  grep -q "reca-train: DATA_LOSS: --resume_from: " "$tmp/unusable.log" || fail "$1: no DATA_LOSS line"
  echo "$1: exit 3: $(grep 'reca-train: ' "$tmp/unusable.log" | head -c 160)"
}
"$python" - "$ck/model.safetensors" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:  # one flipped byte: the manifest's SHA-256 no longer matches
    f.seek(-1, 2); b = f.read(1); f.seek(-1, 2); f.write(bytes([b[0] ^ 1]))
PY
resume_unusable "a damaged file"
rm -rf "$ck"
resume_unusable "a missing checkpoint"
echo "PASS"
