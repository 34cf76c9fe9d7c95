#include "common/failpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace reca {
namespace {

struct Action {
  bool crash = false;
  int nth = 0;  // 0 = every pass
};

struct Registry {
  absl::Mutex mu;
  bool configured ABSL_GUARDED_BY(mu) = false;
  std::map<std::string, Action> actions ABSL_GUARDED_BY(mu);
  std::map<std::string, int> hits ABSL_GUARDED_BY(mu);
};

Registry& Get() {
  static Registry* r = new Registry;
  return *r;
}

absl::Status Parse(const std::string& spec, std::map<std::string, Action>* out) {
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, '=');
    std::pair<std::string, std::string> an = absl::StrSplit(kv.second, '@');
    Action a;
    if (kv.first.empty() || (an.first != "crash" && an.first != "error") ||
        (!an.second.empty() && (!absl::SimpleAtoi(an.second, &a.nth) || a.nth < 1))) {
      return absl::InvalidArgumentError(
          absl::StrCat("failpoints: '", entry, "': expected site=crash|error[@N]"));
    }
    a.crash = an.first == "crash";
    (*out)[kv.first] = a;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetFailpoints(const std::string& spec) {
  std::map<std::string, Action> actions;
  if (absl::Status s = Parse(spec, &actions); !s.ok()) return s;
  Registry& r = Get();
  absl::MutexLock lock(&r.mu);
  r.configured = true;
  r.actions = std::move(actions);
  r.hits.clear();
  return absl::OkStatus();
}

absl::Status Failpoint(const char* site) {
  Registry& r = Get();
  absl::MutexLock lock(&r.mu);
  if (!r.configured) {
    r.configured = true;
    const char* env = std::getenv("RECA_FAILPOINTS");
    if (env != nullptr) {
      if (absl::Status s = Parse(env, &r.actions); !s.ok()) {
        std::cerr << "RECA_FAILPOINTS ignored: " << s << "\n";
        r.actions.clear();
      }
    }
  }
  const int hit = ++r.hits[site];
  auto it = r.actions.find(site);
  if (it == r.actions.end() || (it->second.nth != 0 && it->second.nth != hit)) {
    return absl::OkStatus();
  }
  if (it->second.crash) {
    std::cerr << "failpoint " << site << ": crashing (pass " << hit << ")" << std::endl;
    ::_exit(kFailpointExitCode);
  }
  return absl::UnavailableError(absl::StrCat("failpoint ", site));
}

int FailpointHits(const std::string& site) {
  Registry& r = Get();
  absl::MutexLock lock(&r.mu);
  auto it = r.hits.find(site);
  return it == r.hits.end() ? 0 : it->second;
}

}  // namespace reca
