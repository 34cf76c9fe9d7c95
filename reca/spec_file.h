// Reading job spec files: YAML (when built with yaml-cpp) or JSON, into the
// JSON tree that JobSpecFromJson parses (reca/job_spec.h).
#ifndef RECA_SPEC_FILE_H_
#define RECA_SPEC_FILE_H_

#include <string>

#include <nlohmann/json.hpp>

#include "reca/status.h"

namespace reca {

// NOT_FOUND naming the path when it cannot be read; INVALID_ARGUMENT naming
// the path and line for malformed YAML/JSON. `.json` files are read as JSON,
// everything else as YAML (JSON is valid YAML too). Builds without yaml-cpp
// (the CUDA build) read JSON only and say so for YAML files.
StatusOr<nlohmann::json> ReadSpecTree(const std::string& path);

// YAML text -> JSON tree: mappings, sequences, and plain scalars typed as
// YAML 1.2's core schema does (null, true/false, integers, floats); quoted
// scalars stay strings. `origin` prefixes error messages.
StatusOr<nlohmann::json> YamlToJson(const std::string& text, const std::string& origin);

}  // namespace reca

#endif  // RECA_SPEC_FILE_H_
