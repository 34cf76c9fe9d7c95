// Fuzzes the byte-level safetensors reader (reca/safetensors_header.h), the
// part of DecodeSafetensors that sees untrusted bytes before any tensor is
// allocated. Invariant: every accepted tensor lies inside the file and its
// byte length matches dtype x shape.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "reca/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  reca::StatusOr<reca::SafetensorsLayout> layout = reca::ParseSafetensorsHeader(bytes, "fuzz.safetensors");
  if (!layout.ok()) return 0;
  if (layout->data_offset + layout->data_size != size) std::abort();
  for (const reca::SafetensorsEntry& e : layout->tensors) {
    if (e.begin > e.end || e.end > layout->data_size) std::abort();
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d < 0) std::abort();
      numel *= static_cast<uint64_t>(d);
    }
    if (numel * static_cast<uint64_t>(reca::SafetensorsDtypeSize(e.dtype)) != e.end - e.begin) std::abort();
  }
  return 0;
}
