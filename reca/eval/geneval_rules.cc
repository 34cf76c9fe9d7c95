#include "reca/eval/geneval_rules.h"

#include <algorithm>
#include <cctype>
#include <cmath>
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

std::set<std::string> GenEvalRelativePosition(const std::array<double, 4>& a,
                                              const std::array<double, 4>& b,
                                              double position_threshold) {
  const double center_a[2] = {0.5 * (a[0] + a[2]), 0.5 * (a[1] + a[3])};
  const double center_b[2] = {0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3])};
  const double dim_a[2] = {std::abs(a[2] - a[0]), std::abs(a[3] - a[1])};
  const double dim_b[2] = {std::abs(b[2] - b[0]), std::abs(b[3] - b[1])};
  double offset[2], revised[2];
  for (int k = 0; k < 2; ++k) {
    offset[k] = center_a[k] - center_b[k];
    const double sign = offset[k] > 0 ? 1.0 : (offset[k] < 0 ? -1.0 : 0.0);
    revised[k] = std::max(std::abs(offset[k]) -
                              position_threshold * (dim_a[k] + dim_b[k]),
                          0.0) *
                 sign;
  }
  if (std::abs(revised[0]) < 1e-3 && std::abs(revised[1]) < 1e-3) return {};
  const double norm = std::hypot(offset[0], offset[1]);
  const double dx = revised[0] / norm, dy = revised[1] / norm;
  std::set<std::string> rel;
  if (dx < -0.5) rel.insert("left of");
  if (dx > 0.5) rel.insert("right of");
  if (dy < -0.5) rel.insert("above");
  if (dy > 0.5) rel.insert("below");
  return rel;
}

double GenEvalIou(const std::array<double, 4>& a,
                  const std::array<double, 4>& b) {
  auto area = [](double x0, double y0, double x1, double y1) {
    return std::max(x1 - x0 + 1, 0.0) * std::max(y1 - y0 + 1, 0.0);
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
  const double threshold =
      tag == "counting" ? options.counting_threshold : options.threshold;
  GenEvalDetections out;
  for (const auto& [cls, dets] : raw) {
    std::vector<GenEvalDetection> order = dets;
    std::stable_sort(order.begin(), order.end(),
                     [](const GenEvalDetection& x, const GenEvalDetection& y) {
                       return x.score > y.score;
                     });
    std::vector<GenEvalDetection> kept;
    for (const GenEvalDetection& d : order) {
      if (static_cast<int>(kept.size()) >= options.max_objects) break;
      if (d.score > threshold) kept.push_back(d);
    }
    std::vector<GenEvalDetection> result;
    while (!kept.empty()) {
      const GenEvalDetection top = kept.front();
      kept.erase(kept.begin());
      result.push_back(top);
      if (options.max_overlap != 1.0) {
        kept.erase(std::remove_if(kept.begin(), kept.end(),
                                  [&](const GenEvalDetection& d) {
                                    return GenEvalIou(top.box, d.box) >=
                                           options.max_overlap;
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
