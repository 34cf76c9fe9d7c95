#include "reca/job_spec.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reca/job_spec_fields.h"

namespace reca {
namespace {

using json = nlohmann::json;
using namespace spec_fields;  // NOLINT: the table and its checks

// ---- Visitors ------------------------------------------------------------

std::string TypeName(const std::string*) { return "string"; }
std::string TypeName(const int64_t*) { return "integer"; }
std::string TypeName(const uint64_t*) { return "integer"; }
std::string TypeName(const double*) { return "number"; }
std::string TypeName(const bool*) { return "bool"; }
std::string TypeName(const std::vector<std::string>*) { return "list of strings"; }

// Strictly, as nlohmann::json's dump() (which throws otherwise) checks it.
bool IsValidUtf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// JSON -> struct. Collects the first error; records every key it reads so
// that leftovers are reported as unknown fields.
class Reader {
 public:
  Reader(const json& node, std::string path) : node_(node), path_(std::move(path)) {}

  template <class T> void Field(const char* name, T* out, const char*, const Check&) {
    seen_.insert(name);
    if (!error_.ok() || !node_.contains(name)) return;
    const json& j = node_.at(name);
    if (j.is_null()) return;  // `field:` with no value keeps the default
    Status s = Read(j, out, Path(name));
    if (!s.ok()) error_ = s;
  }
  template <class T> void Struct(const char* name, T* out, const char*) {
    seen_.insert(name);
    if (!error_.ok() || !node_.contains(name) || node_.at(name).is_null()) return;
    Status s = ReadObject(node_.at(name), out, Path(name));
    if (!s.ok()) error_ = s;
  }
  template <class T> void List(const char* name, std::vector<T>* out, const char*, const Check& c) {
    seen_.insert(name);
    if (!error_.ok() || !node_.contains(name) || node_.at(name).is_null()) return;
    const json& j = node_.at(name);
    if (!j.is_array()) {
      error_ = InvalidArgumentError(Path(name) + ": expected a list, got " + j.type_name());
      return;
    }
    // Before reading the items: a huge list costs nothing to refuse.
    if (std::string why = c.ItemsViolation(j.size()); !why.empty()) {
      error_ = InvalidArgumentError(Path(name) + ": " + why);
      return;
    }
    out->assign(j.size(), T());
    for (size_t i = 0; i < j.size() && error_.ok(); ++i) {
      Status s = ReadObject(j[i], &(*out)[i], Path(name) + "[" + std::to_string(i) + "]");
      if (!s.ok()) error_ = s;
    }
  }

  template <class T> static Status ReadObject(const json& j, T* out, const std::string& path) {
    if (!j.is_object()) {
      return InvalidArgumentError(path + ": expected a mapping, got " + std::string(j.type_name()));
    }
    Reader r(j, path);
    Visit(r, *out);
    RECA_RETURN_IF_ERROR(r.error_);
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (r.seen_.count(it.key())) continue;
      std::string known;
      for (const auto& k : r.seen_) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgumentError(path + "." + it.key() + ": unknown field (known: " + known + ")");
    }
    return OkStatus();
  }

 private:
  std::string Path(const char* name) const { return path_ + "." + name; }

