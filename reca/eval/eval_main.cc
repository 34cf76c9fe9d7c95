// reca-eval: scores one checkpoint with the evaluation suites and writes
// DIR/scores.json plus PNG grids. See `reca-eval --help` and
// reca/eval/eval_runner.h; --report_dir also (re)writes the before/after
// report (reca/eval/eval_report.h). Exit status: 0 on success, 1 when
// evaluation fails
// ("reca-eval: CODE: message" on stderr), 2 for bad flags.
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "reca/cli_args.h"
#include "reca/eval/eval_report.h"
#include "reca/eval/eval_runner.h"
#include "reca/eval/sidecar_suites.h"

namespace {

constexpr const char* kUsage =
    R"(usage: reca-eval --checkpoint=PATH --out=DIR [flags]
       reca-eval --geneval_metadata=F --geneval_detections=F --out=DIR
       reca-eval --dpg_questions=F --dpg_answers=F --out=DIR
       reca-eval --dpg_csv=dpg_bench.csv [--dpg_answers=F] --out=DIR
       reca-eval --report_dir=EVAL_DIR

Scores a checkpoint (a reca-train checkpoint directory, verified against its
manifest, or a .safetensors weights file) and writes DIR/scores.json,
DIR/shapes_eval.png, DIR/shapes_eval.jsonl and DIR/recon.png (and, with shapes_edit,
DIR/shapes_edit.png and DIR/shapes_edit.jsonl).

