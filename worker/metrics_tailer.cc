#include "worker/metrics_tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>

namespace reca {
namespace {

// At most this much is read per call; a line longer than that is garbage.
constexpr int64_t kMaxChunk = 4 << 20;

void Flatten(const nlohmann::ordered_json& j, const std::string& prefix,
             MetricRecord* out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string name =
        prefix.empty() ? it.key() : prefix + "/" + it.key();
    if (prefix.empty() && (it.key() == "step" || it.key() == "rank")) continue;
    if (it.value().is_number()) {
      out->values.emplace_back(name, it.value().get<double>());
    } else if (it.value().is_object()) {
      Flatten(it.value(), name, out);
    }
  }
}

}  // namespace

double MetricRecord::Get(const std::string& name, double fallback) const {
  for (const auto& [n, v] : values) {
    if (n == name) return v;
  }
  return fallback;
}

std::optional<MetricRecord> ParseMetricLine(const std::string& line) {
  const nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto step = j.find("step");
  if (step == j.end() || !step->is_number_integer()) return std::nullopt;
  MetricRecord r;
  r.step = step->get<int64_t>();
  Flatten(j, "", &r);  // ordered_json: in the trainer's key order
  return r;
}

void MetricsTailer::SkipExisting() {
  while (!ReadNew(std::numeric_limits<size_t>::max()).empty()) {
  }
}

std::vector<MetricRecord> MetricsTailer::ReadNew(size_t max_records) {
  std::vector<MetricRecord> out;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return out;
  }
  if (st.st_dev != dev_ || st.st_ino != ino_ || st.st_size < offset_) {
    // A new file (first read, or rewritten on resume): from the start.
    if (dev_ != 0 || ino_ != 0) last_step_ = -1;
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    offset_ = 0;
  }
  while (out.size() < max_records && offset_ < st.st_size) {
    const int64_t want = std::min<int64_t>(kMaxChunk, st.st_size - offset_);
    std::string buf(static_cast<size_t>(want), '\0');
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), offset_);
    if (n <= 0) break;
    buf.resize(static_cast<size_t>(n));
    size_t pos = 0;
    bool any_line = false;
    while (out.size() < max_records) {
      const size_t nl = buf.find('\n', pos);
      if (nl == std::string::npos) break;
      any_line = true;
      std::optional<MetricRecord> r =
          ParseMetricLine(buf.substr(pos, nl - pos));
      pos = nl + 1;
      if (!r) continue;  // blank or malformed line
      if (r->step > last_step_) {
        last_step_ = r->step;
        out.push_back(*r);
      }
      latest_ = std::move(r);
    }
    offset_ += static_cast<int64_t>(pos);
    if (!any_line) {
      // No newline in a full chunk: not a metrics line; skip it. Otherwise
      // the rest is a line still being written.
      if (static_cast<int64_t>(buf.size()) == kMaxChunk) {
        offset_ += kMaxChunk;
        continue;
      }
      break;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace reca
