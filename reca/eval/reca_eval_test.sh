#!/bin/sh
# reca-eval end to end on a freshly trained tiny model (one reca-train step):
# scores.json's structure, the grids, determinism, a .safetensors input, and
# the before/after report (--report_dir) and the exit codes of bad flags (2)
# and bad checkpoints (1), GenEval's rule flags, DPG-Bench from upstream's CSV,
# and the editing benchmarks' judge sidecars.
#
#   reca_eval_test.sh RECA_TRAIN RECA_EVAL
set -eu
train="${1:-build/bin/reca-train}"
eval_bin="${2:-build/bin/reca-eval}"
python=/usr/bin/python3
tmp_parent="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
mkdir -p "$tmp_parent"
tmp="$(mktemp -d "$tmp_parent/reca_eval.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*" >&2; exit 1; }

timeout 60 "$train" --steps=1 --batch_per_rank=4 --samples.count=0 --heldout=false --progress=false \
  --out="$tmp/train" >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "reca-train"; }
ckpt="$tmp/train/checkpoints/step-00000001"
[ -f "$ckpt/model.safetensors" ] || fail "no checkpoint at $ckpt"

small='--prompts_per_tag=2 --images_per_prompt=2 --diffusion_steps=10 --recon_images=4'
# shellcheck disable=SC2086
timeout 60 "$eval_bin" --checkpoint="$ckpt" --out="$tmp/a" $small >"$tmp/a.log" 2>&1 ||
  { cat "$tmp/a.log"; fail "reca-eval on $ckpt"; }
cat "$tmp/a.log"
for f in scores.json shapes_eval.png shapes_eval.jsonl recon.png; do
  [ -s "$tmp/a/$f" ] || fail "reca-eval wrote no $f"
done
"$python" - "$tmp/a/scores.json" "$ckpt" <<'EOF'
import json, math, sys
s = json.load(open(sys.argv[1]))
assert s["checkpoint"] == sys.argv[2], s["checkpoint"]
assert s["step"] == 1, s["step"]
se = s["suites"]["shapes_eval"]
tags = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
assert list(se["tags"]) == tags, se["tags"]
assert se["prompts"] == 12 and se["images"] == 24, se
for v in [se["overall"], *se["tags"].values()]:
    assert 0 <= v <= 1, se
assert abs(se["overall"] - sum(se["tags"].values()) / 6) < 1e-9, se
assert se["seconds"] > 0
st = s["settings"]
assert (st["geneval_threshold"], st["geneval_counting_threshold"], st["geneval_max_objects"],
        st["geneval_max_overlap"], st["geneval_position_threshold"]) == (0.3, 0.9, 16, 1.0, 0.1), st
rc = s["suites"]["recon"]
assert set(rc) == {"psnr", "ssim", "heldout_loss", "images", "seconds"}, rc
assert rc["images"] == 4 and 0 < rc["psnr"] <= 100 and -1 <= rc["ssim"] <= 1, rc
assert math.isfinite(rc["heldout_loss"]) and rc["heldout_loss"] > 0, rc
rows = [json.loads(l) for l in open(sys.argv[1].replace("scores.json", "shapes_eval.jsonl"))]
assert len(rows) == 24 and all("correct" in r and "detections" in r for r in rows)
print("scores.json ok:", json.dumps(s["suites"]))
EOF
for f in shapes_eval.png recon.png; do
  [ "$(head -c 4 "$tmp/a/$f" | tail -c 3)" = "PNG" ] || fail "$f is not a PNG"
done

# Deterministic: the same options give the same images and judgements.
# shellcheck disable=SC2086
"$eval_bin" --checkpoint="$ckpt" --out="$tmp/b" --suites=shapes_eval $small >"$tmp/b.log" 2>&1 ||
  { cat "$tmp/b.log"; fail "second run"; }
cmp -s "$tmp/a/shapes_eval.jsonl" "$tmp/b/shapes_eval.jsonl" || fail "shapes_eval is not deterministic"
"$python" -c "import json,sys; s=json.load(open(sys.argv[1])); assert list(s['suites'])==['shapes_eval'], s" \
  "$tmp/b/scores.json" || fail "--suites=shapes_eval wrote other suites"

