#include "reca/job_spec.h"

#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace reca {
namespace {

using json = nlohmann::json;

// A field's constraint: numeric bounds and/or a list of allowed strings.
struct Check {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  std::vector<std::string> choices;

  std::string Describe() const {
    std::ostringstream os;
    if (!choices.empty()) {
      for (size_t i = 0; i < choices.size(); ++i) os << (i ? " \\| " : "") << "`" << choices[i] << "`";
      return os.str();
    }
    auto num = [](double v) {
      std::ostringstream s;
      s << v;
      return s.str();
    };
    const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
    if (has_lo && has_hi) {
      os << (lo_open ? "(" : "[") << num(lo) << ", " << num(hi) << (hi_open ? ")" : "]");
    } else if (has_lo) {
      os << (lo_open ? "> " : ">= ") << num(lo);
    } else if (has_hi) {
      os << (hi_open ? "< " : "<= ") << num(hi);
    }
    return os.str();
  }
  // An error message for `v`, or "" when it passes.
  std::string Violation(double v) const {
    if (std::isnan(v)) return "must be a number, not NaN";
    const std::string d = Describe();
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi)) {
      if (std::isfinite(lo) && std::isfinite(hi)) return "must be in " + d;
      return "must be " + d;
    }
    return "";
  }
  std::string Violation(const std::string& v) const {
    if (choices.empty()) return "";
    for (const auto& c : choices) {
      if (c == v) return "";
    }
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    return "must be one of " + list + " (got '" + v + "')";
  }
};

Check Any() { return {}; }
Check AtLeast(double v) { Check c; c.lo = v; return c; }
Check Above(double v) { Check c; c.lo = v; c.lo_open = true; return c; }
Check Between(double lo, double hi, bool hi_open = false) {
  Check c; c.lo = lo; c.hi = hi; c.hi_open = hi_open; return c;
}
Check OneOf(std::vector<std::string> v) { Check c; c.choices = std::move(v); return c; }

// ---- The field table -----------------------------------------------------
// Each Visit lists a struct's fields once; the visitors below parse,
// serialise, validate and document from it.

template <class V> void Visit(V& v, ModelSpec& s) {
  v.Field("family", &s.family, "model family", OneOf({"mar"}));
  v.Field("preset", &s.preset, "size preset of the family", OneOf({"tiny", "medium"}));
  v.Field("init", &s.init,
          "start from these weights: a `.safetensors` file or a checkpoint directory "
          "(its model weights); empty = fresh initialisation from `seed`", Any());
}

template <class V> void Visit(V& v, SourceSpec& s) {
  v.Field("name", &s.name, "label in logs and metrics; default `<type>-<task>`", Any());
  v.Field("type", &s.type,
          "`shapes`: the procedural shapes world (infinite); `image_folder`: images listed in "
          "a JSONL manifest; `webdataset`: `.tar` shards", OneOf({"shapes", "image_folder", "webdataset"}));
  v.Field("task", &s.task,
          "`recon`: RecA reconstruction (images only); `i2t`: captioning; `t2i`: text-to-image "
          "(both need captions)", OneOf({"recon", "i2t", "t2i"}));
  v.Field("repeat", &s.repeat, "batches of `batch_per_rank` samples from this source per step",
          AtLeast(1));
  v.Field("manifest", &s.manifest,
          "image_folder: JSONL file, one `{\"path\": ..., \"caption\": ...}` per line (paths "
          "relative to the manifest)", Any());
  v.Field("shards", &s.shards,
          "webdataset: shard paths, globs or brace ranges (`data/shard-{0000..0099}.tar`); "
          "members `key.jpg` or `key.png` + `key.txt` or `key.json`", Any());
  v.Field("dense_captions", &s.dense_captions, "shapes: dense captions instead of sparse ones",
          Any());
}

template <class V> void Visit(V& v, DataSpec& s) {
  v.List("sources", &s.sources,
         "the data sources; empty = reconstruction x2 + captioning x2 on the shapes world");
  v.Field("resize", &s.resize,
          "how images become the model's resolution: `center_crop` scales the shorter side and "
          "crops the centre, `stretch` scales both; `auto` = the family's policy (mar: center_crop)",
          OneOf({"auto", "center_crop", "stretch"}));
  v.Field("prefetch_steps", &s.prefetch_steps, "steps of batches prepared ahead on the loader thread",
          AtLeast(1));
  v.Field("loader_threads", &s.loader_threads,
          "threads reading and decoding a step's samples in parallel; 0 = min(8, cores / 2)",
          Between(0, 256));
  v.Field("max_bad_samples", &s.max_bad_samples,
          "the job fails when more unreadable samples than this have been skipped ...", AtLeast(0));
  v.Field("max_bad_fraction", &s.max_bad_fraction,
          "... and they are more than this fraction of the samples read", Between(0, 1));
}

