#include "reca/data/tar_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace reca {
namespace {

constexpr int64_t kBlock = 512;
// Bounds on the metadata members read into memory ('L' long names, pax headers).
constexpr int64_t kMaxLongName = 64 << 10;
constexpr int64_t kMaxPaxHeader = 1 << 20;

// Header field offsets and lengths (POSIX.1-1988 ustar; GNU reuses the layout).
constexpr int kNameOff = 0, kNameLen = 100;
constexpr int kSizeOff = 124, kSizeLen = 12;
constexpr int kChksumOff = 148, kChksumLen = 8;
constexpr int kTypeOff = 156;
constexpr int kMagicOff = 257;
constexpr int kPrefixOff = 345, kPrefixLen = 155;

std::string ErrnoText() { return std::strerror(errno); }

// pread until `n` bytes or end of file; returns the count read, -1 on error.
int64_t PreadFull(int fd, char* buf, int64_t n, int64_t offset) {
  int64_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, static_cast<size_t>(n - done), offset + done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    done += r;
  }
  return done;
}

std::string CString(const unsigned char* p, int max_len) {
  const char* c = reinterpret_cast<const char*>(p);
  return std::string(c, ::strnlen(c, static_cast<size_t>(max_len)));
}

// Octal digits, optionally surrounded by spaces and ended by NUL/space. An
// all-blank field is 0.
bool ParseOctal(const unsigned char* p, int len, int64_t* out) {
  int i = 0;
  while (i < len && p[i] == ' ') ++i;
  int64_t v = 0;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v > (std::numeric_limits<int64_t>::max() >> 3)) return false;
    v = (v << 3) | (p[i] - '0');
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return false;
  }
  *out = v;
  return true;
}

// A numeric field: octal, or GNU base-256 (high bit of the first byte set;
// 0x80 = positive big-endian in the remaining bits, 0xff = negative).
bool ParseNumeric(const unsigned char* p, int len, int64_t* out) {
  if (!(p[0] & 0x80)) return ParseOctal(p, len, out);
  if (p[0] & 0x40) return false;  // negative
  int64_t v = p[0] & 0x3f;
  for (int i = 1; i < len; ++i) {
    if (v > (std::numeric_limits<int64_t>::max() >> 8)) return false;
    v = (v << 8) | p[i];
  }
  *out = v;
  return true;
}

// The header checksum: the sum of all bytes with the checksum field taken as
// spaces. Historic writers summed signed chars; both are accepted.
bool ChecksumOk(const unsigned char* h) {
  int64_t stored;
  if (!ParseOctal(h + kChksumOff, kChksumLen, &stored)) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (int i = 0; i < kBlock; ++i) {
    const bool in_field = i >= kChksumOff && i < kChksumOff + kChksumLen;
    unsigned_sum += in_field ? ' ' : h[i];
    signed_sum += in_field ? ' ' : static_cast<signed char>(h[i]);
  }
  return stored == unsigned_sum || stored == signed_sum;
}

bool AllZero(const unsigned char* h) {
  for (int i = 0; i < kBlock; ++i) {
    if (h[i]) return false;
  }
  return true;
}

// The name from the header alone: name, prefixed by the POSIX ustar prefix
// field (GNU headers use those bytes for other fields).
std::string HeaderName(const unsigned char* h) {
  std::string name = CString(h + kNameOff, kNameLen);
  const bool posix_ustar = std::memcmp(h + kMagicOff, "ustar\0", 6) == 0;
  if (posix_ustar) {
    const std::string prefix = CString(h + kPrefixOff, kPrefixLen);
    if (!prefix.empty()) name = prefix + "/" + name;
  }
  return name;
}

std::string StripDotSlash(std::string name) {
  size_t i = 0;
  while (name.compare(i, 2, "./") == 0) i += 2;
  return name.substr(i);
}

// Pax extended header records: "<len> <key>=<value>\n", <len> counting the
// whole record. Only path and size matter here.
bool ParsePax(const std::string& data, std::string* path, int64_t* size) {
  size_t pos = 0;
  while (pos < data.size()) {
    if (data[pos] == '\0') break;  // some writers pad with NULs
    size_t i = pos;
    int64_t len = 0;
    while (i < data.size() && data[i] >= '0' && data[i] <= '9') {
      if (len > (1 << 24)) return false;
      len = len * 10 + (data[i] - '0');
      ++i;
    }
    if (i == pos || i >= data.size() || data[i] != ' ') return false;
    if (len <= static_cast<int64_t>(i - pos) + 1 || pos + len > data.size()) return false;
    const size_t end = pos + static_cast<size_t>(len);  // one past the '\n'
    if (data[end - 1] != '\n') return false;
    const std::string record = data.substr(i + 1, end - 1 - (i + 1));
    const size_t eq = record.find('=');
    if (eq == std::string::npos) return false;
    const std::string key = record.substr(0, eq), value = record.substr(eq + 1);
    if (key == "path") {
      *path = value;
    } else if (key == "size") {
      int64_t v = 0;
      if (value.empty() || value.size() > 18) return false;
      for (char c : value) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
      }
      *size = v;
    }
    pos = end;
  }
  return true;
}

}  // namespace

