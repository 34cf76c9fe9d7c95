#include "reca/eval/dpg.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

namespace reca {
namespace {

using Json = nlohmann::json;

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// "entity - whole (cat)" -> "entity - whole"; its level 1: "entity".
std::string Category(const std::string& tuple) {
  return Trim(tuple.substr(0, tuple.find('(')));
}
std::string Level1(const std::string& category) {
  return Trim(category.substr(0, category.find('-')));
}

}  // namespace

StatusOr<DpgPromptScore> ScoreDpgPrompt(const DpgPrompt& prompt,
                                        const std::vector<DpgAnswers>& images) {
  const std::string& id = prompt.item_id;
  if (prompt.questions.empty())
    return InvalidArgumentError("DPG prompt " + id + ": no questions");
  if (images.empty())
    return InvalidArgumentError("DPG prompt " + id + ": no images");
  std::map<int, size_t> index;
  for (size_t i = 0; i < prompt.questions.size(); ++i) {
    if (!index.emplace(prompt.questions[i].id, i).second) {
      return InvalidArgumentError("DPG prompt " + id + ": question " +
                                  std::to_string(prompt.questions[i].id) +
                                  " appears twice");
    }
  }
  const std::set<int> dropped(prompt.dropped_by_upstream.begin(),
                              prompt.dropped_by_upstream.end());
  for (int d : dropped) {
    if (index.count(d)) {
      return InvalidArgumentError("DPG prompt " + id + ": question " +
                                  std::to_string(d) +
                                  " is both asked and dropped_by_upstream");
    }
  }
  for (const DpgQuestion& q : prompt.questions) {
    for (int p : q.parents) {
      if (p != 0 && !index.count(p) && !dropped.count(p)) {
        return InvalidArgumentError(
            "DPG prompt " + id + ": question " + std::to_string(q.id) +
            " depends on unknown question " + std::to_string(p));
      }
    }
  }
  DpgPromptScore out;
  for (size_t im = 0; im < images.size(); ++im) {
    std::vector<double> score(prompt.questions.size());
    for (size_t i = 0; i < prompt.questions.size(); ++i) {
      auto it = images[im].find(prompt.questions[i].id);
      if (it == images[im].end()) {
        return InvalidArgumentError("DPG prompt " + id + " image " +
                                    std::to_string(im) +
                                    ": no answer to question " +
                                    std::to_string(prompt.questions[i].id));
      }
      score[i] = it->second == "yes" ? 1.0 : 0.0;
    }
    out.last_raw.clear();
    for (size_t i = 0; i < score.size(); ++i)
      out.last_raw[prompt.questions[i].id] = score[i];
    // In order, over the scores zeroed so far; parents in order, 0 skipped.
    for (size_t i = 0; i < prompt.questions.size(); ++i) {
      for (int p : prompt.questions[i].parents) {
        if (p == 0) continue;
        if (dropped.count(p)) {  // upstream: qid2scores[p] raises KeyError
          DpgPromptScore failed;
          failed.failed = "question " + std::to_string(prompt.questions[i].id) +
                          " depends on question " + std::to_string(p) +
                          ", which upstream's compute_dpg_bench.py drops (the "
                          "CSV's first data row): it fails the prompt";
          return failed;
        }
        if (score[index[p]] == 0) {
          score[i] = 0;
          break;
        }
      }
    }
    double sum = 0;
    for (double s : score) sum += s;
    out.image_scores.push_back(sum / static_cast<double>(score.size()));
  }
  double sum = 0;
  for (double s : out.image_scores) sum += s;
  out.score = sum / static_cast<double>(out.image_scores.size());
  return out;
}

StatusOr<DpgSummary> AggregateDpg(
    const std::vector<DpgPrompt>& prompts,
    const std::map<std::string, std::vector<DpgAnswers>>& answers) {
  DpgSummary s;
  std::map<std::string, std::pair<double, int>> l1, l2;
  std::map<std::string, const DpgPrompt*> by_id;
  for (const DpgPrompt& p : prompts) by_id[p.item_id] = &p;
  for (const auto& [item, images] : answers) {
    if (!by_id.count(item))
      return InvalidArgumentError("DPG answers for unknown prompt " + item);
  }
  double total = 0;
  for (const DpgPrompt& p : prompts) {
    auto it = answers.find(p.item_id);
    if (it == answers.end())
      return InvalidArgumentError("DPG prompt " + p.item_id + ": no answers");
    RECA_ASSIGN_OR_RETURN(DpgPromptScore ps, ScoreDpgPrompt(p, it->second));
    if (!ps.failed.empty()) {
      s.failed[p.item_id] = ps.failed;
      continue;
    }
    total += ps.score;
    for (const DpgQuestion& q : p.questions) {
      const double v = ps.last_raw.at(q.id);
      const std::string cat = Category(q.tuple);
      l2[cat].first += v, l2[cat].second += 1;
      l1[Level1(cat)].first += v, l1[Level1(cat)].second += 1;
    }
    s.per_prompt[p.item_id] = std::move(ps);
  }
  s.prompts = static_cast<int>(s.per_prompt.size());
  if (s.prompts > 0) s.score = total / s.prompts;
  for (const auto& [k, v] : l1) s.l1_categories[k] = v.first / v.second;
  for (const auto& [k, v] : l2) s.l2_categories[k] = v.first / v.second;
  return s;
}

StatusOr<std::vector<DpgPrompt>> ParseDpgQuestions(
    const std::string& json_text) {
  const Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("prompts") ||
      !doc["prompts"].is_array()) {
    return InvalidArgumentError("DPG questions: expected {\"prompts\": [...]}");
  }
  std::vector<DpgPrompt> out;
  for (const Json& p : doc["prompts"]) {
    if (!p.is_object() || !p.contains("item_id") || !p["item_id"].is_string() ||
        !p.contains("questions") || !p["questions"].is_array()) {
      return InvalidArgumentError(
          "DPG questions: each prompt needs \"item_id\" and \"questions\"");
    }
    DpgPrompt prompt;
    prompt.item_id = p["item_id"].get<std::string>();
    for (const Json& q : p["questions"]) {
      if (!q.is_object() || !q.contains("id") || !q["id"].is_number_integer()) {
        return InvalidArgumentError("DPG prompt " + prompt.item_id +
                                    ": a question has no integer \"id\"");
      }
      DpgQuestion dq;
      dq.id = q["id"].get<int>();
      if (q.contains("parents")) {
        if (!q["parents"].is_array()) {
          return InvalidArgumentError("DPG prompt " + prompt.item_id +
                                      ": \"parents\" is not a list");
        }
        for (const Json& x : q["parents"]) {
          if (!x.is_number_integer()) {
            return InvalidArgumentError("DPG prompt " + prompt.item_id +
                                        ": parents must be integers");
          }
          dq.parents.push_back(x.get<int>());
        }
      }
      dq.tuple = q.value("tuple", std::string());
      dq.question = q.value("question", std::string());
      prompt.questions.push_back(std::move(dq));
    }
    if (p.contains("dropped_by_upstream")) {
      const Json& d = p["dropped_by_upstream"];
      if (!d.is_array() || !std::all_of(d.begin(), d.end(), [](const Json& x) {
            return x.is_number_integer();
          })) {
        return InvalidArgumentError(
            "DPG prompt " + prompt.item_id +
            ": \"dropped_by_upstream\" must be a list of integers");
      }
      for (const Json& x : d)
        prompt.dropped_by_upstream.push_back(x.get<int>());
    }
    if (p.contains("text") && p["text"].is_string())
      prompt.text = p["text"].get<std::string>();
    out.push_back(std::move(prompt));
  }
  return out;
}

