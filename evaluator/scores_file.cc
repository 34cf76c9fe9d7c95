#include "evaluator/scores_file.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "reca/file_util.h"

namespace reca {
namespace {

using Json = nlohmann::json;
using Values = std::map<std::string, double>;

bool IsNumber(const Json& j) { return j.is_number() && !j.is_boolean(); }

// Numeric leaves of `object` into `out`, each key prefixed by `prefix`.
void Flatten(const Json& object, const std::string& prefix, Values* out) {
  for (const auto& [key, value] : object.items()) {
    if (IsNumber(value)) {
      (*out)[prefix + key] = value.get<double>();
    } else if (value.is_object()) {
      Flatten(value, prefix.empty() && key == "tags" ? "" : prefix + key + ".",
              out);
    }
  }
}

// The keys a suite's scores must have to be worth recording.
std::vector<std::string> RequiredKeys(const std::string& suite) {
  if (suite == "shapes_eval") return {"overall"};
  if (suite == "recon") return {"psnr", "ssim", "heldout_loss"};
  if (suite == "shapes_edit") return {"overall", "carried_out", "preserved"};
  return {};
}

absl::StatusOr<Values> SuiteValues(const Json& suites, const std::string& suite,
                                   const std::string& source) {
  auto fail = [&](const std::string& what) {
    return absl::DataLossError(
        absl::StrCat(source, ": suite ", suite, ": ", what));
  };
  const auto it = suites.find(suite);
  if (it == suites.end()) return fail("missing");
  if (!it->is_object()) return fail("not an object");
  Values values;
  Flatten(*it, "", &values);
  for (const std::string& key : RequiredKeys(suite)) {
    const auto v = it->find(key);
    if (v == it->end() || !IsNumber(*v))
      return fail(absl::StrCat("no number \"", key, "\""));
  }
  if (suite == "shapes_eval") {
    const auto tags = it->find("tags");
    if (tags == it->end() || !tags->is_object() || tags->empty())
      return fail("no \"tags\" object");
  }
  if (values.empty()) return fail("no numeric values");
  return values;
}

std::vector<SuiteScores> FailAll(const std::vector<std::string>& suites,
                                 const absl::Status& status) {
  std::vector<SuiteScores> out;
  for (const std::string& suite : suites) out.push_back({suite, status});
  return out;
}

}  // namespace

std::vector<SuiteScores> ParseScores(const std::string& text,
                                     const std::vector<std::string>& suites,
                                     const std::string& checkpoint_path,
                                     const std::string& source) {
  const Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object())
    return FailAll(suites, absl::DataLossError(
                               absl::StrCat(source, ": not a JSON object")));
  const auto checkpoint = root.find("checkpoint");
  if (checkpoint != root.end() && checkpoint->is_string() &&
      checkpoint->get<std::string>() != checkpoint_path) {
    return FailAll(suites, absl::DataLossError(
                               absl::StrCat(source, ": scores of checkpoint ",
                                            checkpoint->get<std::string>(),
                                            ", not ", checkpoint_path)));
  }
  const auto by_suite = root.find("suites");
  if (by_suite == root.end() || !by_suite->is_object())
    return FailAll(suites, absl::DataLossError(
                               absl::StrCat(source, ": no \"suites\" object")));
  std::vector<SuiteScores> out;
  for (const std::string& suite : suites)
    out.push_back({suite, SuiteValues(*by_suite, suite, source)});
  return out;
}

std::vector<SuiteScores> ReadScoresFile(const std::string& path,
                                        const std::vector<std::string>& suites,
                                        const std::string& checkpoint_path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return FailAll(suites, absl::Status(text.status().code(),
                                        absl::StrCat("reading scores: ",
                                                     text.status().message())));
  }
  return ParseScores(*text, suites, checkpoint_path, path);
}

}  // namespace reca