  --suites=LIST            comma-separated: shapes_eval (GenEval's six tags over the shapes
                           world, GenEval's rules), recon (PSNR, SSIM, held-out loss),
                           shapes_edit (the fixed edit pairs, judged per category)
                           (default shapes_eval,recon)
  --threads=N              LibTorch intra-op threads (default 1; 0 = all cores)
  --device=cpu|cuda[:i]    (default cpu)
  --seed=S                 sampling seed (default 0); the prompt set itself is fixed
  --images_per_prompt=N    (default 4)
  --prompts_per_tag=N      (default 50: 300 prompts)
  --iters=N --diffusion_steps=N --cfg=X --temperature=X
                           sampling, as the trainer's grids (defaults 8, 50, 3.0, 1.0)
  --recon_images=N         held-out scenes for recon (default 16, the trainer's set)
  --grid_prompts_per_tag=N rows per tag in shapes_eval.png (default 2)
  --edit_pairs_per_category=N  shapes_edit pairs per category (default 25: 200 pairs)
  --image_cfg=X            shapes_edit: guidance on the source image (default 2.0; families
                           without it use 1)
Real models (images judged elsewhere by upstream's models; scored here by
upstream's rules into DIR/scores.json, suites geneval, dpg, imgedit and gedit):
  --geneval_metadata=F     GenEval's prompts/evaluation_metadata.jsonl
  --geneval_detections=F   the detector sidecar: per image, Mask2Former boxes + scores
                           and CLIP colours (format: reca/eval/geneval_rules.h); also
                           writes DIR/geneval_results.jsonl (upstream's per-image rows)
  --dpg_questions=F        DPG-Bench questions with their dependency graph (reca/eval/dpg.h)
  --dpg_answers=F          the VQA model's yes/no answers per image
  --dpg_csv=F              instead of --dpg_questions: DPG-Bench's own dpg_bench.csv, read
                           as upstream reads it (reca/eval/dpg_csv.h) and written to
                           DIR/dpg_questions.json; scored too with --dpg_answers
  --dpg_keep_first_row     --dpg_csv: also read the first row, which upstream skips
  --imgedit_judgements=F   ImgEdit-Bench: the GPT-4.1 judge's three 1-5 scores per edited
                           sample, JSONL (reca/eval/edit_judges.h); or upstream's pair
  --imgedit_results=F --imgedit_meta=F   (result.json, basic_edit.json)
  --gedit_judgements=F     GEdit-Bench: VIEScore's SC and PQ per sample, JSONL; or
  --gedit_csvs=F,F,...     upstream's <model>_<group>_gpt_score.csv files
  --gedit_language=en|cn   the instructions GEdit scores (default en)
GenEval's rules (upstream's evaluate_images.py --options; for shapes_eval and geneval):
  --geneval_threshold=X    a detection counts when its score > X (default 0.3)
  --geneval_counting_threshold=X  the same for "counting" prompts (default 0.9)
  --geneval_max_objects=N  most confident detections kept per class (default 16)
  --geneval_max_overlap=X  drop a detection whose IoU with a kept one is >= X
                           (default 1.0: off)
  --geneval_position_threshold=X  the position rule's dead zone, a fraction of the
                           two boxes' extents (default 0.1)

  --report_dir=EVAL_DIR    after scoring, compare the first and the latest scored
                           EVAL_DIR/step-N/ (N = the checkpoint's step; 0 = the base) and
                           write EVAL_DIR/report.md (every metric: first, latest, change)
                           and EVAL_DIR/report.png (their grids side by side); the
                           evaluator passes the job's eval directory. Alone, without
                           --checkpoint, it only rewrites the report.
)";

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Flags into options; any error here is a usage error.
reca::Status ParseFlags(int argc, char** argv, reca::EvalOptions* o,
                        reca::SidecarOptions* sidecar, std::string* report_dir,
                        bool* help) {
  RECA_ASSIGN_OR_RETURN(reca::CliArgs args, reca::CliArgs::Parse(argc, argv));
  RECA_RETURN_IF_ERROR(args.Get("help", help));
  if (*help) return reca::OkStatus();
  std::string suites;
  RECA_RETURN_IF_ERROR(args.Get("checkpoint", &o->checkpoint));
  RECA_RETURN_IF_ERROR(args.Get("out", &o->out_dir));
  if (args.Has("suites")) {
    RECA_RETURN_IF_ERROR(args.Get("suites", &suites));
    o->suites = SplitList(suites);
  }
  RECA_RETURN_IF_ERROR(args.Get("threads", &o->threads));
  RECA_RETURN_IF_ERROR(args.Get("device", &o->device));
  RECA_RETURN_IF_ERROR(args.Get("seed", &o->seed));
  RECA_RETURN_IF_ERROR(args.Get("images_per_prompt", &o->images_per_prompt));
  RECA_RETURN_IF_ERROR(args.Get("prompts_per_tag", &o->prompts_per_tag));
  RECA_RETURN_IF_ERROR(args.Get("iters", &o->sampling.num_iter));
  RECA_RETURN_IF_ERROR(
      args.Get("diffusion_steps", &o->sampling.diffusion_steps));
  RECA_RETURN_IF_ERROR(args.Get("cfg", &o->sampling.cfg));
  RECA_RETURN_IF_ERROR(args.Get("temperature", &o->sampling.temperature));
  RECA_RETURN_IF_ERROR(args.Get("recon_images", &o->recon_images));
  RECA_RETURN_IF_ERROR(
      args.Get("grid_prompts_per_tag", &o->grid_prompts_per_tag));
  RECA_RETURN_IF_ERROR(
      args.Get("edit_pairs_per_category", &o->edit_pairs_per_category));
  RECA_RETURN_IF_ERROR(args.Get("image_cfg", &o->image_cfg));
  RECA_RETURN_IF_ERROR(args.Get("report_dir", report_dir));
  RECA_RETURN_IF_ERROR(
      args.Get("geneval_metadata", &sidecar->geneval_metadata));
  RECA_RETURN_IF_ERROR(
      args.Get("geneval_detections", &sidecar->geneval_detections));
  RECA_RETURN_IF_ERROR(args.Get("dpg_questions", &sidecar->dpg_questions));
  RECA_RETURN_IF_ERROR(args.Get("dpg_answers", &sidecar->dpg_answers));
  RECA_RETURN_IF_ERROR(args.Get("dpg_csv", &sidecar->dpg_csv));
  RECA_RETURN_IF_ERROR(
      args.Get("dpg_keep_first_row", &sidecar->dpg_keep_first_row));
  reca::EditJudgeOptions& edit = sidecar->edit;
  RECA_RETURN_IF_ERROR(
      args.Get("imgedit_judgements", &edit.imgedit_judgements));
  RECA_RETURN_IF_ERROR(args.Get("imgedit_results", &edit.imgedit_results));
  RECA_RETURN_IF_ERROR(args.Get("imgedit_meta", &edit.imgedit_meta));
  RECA_RETURN_IF_ERROR(args.Get("gedit_judgements", &edit.gedit_judgements));
  std::string gedit_csvs;
  RECA_RETURN_IF_ERROR(args.Get("gedit_csvs", &gedit_csvs));
  edit.gedit_csvs = SplitList(gedit_csvs);
  RECA_RETURN_IF_ERROR(args.Get("gedit_language", &edit.gedit_language));
  reca::GenEvalOptions& geneval = o->geneval;
  RECA_RETURN_IF_ERROR(args.Get("geneval_threshold", &geneval.threshold));
  RECA_RETURN_IF_ERROR(
      args.Get("geneval_counting_threshold", &geneval.counting_threshold));
  RECA_RETURN_IF_ERROR(args.Get("geneval_max_objects", &geneval.max_objects));
  RECA_RETURN_IF_ERROR(args.Get("geneval_max_overlap", &geneval.max_overlap));
  RECA_RETURN_IF_ERROR(
      args.Get("geneval_position_threshold", &geneval.position_threshold));
  sidecar->geneval = geneval;
  RECA_RETURN_IF_ERROR(args.CheckAllUsed());
  if (reca::HasSidecarInputs(*sidecar)) {
    if (!o->checkpoint.empty())
      return reca::InvalidArgumentError(
          "--checkpoint: not with --geneval_*/--dpg_*/--imgedit_*/--gedit_* "
          "(they score files judged elsewhere; run them separately)");
    sidecar->out_dir = o->out_dir;
    return reca::ValidateSidecarOptions(*sidecar);
  }
  if (!report_dir->empty() && o->checkpoint.empty() && o->out_dir.empty())
    return reca::OkStatus();  // report only
  return reca::ValidateEvalOptions(*o);
}

// Rewrites the before/after report; false (with the reason on stderr) when it
// could not.
bool WriteReport(const std::string& report_dir) {
  reca::StatusOr<reca::ComparisonReport> r =
      reca::WriteComparisonReport(report_dir);
  if (!r.ok()) {
    std::cerr << "reca-eval: report: " << r.status() << "\n";
    return false;
  }
  if (!r->written) {
    std::cout << "report: " << report_dir
              << " has fewer than two scored steps; no report yet\n";
  } else {
    std::cout << "wrote " << r->markdown_path
              << (r->png_path.empty() ? "" : " and " + r->png_path) << " (step "
              << r->first_step << " vs step " << r->latest_step << ")\n";
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  reca::EvalOptions options;
  reca::SidecarOptions sidecar;
  std::string report_dir;
  bool help = false;
  if (reca::Status s =
          ParseFlags(argc, argv, &options, &sidecar, &report_dir, &help);
      !s.ok()) {
    std::cerr << "reca-eval: " << s << "\n";
    return 2;
  }
  if (help) {
    std::cout << kUsage;
    return 0;
  }
  if (reca::HasSidecarInputs(sidecar)) {
    if (reca::Status s = reca::RunSidecarSuites(sidecar, std::cout); !s.ok()) {
      std::cerr << "reca-eval: " << s << "\n";
      return 1;
    }
    if (!report_dir.empty()) WriteReport(report_dir);
    return 0;
  }
  if (options.checkpoint.empty()) return WriteReport(report_dir) ? 0 : 1;
  reca::StatusOr<reca::EvalReport> report = reca::RunEval(options, std::cout);
  if (!report.ok()) {
    std::cerr << "reca-eval: " << report.status() << "\n";
    return 1;
  }
  // The scores are written; a report that cannot be built is only a warning.
  if (!report_dir.empty()) WriteReport(report_dir);
  return 0;
}