template <class V> void Visit(V& v, RecaSpec& s) {
  v.Field("recon_weight", &s.recon_weight, "loss weight of the reconstruction batches", AtLeast(0));
  v.Field("i2t_weight", &s.i2t_weight, "loss weight of the captioning batches", AtLeast(0));
  v.Field("t2i_weight", &s.t2i_weight, "loss weight of the text-to-image batches", AtLeast(0));
  v.Field("cfg_drop", &s.cfg_drop,
          "probability of dropping the text of a recon/t2i prompt (classifier-free guidance); "
          "visual tokens are never dropped", Between(0, 1, true));
  v.Field("max_text_tokens", &s.max_text_tokens, "prompt and caption length limit", AtLeast(4));
}

template <class V> void Visit(V& v, OptimizerSpec& s) {
  v.Field("lr", &s.lr, "peak learning rate (AdamW)", Above(0));
  v.Field("min_lr", &s.min_lr, "learning rate at the end of the cosine decay", AtLeast(0));
  v.Field("beta1", &s.beta1, "AdamW beta1", Between(0, 1, true));
  v.Field("beta2", &s.beta2, "AdamW beta2", Between(0, 1, true));
  v.Field("eps", &s.eps, "AdamW epsilon", Above(0));
  v.Field("weight_decay", &s.weight_decay, "decoupled weight decay on matrices (not biases/norms)",
          AtLeast(0));
  v.Field("grad_clip", &s.grad_clip, "clip the global gradient norm to this; 0 = off", AtLeast(0));
  v.Field("ema_decay", &s.ema_decay, "EMA of the weights (e.g. 0.9999); 0 = off", Between(0, 1, true));
}

template <class V> void Visit(V& v, ScheduleSpec& s) {
  v.Field("warmup_steps", &s.warmup_steps, "linear warm-up steps; -1 = 1% of `steps`", AtLeast(-1));
  v.Field("decay", &s.decay, "after warm-up: cosine to `min_lr`, or constant",
          OneOf({"cosine", "constant"}));
}

template <class V> void Visit(V& v, CheckpointSpec& s) {
  v.Field("every", &s.every,
          "commit a checkpoint every N steps; 0 = only at the end (and on SIGTERM)", AtLeast(0));
  v.Field("keep", &s.keep, "keep the newest N committed checkpoints; 0 = all", Between(0, 1000000));
}

template <class V> void Visit(V& v, SamplesSpec& s) {
  v.Field("every", &s.every, "write PNG grids every N steps; 0 = only at the end", AtLeast(0));
  v.Field("count", &s.count, "images per grid row; 0 = no grids", AtLeast(0));
  v.Field("iters", &s.iters, "generation rounds", AtLeast(1));
  v.Field("diffusion_steps", &s.diffusion_steps, "denoising steps per round", AtLeast(1));
  v.Field("cfg", &s.cfg, "classifier-free guidance scale; 1 = off", AtLeast(1));
  v.Field("temperature", &s.temperature, "sampling temperature", Above(0));
}

template <class V> void Visit(V& v, JobSpec& s) {
  v.Field("name", &s.name, "job name (logs, metrics)", Any());
  v.Field("seed", &s.seed,
          "seeds the initial weights, the data order and every step's noise", Any());
  v.Field("steps", &s.steps, "optimizer steps", AtLeast(1));
  v.Field("batch_per_rank", &s.batch_per_rank,
          "samples per batch on each rank (global batch = ranks x this)", AtLeast(1));
  v.Field("log_every", &s.log_every, "a log line every N steps (metrics.jsonl gets every step)",
          AtLeast(1));
  v.Struct("model", &s.model, "what to train");
  v.Struct("data", &s.data, "where samples come from");
  v.Struct("reca", &s.reca, "the RecA objective");
  v.Struct("optimizer", &s.optimizer, "AdamW");
  v.Struct("schedule", &s.schedule, "learning-rate schedule");
  v.Struct("checkpoint", &s.checkpoint, "crash-safe checkpoints");
  v.Struct("samples", &s.samples, "PNG grids of reconstructions and samples");
}

