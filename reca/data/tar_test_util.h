// Test only: builds tar archives byte by byte (POSIX ustar, GNU long names and
// base-256 sizes, pax path records), so tests need no tar tool or fixtures.
#ifndef RECA_DATA_TAR_TEST_UTIL_H_
#define RECA_DATA_TAR_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace reca {
namespace tar_test {

struct HeaderSpec {
  std::string name;
  int64_t size = 0;
  char type = '0';
  bool gnu = false;        // "ustar  \0" magic (GNU) instead of "ustar\0" "00"
  std::string prefix;      // POSIX ustar prefix field
  bool base256_size = false;
};

inline std::string Header(const HeaderSpec& spec) {
  std::string h(512, '\0');
  std::memcpy(&h[0], spec.name.data(), std::min<size_t>(spec.name.size(), 100));
  std::snprintf(&h[100], 8, "%07o", 0644);
  std::snprintf(&h[108], 8, "%07o", 1000);
  std::snprintf(&h[116], 8, "%07o", 1000);
  if (spec.base256_size) {
    h[124] = static_cast<char>(0x80);
    for (int i = 0; i < 8; ++i) h[135 - i] = static_cast<char>((spec.size >> (8 * i)) & 0xff);
  } else {
    std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(spec.size));
  }
  std::snprintf(&h[136], 12, "%011o", 1700000000u);
  h[156] = spec.type;
  if (spec.gnu) {
    std::memcpy(&h[257], "ustar  ", 8);
  } else {
    std::memcpy(&h[257], "ustar", 6);
    h[263] = '0';
    h[264] = '0';
    std::memcpy(&h[345], spec.prefix.data(), std::min<size_t>(spec.prefix.size(), 155));
  }
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);  // six digits, NUL, then the space left in place
  return h;
}

inline std::string Padded(const std::string& data) {
  return data + std::string((512 - data.size() % 512) % 512, '\0');
}

class TarBuilder {
 public:
  // A regular file (or any `type`) in one plain ustar header.
  TarBuilder& File(const std::string& name, const std::string& data, char type = '0') {
    HeaderSpec spec;
    spec.name = name;
    spec.size = static_cast<int64_t>(data.size());
    spec.type = type;
    return Entry(spec, data);
  }
  TarBuilder& Dir(const std::string& name) { return File(name, "", '5'); }
  // Any header, then `data` padded to whole blocks.
  TarBuilder& Entry(const HeaderSpec& spec, const std::string& data) {
    bytes_ += Header(spec) + Padded(data);
    return *this;
  }
  // GNU: a "././@LongLink" 'L' entry holding `name`, then the file with its
  // name cut to 100 bytes.
  TarBuilder& GnuLongName(const std::string& name, const std::string& data) {
    HeaderSpec l;
    l.name = "././@LongLink";
    l.type = 'L';
    l.gnu = true;
    l.size = static_cast<int64_t>(name.size()) + 1;
    Entry(l, name + '\0');
    HeaderSpec f;
    f.name = name.substr(0, 100);
    f.gnu = true;
    f.size = static_cast<int64_t>(data.size());
    return Entry(f, data);
  }
  // pax: an 'x' entry with a path record, then the file under a stand-in name.
  TarBuilder& PaxPath(const std::string& name, const std::string& data) {
    const std::string body = " path=" + name + "\n";
    size_t len = body.size() + 1;
    while (std::to_string(len).size() + body.size() != len) ++len;
    const std::string record = std::to_string(len) + body;
    HeaderSpec x;
    x.name = "PaxHeaders/stand-in";
    x.type = 'x';
    x.size = static_cast<int64_t>(record.size());
    Entry(x, record);
    return File("stand-in-name", data);
  }
  TarBuilder& Raw(const std::string& bytes) {
    bytes_ += bytes;
    return *this;
  }
  // The archive so far, without the end-of-archive blocks.
  const std::string& bytes() const { return bytes_; }
  // The archive with its two zero blocks.
  std::string Finish() const { return bytes_ + std::string(1024, '\0'); }

 private:
  std::string bytes_;
};

}  // namespace tar_test
}  // namespace reca

#endif  // RECA_DATA_TAR_TEST_UTIL_H_