  // The offending value for an error message: invalid UTF-8 replaced (a
  // plain dump() would throw on it), long values cut.
  static std::string Quote(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
  }
  static Status TypeError(const std::string& path, const std::string& want, const json& j) {
    return InvalidArgumentError(path + ": expected " + want + ", got " + j.type_name() + " " + Quote(j));
  }
  // Spec strings end up in JSON (checkpoints, the gRPC message), which must be UTF-8.
  static Status ReadText(const json& j, std::string* out, const std::string& path) {
    const std::string& s = j.get_ref<const std::string&>();
    if (!IsValidUtf8(s)) return InvalidArgumentError(path + ": not valid UTF-8 text: " + Quote(j));
    *out = s;
    return OkStatus();
  }
  static Status Read(const json& j, std::string* out, const std::string& path) {
    if (j.is_string()) {
      return ReadText(j, out, path);
    } else if (j.is_number() || j.is_boolean()) {
      *out = j.dump();  // YAML `name: 123`
    } else {
      return TypeError(path, "a string", j);
    }
    return OkStatus();
  }
  // Integers beyond int64 (2^63 and up, or 1e20) are read as the nearest
  // int64; every integer field's range lies well inside, so validation
  // (which always follows) refuses them with the field's range, not a wrapped
  // value that could pass.
  static Status Read(const json& j, int64_t* out, const std::string& path) {
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    if (j.is_number_unsigned()) {
      *out = j.get<uint64_t>() > static_cast<uint64_t>(kMax) ? kMax : j.get<int64_t>();
      return OkStatus();
    }
    if (j.is_number_integer()) {
      *out = j.get<int64_t>();
      return OkStatus();
    }
    if (j.is_number_float()) {
      const double d = j.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 9e15) {  // 1e3
        *out = static_cast<int64_t>(d);
        return OkStatus();
      }
      if (std::floor(d) == d) {  // 1e20, -1e20
        *out = d > 0 ? kMax : std::numeric_limits<int64_t>::min();
        return OkStatus();
      }
    }
    return TypeError(path, "an integer", j);
  }
  static Status Read(const json& j, uint64_t* out, const std::string& path) {
    if (j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0)) {
      *out = j.get<uint64_t>();
      return OkStatus();
    }
    if (j.is_number_integer() && j.get<int64_t>() < 0) {
      return InvalidArgumentError(path + ": must be >= 0");
    }
    return TypeError(path, "a non-negative integer", j);
  }
  static Status Read(const json& j, double* out, const std::string& path) {
    if (!j.is_number()) return TypeError(path, "a number", j);
    *out = j.get<double>();
    // YAML's .inf: JSON (the canonical spec in checkpoints) cannot hold it.
    if (std::isinf(*out)) return InvalidArgumentError(path + ": must be a finite number");
    return OkStatus();
  }
  static Status Read(const json& j, bool* out, const std::string& path) {
    if (!j.is_boolean()) return TypeError(path, "true or false", j);
    *out = j.get<bool>();
    return OkStatus();
  }
  static Status Read(const json& j, std::vector<std::string>* out, const std::string& path) {
    if (j.is_string()) {  // a single shard
      out->assign(1, std::string());
      return ReadText(j, &(*out)[0], path);
    }
    if (!j.is_array()) return TypeError(path, "a list of strings", j);
    out->clear();
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string()) return TypeError(path + "[" + std::to_string(i) + "]", "a string", j[i]);
      out->emplace_back();
      RECA_RETURN_IF_ERROR(ReadText(j[i], &out->back(), path + "[" + std::to_string(i) + "]"));
    }
    return OkStatus();
  }

  const json& node_;
  std::string path_;
  std::set<std::string> seen_;
  Status error_;
};

class Writer {
 public:
  explicit Writer(json* out) : out_(out) {}
  template <class T> void Field(const char* name, T* v, const char*, const Check&) {
    (*out_)[name] = *v;
  }
  template <class T> void Struct(const char* name, T* v, const char*) {
    json sub = json::object();
    Writer w(&sub);
    Visit(w, *v);
    (*out_)[name] = std::move(sub);
  }
  template <class T> void List(const char* name, std::vector<T>* v, const char*, const Check&) {
    json arr = json::array();
    for (T& item : *v) {
      json sub = json::object();
      Writer w(&sub);
      Visit(w, item);
      arr.push_back(std::move(sub));
    }
    (*out_)[name] = std::move(arr);
  }

 private:
  json* out_;
};

