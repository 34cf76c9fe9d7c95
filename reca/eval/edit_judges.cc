#include "reca/eval/edit_judges.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "reca/file_util.h"
#include "reca/jsonl.h"

namespace reca {
namespace {

using Json = nlohmann::ordered_json;

// Python's str.strip() / splitlines() on ASCII.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f' || (c >= '\x1c' && c <= '\x1f');
}
std::string Strip(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && IsSpace(s[a])) ++a;
  while (b > a && IsSpace(s[b - 1])) --b;
  return s.substr(a, b - a);
}
std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
        (c >= '\x1c' && c <= '\x1e')) {
      out.push_back(cur);
      cur.clear();
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Python's str.split(sep) with a non-empty separator.
std::vector<std::string> Split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t at = s.find(sep, pos);
    if (at == std::string::npos) break;
    out.push_back(s.substr(pos, at - pos));
    pos = at + sep.size();
  }
  out.push_back(s.substr(pos));
  return out;
}

StatusOr<std::string> RequiredString(const Json& j, const char* field,
                                     const std::string& where) {
  const auto it = j.find(field);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
    return InvalidArgumentError(where + ": \"" + field +
                                "\" must be a non-empty string");
  }
  return it->get<std::string>();
}

// The line (1-based) of every key of the top-level object of a JSON text,
// for messages about upstream's JSON files (the parser keeps no positions).
std::map<std::string, int> TopLevelKeyLines(const std::string& text) {
  std::map<std::string, int> out;
  int depth = 0, line = 1, str_line = 1;
  bool in_str = false, esc = false, candidate = false;
  size_t start = 0;
  std::string raw;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (in_str) {
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = true;
      } else if (c == '"') {
        in_str = false;
        raw = text.substr(start, i - start);
        candidate = depth == 1;
      }
      continue;
    }
    if (c == '"') {
      in_str = true;
      start = i + 1;
      str_line = line;
      continue;
    }
    if (IsSpace(c)) continue;
    if (c == ':' && candidate) {
      const Json key = Json::parse("\"" + raw + "\"", nullptr, false);
      if (key.is_string()) out.emplace(key.get<std::string>(), str_line);
    }
    candidate = false;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
  }
  return out;
}

std::string KeyWhere(const std::string& path, const std::map<std::string, int>& lines,
                     const std::string& key) {
  const auto it = lines.find(key);
  return path + (it == lines.end() ? "" : ":" + std::to_string(it->second)) +
         ": key \"" + key + "\"";
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// A parse error with the file's name in front.
Status InFile(const std::string& path, const Status& s) {
  return Status(s.code(), path + ": " + std::string(s.message()));
}

}  // namespace

// ---- ImgEdit ----

std::vector<int> ParseImgEditJudgeText(const std::string& text) {
  std::vector<int> scores;
  for (const std::string& line : SplitLines(text)) {
    const std::vector<std::string> parts = Split(Strip(line), ": ");
    if (parts.size() != 2 || parts[1].empty() || parts[1].size() > 9) continue;
    bool digits = true;
    for (char c : parts[1]) digits = digits && c >= '0' && c <= '9';
    if (digits) scores.push_back(std::atoi(parts[1].c_str()));
  }
  return scores;
}

double RoundHalfEven2(double x) {
  // printf rounds the exact binary value, ties to even, as Python's round.
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", x);
  return std::strtod(buf, nullptr);
}