# shapes_edit: the fixed edit pairs (1 per category here), judged per category.
# mar has no guidance on the source image (--image_cfg is ignored, said so);
# a flow model trained one step on edit pairs uses it.
timeout 60 "$eval_bin" --checkpoint="$ckpt" --out="$tmp/e" --suites=shapes_edit --edit_pairs_per_category=1 \
  --diffusion_steps=5 >"$tmp/e.log" 2>&1 || { cat "$tmp/e.log"; fail "reca-eval --suites=shapes_edit"; }
grep -q "the mar family has no guidance on the source image; --image_cfg ignored" "$tmp/e.log" ||
  { cat "$tmp/e.log"; fail "shapes_edit on mar: no note that image guidance is ignored"; }
for f in shapes_edit.png shapes_edit.jsonl; do [ -s "$tmp/e/$f" ] || fail "reca-eval wrote no $f"; done
[ "$(wc -l <"$tmp/e/shapes_edit.jsonl")" = 8 ] || fail "shapes_edit.jsonl: want 8 pairs"
"$python" - "$tmp/e/scores.json" <<'PY' || fail "shapes_edit scores"
import json, sys
e = json.load(open(sys.argv[1]))["suites"]["shapes_edit"]
assert e["pairs"] == 8, e
assert sorted(e["categories"]) == sorted(["add", "remove", "replace", "adjust", "move", "background",
                                          "compose", "extract"]), e
assert 0 <= e["overall"] <= 1 and 0 <= e["carried_out"] <= 1 and 0 <= e["preserved"] <= 1, e
PY
timeout 60 "$train" --steps=1 --batch_per_rank=4 --samples.count=2 --samples.diffusion_steps=3 \
  --heldout=false --progress=false --model.family=flow --data.sources='[{"type": "shapes", "task": "edit"}]' \
  --out="$tmp/flow" >"$tmp/flow.log" 2>&1 || { cat "$tmp/flow.log"; fail "reca-train flow edit"; }
grep -q "shapes-edit" "$tmp/flow.log" || { cat "$tmp/flow.log"; fail "no shapes-edit loss in the log"; }
[ -s "$tmp/flow/edit_final.png" ] && grep -q "edit 1 (remove): remove " "$tmp/flow.log" ||
  { cat "$tmp/flow.log"; fail "an edit job wrote no edit grid"; }
for run in f1 f2; do
  timeout 60 "$eval_bin" --checkpoint="$tmp/flow/model.safetensors" --out="$tmp/$run" --suites=shapes_edit \
    --edit_pairs_per_category=1 --diffusion_steps=4 >"$tmp/$run.log" 2>&1 ||
    { cat "$tmp/$run.log"; fail "reca-eval shapes_edit on flow"; }
done
grep -q "guidance 3 text / 2 image" "$tmp/f1.log" || { cat "$tmp/f1.log"; fail "flow: image guidance not used"; }
cmp -s "$tmp/f1/shapes_edit.jsonl" "$tmp/f2/shapes_edit.jsonl" || fail "shapes_edit is not deterministic"

# A bare weights file: no state.json, so step -1.
"$eval_bin" --checkpoint="$tmp/train/model.safetensors" --out="$tmp/c" --suites=recon --recon_images=2 \
  --diffusion_steps=5 >"$tmp/c.log" 2>&1 || { cat "$tmp/c.log"; fail "reca-eval on a .safetensors file"; }
"$python" -c "import json,sys; assert json.load(open(sys.argv[1]))['step'] == -1" "$tmp/c/scores.json" ||
  fail "step of a bare weights file is not -1"

# --report_dir: the before/after report over a job's eval directory, after a
# scoring run and alone.
mkdir -p "$tmp/ev" && cp -r "$tmp/a" "$tmp/ev/step-00000000"
"$eval_bin" --checkpoint="$ckpt" --out="$tmp/ev/step-00000001" --report_dir="$tmp/ev" --suites=recon \
  --recon_images=2 --diffusion_steps=5 >"$tmp/ev.log" 2>&1 || { cat "$tmp/ev.log"; fail "reca-eval --report_dir"; }
grep -q "wrote $tmp/ev/report.md and $tmp/ev/report.png (step 0 vs step 1)" "$tmp/ev.log" ||
  { cat "$tmp/ev.log"; fail "no report written"; }
