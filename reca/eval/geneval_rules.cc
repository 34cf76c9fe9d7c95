#include "reca/eval/geneval_rules.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

namespace reca {
namespace {

using Json = nlohmann::json;

const char* const kRelations[] = {"left of", "right of", "above", "below"};

bool IsRelation(const std::string& r) {
  return std::find(std::begin(kRelations), std::end(kRelations), r) !=
         std::end(kRelations);
}

std::string Num(int v) { return std::to_string(v); }

StatusOr<GenEvalClause> ParseClause(const Json& j, size_t index,
                                    bool allow_position,
                                    const std::string& where) {
  if (!j.is_object())
    return InvalidArgumentError(where + ": a clause is not an object");
  GenEvalClause c;
  if (!j.contains("class") || !j["class"].is_string()) {
    return InvalidArgumentError(where + ": a clause has no string \"class\"");
  }
  c.cls = j["class"].get<std::string>();
  if (j.contains("count")) {
    if (!j["count"].is_number_integer() || j["count"].get<int64_t>() < 0) {
      return InvalidArgumentError(where + ": \"count\" of " + c.cls +
                                  " must be an integer >= 0");
    }
    c.count = static_cast<int>(j["count"].get<int64_t>());
  }
  if (j.contains("color")) {
    if (!j["color"].is_string())
      return InvalidArgumentError(where + ": \"color\" must be a string");
    c.color = j["color"].get<std::string>();
  }
  if (j.contains("position")) {
    const Json& p = j["position"];
    if (!allow_position)
      return InvalidArgumentError(where + ": exclude clauses take no position");
    if (!p.is_array() || p.size() != 2 || !p[0].is_string() ||
        !p[1].is_number_integer()) {
      return InvalidArgumentError(
          where + ": \"position\" must be [relation, clause index]");
    }
    const std::string rel = p[0].get<std::string>();
    const int64_t target = p[1].get<int64_t>();
    if (!IsRelation(rel)) {
      return InvalidArgumentError(where + ": unknown relation '" + rel +
                                  "' (left of, right of, above, below)");
    }
    if (target < 0 || static_cast<size_t>(target) >= index) {
      return InvalidArgumentError(where + ": position target " +
                                  std::to_string(target) +
                                  " is not an earlier include clause");
    }
    c.position = std::make_pair(rel, static_cast<int>(target));
  }
  return c;
}

nlohmann::ordered_json ClauseToJson(const GenEvalClause& c) {
  nlohmann::ordered_json j = {{"class", c.cls}, {"count", c.count}};
  if (c.color) j["color"] = *c.color;
  if (c.position)
    j["position"] =
        nlohmann::ordered_json::array({c.position->first, c.position->second});
  return j;
}

StatusOr<std::array<double, 4>> ParseBox(const Json& j,
                                         const std::string& where) {
  if (!j.is_array() || j.size() < 4) {
    return InvalidArgumentError(where + ": \"box\" must be [x0, y0, x1, y1]");
  }
  std::array<double, 4> box{};
  for (size_t i = 0; i < 4; ++i) {
    if (!j[i].is_number())
      return InvalidArgumentError(where + ": \"box\" must hold numbers");
    box[i] = j[i].get<double>();
  }
  return box;
}

// numpy's argsort, as numpy 1.23 runs it for float32 (npysort's aquicksort_
// and aheapsort_ with FLOAT_LT), on `order`, a permutation of indices into
// `v`. Written from the algorithm's description; every comparison and swap
// happens in the same sequence, so ties land where numpy puts them.
class NumpyArgsort {
 public:
  explicit NumpyArgsort(const std::vector<float>& v) : v_(v) {}

