// Fuzzes the job-spec path a user's file takes: YAML (or JSON) text ->
// YamlToJson / nlohmann::json::parse -> JobSpecFromJson (parse + validation).
// Invariant: a spec that validates survives the round trip through its
// canonical JSON text (JobSpecToJson, as stored in checkpoints) unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "reca/job_spec.h"
#include "reca/spec_file.h"

namespace {

void CheckRoundTrip(const reca::JobSpec& spec) {
  const std::string canon = reca::JobSpecToJson(spec).dump();
  const nlohmann::json back = nlohmann::json::parse(canon, nullptr, /*allow_exceptions=*/false);
  if (back.is_discarded()) {
    std::fprintf(stderr, "canonical spec is not valid JSON: %s\n", canon.c_str());
    std::abort();
  }
  reca::StatusOr<reca::JobSpec> again = reca::JobSpecFromJson(back);
  if (!again.ok()) {
    std::fprintf(stderr, "canonical spec does not parse back: %s\n%s\n",
                 again.status().ToString().c_str(), canon.c_str());
    std::abort();
  }
  if (reca::JobSpecToJson(*again).dump() != canon) {
    std::fprintf(stderr, "canonical spec changes on a round trip: %s\n", canon.c_str());
    std::abort();
  }
}

void Check(const nlohmann::json& tree) {
  reca::StatusOr<reca::JobSpec> spec = reca::JobSpecFromJson(tree);
  if (spec.ok()) {
    CheckRoundTrip(*spec);
  } else if (spec.status().message().empty()) {
    std::abort();  // every rejection names the field
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256 << 10)) return 0;  // job specs are small; keep iterations fast
  const std::string text(reinterpret_cast<const char*>(data), size);
  reca::StatusOr<nlohmann::json> yaml = reca::YamlToJson(text, "fuzz.yaml");
  if (yaml.ok()) Check(*yaml);
  // The .json route of ReadSpecTree.
  try {
    Check(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception&) {  // what ReadSpecTree catches
  }
  return 0;
}
