#include "reca/path_policy.h"

#include <filesystem>
#include <sstream>
#include <system_error>

namespace reca {
namespace fs = std::filesystem;
namespace {

bool Inside(const fs::path& path, const fs::path& root) {
  auto p = path.begin(), r = root.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

std::string Joined(const std::vector<std::string>& roots) {
  std::ostringstream out;
  for (size_t i = 0; i < roots.size(); ++i) out << (i ? ", " : "") << roots[i];
  return out.str();
}

fs::path Absolute(const std::string& path, const std::string& base) {
  fs::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    p = (base.empty() ? fs::current_path(ec) : fs::path(base)) / p;
  }
  return p.lexically_normal();
}

// Symlinks resolved: of `p`, or of its longest existing ancestor with the
// rest appended.
fs::path RealPath(const fs::path& p) {
  fs::path existing = p, rest;
  std::error_code ec;
  while (!existing.empty() && !fs::exists(existing, ec)) {
    rest = existing.filename() / rest;
    if (existing == existing.parent_path()) break;
    existing = existing.parent_path();
  }
  fs::path real = fs::canonical(existing, ec);
  if (ec) real = existing;
  return (rest.empty() ? real : real / rest).lexically_normal();
}

}  // namespace

StatusOr<std::vector<std::string>> ParseRoots(const std::string& flag,
                                              const std::string& list,
                                              const std::string& base) {
  std::vector<std::string> roots;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    fs::path root = Absolute(item, base);
    if (root.has_filename() == false) root = root.parent_path();  // "/a/b/" -> "/a/b"
    if (root.empty() || root == root.root_path()) {
      return InvalidArgumentError("--" + flag + ": " + item +
                                  ": a root must be a directory below /");
    }
    roots.push_back(root.string());
  }
  return roots;
}

Status ConfinePath(const std::string& field, const std::string& path,
                   const PathRoots& roots, bool on_disk) {
  if (roots.roots.empty() || path.empty()) return OkStatus();
  for (const fs::path& part : fs::path(path)) {
    if (part == "..") {
      return InvalidArgumentError(field + ": " + path + ": '..' is not allowed in paths");
    }
  }
  if (fs::path(path).is_relative() && !roots.check_relative) return OkStatus();
  const fs::path absolute = Absolute(path, roots.base);
  bool lexical = false;
  for (const std::string& root : roots.roots) lexical |= Inside(absolute, root);
  if (!lexical) {
    return InvalidArgumentError(field + ": " + path + " is outside the allowed roots (" +
                                Joined(roots.roots) + ")");
  }
  if (!on_disk) return OkStatus();
  const fs::path real = RealPath(absolute);
  for (const std::string& root : roots.roots) {
    if (Inside(real, RealPath(root))) return OkStatus();
  }
  return InvalidArgumentError(field + ": " + path + " resolves (through a symlink) to " +
                              real.string() + ", outside the allowed roots (" +
                              Joined(roots.roots) + ")");
}

Status ConfineSpecPaths(const JobSpec& spec, const PathRoots& roots, bool on_disk) {
  auto check = [&](const std::string& field, const std::string& path) {
    return ConfinePath(field, path, roots, on_disk);
  };
  RECA_RETURN_IF_ERROR(check("spec.model.init", spec.model.init));
  RECA_RETURN_IF_ERROR(check("spec.model.module", spec.model.module));
  RECA_RETURN_IF_ERROR(check("spec.reca.templates_file", spec.reca.templates_file));
  for (size_t i = 0; i < spec.data.sources.size(); ++i) {
    const SourceSpec& source = spec.data.sources[i];
    const std::string at = "spec.data.sources[" + std::to_string(i) + "]";
    RECA_RETURN_IF_ERROR(check(at + ".manifest", source.manifest));
    for (size_t j = 0; j < source.shards.size(); ++j) {
      // A pattern's fixed part: the directory its wildcards expand in.
      const std::string& shard = source.shards[j];
      const size_t wild = shard.find_first_of("*?[{");
      std::string fixed = shard.substr(0, wild);
      if (wild != std::string::npos) fixed = fixed.substr(0, fixed.rfind('/') + 1);
      if (fixed.empty()) fixed = ".";
      RECA_RETURN_IF_ERROR(check(at + ".shards[" + std::to_string(j) + "]", fixed));
    }
  }
  return OkStatus();
}

}  // namespace reca