  std::vector<size_t> Sort() const {
    std::vector<size_t> order(v_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (!order.empty())
      Introsort(order.data(), static_cast<Index>(order.size()));
    return order;
  }

 private:
  using Index = std::ptrdiff_t;
  // Spans longer than this (pr - pl > 15, i.e. more than 16 elements) are
  // partitioned; shorter ones insertion-sorted.
  static constexpr Index kSmallSpan = 15;

  // FLOAT_LT: x < y, with NaNs after every number.
  static bool LessValue(float x, float y) {
    return x < y || (y != y && x == x);
  }
  bool Less(size_t a, size_t b) const { return LessValue(v_[a], v_[b]); }

  static int FloorLog2(Index n) {
    int depth = 0;
    while (n >>= 1) ++depth;
    return depth;
  }

  void Introsort(size_t* a, Index n) const {
    struct Span {
      Index lo, hi;
      int depth;
    };
    std::vector<Span> stack;
    Index lo = 0, hi = n - 1;
    int depth = FloorLog2(n) * 2;
    for (;;) {
      if (depth < 0) {
        Heapsort(a + lo, hi - lo + 1);
      } else {
        while (hi - lo > kSmallSpan) {
          // Median of three (lo, mid, hi), the pivot parked at hi - 1.
          const Index mid = lo + ((hi - lo) >> 1);
          if (Less(a[mid], a[lo])) std::swap(a[mid], a[lo]);
          if (Less(a[hi], a[mid])) std::swap(a[hi], a[mid]);
          if (Less(a[mid], a[lo])) std::swap(a[mid], a[lo]);
          const float pivot = v_[a[mid]];
          Index i = lo, j = hi - 1;
          std::swap(a[mid], a[j]);
          for (;;) {
            do {
              ++i;
            } while (LessValue(v_[a[i]], pivot));
            do {
              --j;
            } while (LessValue(pivot, v_[a[j]]));
            if (i >= j) break;
            std::swap(a[i], a[j]);
          }
          std::swap(a[i], a[hi - 1]);
          // The larger side waits on the stack; go on with the smaller.
          --depth;
          if (i - lo < hi - i) {
            stack.push_back({i + 1, hi, depth});
            hi = i - 1;
          } else {
            stack.push_back({lo, i - 1, depth});
            lo = i + 1;
          }
        }
        for (Index i = lo + 1; i <= hi; ++i) {  // insertion sort: stable
          const size_t item = a[i];
          const float value = v_[item];
          Index j = i;
          while (j > lo && LessValue(value, v_[a[j - 1]])) {
            a[j] = a[j - 1];
            --j;
          }
          a[j] = item;
        }
      }
      if (stack.empty()) break;
      lo = stack.back().lo;
      hi = stack.back().hi;
      depth = stack.back().depth;
      stack.pop_back();
    }
  }

  // Heapsort of base[0..n), indexed 1..n as numpy writes it.
  void Heapsort(size_t* base, Index n) const {
    size_t* a = base - 1;
    auto sift = [&](Index i, Index size, size_t item) {
      for (Index j = i * 2; j <= size;) {
        if (j < size && Less(a[j], a[j + 1])) ++j;
        if (!Less(item, a[j])) break;
        a[i] = a[j];
        i = j;
        j += j;
      }
      a[i] = item;
    };
    for (Index l = n >> 1; l > 0; --l) sift(l, n, a[l]);
    while (n > 1) {
      const size_t item = a[n];
      a[n] = a[1];
      --n;
      sift(1, n, item);
    }
  }

  const std::vector<float>& v_;
};

// "<digits>/samples/<file>" anywhere in the path: the prompt's folder.
std::optional<int> PromptIndexFromFilename(const std::string& filename) {
  std::vector<std::string> parts;
  std::stringstream ss(filename);
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  for (size_t i = parts.size(); i-- > 1;) {
    if (parts[i] != "samples") continue;
    const std::string& d = parts[i - 1];
    if (!d.empty() && d.size() < 10 &&
        std::all_of(d.begin(), d.end(),
                    [](unsigned char c) { return std::isdigit(c) != 0; })) {
      return std::atoi(d.c_str());
    }
  }
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& GenEvalColors() {
  static const std::vector<std::string>* const kColors =
      new std::vector<std::string>{"red",   "orange", "yellow", "green",
                                   "blue",  "purple", "pink",   "brown",
                                   "black", "white"};
  return *kColors;
}

Status ValidateGenEvalOptions(const GenEvalOptions& o) {
  auto unit = [](double v, const char* flag) -> Status {
    if (!(v >= 0 && v <= 1))  // also refuses NaN
      return InvalidArgumentError(std::string(flag) +
                                  ": must be a number in [0, 1]");
    return OkStatus();
  };
  RECA_RETURN_IF_ERROR(unit(o.threshold, "--geneval_threshold"));
  RECA_RETURN_IF_ERROR(
      unit(o.counting_threshold, "--geneval_counting_threshold"));
  if (o.max_objects < 0)
    return InvalidArgumentError("--geneval_max_objects: must be >= 0");
  RECA_RETURN_IF_ERROR(unit(o.max_overlap, "--geneval_max_overlap"));
  RECA_RETURN_IF_ERROR(
      unit(o.position_threshold, "--geneval_position_threshold"));
  return OkStatus();
}

std::vector<size_t> GenEvalScoreOrder(const std::vector<float>& scores) {
  std::vector<size_t> order = NumpyArgsort(scores).Sort();
  std::reverse(order.begin(), order.end());
  return order;
}

std::set<std::string> GenEvalRelativePosition(const std::array<double, 4>& a64,
                                              const std::array<double, 4>& b64,
                                              double position_threshold) {
  // Upstream: boxes.mean(axis=-2), np.abs(np.diff(boxes, axis=-2)), all on
  // float32 arrays (evaluate_images.py, relative_position).
  float a[4], b[4];
  for (int k = 0; k < 4; ++k) {
    a[k] = static_cast<float>(a64[k]);
    b[k] = static_cast<float>(b64[k]);
  }
  const float threshold = static_cast<float>(position_threshold);
  float offset[2], revised[2];
  for (int k = 0; k < 2; ++k) {
    const float center_a = (a[k] + a[k + 2]) / 2.0f;
    const float center_b = (b[k] + b[k + 2]) / 2.0f;
    const float dim_a = std::fabs(a[k + 2] - a[k]);
    const float dim_b = std::fabs(b[k + 2] - b[k]);
    offset[k] = center_a - center_b;
    const float sign = offset[k] > 0 ? 1.0f : (offset[k] < 0 ? -1.0f : 0.0f);
    revised[k] =
        std::max(std::fabs(offset[k]) - threshold * (dim_a + dim_b), 0.0f) *
        sign;
  }
  const float kNone = 1e-3f;
  if (std::fabs(revised[0]) < kNone && std::fabs(revised[1]) < kNone) return {};
  // np.linalg.norm of a float32 vector: sqrt of its float32 dot product.
  const float squares = offset[0] * offset[0] + offset[1] * offset[1];
  const float norm = std::sqrt(squares);
  const float dx = revised[0] / norm, dy = revised[1] / norm;
  std::set<std::string> rel;
  if (dx < -0.5f) rel.insert("left of");
  if (dx > 0.5f) rel.insert("right of");
  if (dy < -0.5f) rel.insert("above");
  if (dy > 0.5f) rel.insert("below");
  return rel;
}

double GenEvalIou(const std::array<double, 4>& a64,
                  const std::array<double, 4>& b64) {
  float a[4], b[4];
  for (int k = 0; k < 4; ++k) {
    a[k] = static_cast<float>(a64[k]);
    b[k] = static_cast<float>(b64[k]);
  }
  // box[2] - box[0] of float32 scalars is float32; numpy 1.x turns `+ 1` and
  // all that follows into float64.
  auto area = [](float x0, float y0, float x1, float y1) {
    const double w = static_cast<double>(x1 - x0) + 1.0;
    const double h = static_cast<double>(y1 - y0) + 1.0;
    return std::max(w, 0.0) * std::max(h, 0.0);
  };
  const double inter = area(std::max(a[0], b[0]), std::max(a[1], b[1]),
                            std::min(a[2], b[2]), std::min(a[3], b[3]));
  const double uni =
      area(a[0], a[1], a[2], a[3]) + area(b[0], b[1], b[2], b[3]) - inter;
  return uni != 0 ? inter / uni : 0.0;
}

GenEvalDetections FilterGenEvalDetections(const GenEvalDetections& raw,
                                          const std::string& tag,
                                          const GenEvalOptions& options) {
  const float threshold = static_cast<float>(
      tag == "counting" ? options.counting_threshold : options.threshold);
  GenEvalDetections out;
  for (const auto& [cls, dets] : raw) {
    std::vector<float> scores(dets.size());
    for (size_t i = 0; i < dets.size(); ++i)
      scores[i] = static_cast<float>(dets[i].score);
    // ordering = argsort(scores)[::-1]; ordering[scores > threshold];
    // ordering[:max_objects] (a Python slice: a negative end counts from the
    // back).
    std::vector<size_t> kept;
    for (size_t i : GenEvalScoreOrder(scores)) {
      if (scores[i] > threshold) kept.push_back(i);
    }
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(kept.size());
    const std::ptrdiff_t end =
        options.max_objects >= 0
            ? std::min<std::ptrdiff_t>(n, options.max_objects)
            : std::max<std::ptrdiff_t>(0, n + options.max_objects);
    kept.resize(static_cast<size_t>(end));
    std::vector<GenEvalDetection> result;
    while (!kept.empty()) {
      const size_t top = kept.front();
      kept.erase(kept.begin());
      result.push_back(dets[top]);
      if (options.max_overlap != 1.0) {
        // Upstream keeps those with compute_iou(top, obj) < max_overlap.
        kept.erase(
            std::remove_if(kept.begin(), kept.end(),
                           [&](size_t i) {
                             return !(GenEvalIou(dets[top].box, dets[i].box) <
                                      options.max_overlap);
                           }),
            kept.end());
      }
    }
    if (!result.empty()) out[cls] = std::move(result);
  }
  return out;
}

GenEvalImageResult EvaluateGenEvalImage(const GenEvalMetadata& metadata,
                                        const GenEvalDetections& objects,
                                        const GenEvalOptions& options) {
  GenEvalImageResult res;
  res.correct = true;
  std::vector<std::string> reasons;
  // matched[i]: the objects include clause i matched; nullopt when it failed.
  std::vector<std::optional<std::vector<GenEvalDetection>>> matched;
  for (const GenEvalClause& req : metadata.include) {
    bool ok = true;
    std::vector<GenEvalDetection> found;
    if (auto it = objects.find(req.cls); it != objects.end()) {
      const size_t n = std::min(it->second.size(),
                                static_cast<size_t>(std::max(req.count, 0)));
      found.assign(it->second.begin(),
                   it->second.begin() + static_cast<std::ptrdiff_t>(n));
    }
    if (static_cast<int>(found.size()) < req.count) {
      ok = false;
      reasons.push_back("expected " + req.cls + ">=" + Num(req.count) +
                        ", found " + Num(static_cast<int>(found.size())));
    } else {
      if (req.color) {
        std::map<std::string, int> tally;
        for (const GenEvalDetection& d : found) ++tally[d.color];
        const int hits = tally[*req.color];
        if (hits < req.count) {
          ok = false;
          std::string r = "expected " + *req.color + " " + req.cls +
                          ">=" + Num(req.count) + ", found " + Num(hits) + " " +
                          *req.color + "; and ";
          bool first = true;
          for (const std::string& c : GenEvalColors()) {
            auto t = tally.find(c);
            if (t == tally.end() || t->second == 0) continue;
            r += (first ? "" : ", ") + Num(t->second) + " " + c;
            first = false;
          }
          reasons.push_back(r);
        }
      }
      if (req.position && ok) {
        const auto& [rel, target] = *req.position;
        if (target < 0 || static_cast<size_t>(target) >= matched.size() ||
            !matched[target]) {
          ok = false;
          reasons.push_back("no target for " + req.cls + " to be " + rel);
        } else {
          for (const GenEvalDetection& obj : found) {
            for (const GenEvalDetection& t : *matched[target]) {
              const std::set<std::string> got = GenEvalRelativePosition(
                  obj.box, t.box, options.position_threshold);
              if (!got.count(rel)) {
                ok = false;
                std::string joined;
                for (const char* r : kRelations) {
                  if (got.count(r))
                    joined += (joined.empty() ? "" : " and ") + std::string(r);
                }
                reasons.push_back("expected " + req.cls + " " + rel +
                                  " target, found " + joined + " target");
                break;
              }
            }
            if (!ok) break;
          }
        }
      }
    }
    if (!ok) res.correct = false;
    matched.push_back(ok ? std::optional<std::vector<GenEvalDetection>>(found)
                         : std::nullopt);
  }
  for (const GenEvalClause& req : metadata.exclude) {
    auto it = objects.find(req.cls);
    const int n = it == objects.end() ? 0 : static_cast<int>(it->second.size());
    if (n >= req.count) {
      res.correct = false;
      reasons.push_back("expected " + req.cls + "<" + Num(req.count) +
                        ", found " + Num(n));
    }
  }
  for (size_t i = 0; i < reasons.size(); ++i)
    res.reason += (i ? "\n" : "") + reasons[i];
  return res;
}

GenEvalSummary SummarizeGenEval(const std::vector<GenEvalScoredImage>& images) {
  GenEvalSummary s;
  std::map<int, bool> prompt_any;
  int correct = 0;
  for (const GenEvalScoredImage& im : images) {
    auto it =
        std::find_if(s.tags.begin(), s.tags.end(),
                     [&](const GenEvalTagScore& t) { return t.tag == im.tag; });
    if (it == s.tags.end()) {
      s.tags.push_back(GenEvalTagScore{im.tag});
      it = std::prev(s.tags.end());
    }
    ++it->images;
    it->correct += im.correct ? 1 : 0;
    correct += im.correct ? 1 : 0;
    prompt_any[im.prompt_index] = prompt_any[im.prompt_index] || im.correct;
  }
  double sum = 0;
  for (GenEvalTagScore& t : s.tags) {
    t.accuracy = static_cast<double>(t.correct) / t.images;
    sum += t.accuracy;
  }
  s.images = static_cast<int>(images.size());
  s.prompts = static_cast<int>(prompt_any.size());
  if (!s.tags.empty()) s.overall = sum / static_cast<double>(s.tags.size());
  if (s.images > 0) s.correct_images = static_cast<double>(correct) / s.images;
  if (s.prompts > 0) {
    int any = 0;
    for (const auto& [p, ok] : prompt_any) any += ok ? 1 : 0;
    s.correct_prompts = static_cast<double>(any) / s.prompts;
  }
  return s;
}

StatusOr<std::vector<GenEvalMetadata>> ParseGenEvalMetadataJsonl(
    const std::string& text) {
  std::vector<GenEvalMetadata> out;
  std::stringstream ss(text);
  int line_no = 0;
  for (std::string line; std::getline(ss, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "metadata line " + std::to_string(line_no);
    const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return InvalidArgumentError(where + ": not a JSON object");
    GenEvalMetadata m;
    if (!j.contains("tag") || !j["tag"].is_string())
      return InvalidArgumentError(where + ": no \"tag\"");
    m.tag = j["tag"].get<std::string>();
    if (j.contains("prompt") && j["prompt"].is_string())
      m.prompt = j["prompt"].get<std::string>();
    for (const char* key : {"include", "exclude"}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_array())
        return InvalidArgumentError(where + ": \"" + key + "\" is not a list");
      const bool include = std::string(key) == "include";
      for (size_t i = 0; i < j[key].size(); ++i) {
        RECA_ASSIGN_OR_RETURN(GenEvalClause c,
                              ParseClause(j[key][i], i, include, where));
        (include ? m.include : m.exclude).push_back(std::move(c));
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string GenEvalMetadataToJson(const GenEvalMetadata& m) {
  nlohmann::ordered_json j;
  j["tag"] = m.tag;
  j["include"] = nlohmann::ordered_json::array();
  for (const GenEvalClause& c : m.include)
    j["include"].push_back(ClauseToJson(c));
  if (!m.exclude.empty()) {
    j["exclude"] = nlohmann::ordered_json::array();
    for (const GenEvalClause& c : m.exclude)
      j["exclude"].push_back(ClauseToJson(c));
  }
  j["prompt"] = m.prompt;
  return j.dump();
}

StatusOr<std::vector<GenEvalSidecarImage>> ParseGenEvalSidecar(
    const std::string& json_text) {
  const Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return InvalidArgumentError("detector sidecar: not valid JSON");
  const Json* list = &doc;
  if (doc.is_object()) {
    if (!doc.contains("images"))
      return InvalidArgumentError("detector sidecar: no \"images\" list");
    list = &doc["images"];
  }
  if (!list->is_array())
    return InvalidArgumentError("detector sidecar: \"images\" is not a list");
  std::vector<GenEvalSidecarImage> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& im = (*list)[i];
    std::string where = "detector sidecar image " + std::to_string(i);
    if (!im.is_object()) return InvalidArgumentError(where + ": not an object");
    GenEvalSidecarImage s;
    if (!im.contains("filename") || !im["filename"].is_string()) {
      return InvalidArgumentError(where + ": no string \"filename\"");
    }
    s.filename = im["filename"].get<std::string>();
    where += " (" + s.filename + ")";
    if (im.contains("prompt_index")) {
      if (!im["prompt_index"].is_number_integer() ||
          im["prompt_index"].get<int64_t>() < 0) {
        return InvalidArgumentError(
            where + ": \"prompt_index\" must be an integer >= 0");
      }
      s.prompt_index = static_cast<int>(im["prompt_index"].get<int64_t>());
    } else if (std::optional<int> p = PromptIndexFromFilename(s.filename)) {
      s.prompt_index = *p;
    } else {
      return InvalidArgumentError(
          where +
          ": no \"prompt_index\" and the filename does not follow "
          "<prompt>/samples/<n>.png");
    }
    if (im.contains("detections")) {
      const Json& dets = im["detections"];
      if (!dets.is_object())
        return InvalidArgumentError(where +
                                    ": \"detections\" is not an object");
      for (auto it = dets.begin(); it != dets.end(); ++it) {
        if (!it.value().is_array()) {
          return InvalidArgumentError(where + ": detections of " + it.key() +
                                      " are not a list");
        }
        std::vector<GenEvalDetection>& dst = s.detections[it.key()];
        for (const Json& d : it.value()) {
          if (!d.is_object())
            return InvalidArgumentError(where +
                                        ": a detection is not an object");
          GenEvalDetection det;
          RECA_ASSIGN_OR_RETURN(det.box,
                                ParseBox(d.value("box", Json()), where));
          if (!d.contains("score") || !d["score"].is_number()) {
            return InvalidArgumentError(where + ": a detection of " + it.key() +
                                        " has no \"score\"");
          }
          det.score = d["score"].get<double>();
          if (d.contains("color") && !d["color"].is_null()) {
            if (!d["color"].is_string())
              return InvalidArgumentError(where +
                                          ": \"color\" must be a string");
            det.color = d["color"].get<std::string>();
          }
          dst.push_back(std::move(det));
        }
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

StatusOr<GenEvalRun> ScoreGenEvalSidecar(
    const std::vector<GenEvalMetadata>& metadata,
    const std::vector<GenEvalSidecarImage>& images,
    const GenEvalOptions& options) {
  GenEvalRun run;
  std::vector<GenEvalScoredImage> scored;
  for (const GenEvalSidecarImage& im : images) {
    if (im.prompt_index < 0 ||
        static_cast<size_t>(im.prompt_index) >= metadata.size()) {
      return InvalidArgumentError(
          im.filename + ": prompt index " + std::to_string(im.prompt_index) +
          " is outside the metadata (" + std::to_string(metadata.size()) +
          " prompts)");
    }
    const GenEvalMetadata& m = metadata[static_cast<size_t>(im.prompt_index)];
    GenEvalRun::Row row{
        im.filename, im.prompt_index, m.tag, m.prompt,
        EvaluateGenEvalImage(
            m, FilterGenEvalDetections(im.detections, m.tag, options),
            options)};
    scored.push_back({im.prompt_index, m.tag, row.result.correct});
    run.rows.push_back(std::move(row));
  }
  run.summary = SummarizeGenEval(scored);
  return run;
}

}  // namespace reca
