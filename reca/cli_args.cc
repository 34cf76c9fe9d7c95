#include "reca/cli_args.h"

#include <cerrno>
#include <cstdlib>

namespace reca {

StatusOr<CliArgs> CliArgs::Parse(int argc, const char* const* argv) {
  CliArgs args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return InvalidArgumentError("unexpected argument '" + a + "' (flags look like --name=value)");
    }
    a = a.substr(2);
    const size_t eq = a.find('=');
    if (eq != std::string::npos) {
      args.values_[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      args.values_[a] = argv[++i];
    } else {
      args.values_[a] = "true";
    }
  }
  return args;
}

std::map<std::string, std::string> CliArgs::TakeRemaining() {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : values_) {
    if (used_.insert(k).second) out[k] = v;
  }
  return out;
}

Status CliArgs::Get(const std::string& name, std::string* out) {
  auto it = values_.find(name);
  if (it == values_.end()) return OkStatus();
  used_.insert(name);
  *out = it->second;
  return OkStatus();
}

Status CliArgs::Get(const std::string& name, int64_t* out) {
  auto it = values_.find(name);
  if (it == values_.end()) return OkStatus();
  used_.insert(name);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || errno != 0) {
    return InvalidArgumentError("--" + name + ": '" + it->second + "' is not an integer");
  }
  *out = v;
  return OkStatus();
}

Status CliArgs::Get(const std::string& name, int* out) {
  int64_t v = *out;
  RECA_RETURN_IF_ERROR(Get(name, &v));
  if (v < INT32_MIN || v > INT32_MAX) return InvalidArgumentError("--" + name + ": out of range");
  *out = static_cast<int>(v);
  return OkStatus();
}

Status CliArgs::Get(const std::string& name, uint64_t* out) {
  int64_t v = static_cast<int64_t>(*out);
  RECA_RETURN_IF_ERROR(Get(name, &v));
  if (v < 0) return InvalidArgumentError("--" + name + ": must be >= 0");
  *out = static_cast<uint64_t>(v);
  return OkStatus();
}

Status CliArgs::Get(const std::string& name, double* out) {
  auto it = values_.find(name);
  if (it == values_.end()) return OkStatus();
  used_.insert(name);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || errno != 0) {
    return InvalidArgumentError("--" + name + ": '" + it->second + "' is not a number");
  }
  *out = v;
  return OkStatus();
}

Status CliArgs::Get(const std::string& name, bool* out) {
  auto it = values_.find(name);
  if (it == values_.end()) return OkStatus();
  used_.insert(name);
  const std::string& v = it->second;
  if (v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return InvalidArgumentError("--" + name + ": '" + v + "' is not a boolean");
  }
  return OkStatus();
}

Status CliArgs::CheckAllUsed() const {
  std::string unknown;
  for (const auto& [k, v] : values_) {
    if (!used_.count(k)) unknown += (unknown.empty() ? "--" : ", --") + k;
  }
  if (!unknown.empty()) return InvalidArgumentError("unknown flag(s): " + unknown + " (see --help)");
  return OkStatus();
}

}  // namespace reca