grep -q "^| recon | psnr | " "$tmp/ev/report.md" || { cat "$tmp/ev/report.md"; fail "report.md lacks recon psnr"; }
[ "$(head -c 4 "$tmp/ev/report.png" | tail -c 3)" = "PNG" ] || fail "report.png is not a PNG"
rm "$tmp/ev/report.md"
"$eval_bin" --report_dir="$tmp/ev" >"$tmp/ev2.log" 2>&1 || { cat "$tmp/ev2.log"; fail "reca-eval --report_dir alone"; }
[ -s "$tmp/ev/report.md" ] || fail "--report_dir alone wrote no report.md"

# Real-model suites from files judged elsewhere (fixtures: sidecar_suites_test).
printf '%s\n' '{"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a dog"}' \
  >"$tmp/meta.jsonl"
printf '%s\n' '[{"filename": "00000/samples/0000.png", "detections": {"dog": [{"box": [0,0,9,9], "score": 0.9}]}},' \
  '{"filename": "00000/samples/0001.png", "detections": {}}]' >"$tmp/det.json"
"$eval_bin" --geneval_metadata="$tmp/meta.jsonl" --geneval_detections="$tmp/det.json" --out="$tmp/g" \
  >"$tmp/g.log" 2>&1 || { cat "$tmp/g.log"; fail "reca-eval --geneval_*"; }
"$python" -c "import json,sys; g=json.load(open(sys.argv[1]))['suites']['geneval']; assert g['overall']==0.5, g" \
  "$tmp/g/scores.json" || fail "geneval overall is not 0.5"
[ "$(wc -l <"$tmp/g/geneval_results.jsonl")" = 2 ] || fail "geneval_results.jsonl lacks 2 rows"
# GenEval's --options as flags: the dog's 0.9 is not above 0.95.
"$eval_bin" --geneval_metadata="$tmp/meta.jsonl" --geneval_detections="$tmp/det.json" --out="$tmp/g2" \
  --geneval_threshold=0.95 --geneval_max_objects=4 >"$tmp/g2.log" 2>&1 || { cat "$tmp/g2.log"; fail "reca-eval --geneval_threshold"; }
"$python" - "$tmp/g2/scores.json" <<'EOF3' || fail "--geneval_threshold=0.95"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["suites"]["geneval"]["overall"] == 0, s
assert s["settings"]["geneval_threshold"] == 0.95 and s["settings"]["geneval_max_objects"] == 4, s
EOF3

# DPG-Bench from upstream's own CSV (fixtures and their totals: dpg_csv_test.cc).
dpg="$(dirname "$0")/dpg_testdata"
"$eval_bin" --dpg_csv="$dpg/dpg_bench.csv" --dpg_answers="$dpg/dpg_answers.json" --out="$tmp/dpg" \
  >"$tmp/dpg.log" 2>&1 || { cat "$tmp/dpg.log"; fail "reca-eval --dpg_csv"; }
grep -q "cat_sofa left out, as upstream does" "$tmp/dpg.log" || { cat "$tmp/dpg.log"; fail "no note on cat_sofa"; }
"$python" - "$tmp/dpg/scores.json" "$tmp/dpg/dpg_questions.json" <<'EOF4' || fail "dpg from the CSV"
import json, sys
p = json.load(open(sys.argv[1]))["suites"]["dpg"]
assert abs(p["overall"] - 2 / 3) < 1e-12 and p["prompts"] == 2, p
assert list(p["failed"]) == ["cat_sofa"], p
assert abs(p["l2_categories"]["entity - whole"] - 2 / 3) < 1e-12, p
assert [r["item_id"] for r in p["per_prompt"]] == ["dog", "lamp"], p
assert p["per_prompt"][1]["image_scores"] == [1.0], p
q = json.load(open(sys.argv[2]))["prompts"]
assert [x["item_id"] for x in q] == ["cat_sofa", "dog", "lamp"] and q[0]["dropped_by_upstream"] == [1], q
EOF4