StatusOr<std::map<std::string, std::vector<DpgAnswers>>> ParseDpgAnswers(
    const std::string& json_text) {
  const Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgumentError(
        "DPG answers: expected {\"<item_id>\": [{\"<question id>\": \"yes\"}, "
        "...]}");
  }
  std::map<std::string, std::vector<DpgAnswers>> out;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (!it.value().is_array())
      return InvalidArgumentError("DPG answers of " + it.key() +
                                  ": not a list");
    std::vector<DpgAnswers>& images = out[it.key()];
    for (const Json& im : it.value()) {
      if (!im.is_object())
        return InvalidArgumentError("DPG answers of " + it.key() +
                                    ": not objects");
      DpgAnswers a;
      for (auto q = im.begin(); q != im.end(); ++q) {
        char* end = nullptr;
        const long qid = std::strtol(q.key().c_str(), &end, 10);
        if (q.key().empty() || *end != '\0' || !q.value().is_string()) {
          return InvalidArgumentError(
              "DPG answers of " + it.key() +
              ": expected \"<question id>\": \"<answer>\"");
        }
        a[static_cast<int>(qid)] = q.value().get<std::string>();
      }
      images.push_back(std::move(a));
    }
  }
  return out;
}

std::string DpgQuestionsToJson(const std::vector<DpgPrompt>& prompts) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const DpgPrompt& p : prompts) {
    nlohmann::ordered_json questions = nlohmann::ordered_json::array();
    for (const DpgQuestion& q : p.questions) {
      questions.push_back({{"id", q.id},
                           {"parents", q.parents},
                           {"tuple", q.tuple},
                           {"question", q.question}});
    }
    nlohmann::ordered_json j = {{"item_id", p.item_id},
                                {"questions", std::move(questions)}};
    if (!p.dropped_by_upstream.empty())
      j["dropped_by_upstream"] = p.dropped_by_upstream;
    if (!p.text.empty()) j["text"] = p.text;
    list.push_back(std::move(j));
  }
  return nlohmann::ordered_json{{"prompts", std::move(list)}}.dump(1) + "\n";
}

}  // namespace reca
