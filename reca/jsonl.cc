#include "reca/jsonl.h"

#include "reca/file_util.h"

namespace reca {

Status ForEachJsonObjectLine(
    const std::string& text, const std::string& path,
    const std::function<Status(const nlohmann::json& object, int line_no,
                               const std::string& where)>& fn) {
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (IsBlankOrCommentLine(line)) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    const nlohmann::json j =
        nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
      return InvalidArgumentError(where + ": not valid JSON");
    if (!j.is_object())
      return InvalidArgumentError(where + ": expected a JSON object");
    RECA_RETURN_IF_ERROR(fn(j, line_no, where));
  }
  return OkStatus();
}

}  // namespace reca