# expect_exit CODE PATTERN ARGS...: the exit status and a line of stderr.
expect_exit() {
  want="$1"; pattern="$2"; shift 2
  set +e
  "$eval_bin" "$@" >"$tmp/err.out" 2>"$tmp/err.log"
  got=$?
  set -e
  [ "$got" = "$want" ] || { cat "$tmp/err.log"; fail "reca-eval $* exited $got, want $want"; }
  grep -q -- "$pattern" "$tmp/err.log" || { cat "$tmp/err.log"; fail "reca-eval $*: stderr lacks '$pattern'"; }
}
expect_exit 2 "unknown flag(s): --bogus" --checkpoint="$ckpt" --out="$tmp/x" --bogus=1
expect_exit 2 "reca-eval: INVALID_ARGUMENT: --suites: unknown suite 'nope'" --checkpoint="$ckpt" --out="$tmp/x" --suites=nope
expect_exit 2 "--images_per_prompt" --checkpoint="$ckpt" --out="$tmp/x" --images_per_prompt=0
expect_exit 2 "--checkpoint: required" --out="$tmp/x"
expect_exit 1 "reca-eval: NOT_FOUND: " --checkpoint="$tmp/missing" --out="$tmp/x"
expect_exit 2 "--geneval_detections: required with --geneval_metadata" --geneval_metadata="$tmp/meta.jsonl" --out="$tmp/x"
expect_exit 1 "$tmp/missing.json" --geneval_metadata="$tmp/meta.jsonl" --geneval_detections="$tmp/missing.json" --out="$tmp/x"
expect_exit 1 "reca-eval: report: NOT_FOUND: .*$tmp/missing" --report_dir="$tmp/missing"
expect_exit 2 "reca-eval: INVALID_ARGUMENT: --geneval_threshold: must be a number in \[0, 1\]" \
  --geneval_metadata="$tmp/meta.jsonl" --geneval_detections="$tmp/det.json" --out="$tmp/x" --geneval_threshold=2
expect_exit 2 "--geneval_max_objects: '1.5' is not an integer" \
  --geneval_metadata="$tmp/meta.jsonl" --geneval_detections="$tmp/det.json" --out="$tmp/x" --geneval_max_objects=1.5
expect_exit 2 "--geneval_position_threshold: must be a number in \[0, 1\]" --checkpoint="$ckpt" --out="$tmp/x" \
  --geneval_position_threshold=-1
expect_exit 2 "--dpg_csv: not with --dpg_questions" --dpg_csv="$dpg/dpg_bench.csv" --dpg_questions="$tmp/q.json" \
  --dpg_answers="$dpg/dpg_answers.json" --out="$tmp/x"
# A checkpoint whose weights no longer match its manifest.
cp -r "$ckpt" "$tmp/bad"
printf 'x' | dd of="$tmp/bad/model.safetensors" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_exit 1 "reca-eval: DATA_LOSS: " --checkpoint="$tmp/bad" --out="$tmp/x"
[ ! -e "$tmp/x/scores.json" ] || fail "a failed run wrote scores.json"

# The editing benchmarks' judge sidecars (edit_judges.h; the fixtures' totals
# are worked out by hand in edit_judges_test.cc).
judges="$(dirname "$0")/edit_judges_testdata"
timeout 60 "$eval_bin" --imgedit_judgements="$judges/imgedit.jsonl" \
  --gedit_judgements="$judges/gedit.jsonl" --out="$tmp/judged" >"$tmp/judged.log" 2>&1 ||
  { cat "$tmp/judged.log"; fail "reca-eval --imgedit_judgements --gedit_judgements"; }
"$python" - "$tmp/judged/scores.json" <<'EOF2'
import json, sys
s = json.load(open(sys.argv[1]))["suites"]
assert s["imgedit"]["overall"] == 3.18, s["imgedit"]
assert abs(s["gedit"]["overall"] - 53.0 / 11) < 1e-12, s["gedit"]
EOF2
expect_exit 2 "--checkpoint: not with" --checkpoint="$ckpt" --imgedit_judgements="$judges/imgedit.jsonl" --out="$tmp/x"
expect_exit 2 "--imgedit_meta: required with --imgedit_results" --imgedit_results="$tmp/r.json" --out="$tmp/x"
expect_exit 2 "--gedit_language: must be en or cn" --gedit_judgements="$judges/gedit.jsonl" --gedit_language=fr --out="$tmp/x"
echo "PASS"
