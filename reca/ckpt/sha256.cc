#include "reca/ckpt/sha256.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include <atomic>
#include <cstring>

namespace reca {
namespace {

constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// One round; the caller rotates the roles of a..h instead of moving values.
#define RECA_SHA256_ROUND(a, b, c, d, e, f, g, h, k, w)                                        \
  do {                                                                                         \
    uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + k + w; \
    uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));    \
    d += t1;                                                                                   \
    h = t1 + t2;                                                                               \
  } while (0)

// Message schedule in a 16-word ring: w[i & 15] becomes W[i] for i >= 16.
#define RECA_SHA256_W(i)                                                               \
  (w[(i)&15] +=                                                                        \
   (Rotr(w[((i)-2) & 15], 17) ^ Rotr(w[((i)-2) & 15], 19) ^ (w[((i)-2) & 15] >> 10)) + \
   w[((i)-7) & 15] +                                                                   \
   (Rotr(w[((i)-15) & 15], 7) ^ Rotr(w[((i)-15) & 15], 18) ^ (w[((i)-15) & 15] >> 3)))

#define RECA_SHA256_8ROUNDS(i, W)                                     \
  RECA_SHA256_ROUND(a, b, c, d, e, f, g, h, kK[(i) + 0], W((i) + 0)); \
  RECA_SHA256_ROUND(h, a, b, c, d, e, f, g, kK[(i) + 1], W((i) + 1)); \
  RECA_SHA256_ROUND(g, h, a, b, c, d, e, f, kK[(i) + 2], W((i) + 2)); \
  RECA_SHA256_ROUND(f, g, h, a, b, c, d, e, kK[(i) + 3], W((i) + 3)); \
  RECA_SHA256_ROUND(e, f, g, h, a, b, c, d, kK[(i) + 4], W((i) + 4)); \
  RECA_SHA256_ROUND(d, e, f, g, h, a, b, c, kK[(i) + 5], W((i) + 5)); \
  RECA_SHA256_ROUND(c, d, e, f, g, h, a, b, kK[(i) + 6], W((i) + 6)); \
  RECA_SHA256_ROUND(b, c, d, e, f, g, h, a, kK[(i) + 7], W((i) + 7))

#define RECA_SHA256_W0(i) w[i]

// Compresses `nblocks` consecutive 64-byte blocks at `p` into `state`.
void CompressPortable(uint32_t state[8], const uint8_t* p, size_t nblocks) {
  uint32_t w[16];
  for (; nblocks > 0; --nblocks, p += 64) {
    for (int i = 0; i < 16; ++i) w[i] = LoadBe32(p + 4 * i);
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    RECA_SHA256_8ROUNDS(0, RECA_SHA256_W0);
    RECA_SHA256_8ROUNDS(8, RECA_SHA256_W0);
    RECA_SHA256_8ROUNDS(16, RECA_SHA256_W);
    RECA_SHA256_8ROUNDS(24, RECA_SHA256_W);
    RECA_SHA256_8ROUNDS(32, RECA_SHA256_W);
    RECA_SHA256_8ROUNDS(40, RECA_SHA256_W);
    RECA_SHA256_8ROUNDS(48, RECA_SHA256_W);
    RECA_SHA256_8ROUNDS(56, RECA_SHA256_W);
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
}

#undef RECA_SHA256_W0
#undef RECA_SHA256_8ROUNDS
#undef RECA_SHA256_W
#undef RECA_SHA256_ROUND

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The x86 SHA extensions (SHA-NI: Intel since Goldmont/Ice Lake, AMD since
// Zen): about 4x the portable code. Two rounds per sha256rnds2 on the state
// split as ABEF/CDGH; the message schedule by sha256msg1/msg2.
__attribute__((target("sha,sse4.1,ssse3")))
void CompressShaNi(uint32_t state[8], const uint8_t* p, size_t nblocks) {
  const __m128i kByteSwap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
  __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0])), 0xB1);
  __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4])), 0x1B);
  __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  // ABEF
  state1 = _mm_blend_epi16(state1, tmp, 0xF0);       // CDGH
  for (; nblocks > 0; --nblocks, p += 64) {
    const __m128i abef = state0, cdgh = state1;
    __m128i w[4];
    for (int i = 0; i < 16; ++i) {
      __m128i& cur = w[i & 3];
      if (i < 4) {
        cur = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), kByteSwap);
      }
      const __m128i msg =
          _mm_add_epi32(cur, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kK[4 * i])));
      state1 = _mm_sha256rnds2_epu32(state1, state0, msg);
      if (i >= 3 && i <= 14) {  // the next group's words; its slot holds msg1(W[i-3], W[i-2])
        __m128i& next = w[(i + 1) & 3];
        const __m128i t = _mm_alignr_epi8(cur, w[(i - 1) & 3], 4);
        next = _mm_sha256msg2_epu32(_mm_add_epi32(next, t), cur);
      }
      state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(msg, 0x0E));
      if (i >= 1 && i <= 12) w[(i - 1) & 3] = _mm_sha256msg1_epu32(w[(i - 1) & 3], cur);
    }
    state0 = _mm_add_epi32(state0, abef);
    state1 = _mm_add_epi32(state1, cdgh);
  }
  tmp = _mm_shuffle_epi32(state0, 0x1B);        // FEBA
  state1 = _mm_shuffle_epi32(state1, 0xB1);     // DCHG
  state0 = _mm_blend_epi16(tmp, state1, 0xF0);  // DCBA
  state1 = _mm_alignr_epi8(state1, tmp, 8);     // ABEF -> HGFE
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), state0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), state1);
}

