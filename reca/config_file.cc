#include "reca/config_file.h"

#include <yaml-cpp/yaml.h>

namespace reca {

StatusOr<std::map<std::string, std::string>> ReadFlatYaml(const std::string& path) {
  std::map<std::string, std::string> out;
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) return InvalidArgumentError(path + ": top level must be a mapping");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) {
        return InvalidArgumentError(path + ": '" + key + "' must be a plain value");
      }
      out[key] = kv.second.as<std::string>();
    }
  } catch (const YAML::BadFile&) {
    return NotFoundError(path + ": cannot read the config file");
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ": " + e.what());
  }
  return out;
}

}  // namespace reca