StatusOr<TarIndex> ScanTar(int fd, int64_t file_size, const std::string& path) {
  TarIndex index;
  auto damage = [&](int64_t at, const std::string& what) {
    index.problem = what;
    index.problem_offset = at;
    return index;
  };
  // Metadata from 'L' and 'x' members, applying to the next real entry.
  std::string long_name, pax_path;
  bool have_long_name = false;
  int64_t pax_size = -1;
  unsigned char h[kBlock];
  int64_t off = 0;
  while (off < file_size) {
    if (file_size - off < kBlock) {
      return damage(off, "truncated at byte " + std::to_string(off) + ": a partial header of " +
                             std::to_string(file_size - off) + " bytes");
    }
    const int64_t got = PreadFull(fd, reinterpret_cast<char*>(h), kBlock, off);
    if (got < 0) return InternalError("cannot read " + path + ": " + ErrnoText());
    if (got < kBlock) {  // the file shrank under us
      return damage(off, "truncated at byte " + std::to_string(off) + ": a partial header");
    }
    if (AllZero(h)) break;  // end-of-archive marker
    if (!ChecksumOk(h)) {
      return damage(off, "corrupt at byte " + std::to_string(off) + ": bad header checksum");
    }
    int64_t size;
    if (!ParseNumeric(h + kSizeOff, kSizeLen, &size)) {
      return damage(off, "corrupt at byte " + std::to_string(off) + ": bad size field");
    }
    const char type = static_cast<char>(h[kTypeOff]);
    const bool is_meta = type == 'L' || type == 'K' || type == 'x' || type == 'g';
    if (!is_meta && pax_size >= 0) size = pax_size;
    std::string name;
    if (!is_meta) {
      name = !pax_path.empty() ? pax_path : have_long_name ? long_name : HeaderName(h);
      name = StripDotSlash(name);
    }
    const int64_t data_offset = off + kBlock;
    if (size > file_size - data_offset) {
      const std::string what = is_meta ? std::string("a '") + type + "' metadata entry" : "member '" + name + "'";
      index.damaged_member = name;
      return damage(off, "truncated at byte " + std::to_string(off) + ": " + what + " needs " +
                             std::to_string(size) + " bytes of data, the file has " +
                             std::to_string(file_size - data_offset));
    }
    const int64_t next = data_offset + (size + kBlock - 1) / kBlock * kBlock;
    if (type == 'L' || type == 'x') {
      if (size > (type == 'L' ? kMaxLongName : kMaxPaxHeader)) {
        return damage(off, "corrupt at byte " + std::to_string(off) + ": a '" + type +
                               "' entry of " + std::to_string(size) + " bytes");
      }
      std::string data(static_cast<size_t>(size), '\0');
      const int64_t n = PreadFull(fd, data.data(), size, data_offset);
      if (n < 0) return InternalError("cannot read " + path + ": " + ErrnoText());
      if (n < size) return damage(off, "truncated at byte " + std::to_string(off));
      if (type == 'L') {
        long_name = data.substr(0, data.find('\0'));
        have_long_name = true;
      } else if (!ParsePax(data, &pax_path, &pax_size)) {
        return damage(off, "corrupt at byte " + std::to_string(off) + ": malformed pax header");
      }
    } else if (!is_meta) {  // 'K' (long link name) and 'g' (global pax) are skipped
      const bool regular = type == '0' || type == '\0' || type == '7';
      if (regular && !name.empty() && name.back() != '/') {  // old tars mark dirs with '/'
        index.members.push_back({name, data_offset, size});
      }
      long_name.clear();
      pax_path.clear();
      have_long_name = false;
      pax_size = -1;
    }
    off = next;
  }
  return index;
}

StatusOr<TarIndex> ScanTarFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string msg = "cannot open " + path + ": " + ErrnoText();
    return errno == ENOENT ? NotFoundError(msg) : InternalError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string msg = "cannot stat " + path + ": " + ErrnoText();
    ::close(fd);
    return InternalError(msg);
  }
  StatusOr<TarIndex> index = ScanTar(fd, static_cast<int64_t>(st.st_size), path);
  ::close(fd);
  return index;
}

}  // namespace reca
