#include "reca/eval/sidecar_suites.h"

#include <nlohmann/json.hpp>

#include "reca/eval/dpg.h"
#include "reca/eval/dpg_csv.h"
#include "reca/eval/geneval_rules.h"
#include "reca/file_util.h"

namespace reca {
namespace {

using Json = nlohmann::ordered_json;

// A parse error with the file's name in front.
Status InFile(const std::string& path, const Status& s) {
  return Status(s.code(), path + ": " + std::string(s.message()));
}

StatusOr<Json> ScoreGenEval(const SidecarOptions& o, std::ostream& log) {
  RECA_ASSIGN_OR_RETURN(std::string meta_text, ReadFile(o.geneval_metadata));
  RECA_ASSIGN_OR_RETURN(std::string det_text, ReadFile(o.geneval_detections));
  auto metadata = ParseGenEvalMetadataJsonl(meta_text);
  if (!metadata.ok()) return InFile(o.geneval_metadata, metadata.status());
  auto images = ParseGenEvalSidecar(det_text);
  if (!images.ok()) return InFile(o.geneval_detections, images.status());
  auto run = ScoreGenEvalSidecar(*metadata, *images, o.geneval);
  if (!run.ok()) return InFile(o.geneval_detections, run.status());

  std::string rows;
  for (const GenEvalRun::Row& r : run->rows) {
    rows += Json{{"filename", r.filename},
                 {"prompt_index", r.prompt_index},
                 {"tag", r.tag},
                 {"prompt", r.prompt},
                 {"correct", r.result.correct},
                 {"reason", r.result.reason}}
                .dump() +
            "\n";
  }
  const std::string results = o.out_dir + "/geneval_results.jsonl";
  RECA_RETURN_IF_ERROR(WriteFileAtomic(results, rows));

  const GenEvalSummary& s = run->summary;
  Json tags = Json::object();
  for (const GenEvalTagScore& t : s.tags) tags[t.tag] = t.accuracy;
  log << "geneval: overall " << s.overall << " over " << s.images
      << " images of " << s.prompts << " prompts;";
  for (const GenEvalTagScore& t : s.tags) {
    log << " " << t.tag << " " << t.correct << "/" << t.images;
  }
  log << "\nwrote " << results << "\n";
  return Json{{"overall", s.overall},
              {"tags", tags},
              {"correct_images", s.correct_images},
              {"correct_prompts", s.correct_prompts},
              {"images", s.images},
              {"prompts", s.prompts}};
}

// The prompts of --dpg_questions, or of --dpg_csv (then also written to
// <out_dir>/dpg_questions.json).
StatusOr<std::vector<DpgPrompt>> DpgPrompts(const SidecarOptions& o,
                                            std::ostream& log) {
  if (o.dpg_csv.empty()) {
    RECA_ASSIGN_OR_RETURN(std::string q_text, ReadFile(o.dpg_questions));
    auto prompts = ParseDpgQuestions(q_text);
    if (!prompts.ok()) return InFile(o.dpg_questions, prompts.status());
    return prompts;
  }
  RECA_ASSIGN_OR_RETURN(std::string csv, ReadFile(o.dpg_csv));
  auto read = ParseDpgBenchCsv(csv, {o.dpg_keep_first_row});
  if (!read.ok()) return InFile(o.dpg_csv, read.status());
  for (const std::string& note : read->notes)
    log << "dpg: " << o.dpg_csv << ": " << note << "\n";
  const std::string path = o.out_dir + "/dpg_questions.json";
  RECA_RETURN_IF_ERROR(
      WriteFileAtomic(path, DpgQuestionsToJson(read->prompts)));
  log << "wrote " << path << " (" << read->prompts.size()
      << " prompts; reca-eval --dpg_questions reads it)\n";
  return std::move(read->prompts);
}

StatusOr<Json> ScoreDpg(const std::vector<DpgPrompt>& prompts,
                        const SidecarOptions& o, std::ostream& log) {
  RECA_ASSIGN_OR_RETURN(std::string a_text, ReadFile(o.dpg_answers));
  auto answers = ParseDpgAnswers(a_text);
  if (!answers.ok()) return InFile(o.dpg_answers, answers.status());
  auto summary = AggregateDpg(prompts, *answers);
  if (!summary.ok()) return InFile(o.dpg_answers, summary.status());
  Json l1 = Json::object(), l2 = Json::object();
  for (const auto& [name, v] : summary->l1_categories) l1[name] = v;
  for (const auto& [name, v] : summary->l2_categories) l2[name] = v;
  // Upstream's per-image results lines: each prompt's image (crop) scores
  // and their mean, in the questions' order. A list, so that the report and
  // recactl, which show a suite's numbers, skip it.
  Json per_prompt = Json::array();
  for (const DpgPrompt& p : prompts) {
    auto it = summary->per_prompt.find(p.item_id);
    if (it == summary->per_prompt.end()) continue;
    per_prompt.push_back(Json{{"item_id", p.item_id},
                              {"score", it->second.score},
                              {"image_scores", it->second.image_scores}});
  }
  log << "dpg: " << summary->score * 100 << " (DPG-Bench, x100) over "
      << summary->prompts << " prompts\n";
  for (const auto& [item, why] : summary->failed)
    log << "dpg: " << item << " left out, as upstream does: " << why << "\n";
  // The report shows each category as "categories.<name>" (level 1) and
  // "l2_categories.<name>".
  Json out{{"overall", summary->score},
           {"categories", l1},
           {"l2_categories", l2},
           {"prompts", summary->prompts}};
  if (!summary->failed.empty()) {
    Json failed = Json::object();
    for (const auto& [item, why] : summary->failed) failed[item] = why;
    out["failed"] = failed;
  }
  out["per_prompt"] = per_prompt;
  return out;
}

}  // namespace

bool HasSidecarInputs(const SidecarOptions& o) {
  return !o.geneval_metadata.empty() || !o.geneval_detections.empty() ||
         !o.dpg_questions.empty() || !o.dpg_answers.empty() ||
         !o.dpg_csv.empty() || HasEditJudgeInputs(o.edit);
}

Status ValidateSidecarOptions(const SidecarOptions& o) {
  auto pair = [](const std::string& a, const char* a_flag, const std::string& b,
                 const char* b_flag) -> Status {
    if (a.empty() != b.empty()) {
      return InvalidArgumentError(std::string(a.empty() ? a_flag : b_flag) +
                                  ": required with " +
                                  (a.empty() ? b_flag : a_flag));
    }
    return OkStatus();
  };
  RECA_RETURN_IF_ERROR(pair(o.geneval_metadata, "--geneval_metadata",
                            o.geneval_detections, "--geneval_detections"));
  if (!o.dpg_csv.empty()) {
    if (!o.dpg_questions.empty())
      return InvalidArgumentError(
          "--dpg_csv: not with --dpg_questions (it is converted into one)");
  } else {
    RECA_RETURN_IF_ERROR(pair(o.dpg_questions, "--dpg_questions", o.dpg_answers,
                              "--dpg_answers"));
    if (o.dpg_keep_first_row)
      return InvalidArgumentError("--dpg_keep_first_row: only with --dpg_csv");
  }
  if (!HasSidecarInputs(o)) {
    return InvalidArgumentError(
        "--geneval_metadata, --dpg_questions, --dpg_csv, --imgedit_judgements, "
        "--imgedit_results, --gedit_judgements or --gedit_csvs: name the "
        "files to score");
  }
  if (HasEditJudgeInputs(o.edit))
    RECA_RETURN_IF_ERROR(ValidateEditJudgeOptions(o.edit));
  RECA_RETURN_IF_ERROR(ValidateGenEvalOptions(o.geneval));
  if (o.out_dir.empty()) return InvalidArgumentError("--out: required");
  return OkStatus();
}

Status RunSidecarSuites(const SidecarOptions& o, std::ostream& log) {
  RECA_RETURN_IF_ERROR(ValidateSidecarOptions(o));
  RECA_RETURN_IF_ERROR(MakeDirs(o.out_dir));
  Json suites = Json::object(), settings = Json::object();
  if (!o.geneval_metadata.empty()) {
    RECA_ASSIGN_OR_RETURN(suites[kGenEvalSuite], ScoreGenEval(o, log));
    settings["geneval_metadata"] = o.geneval_metadata;
    settings["geneval_detections"] = o.geneval_detections;
    settings["geneval_threshold"] = o.geneval.threshold;
    settings["geneval_counting_threshold"] = o.geneval.counting_threshold;
    settings["geneval_max_objects"] = o.geneval.max_objects;
    settings["geneval_max_overlap"] = o.geneval.max_overlap;
    settings["geneval_position_threshold"] = o.geneval.position_threshold;
  }
  if (!o.dpg_questions.empty() || !o.dpg_csv.empty()) {
    RECA_ASSIGN_OR_RETURN(std::vector<DpgPrompt> prompts, DpgPrompts(o, log));
    if (!o.dpg_answers.empty()) {
      RECA_ASSIGN_OR_RETURN(suites[kDpgSuite], ScoreDpg(prompts, o, log));
      if (o.dpg_csv.empty()) {
        settings["dpg_questions"] = o.dpg_questions;
      } else {
        settings["dpg_csv"] = o.dpg_csv;
        settings["dpg_keep_first_row"] = o.dpg_keep_first_row;
      }
      settings["dpg_answers"] = o.dpg_answers;
    }
  }
  if (HasEditJudgeInputs(o.edit)) {
    RECA_ASSIGN_OR_RETURN(std::string text, ScoreEditJudgeSuites(o.edit, log));
    const Json edit = Json::parse(text);
    suites.update(edit["suites"]);
    settings.update(edit["settings"]);
  }
  if (suites.empty()) return OkStatus();  // --dpg_csv alone: converted only
  const std::string path = o.out_dir + "/scores.json";
  RECA_RETURN_IF_ERROR(WriteFileAtomic(
      path, Json{{"suites", suites}, {"settings", settings}}.dump(2) + "\n"));
  log << "wrote " << path << "\n";
  return OkStatus();
}

}  // namespace reca
