#include "reca/spec_file.h"

#include <cctype>
#include <cerrno>
#include <limits>
#include <cstdlib>
#include <regex>

#include "reca/file_util.h"

#if defined(RECA_HAVE_YAML)
#include <yaml-cpp/yaml.h>
#endif

namespace reca {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

#if defined(RECA_HAVE_YAML)
nlohmann::json Scalar(const YAML::Node& n) {
  const std::string& v = n.Scalar();
  if (n.Tag() == "!") return v;  // quoted: always a string
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kTrue("true|True|TRUE"), kFalse("false|False|FALSE");
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat(
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  if (std::regex_match(v, kNull)) return nullptr;
  if (std::regex_match(v, kTrue)) return true;
  if (std::regex_match(v, kFalse)) return false;
  if (std::regex_match(v, kInt)) {
    errno = 0;
    if (v[0] != '-') {
      const unsigned long long u = std::strtoull(v.c_str(), nullptr, 10);
      if (errno == 0) return u <= static_cast<unsigned long long>(INT64_MAX)
                                 ? nlohmann::json(static_cast<int64_t>(u))
                                 : nlohmann::json(static_cast<uint64_t>(u));
    } else {
      const long long i = std::strtoll(v.c_str(), nullptr, 10);
      if (errno == 0) return static_cast<int64_t>(i);
    }
    return v;  // out of range: let the field's type check report it
  }
  if (std::regex_match(v, kFloat)) {
    // strtod reads neither ".inf" nor ".nan" (it gave 0 for both).
    const size_t dot = v.find('.');
    if (dot != std::string::npos && dot + 1 < v.size() && std::isalpha(static_cast<unsigned char>(v[dot + 1]))) {
      if (v[dot + 1] == 'n' || v[dot + 1] == 'N') return std::numeric_limits<double>::quiet_NaN();
      return v[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    }
    return std::strtod(v.c_str(), nullptr);
  }
  return v;
}

StatusOr<nlohmann::json> Convert(const YAML::Node& n, const std::string& origin) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar:
      return Scalar(n);
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : n) {
        RECA_ASSIGN_OR_RETURN(nlohmann::json j, Convert(item, origin));
        arr.push_back(std::move(j));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) {
          return InvalidArgumentError(origin + ":" + std::to_string(kv.first.Mark().line + 1) +
                                      ": mapping keys must be plain names");
        }
        const std::string key = kv.first.Scalar();
        if (obj.contains(key)) {
          return InvalidArgumentError(origin + ":" + std::to_string(kv.first.Mark().line + 1) +
                                      ": duplicate key '" + key + "'");
        }
        RECA_ASSIGN_OR_RETURN(obj[key], Convert(kv.second, origin));
      }
      return obj;
    }
  }
  return nlohmann::json(nullptr);
}
#endif

}  // namespace

StatusOr<nlohmann::json> YamlToJson(const std::string& text, const std::string& origin) {
#if defined(RECA_HAVE_YAML)
  try {
    return Convert(YAML::Load(text), origin);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
#else
  return UnimplementedError(origin + ": this build reads JSON job specs only (no yaml-cpp); "
                            "convert it, e.g. python3 -c 'import json,sys,yaml; "
                            "json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)' spec.yaml");
#endif
}

StatusOr<nlohmann::json> ReadSpecTree(const std::string& path) {
  StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return NotFoundError(path + ": cannot read the job spec");
  if (EndsWith(path, ".json")) {
    try {
      return nlohmann::json::parse(*text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range
                                                    // for a number too large
      return InvalidArgumentError(path + ": " + e.what());
    }
  }
  return YamlToJson(*text, path);
}

}  // namespace reca
