// Minimal `--name=value` / `--name value` command-line parsing for reca-train.
// (reca/ cannot use Abseil flags: the CUDA build has nothing but LibTorch.)
// Every flag must be consumed; leftovers are reported as unknown.
#ifndef RECA_CLI_ARGS_H_
#define RECA_CLI_ARGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "reca/status.h"

namespace reca {

class CliArgs {
 public:
  static StatusOr<CliArgs> Parse(int argc, const char* const* argv);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // Each getter leaves `*out` unchanged when the flag is absent.
  Status Get(const std::string& name, std::string* out);
  Status Get(const std::string& name, int64_t* out);
  Status Get(const std::string& name, int* out);
  Status Get(const std::string& name, uint64_t* out);
  Status Get(const std::string& name, double* out);
  Status Get(const std::string& name, bool* out);
  // Every flag not asked for yet (marking them used): e.g. spec overrides.
  std::map<std::string, std::string> TakeRemaining();
  // INVALID_ARGUMENT naming every flag nobody asked for.
  Status CheckAllUsed() const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
};

}  // namespace reca

#endif  // RECA_CLI_ARGS_H_
