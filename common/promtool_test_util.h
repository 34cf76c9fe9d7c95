// Tests: lint a Prometheus exposition with `promtool check metrics` (Debian's
// prometheus package, installed by scripts/setup.sh).
#ifndef RECA_COMMON_PROMTOOL_TEST_UTIL_H_
#define RECA_COMMON_PROMTOOL_TEST_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace reca {

// The families' text exposition.
inline std::string ExpositionText(
    const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

// promtool's complaints about `families` (its output), or "" when it accepts
// them without a warning; a missing promtool is a complaint.
inline std::string PromtoolComplaints(
    const std::vector<prometheus::MetricFamily>& families,
    const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path =
      std::string(tmp ? tmp : "/tmp") + "/" + name + ".prom";
  std::ofstream(path) << ExpositionText(families);
  FILE* p =
      ::popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  if (p == nullptr) return "cannot run promtool";
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  if (::pclose(p) != 0 && out.empty())
    out = "promtool failed (is Debian's prometheus installed?)";
  return out;
}

}  // namespace reca

#endif  // RECA_COMMON_PROMTOOL_TEST_UTIL_H_
