// Small counter-based random numbers for data generation.
//
// The data side must be reproducible from (seed, index) alone, across
// machines and standard libraries, and resumable at any position: so no
// std::*_distribution (implementation-defined) and no hidden stream state.
#ifndef RECA_RNG_H_
#define RECA_RNG_H_

#include <cstdint>

namespace reca {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Deterministic stream seeded from any number of 64-bit keys.
class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0)
      : state_(SplitMix64(seed ^ SplitMix64(stream + 0x632BE59BD9B4E019ull))) {}
  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return SplitMix64(state_);
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n); n > 0. Multiply-shift, bias < 2^-32 for small n.
  int64_t Below(int64_t n) {
    return static_cast<int64_t>((Next() >> 32) * static_cast<uint64_t>(n) >> 32);
  }
  // Uniform integer in [lo, hi] inclusive.
  int64_t Between(int64_t lo, int64_t hi) { return lo + Below(hi - lo + 1); }
  bool Bernoulli(double p) { return Uniform() < p; }

 private:
  uint64_t state_;
};

}  // namespace reca

#endif  // RECA_RNG_H_