// Range checks of every field.
class Checker {
 public:
  explicit Checker(std::string path) : path_(std::move(path)) {}
  template <class T> void Field(const char* name, T* v, const char*, const Check& c) {
    if (!error_.ok()) return;
    std::string why = Violation(*v, c);
    if (!why.empty()) error_ = InvalidArgumentError(path_ + "." + name + ": " + why);
  }
  template <class T> void Struct(const char* name, T* v, const char*) {
    if (!error_.ok()) return;
    Checker sub(path_ + "." + name);
    Visit(sub, *v);
    error_ = sub.error_;
  }
  template <class T> void List(const char* name, std::vector<T>* v, const char*, const Check& c) {
    if (!error_.ok()) return;
    if (std::string why = c.ItemsViolation(v->size()); !why.empty()) {
      error_ = InvalidArgumentError(path_ + "." + name + ": " + why);
      return;
    }
    for (size_t i = 0; i < v->size() && error_.ok(); ++i) {
      Checker sub(path_ + "." + name + "[" + std::to_string(i) + "]");
      Visit(sub, (*v)[i]);
      error_ = sub.error_;
    }
  }
  Status error() const { return error_; }

 private:
  static std::string Violation(const std::string& v, const Check& c) { return c.Violation(v); }
  static std::string Violation(int64_t v, const Check& c) { return c.Violation(static_cast<double>(v)); }
  static std::string Violation(uint64_t, const Check&) { return ""; }
  static std::string Violation(double v, const Check& c) { return c.Violation(v); }
  static std::string Violation(bool, const Check&) { return ""; }
  static std::string Violation(const std::vector<std::string>& v, const Check& c) {
    if (std::string why = c.ItemsViolation(v.size()); !why.empty()) return why;
    for (size_t i = 0; i < v.size(); ++i) {
      std::string why = c.Violation(v[i]);
      if (!why.empty()) return "[" + std::to_string(i) + "]: " + why;
    }
    return "";
  }

  std::string path_;
  Status error_;
};

// Markdown rows: | `path` | type | default | allowed | meaning |
class Documenter {
 public:
  Documenter(std::string prefix, std::ostringstream* os) : prefix_(std::move(prefix)), os_(os) {}
  template <class T> void Field(const char* name, T* v, const char* doc, const Check& c) {
    const std::string def = json(*v).dump();
    *os_ << "| `" << prefix_ << name << "` | " << TypeName(v) << " | `" << def << "` | "
         << c.Describe() << " | " << doc << " |\n";
  }
  template <class T> void Struct(const char* name, T* v, const char* doc) {
    *os_ << "| `" << prefix_ << name << "` | mapping | | | " << doc << " |\n";
    Documenter sub(prefix_ + name + ".", os_);
    Visit(sub, *v);
  }
  template <class T> void List(const char* name, std::vector<T>* v, const char* doc, const Check& c) {
    *os_ << "| `" << prefix_ << name << "` | list | `[]` | " << c.Describe() << " | " << doc << " |\n";
    Documenter sub(prefix_ + name + "[]." , os_);
    T item;
    Visit(sub, item);
  }

 private:
  std::string prefix_;
  std::ostringstream* os_;
};

// The .proto schema: one message per struct, fields numbered in table order.
const char* MessageName(const JobSpec*) { return "JobSpec"; }
const char* MessageName(const ModelSpec*) { return "ModelSpec"; }
const char* MessageName(const SourceSpec*) { return "SourceSpec"; }
const char* MessageName(const DataSpec*) { return "DataSpec"; }
const char* MessageName(const RecaSpec*) { return "RecaSpec"; }
const char* MessageName(const OptimizerSpec*) { return "OptimizerSpec"; }
const char* MessageName(const ScheduleSpec*) { return "ScheduleSpec"; }
const char* MessageName(const CheckpointSpec*) { return "CheckpointSpec"; }
const char* MessageName(const SamplesSpec*) { return "SamplesSpec"; }
const char* MessageName(const EvalSpec*) { return "EvalSpec"; }

const char* ProtoType(const std::string*) { return "string"; }
const char* ProtoType(const int64_t*) { return "int64"; }
const char* ProtoType(const uint64_t*) { return "uint64"; }
const char* ProtoType(const double*) { return "double"; }
const char* ProtoType(const bool*) { return "bool"; }