StatusOr<ImgEditSummary> AggregateImgEdit(
    const std::vector<ImgEditJudgement>& samples) {
  ImgEditSummary s;
  std::map<std::string, std::string> seen;  // key -> origin
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> by_type;
  std::vector<double> all;
  for (const ImgEditJudgement& j : samples) {
    auto [it, fresh] = seen.emplace(j.key, j.origin);
    if (!fresh) {
      return InvalidArgumentError(j.origin + ": key \"" + j.key +
                                  "\" appears again (first at " + it->second + ")");
    }
    if (j.scores.empty()) {
      s.unscored.push_back(j.origin);
      continue;
    }
    double sum = 0;
    for (int v : j.scores) sum += v;
    const double avg = RoundHalfEven2(sum / static_cast<double>(j.scores.size()));
    all.push_back(avg);
    if (j.edit_type.empty()) continue;
    if (!by_type.count(j.edit_type)) order.push_back(j.edit_type);
    by_type[j.edit_type].push_back(avg);
  }
  if (all.empty()) {
    return InvalidArgumentError("ImgEdit: no sample has a score (" +
                                std::to_string(s.unscored.size()) + " without)");
  }
  s.samples = static_cast<int>(all.size());
  s.overall = RoundHalfEven2(Mean(all));
  for (const std::string& t : order) {
    ImgEditTypeScore ts;
    ts.edit_type = t;
    ts.samples = static_cast<int>(by_type[t].size());
    ts.score = RoundHalfEven2(Mean(by_type[t]));
    s.types.push_back(ts);
    s.mean_of_types += ts.score;
  }
  if (!s.types.empty()) s.mean_of_types /= static_cast<double>(s.types.size());
  return s;
}

