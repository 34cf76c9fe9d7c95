// JSON Lines as the project's manifests and sidecars write them: one JSON
// object per line; blank lines and lines starting with '#' are skipped.
#ifndef RECA_JSONL_H_
#define RECA_JSONL_H_

#include <functional>
#include <string>

#include "nlohmann/json.hpp"
#include "reca/status.h"

namespace reca {

// Calls `fn(object, line_no, where)` for every object line of `text` in
// order, `where` = "<path>:<line_no>"; stops at fn's first error. A line that
// is not JSON, or not an object, is INVALID_ARGUMENT "<where>: not valid
// JSON" / "<where>: expected a JSON object".
Status ForEachJsonObjectLine(
    const std::string& text, const std::string& path,
    const std::function<Status(const nlohmann::json& object, int line_no,
                               const std::string& where)>& fn);

}  // namespace reca

#endif  // RECA_JSONL_H_
