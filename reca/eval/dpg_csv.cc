#include "reca/eval/dpg_csv.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>

namespace reca {
namespace {

struct Record {
  int line = 0;  // where it starts, 1-based
  std::vector<std::string> fields;
  bool blank = false;  // an empty line
};

// RFC 4180 records; \n, \r\n and \r end a record outside quotes. Text after a
// closing quote is kept, as pandas keeps it.
StatusOr<std::vector<Record>> SplitRecords(const std::string& text) {
  std::vector<Record> out;
  size_t i = 0;
  int line = 1;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // a UTF-8 BOM
  while (i < text.size()) {
    Record r;
    r.line = line;
    std::string field;
    bool quoted_any = false;
    for (;;) {
      if (i < text.size() && text[i] == '"') {  // a quoted field
        quoted_any = true;
        const int start_line = line;
        ++i;
        for (;;) {
          if (i >= text.size()) {
            return InvalidArgumentError("line " + std::to_string(start_line) +
                                        ": a quoted field is not closed");
          }
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          field += text[i++];
        }
      }
      // Unquoted text (or what follows a closing quote) up to , or the end.
      while (i < text.size() && text[i] != ',' && text[i] != '\n' &&
             text[i] != '\r') {
        field += text[i++];
      }
      r.fields.push_back(std::move(field));
      field.clear();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      break;  // end of record
    }
    if (i < text.size() && text[i] == '\r') ++i;
    if (i < text.size() && text[i] == '\n') ++i;
    ++line;
    r.blank = r.fields.size() == 1 && r.fields[0].empty() && !quoted_any;
    out.push_back(std::move(r));
  }
  return out;
}

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// Python's int() of a stripped string (digits with an optional sign).
std::optional<int> ParseInt(const std::string& raw) {
  const std::string s = Trim(raw);
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (*end != '\0' || errno != 0 || v < INT32_MIN || v > INT32_MAX)
    return std::nullopt;
  return static_cast<int>(v);
}

// int(line.proposition_id): pandas reads the column as integers, or as floats
// when a value is missing; int() of an integral float is that integer.
std::optional<int> ParseId(const std::string& raw) {
  if (std::optional<int> v = ParseInt(raw)) return v;
  const std::string s = Trim(raw);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(d) || d != std::floor(d) ||
      std::abs(d) > INT32_MAX) {
    return std::nullopt;
  }
  return static_cast<int>(d);
}

}  // namespace

StatusOr<DpgCsvQuestions> ParseDpgBenchCsv(const std::string& csv_text,
                                           const DpgCsvOptions& options) {
  RECA_ASSIGN_OR_RETURN(std::vector<Record> records, SplitRecords(csv_text));
  std::vector<Record> rows;
  for (Record& r : records) {
    if (!r.blank) rows.push_back(std::move(r));
  }
  if (rows.empty()) return InvalidArgumentError("no header row");
  const std::vector<std::string> header = rows[0].fields;
  std::map<std::string, size_t> column;
  for (size_t i = 0; i < header.size(); ++i) column.emplace(header[i], i);
  for (const char* name : {"item_id", "proposition_id", "dependency", "tuple",
                           "question_natural_language"}) {
    if (!column.count(name)) {
      return InvalidArgumentError(std::string("no column \"") + name +
                                  "\" in the header (line " +
                                  std::to_string(rows[0].line) + ")");
    }
  }
  auto get = [&](const Record& r, const char* name) -> std::string {
    auto it = column.find(name);
    if (it == column.end() || it->second >= r.fields.size()) return "";
    return r.fields[it->second];
  };

  DpgCsvQuestions out;
  std::map<std::string, size_t> prompt_index;  // item_id -> out.prompts
  std::map<int, size_t> question_index;        // of the current prompt
  std::string previous_id;  // upstream's previous_id starts as ''
  size_t current = 0;
  std::optional<std::pair<std::string, int>> dropped;  // item_id, proposition
  for (size_t n = 1; n < rows.size(); ++n) {
    const Record& r = rows[n];
    const std::string where = "line " + std::to_string(r.line);
    if (r.fields.size() > header.size()) {
      return InvalidArgumentError(
          where + ": " + std::to_string(r.fields.size()) +
          " fields, the header has " + std::to_string(header.size()));
    }
    const std::string item_id = get(r, "item_id");
    if (item_id.empty()) return InvalidArgumentError(where + ": no item_id");
    const std::optional<int> qid = ParseId(get(r, "proposition_id"));
    if (!qid) {
      return InvalidArgumentError(where + ": proposition_id '" +
                                  get(r, "proposition_id") +
                                  "' is not an integer");
    }
    if (n == 1 && !options.keep_first_row) {
      dropped = std::make_pair(item_id, *qid);
      out.notes.push_back(
          where +
          ": skipped, as upstream's compute_dpg_bench.py skips the "
          "first data row: " +
          item_id + " proposition " + std::to_string(*qid) +
          " (--dpg_keep_first_row reads it)");
      continue;
    }
    DpgQuestion q;
    q.id = *qid;
    const std::string deps = get(r, "dependency");
    size_t start = 0;
    for (;;) {
      const size_t comma = deps.find(',', start);
      const std::string piece =
          deps.substr(start, comma == std::string::npos ? std::string::npos
                                                        : comma - start);
      const std::optional<int> parent = ParseInt(piece);
      if (!parent) {
        return InvalidArgumentError(where + ": dependency '" + deps +
                                    "' is not a comma-separated list of "
                                    "integers");
      }
      q.parents.push_back(*parent);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    q.tuple = get(r, "tuple");
    if (Trim(q.tuple).empty())
      return InvalidArgumentError(where + ": no tuple");
    q.question = get(r, "question_natural_language");

    if (item_id != previous_id) {  // a new dict for this item
      question_index.clear();
      auto [it, inserted] = prompt_index.emplace(item_id, out.prompts.size());
      if (inserted) {
        out.prompts.push_back(DpgPrompt{});
      } else {
        out.notes.push_back(
            where + ": " + item_id +
            " comes back after other items; its rows here "
            "replace its earlier ones, as upstream's dict does");
      }
      current = it->second;
      DpgPrompt& p = out.prompts[current];
      p = DpgPrompt{};
      p.item_id = item_id;
      p.text = get(r, "text");
    }
    DpgPrompt& p = out.prompts[current];
    if (auto it = question_index.find(q.id); it != question_index.end()) {
      out.notes.push_back(where + ": " + item_id + " proposition " +
                          std::to_string(q.id) +
                          " repeats; it replaces the earlier one in its place");
      p.questions[it->second] = std::move(q);
    } else {
      question_index[q.id] = p.questions.size();
      p.questions.push_back(std::move(q));
    }
    previous_id = item_id;
  }
  if (dropped) {
    auto it = prompt_index.find(dropped->first);
    if (it == prompt_index.end()) {
      return InvalidArgumentError(
          "the first data row is the only one of " + dropped->first +
          "; upstream skips it and cannot score that item (use "
          "--dpg_keep_first_row)");
    }
    std::vector<int>& d = out.prompts[it->second].dropped_by_upstream;
    bool asked = false;
    for (const DpgQuestion& q : out.prompts[it->second].questions)
      asked = asked || q.id == dropped->second;
    if (!asked) d.push_back(dropped->second);
  }
  if (out.prompts.empty()) return InvalidArgumentError("no questions");
  return out;
}

}  // namespace reca