// Writes one message and queues the messages of its sub-structs.
class ProtoSchema {
 public:
  template <class T> static void Message(T* s, std::ostringstream* os) {
    ProtoSchema v;
    *os << "\nmessage " << MessageName(s) << " {\n";
    v.os_ = os;
    Visit(v, *s);
    *os << "}\n";
    for (auto& emit : v.nested_) emit(os);
  }
  template <class T> void Field(const char* name, T* v, const char* doc, const Check& c) {
    Comment(doc, c, json(*v).dump());
    *os_ << "  optional " << ProtoType(v) << " " << name << " = " << ++number_ << ";\n";
  }
  void Field(const char* name, std::vector<std::string>* v, const char* doc, const Check& c) {
    Comment(doc, c, "");
    *os_ << "  repeated string " << name << " = " << ++number_ << ";\n";
  }
  template <class T> void Struct(const char* name, T* v, const char* doc) {
    Comment(doc, Check(), "");
    *os_ << "  " << MessageName(v) << " " << name << " = " << ++number_ << ";\n";
    nested_.push_back([](std::ostringstream* os) {
      T sub;
      Message(&sub, os);
    });
  }
  template <class T> void List(const char* name, std::vector<T>* v, const char* doc, const Check& c) {
    T* item = nullptr;
    Comment(doc, c, "");
    *os_ << "  repeated " << MessageName(item) << " " << name << " = " << ++number_ << ";\n";
    nested_.push_back([](std::ostringstream* os) {
      T sub;
      Message(&sub, os);
    });
  }

 private:
  void Comment(const std::string& doc, const Check& c, const std::string& def) {
    std::string text = doc;
    const std::string allowed = c.Describe();
    std::string notes;
    if (!allowed.empty()) notes = "allowed: " + allowed;
    if (!def.empty()) notes += (notes.empty() ? "" : "; ") + std::string("default ") + def;
    if (!notes.empty()) text += " (" + notes + ")";
    for (size_t p; (p = text.find("\\|")) != std::string::npos;) text.replace(p, 2, "|");
    for (size_t p; (p = text.find('`')) != std::string::npos;) text.erase(p, 1);
    // Wrapped at ~90 columns.
    std::istringstream words(text);
    std::string word, line = "  //";
    while (words >> word) {
      if (line.size() + 1 + word.size() > 92) {
        *os_ << line << "\n";
        line = "  //";
      }
      line += " " + word;
    }
    *os_ << line << "\n";
  }
  std::ostringstream* os_ = nullptr;
  int number_ = 0;
  std::vector<void (*)(std::ostringstream*)> nested_;
};

}  // namespace

std::string JobSpecProtoSchema() {
  std::ostringstream os;
  os << "// GENERATED by `reca-train --spec_proto` from the field table in reca/job_spec_fields.h;\n"
     << "// do not edit (scripts/update_spec_reference.sh regenerates it; a test checks it).\n"
     << "// Every scalar is `optional`: an unset field takes the default named in its comment.\n"
     << "syntax = \"proto3\";\n\npackage reca.v1;\n";
  JobSpec spec;
  ProtoSchema::Message(&spec, &os);
  return os.str();
}

int64_t JobSpec::warmup_steps() const {
  return schedule.warmup_steps >= 0 ? schedule.warmup_steps : (steps + 99) / 100;
}

std::vector<SourceSpec> DefaultSources(const std::string& family) {
  SourceSpec recon, i2t;
  recon.name = "shapes-recon";
  recon.task = "recon";
  recon.repeat = 2;
  i2t.name = "shapes-i2t";
  i2t.task = "i2t";
  i2t.repeat = 2;
  if (family == "flow" || family == "torchscript") return {recon};
  return {recon, i2t};
}

