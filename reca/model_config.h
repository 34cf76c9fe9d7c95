// The flat key/value form of a model family's config (checkpoint metadata,
// read back by Python): each family lists its fields once in a table and
// these helpers validate, write and read them. Torch-free, header-only.
#ifndef RECA_MODEL_CONFIG_H_
#define RECA_MODEL_CONFIG_H_

#include <cstdint>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

template <class C>
struct ConfigInt {
  const char* key;
  int64_t C::*ptr;
  int64_t min = 1;
  bool optional = false;  // added after the family shipped: older weights lack it
};

template <class C>
struct ConfigDouble {
  const char* key;
  double C::*ptr;
};

template <class C>
Status CheckConfigInts(const C& c, const std::vector<ConfigInt<C>>& fields) {
  for (const ConfigInt<C>& f : fields) {
    if (c.*f.ptr < f.min) {
      return InvalidArgumentError(std::string("model.") + f.key + ": must be >= " + std::to_string(f.min));
    }
  }
  return OkStatus();
}

// {"family", "name", every field} (doubles with 17 significant digits).
template <class C>
std::map<std::string, std::string> ConfigToMap(const C& c, const std::string& family,
                                               const std::vector<ConfigInt<C>>& ints,
                                               const std::vector<ConfigDouble<C>>& doubles = {}) {
  std::map<std::string, std::string> m{{"family", family}, {"name", c.name}};
  for (const ConfigInt<C>& f : ints) m[f.key] = std::to_string(c.*f.ptr);
  for (const ConfigDouble<C>& f : doubles) {
    std::ostringstream os;
    os.precision(17);
    os << c.*f.ptr;
    m[f.key] = os.str();
  }
  return m;
}

// The inverse of ConfigToMap into `*c` (whose defaults stay for optional
// fields); the caller validates the result.
template <class C>
Status ConfigFromMap(const std::map<std::string, std::string>& m, const std::string& family,
                     const std::vector<ConfigInt<C>>& ints, const std::vector<ConfigDouble<C>>& doubles,
                     C* c) {
  auto fam = m.find("family");
  if (fam == m.end() || fam->second != family) {
    return InvalidArgumentError("checkpoint metadata: family is not '" + family + "'");
  }
  if (auto it = m.find("name"); it != m.end()) c->name = it->second;
  for (const ConfigInt<C>& f : ints) {
    auto it = m.find(f.key);
    if (it == m.end() && f.optional) continue;
    if (it == m.end()) return InvalidArgumentError(std::string("checkpoint metadata: missing ") + f.key);
    char* end = nullptr;
    c->*f.ptr = std::strtoll(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != '\0') {
      return InvalidArgumentError(std::string("checkpoint metadata: ") + f.key + " is not an integer");
    }
  }
  for (const ConfigDouble<C>& f : doubles) {
    auto it = m.find(f.key);
    if (it == m.end()) return InvalidArgumentError(std::string("checkpoint metadata: missing ") + f.key);
    char* end = nullptr;
    c->*f.ptr = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || *end != '\0') {
      return InvalidArgumentError(std::string("checkpoint metadata: ") + f.key + " is not a number");
    }
  }
  return OkStatus();
}

}  // namespace reca

#endif  // RECA_MODEL_CONFIG_H_
