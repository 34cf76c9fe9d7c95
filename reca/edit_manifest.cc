#include "reca/edit_manifest.h"

#include "nlohmann/json.hpp"
#include "reca/file_util.h"

namespace reca {

StatusOr<std::vector<EditManifestEntry>> ParseEditManifest(
    const std::string& text, const std::string& manifest_path) {
  const std::string dir = ManifestFolder(manifest_path);
  std::vector<EditManifestEntry> out;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (IsBlankOrCommentLine(line)) continue;
    const std::string where = manifest_path + ":" + std::to_string(line_no) + ": ";
    const nlohmann::json j =
        nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return InvalidArgumentError(where + "not valid JSON");
    if (!j.is_object()) return InvalidArgumentError(where + "expected a JSON object");
    std::string fields[3];
    const char* const kNames[3] = {"source", "instruction", "target"};
    for (int k = 0; k < 3; ++k) {
      const auto it = j.find(kNames[k]);
      if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
        return InvalidArgumentError(where + "\"" + kNames[k] +
                                    "\" must be a non-empty string");
      }
      fields[k] = it->get<std::string>();
    }
    EditManifestEntry e;
    e.source = ResolveInFolder(dir, fields[0]);
    e.instruction = fields[1];
    e.target = ResolveInFolder(dir, fields[2]);
    e.line = line_no;
    out.push_back(std::move(e));
  }
  if (out.empty()) {
    return InvalidArgumentError("edit manifest " + manifest_path + ": no entries");
  }
  return out;
}

StatusOr<std::vector<EditManifestEntry>> ReadEditManifest(const std::string& path) {
  RECA_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return ParseEditManifest(text, path);
}

}  // namespace reca