std::string JobSpec::effective_resize() const {
  if (data.resize != "auto") return data.resize;
  return "center_crop";  // mar: MAR's center_crop_arr; flow: BAGEL/SANA centre crops too
}

std::vector<SourceSpec> JobSpec::effective_sources() const {
  std::vector<SourceSpec> out = data.sources.empty() ? DefaultSources(model.family) : data.sources;
  for (SourceSpec& s : out) {
    if (s.name.empty()) s.name = s.type + "-" + s.task;
  }
  return out;
}

Status ValidateJobSpec(const JobSpec& spec) {
  JobSpec copy = spec;
  Checker checker("spec");
  Visit(checker, copy);
  RECA_RETURN_IF_ERROR(checker.error());
  std::set<std::string> names;
  for (size_t i = 0; i < spec.data.sources.size(); ++i) {
    const SourceSpec& s = spec.data.sources[i];
    const std::string p = "spec.data.sources[" + std::to_string(i) + "]";
    const bool has_manifest = s.type == "image_folder" || s.type == "edit_pairs";
    if (has_manifest && s.manifest.empty()) {
      return InvalidArgumentError(p + ".manifest: required for type " + s.type);
    }
    if (!has_manifest && !s.manifest.empty()) {
      return InvalidArgumentError(p + ".manifest: only for types image_folder and edit_pairs (type is " +
                                  s.type + ")");
    }
    if (s.type == "edit_pairs" && s.task != "edit") {
      return InvalidArgumentError(p + ".task: type edit_pairs has edit pairs only, so task must be edit (is " +
                                  s.task + ")");
    }
    if (s.task == "edit" && s.type != "shapes" && s.type != "edit_pairs") {
      return InvalidArgumentError(p + ".task: edit needs edit pairs: type shapes or edit_pairs (type is " +
                                  s.type + ")");
    }
    if (s.type == "webdataset" && s.shards.empty()) {
      return InvalidArgumentError(p + ".shards: required for type webdataset");
    }
    if (s.type != "webdataset" && !s.shards.empty()) {
      return InvalidArgumentError(p + ".shards: only for type webdataset (type is " + s.type + ")");
    }
    if (s.type != "shapes" && s.dense_captions) {
      return InvalidArgumentError(p + ".dense_captions: only for type shapes");
    }
    const std::string name = s.name.empty() ? s.type + "-" + s.task : s.name;
    if (!names.insert(name).second) {
      return InvalidArgumentError(p + ".name: '" + name + "' is used by another source");
    }
  }
  if ((spec.model.family == "torchscript") != !spec.model.module.empty()) {
    return InvalidArgumentError(spec.model.module.empty()
                                    ? "spec.model.module: required for family torchscript (a TorchScript .pt file)"
                                    : "spec.model.module: only for family torchscript (family is " +
                                          spec.model.family + ")");
  }
  RECA_RETURN_IF_ERROR(ParseConfigEntries(spec.model.config, "spec.model.config").status());
  const std::vector<std::string>& frozen = spec.model.frozen;
  if (frozen.size() > 1 && std::find(frozen.begin(), frozen.end(), "auto") != frozen.end()) {
    return InvalidArgumentError("spec.model.frozen: `auto` stands alone (the family's default); list module names instead");
  }
  RECA_ASSIGN_OR_RETURN(const std::optional<KeepBest> best, ParseKeepBest(spec.checkpoint.keep_best));
  if (best && std::find(spec.eval.suites.begin(), spec.eval.suites.end(), best->suite) == spec.eval.suites.end()) {
    return InvalidArgumentError("spec.checkpoint.keep_best: suite '" + best->suite +
                                "' is not in spec.eval.suites, so no checkpoint would get that score");
  }
  if (spec.optimizer.min_lr > spec.optimizer.lr) {
    return InvalidArgumentError("spec.optimizer.min_lr: must be <= spec.optimizer.lr");
  }
  if (spec.warmup_steps() > spec.steps) {
    return InvalidArgumentError("spec.schedule.warmup_steps: must be <= spec.steps");
  }
  // The product the table cannot bound field by field (the fields' own bounds
  // keep it far from overflow: 2^16 x 64 sources x 2^10).
  int64_t batches = 0;
  for (const SourceSpec& s : spec.effective_sources()) batches += s.repeat;
  if (spec.batch_per_rank * batches > kMaxRankStepSamples) {
    return InvalidArgumentError(
        "spec.batch_per_rank: " + std::to_string(spec.batch_per_rank) + " x " + std::to_string(batches) +
        " batches per step (the sources' repeats) = " + std::to_string(spec.batch_per_rank * batches) +
        " samples per rank per step, more than the limit of " + std::to_string(kMaxRankStepSamples));
  }
  return OkStatus();
}