StatusOr<std::vector<ImgEditJudgement>> ParseImgEditJsonl(
    const std::string& text, const std::string& path) {
  std::vector<ImgEditJudgement> out;
  RECA_RETURN_IF_ERROR(ForEachJsonObjectLine(text, path, [&](const Json& j, int, const std::string& where) -> Status {
    ImgEditJudgement s;
    s.origin = where;
    RECA_ASSIGN_OR_RETURN(s.key, RequiredString(j, "key", where));
    const auto type = j.find("edit_type");
    if (type != j.end() && !type->is_null()) {
      if (!type->is_string())
        return InvalidArgumentError(where + ": \"edit_type\" must be a string");
      s.edit_type = type->get<std::string>();
    }
    const auto judgement = j.find("judgement");
    const auto scores = j.find("scores");
    if ((judgement == j.end()) == (scores == j.end())) {
      return InvalidArgumentError(where +
                                  ": give exactly one of \"judgement\" (the judge's text) "
                                  "and \"scores\" (its criteria)");
    }
    if (judgement != j.end()) {
      if (!judgement->is_string())
        return InvalidArgumentError(where + ": \"judgement\" must be a string");
      s.scores = ParseImgEditJudgeText(judgement->get<std::string>());
    } else {
      if (!scores->is_array() || scores->empty())
        return InvalidArgumentError(where + ": \"scores\" must be a non-empty list");
      for (size_t i = 0; i < scores->size(); ++i) {
        const Json& v = (*scores)[i];
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1000000) {
          return InvalidArgumentError(where + ": \"scores\"[" + std::to_string(i) +
                                      "] must be an integer >= 0");
        }
        s.scores.push_back(static_cast<int>(v.get<int64_t>()));
      }
    }
    out.push_back(std::move(s));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<ImgEditJudgement>> ParseImgEditUpstream(
    const std::string& results_text, const std::string& results_path,
    const std::string& meta_text, const std::string& meta_path) {
  const Json results = Json::parse(results_text, nullptr, false);
  if (results.is_discarded() || !results.is_object()) {
    return InvalidArgumentError(results_path +
                                ": expected upstream's result.json, {\"<key>\": \"<judge text>\"}");
  }
  const Json meta = Json::parse(meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) {
    return InvalidArgumentError(
        meta_path + ": expected upstream's basic_edit.json, {\"<key>\": {\"edit_type\": ...}}");
  }
  const std::map<std::string, int> result_lines = TopLevelKeyLines(results_text);
  const std::map<std::string, int> meta_lines = TopLevelKeyLines(meta_text);
  std::vector<ImgEditJudgement> out;
  for (auto it = results.begin(); it != results.end(); ++it) {
    ImgEditJudgement s;
    s.key = it.key();
    s.origin = KeyWhere(results_path, result_lines, s.key);
    if (!it.value().is_string())
      return InvalidArgumentError(s.origin + ": the judgement must be a string");
    s.scores = ParseImgEditJudgeText(it.value().get<std::string>());
    const auto m = meta.find(s.key);
    if (m != meta.end()) {
      const std::string mwhere = KeyWhere(meta_path, meta_lines, s.key);
      if (!m->is_object()) return InvalidArgumentError(mwhere + ": not an object");
      const auto type = m->find("edit_type");
      if (type != m->end() && !type->is_null()) {
        if (!type->is_string())
          return InvalidArgumentError(mwhere + ": \"edit_type\" must be a string");
        s.edit_type = type->get<std::string>();
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- GEdit ----

const std::vector<std::string>& GEditGroups() {
  static const std::vector<std::string> kGroups = {
      "background_change", "color_alter",     "material_alter",
      "motion_change",     "ps_human",        "style_change",
      "subject-add",       "subject-remove",  "subject-replace",
      "text_change",       "tone_transfer"};
  return kGroups;
}

StatusOr<std::vector<GEditJudgement>> ParseGEditJsonl(const std::string& text,
                                                      const std::string& path) {
  std::vector<GEditJudgement> out;
  const std::vector<std::string>& groups = GEditGroups();
  RECA_RETURN_IF_ERROR(ForEachJsonObjectLine(text, path, [&](const Json& j, int, const std::string& where) -> Status {
    GEditJudgement s;
    s.origin = where;
    RECA_ASSIGN_OR_RETURN(s.key, RequiredString(j, "key", where));
    RECA_ASSIGN_OR_RETURN(s.task_type, RequiredString(j, "task_type", where));
    if (std::find(groups.begin(), groups.end(), s.task_type) == groups.end()) {
      std::string list;
      for (const std::string& g : groups) list += (list.empty() ? "" : ", ") + g;
      return InvalidArgumentError(where + ": \"task_type\" \"" + s.task_type +
                                  "\" is not one of GEdit-Bench's groups (" + list + ")");
    }
    RECA_ASSIGN_OR_RETURN(s.language, RequiredString(j, "instruction_language", where));
    if (s.language != "en" && s.language != "cn") {
      return InvalidArgumentError(where + ": \"instruction_language\" must be \"en\" or \"cn\"");
    }
    const auto inter = j.find("intersection_exist");
    if (inter == j.end() || !inter->is_boolean()) {
      return InvalidArgumentError(where + ": \"intersection_exist\" must be true or false");
    }
    s.intersection = inter->get<bool>();
    auto number = [&](std::initializer_list<const char*> names, double* out) -> Status {
      for (const char* name : names) {
        const auto it = j.find(name);
        if (it == j.end()) continue;
        if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 10 ||
            std::isnan(it->get<double>())) {
          return InvalidArgumentError(where + ": \"" + name +
                                      "\" must be a number in [0, 10]");
        }
        *out = it->get<double>();
        return OkStatus();
      }
      return InvalidArgumentError(where + ": \"" + *names.begin() +
                                  "\" must be a number in [0, 10]");
    };
    RECA_RETURN_IF_ERROR(number({"semantics_score", "sementics_score"}, &s.semantics));
    RECA_RETURN_IF_ERROR(number({"quality_score"}, &s.quality));
    out.push_back(std::move(s));
    return OkStatus();
  }));
  return out;
}

namespace {

// One CSV record: its fields and the line it starts on.
struct CsvRecord {
  std::vector<std::string> fields;
  int line = 0;
};

// RFC 4180 as Python's csv module writes it: ',' separators, '"' quotes with
// "" inside, newlines allowed in quoted fields, \r\n or \n line ends.
StatusOr<std::vector<CsvRecord>> ParseCsv(const std::string& text, const std::string& path) {
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string field;
  bool quoted = false, in_record = false, field_started = false;
  int line = 1;
  rec.line = 1;
  auto end_field = [&] {
    rec.fields.push_back(field);
    field.clear();
    field_started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (!in_record) {
      rec = CsvRecord();
      rec.line = line;
      in_record = true;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_field();
      if (!(rec.fields.size() == 1 && rec.fields[0].empty())) out.push_back(rec);
      in_record = false;
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) {
    return InvalidArgumentError(path + ":" + std::to_string(rec.line) +
                                ": a quoted field is not closed");
  }
  if (in_record) {
    end_field();
    if (!(rec.fields.size() == 1 && rec.fields[0].empty())) out.push_back(rec);
  }
  return out;
}

}  // namespace

StatusOr<std::vector<GEditJudgement>> ParseGEditUpstreamCsv(const std::string& text,
                                                            const std::string& path,
                                                            const std::string& group_in) {
  std::string group = group_in;
  if (group.empty()) {
    const std::string suffix = "_gpt_score.csv";
    for (const std::string& g : GEditGroups()) {
      const std::string tail = "_" + g + suffix;
      if (path.size() >= tail.size() &&
          path.compare(path.size() - tail.size(), tail.size(), tail) == 0) {
        group = g;
      }
    }
    if (group.empty()) {
      return InvalidArgumentError(path +
                                  ": the file name does not end with _<group>_gpt_score.csv "
                                  "for one of GEdit-Bench's groups");
    }
  } else if (std::find(GEditGroups().begin(), GEditGroups().end(), group) ==
             GEditGroups().end()) {
    return InvalidArgumentError(path + ": \"" + group + "\" is not one of GEdit-Bench's groups");
  }
  RECA_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, ParseCsv(text, path));
  if (records.empty()) return InvalidArgumentError(path + ": no header");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < records[0].fields.size(); ++i) col[records[0].fields[i]] = i;
  for (const char* name : {"edited_image", "sementics_score", "quality_score",
                           "intersection_exist", "instruction_language"}) {
    if (!col.count(name)) {
      return InvalidArgumentError(path + ":" + std::to_string(records[0].line) +
                                  ": the header has no column \"" + name + "\"");
    }
  }
  std::vector<GEditJudgement> out;
  for (size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& rec = records[r];
    const std::string where = path + ":" + std::to_string(rec.line);
    if (rec.fields.size() != records[0].fields.size()) {
      return InvalidArgumentError(where + ": " + std::to_string(rec.fields.size()) +
                                  " fields, the header has " +
                                  std::to_string(records[0].fields.size()));
    }
    auto field = [&](const char* name) { return rec.fields[col[name]]; };
    GEditJudgement s;
    s.origin = where;
    s.task_type = group;
    s.key = field("edited_image");
    if (s.key.empty()) return InvalidArgumentError(where + ": \"edited_image\" is empty");
    s.language = field("instruction_language");
    if (s.language != "en" && s.language != "cn") {
      return InvalidArgumentError(where + ": \"instruction_language\" must be en or cn");
    }
    const std::string inter = field("intersection_exist");
    if (inter == "True" || inter == "TRUE" || inter == "true") {
      s.intersection = true;
    } else if (inter == "False" || inter == "FALSE" || inter == "false") {
      s.intersection = false;
    } else {
      return InvalidArgumentError(where + ": \"intersection_exist\" must be True or False");
    }
    for (auto [name, dst] : {std::make_pair("sementics_score", &s.semantics),
                             std::make_pair("quality_score", &s.quality)}) {
      const std::string v = field(name);
      char* end = nullptr;
      const double x = v.empty() ? -1 : std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(x >= 0 && x <= 10)) {
        return InvalidArgumentError(where + ": \"" + name + "\" must be a number in [0, 10]");
      }
      *dst = x;
    }
    out.push_back(std::move(s));
  }
  return out;
}

StatusOr<GEditSummary> AggregateGEdit(const std::vector<GEditJudgement>& samples,
                                      const std::string& language) {
  if (language != "en" && language != "cn")
    return InvalidArgumentError("GEdit: the language must be \"en\" or \"cn\", not \"" +
                                language + "\"");
  GEditSummary out;
  out.language = language;
  struct Acc {
    std::vector<double> sc, pq, o;
  };
  std::map<std::string, Acc> full, inter;
  std::map<std::string, std::string> seen;  // key|language -> origin
  for (const GEditJudgement& s : samples) {
    auto [it, fresh] = seen.emplace(s.key + "|" + s.language, s.origin);
    if (!fresh) {
      return InvalidArgumentError(s.origin + ": key \"" + s.key + "\" (" + s.language +
                                  ") appears again (first at " + it->second + ")");
    }
    if (s.language != language) {
      ++out.other_language;
      continue;
    }
    const double o = std::sqrt(s.semantics * s.quality);
    for (Acc* a : {&full[s.task_type], s.intersection ? &inter[s.task_type] : nullptr}) {
      if (a == nullptr) continue;
      a->sc.push_back(s.semantics);
      a->pq.push_back(s.quality);
      a->o.push_back(o);
    }
  }
  auto subset = [](std::map<std::string, Acc>& by_group) {
    GEditSubsetScores r;
    for (const std::string& g : GEditGroups()) {
      auto it = by_group.find(g);
      if (it == by_group.end() || it->second.o.empty()) {
        r.missing_groups.push_back(g);
        continue;
      }
      GEditGroupScore gs;
      gs.group = g;
      gs.samples = static_cast<int>(it->second.o.size());
      gs.semantics = Mean(it->second.sc);
      gs.quality = Mean(it->second.pq);
      gs.overall = Mean(it->second.o);
      r.samples += gs.samples;
      r.semantics += gs.semantics;
      r.quality += gs.quality;
      r.overall += gs.overall;
      r.groups.push_back(gs);
    }
    if (!r.groups.empty()) {
      const double m = static_cast<double>(r.groups.size());
      r.semantics /= m;
      r.quality /= m;
      r.overall /= m;
    }
    return r;
  };
  out.fullset = subset(full);
  out.intersection = subset(inter);
  if (out.fullset.samples == 0) {
    return InvalidArgumentError("GEdit: no sample in language \"" + language + "\" (" +
                                std::to_string(out.other_language) + " in the other)");
  }
  return out;
}

// ---- Suites ----

std::string ImgEditSummaryJson(const ImgEditSummary& s) {
  Json types = Json::object(), counts = Json::object();
  for (const ImgEditTypeScore& t : s.types) {
    types[t.edit_type] = t.score;
    counts[t.edit_type] = t.samples;
  }
  return Json{{"overall", s.overall},
              {"types", types},
              {"mean_of_types", s.mean_of_types},
              {"samples", s.samples},
              {"unscored", static_cast<int>(s.unscored.size())},
              {"type_samples", counts}}
      .dump();
}

std::string GEditSummaryJson(const GEditSummary& s) {
  auto subset = [](const GEditSubsetScores& r) {
    Json groups = Json::object();
    for (const GEditGroupScore& g : r.groups) {
      groups[g.group] = Json{{"semantics", g.semantics},
                             {"quality", g.quality},
                             {"overall", g.overall},
                             {"samples", g.samples}};
    }
    Json missing = Json::array();
    for (const std::string& g : r.missing_groups) missing.push_back(g);
    return Json{{"overall", r.overall},   {"semantics", r.semantics},
                {"quality", r.quality},   {"samples", r.samples},
                {"groups", groups},       {"missing_groups", missing}};
  };
  Json j = subset(s.fullset);
  j["intersection"] = subset(s.intersection);
  j["language"] = s.language;
  return j.dump();
}

bool HasEditJudgeInputs(const EditJudgeOptions& o) {
  return !o.imgedit_judgements.empty() || !o.imgedit_results.empty() ||
         !o.imgedit_meta.empty() || !o.gedit_judgements.empty() || !o.gedit_csvs.empty();
}

Status ValidateEditJudgeOptions(const EditJudgeOptions& o) {
  if (o.imgedit_results.empty() != o.imgedit_meta.empty()) {
    return InvalidArgumentError(
        o.imgedit_results.empty() ? "--imgedit_results: required with --imgedit_meta"
                                  : "--imgedit_meta: required with --imgedit_results");
  }
  if (!o.imgedit_judgements.empty() && !o.imgedit_results.empty()) {
    return InvalidArgumentError(
        "--imgedit_judgements: give either it or --imgedit_results with --imgedit_meta");
  }
  if (!o.gedit_judgements.empty() && !o.gedit_csvs.empty()) {
    return InvalidArgumentError("--gedit_judgements: give either it or --gedit_csvs");
  }
  if (!HasEditJudgeInputs(o)) {
    return InvalidArgumentError(
        "--imgedit_judgements, --imgedit_results or --gedit_judgements: name the files to "
        "score");
  }
  if (o.gedit_language != "en" && o.gedit_language != "cn")
    return InvalidArgumentError("--gedit_language: must be en or cn");
  return OkStatus();
}

StatusOr<std::string> ScoreEditJudgeSuites(const EditJudgeOptions& o, std::ostream& log) {
  RECA_RETURN_IF_ERROR(ValidateEditJudgeOptions(o));
  Json suites = Json::object(), settings = Json::object();
  if (!o.imgedit_judgements.empty() || !o.imgedit_results.empty()) {
    std::vector<ImgEditJudgement> samples;
    std::string named;
    if (!o.imgedit_judgements.empty()) {
      RECA_ASSIGN_OR_RETURN(std::string text, ReadFile(o.imgedit_judgements));
      RECA_ASSIGN_OR_RETURN(samples, ParseImgEditJsonl(text, o.imgedit_judgements));
      named = o.imgedit_judgements;
      settings["imgedit_judgements"] = o.imgedit_judgements;
    } else {
      RECA_ASSIGN_OR_RETURN(std::string results, ReadFile(o.imgedit_results));
      RECA_ASSIGN_OR_RETURN(std::string meta, ReadFile(o.imgedit_meta));
      RECA_ASSIGN_OR_RETURN(samples, ParseImgEditUpstream(results, o.imgedit_results, meta,
                                                          o.imgedit_meta));
      named = o.imgedit_results;
      settings["imgedit_results"] = o.imgedit_results;
      settings["imgedit_meta"] = o.imgedit_meta;
    }
    auto summary = AggregateImgEdit(samples);
    if (!summary.ok()) return InFile(named, summary.status());
    suites[kImgEditSuite] = Json::parse(ImgEditSummaryJson(*summary));
    log << "imgedit: overall " << summary->overall << " over " << summary->samples
        << " samples;";
    for (const ImgEditTypeScore& t : summary->types)
      log << " " << t.edit_type << " " << t.score << " (" << t.samples << ")";
    log << "\n";
    for (const std::string& u : summary->unscored)
      log << "imgedit: " << u << ": no score in the judgement (dropped, as upstream)\n";
  }
  if (!o.gedit_judgements.empty() || !o.gedit_csvs.empty()) {
    std::vector<GEditJudgement> samples;
    std::string named;
    if (!o.gedit_judgements.empty()) {
      RECA_ASSIGN_OR_RETURN(std::string text, ReadFile(o.gedit_judgements));
      RECA_ASSIGN_OR_RETURN(samples, ParseGEditJsonl(text, o.gedit_judgements));
      named = o.gedit_judgements;
      settings["gedit_judgements"] = o.gedit_judgements;
    } else {
      for (const std::string& csv : o.gedit_csvs) {
        RECA_ASSIGN_OR_RETURN(std::string text, ReadFile(csv));
        RECA_ASSIGN_OR_RETURN(std::vector<GEditJudgement> part, ParseGEditUpstreamCsv(text, csv));
        samples.insert(samples.end(), part.begin(), part.end());
      }
      named = o.gedit_csvs.front() + (o.gedit_csvs.size() > 1 ? " ..." : "");
      settings["gedit_csvs"] = o.gedit_csvs;
    }
    auto summary = AggregateGEdit(samples, o.gedit_language);
    if (!summary.ok()) return InFile(named, summary.status());
    suites[kGEditSuite] = Json::parse(GEditSummaryJson(*summary));
    settings["gedit_language"] = o.gedit_language;
    log << "gedit (" << o.gedit_language << "): SC " << summary->fullset.semantics << " PQ "
        << summary->fullset.quality << " O " << summary->fullset.overall << " over "
        << summary->fullset.samples << " samples; intersection O "
        << summary->intersection.overall << "\n";
    if (!summary->fullset.complete()) {
      log << "gedit: groups without samples (upstream would print nan):";
      for (const std::string& g : summary->fullset.missing_groups) log << " " << g;
      log << "\n";
    }
  }
  return Json{{"suites", suites}, {"settings", settings}}.dump();
}

}  // namespace reca
