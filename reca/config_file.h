// Flat YAML config files for reca-train: `key: value` pairs with the same
// names as the command-line flags (flags override them). Issue-3's nested job
// spec replaces this.
#ifndef RECA_CONFIG_FILE_H_
#define RECA_CONFIG_FILE_H_

#include <map>
#include <string>

#include "reca/status.h"

namespace reca {

// NOT_FOUND when the file cannot be read; INVALID_ARGUMENT naming the file
// (and key) for malformed YAML, a non-mapping top level or a nested value.
StatusOr<std::map<std::string, std::string>> ReadFlatYaml(const std::string& path);

}  // namespace reca

#endif  // RECA_CONFIG_FILE_H_