StatusOr<std::optional<KeepBest>> ParseKeepBest(const std::string& keep_best) {
  if (keep_best.empty()) return std::optional<KeepBest>();
  KeepBest best;
  best.lower_is_better = keep_best[0] == '-';
  const std::string name = best.lower_is_better ? keep_best.substr(1) : keep_best;
  const size_t slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) {
    return InvalidArgumentError("spec.checkpoint.keep_best: expected `suite/metric` or `-suite/metric`, got '" +
                                keep_best + "'");
  }
  best.suite = name.substr(0, slash);
  best.metric = name.substr(slash + 1);
  return std::optional<KeepBest>(best);
}

StatusOr<std::map<std::string, std::string>> ParseConfigEntries(const std::vector<std::string>& entries,
                                                                const std::string& field) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& kv = entries[i];
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size()) {
      return InvalidArgumentError(field + "[" + std::to_string(i) + "]: expected key=value, got '" + kv + "'");
    }
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

StatusOr<JobSpec> JobSpecFromJson(const json& tree) {
  JobSpec spec;
  if (tree.is_null()) return spec;  // an empty file: all defaults
  RECA_RETURN_IF_ERROR(Reader::ReadObject(tree, &spec, "spec"));
  RECA_RETURN_IF_ERROR(ValidateJobSpec(spec));
  return spec;
}

json JobSpecToJson(const JobSpec& spec) {
  json out = json::object();
  JobSpec copy = spec;
  Writer w(&out);
  Visit(w, copy);
  return out;
}

Status ApplyOverride(json* tree, const std::string& path, const std::string& value) {
  if (path.empty()) return InvalidArgumentError("override: empty field path");
  if (tree->is_null()) *tree = json::object();
  json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) parsed = value;
  json* node = tree;
  std::string rest = path;
  while (true) {
    const size_t dot = rest.find('.');
    const std::string key = rest.substr(0, dot);
    if (key.empty()) return InvalidArgumentError("override " + path + ": empty path component");
    const bool index = key.find_first_not_of("0123456789") == std::string::npos;
    if (index && key.size() > 6) {
      return InvalidArgumentError("override " + path + ": list index " + key + " is too large");
    }
    if (index) {
      if (!node->is_array()) {
        return InvalidArgumentError("override " + path + ": '" + key + "' indexes a non-list");
      }
      const size_t i = std::stoul(key);
      if (i > node->size()) {
        return InvalidArgumentError("override " + path + ": index " + key + " is past the end of a list of " +
                                    std::to_string(node->size()));
      }
      if (i == node->size()) node->push_back(json::object());
      node = &(*node)[i];
    } else {
      if (node->is_null()) *node = json::object();
      if (!node->is_object()) {
        return InvalidArgumentError("override " + path + ": '" + key + "' is inside a non-mapping");
      }
      node = &(*node)[key];
    }
    if (dot == std::string::npos) break;
    rest = rest.substr(dot + 1);
  }
  *node = parsed;
  return OkStatus();
}

std::string JobSpecReferenceMarkdown() {
  std::ostringstream os;
  os << "| field | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
  JobSpec spec;
  Documenter d("", &os);
  Visit(d, spec);
  return os.str();
}

}  // namespace reca
