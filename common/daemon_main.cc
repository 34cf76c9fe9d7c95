#include "common/daemon_main.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <iostream>

#include "absl/flags/reflection.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace reca {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

void PrintUsage(const std::string& program,
                const std::vector<std::string>& flags) {
  std::cout << "usage: " << program << " [--flag=value ...]\n\n";
  for (const std::string& name : flags) {
    const absl::CommandLineFlag* f = absl::FindCommandLineFlag(name);
    if (f == nullptr) continue;
    std::cout << "  --" << name << "  " << f->Help();
    if (!f->DefaultValue().empty())
      std::cout << " (default: " << f->DefaultValue() << ")";
    std::cout << "\n";
  }
}

}  // namespace

bool ParseDaemonFlags(int argc, char** argv, const std::string& program,
                      const std::vector<std::string>& flags,
                      std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      PrintUsage(program, flags);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      *error = "unexpected argument '" + arg + "' (flags are --name=value)";
      return false;
    }
    const size_t eq = arg.find('=');
    const std::string name =
        arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    bool known = false;
    for (const std::string& k : flags) known = known || name == k;
    absl::CommandLineFlag* flag =
        known ? absl::FindCommandLineFlag(name) : nullptr;
    if (flag == nullptr) {
      *error = "--" + name + ": unknown flag (see --help)";
      return false;
    }
    if (eq == std::string::npos) {
      *error = "--" + name + ": needs a value (--" + name + "=...)";
      return false;
    }
    std::string parse_error;
    if (!flag->ParseFrom(arg.substr(eq + 1), &parse_error)) {
      *error = "--" + name + ": " + parse_error;
      return false;
    }
  }
  return true;
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

std::string SiblingBinary(const std::string& name) {
  char buf[PATH_MAX + 1] = {};
  const ssize_t n = ::readlink("/proc/self/exe", buf, PATH_MAX);
  if (n <= 0) return name;
  const std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + name;
}

bool CheckHostPort(const std::string& flag, const std::string& value,
                   std::string* error) {
  const size_t colon = value.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 1 ||
      port > 65535) {
    *error = "--" + flag + ": '" + value + "' is not host:port";
    return false;
  }
  return true;
}

const std::atomic<bool>& InstallStopSignals() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return g_stop;
}

void LogLine(const std::string& line) {
  std::cerr << absl::FormatTime("%Y-%m-%d %H:%M:%E3S ", absl::Now(),
                                absl::LocalTimeZone())
            << line << std::endl;
}

void TickUntilStopped(const std::atomic<bool>& stop,
                      const std::function<void()>& tick,
                      const std::function<absl::Duration()>& next_delay,
                      const std::function<void(absl::Duration)>& sleep) {
  while (!stop.load()) {
    tick();
    for (absl::Duration left = next_delay();
         left > absl::ZeroDuration() && !stop.load();) {
      const absl::Duration slice = std::min(left, absl::Milliseconds(100));
      sleep(slice);
      left -= slice;
    }
  }
}

}  // namespace reca