std::atomic<bool> g_force_portable{false};

bool HasShaNi() {
  // CPUID directly: clang 14's __builtin_cpu_supports does not know "sha".
  static const bool has = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA) != 0;
  }();
  return has && !g_force_portable.load(std::memory_order_relaxed);
}

void Compress(uint32_t state[8], const uint8_t* p, size_t nblocks) {
  if (HasShaNi()) {
    CompressShaNi(state, p, nblocks);
  } else {
    CompressPortable(state, p, nblocks);
  }
}
#else
bool HasShaNi() { return false; }
void Compress(uint32_t state[8], const uint8_t* p, size_t nblocks) { CompressPortable(state, p, nblocks); }
#endif

}  // namespace

bool Sha256UsesShaNi() { return HasShaNi(); }

void Sha256ForcePortableForTesting(bool portable) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  g_force_portable.store(portable);
#else
  (void)portable;
#endif
}

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::Update(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_bytes_ += n;
  if (buf_len_ > 0) {
    const size_t take = n < 64 - buf_len_ ? n : 64 - buf_len_;
    std::memcpy(buf_ + buf_len_, p, take);
    buf_len_ += take;
    p += take;
    n -= take;
    if (buf_len_ < 64) return;
    Compress(h_, buf_, 1);
    buf_len_ = 0;
  }
  // Whole blocks straight from the input, no copy.
  const size_t blocks = n / 64;
  if (blocks > 0) Compress(h_, p, blocks);
  p += blocks * 64;
  n -= blocks * 64;
  if (n > 0) {
    std::memcpy(buf_, p, n);
    buf_len_ = n;
  }
}

Sha256::DigestBytes Sha256::Digest() const {
  uint32_t h[8];
  std::memcpy(h, h_, sizeof(h));
  // Padding: 0x80, zeros to 56 mod 64, then the bit length big-endian.
  uint8_t tail[128] = {};
  std::memcpy(tail, buf_, buf_len_);
  tail[buf_len_] = 0x80;
  const size_t tail_len = buf_len_ < 56 ? 64 : 128;
  const uint64_t bits = total_bytes_ * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  Compress(h, tail, tail_len / 64);
  DigestBytes out;
  for (int i = 0; i < 8; ++i) StoreBe32(out.data() + 4 * i, h[i]);
  return out;
}

std::string Sha256::HexDigest() const {
  const DigestBytes d = Digest();
  return ToHex(d.data(), d.size());
}

std::string ToHex(const uint8_t* bytes, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

std::string Sha256Hex(const std::string& data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.HexDigest();
}

}  // namespace reca