// ---- Visitors ------------------------------------------------------------

std::string TypeName(const std::string*) { return "string"; }
std::string TypeName(const int64_t*) { return "integer"; }
std::string TypeName(const uint64_t*) { return "integer"; }
std::string TypeName(const double*) { return "number"; }
std::string TypeName(const bool*) { return "bool"; }
std::string TypeName(const std::vector<std::string>*) { return "list of strings"; }

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
  template <class T> void List(const char* name, std::vector<T>* out, const char*) {
    seen_.insert(name);
    if (!error_.ok() || !node_.contains(name) || node_.at(name).is_null()) return;
    const json& j = node_.at(name);
    if (!j.is_array()) {
      error_ = InvalidArgumentError(Path(name) + ": expected a list, got " + j.type_name());
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

  static Status TypeError(const std::string& path, const std::string& want, const json& j) {
    return InvalidArgumentError(path + ": expected " + want + ", got " + j.type_name() + " " +
                                j.dump());
  }
  static Status Read(const json& j, std::string* out, const std::string& path) {
    if (j.is_string()) {
      *out = j.get<std::string>();
    } else if (j.is_number() || j.is_boolean()) {
      *out = j.dump();  // YAML `name: 123`
    } else {
      return TypeError(path, "a string", j);
    }
    return OkStatus();
  }
  static Status Read(const json& j, int64_t* out, const std::string& path) {
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
    return OkStatus();
  }
  static Status Read(const json& j, bool* out, const std::string& path) {
    if (!j.is_boolean()) return TypeError(path, "true or false", j);
    *out = j.get<bool>();
    return OkStatus();
  }
  static Status Read(const json& j, std::vector<std::string>* out, const std::string& path) {
    if (j.is_string()) {  // a single shard
      *out = {j.get<std::string>()};
      return OkStatus();
    }
    if (!j.is_array()) return TypeError(path, "a list of strings", j);
    out->clear();
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string()) return TypeError(path + "[" + std::to_string(i) + "]", "a string", j[i]);
      out->push_back(j[i].get<std::string>());
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
  template <class T> void List(const char* name, std::vector<T>* v, const char*) {
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
  template <class T> void List(const char* name, std::vector<T>* v, const char*) {
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
  static std::string Violation(const std::vector<std::string>&, const Check&) { return ""; }

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
  template <class T> void List(const char* name, std::vector<T>* v, const char* doc) {
    *os_ << "| `" << prefix_ << name << "` | list | `[]` | | " << doc << " |\n";
    Documenter sub(prefix_ + name + "[]." , os_);
    T item;
    Visit(sub, item);
  }

 private:
  std::string prefix_;
  std::ostringstream* os_;
};

}  // namespace

int64_t JobSpec::warmup_steps() const {
  return schedule.warmup_steps >= 0 ? schedule.warmup_steps : (steps + 99) / 100;
}

std::vector<SourceSpec> DefaultSources() {
  SourceSpec recon, i2t;
  recon.name = "shapes-recon";
  recon.task = "recon";
  recon.repeat = 2;
  i2t.name = "shapes-i2t";
  i2t.task = "i2t";
  i2t.repeat = 2;
  return {recon, i2t};
}

std::string JobSpec::effective_resize() const {
  if (data.resize != "auto") return data.resize;
  return "center_crop";  // mar (the only family so far): MAR's center_crop_arr
}

std::vector<SourceSpec> JobSpec::effective_sources() const {
  std::vector<SourceSpec> out = data.sources.empty() ? DefaultSources() : data.sources;
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
    if (s.type == "image_folder" && s.manifest.empty()) {
      return InvalidArgumentError(p + ".manifest: required for type image_folder");
    }
    if (s.type != "image_folder" && !s.manifest.empty()) {
      return InvalidArgumentError(p + ".manifest: only for type image_folder (type is " + s.type + ")");
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
  if (spec.optimizer.min_lr > spec.optimizer.lr) {
    return InvalidArgumentError("spec.optimizer.min_lr: must be <= spec.optimizer.lr");
  }
  if (spec.warmup_steps() > spec.steps) {
    return InvalidArgumentError("spec.schedule.warmup_steps: must be <= spec.steps");
  }
  return OkStatus();
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
