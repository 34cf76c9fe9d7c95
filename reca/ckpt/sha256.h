// SHA-256 (FIPS 180-4), streaming. Self-contained, no dependencies; used to
// checksum checkpoint files.
#ifndef RECA_CKPT_SHA256_H_
#define RECA_CKPT_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace reca {

// Not thread-safe; one instance per stream. Cheap to copy.
class Sha256 {
 public:
  using DigestBytes = std::array<uint8_t, 32>;

  Sha256();

  // Appends `n` bytes at `data` to the message.
  void Update(const void* data, size_t n);
  void Update(const std::string& s) { Update(s.data(), s.size()); }

  // The hash of everything appended so far. Does not change the state, so
  // Update may continue afterwards (the next Digest covers the longer message).
  DigestBytes Digest() const;
  std::string HexDigest() const;

 private:
  uint32_t h_[8];
  uint64_t total_bytes_ = 0;
  uint8_t buf_[64];  // pending partial block
  size_t buf_len_ = 0;
};

// Lowercase hex of `n` bytes.
std::string ToHex(const uint8_t* bytes, size_t n);

// Lowercase hex SHA-256 of `data` (also declared in checkpoint_store.h).
std::string Sha256Hex(const std::string& data);

// Whether the x86 SHA extensions are used (detected at run time); tests can
// force the portable code to compare the two.
bool Sha256UsesShaNi();
void Sha256ForcePortableForTesting(bool portable);

}  // namespace reca

#endif  // RECA_CKPT_SHA256_H_
