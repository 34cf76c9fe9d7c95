#include "reca/edit_manifest.h"

#include "reca/file_util.h"
#include "reca/jsonl.h"

namespace reca {

StatusOr<std::vector<EditManifestEntry>> ParseEditManifest(
    const std::string& text, const std::string& manifest_path) {
  const std::string dir = ManifestFolder(manifest_path);
  std::vector<EditManifestEntry> out;
  RECA_RETURN_IF_ERROR(ForEachJsonObjectLine(text, manifest_path, [&](
      const nlohmann::json& j, int line_no, const std::string& at) -> Status {
    const std::string where = at + ": ";
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
    return OkStatus();
  }));
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
