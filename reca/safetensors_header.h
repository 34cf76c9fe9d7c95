// The byte-level half of safetensors reading (reca/safetensors.h): checks the
// 8-byte length, parses the JSON header and validates every tensor entry
// (dtype, shape, data_offsets inside the file, no overlaps) without creating
// tensors. Torch-free, so the fuzzer (fuzz/safetensors_fuzzer.cc) and
// DecodeSafetensors share it.
#ifndef RECA_SAFETENSORS_HEADER_H_
#define RECA_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "reca/status.h"

namespace reca {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // one of the names SafetensorsDtypeSize knows
  std::vector<int64_t> shape;  // each dim >= 0; the product fits in int64
  // Byte range of the data, relative to the start of the data section;
  // end - begin == product(shape) * element size.
  uint64_t begin = 0, end = 0;
};

struct SafetensorsLayout {
  std::vector<SafetensorsEntry> tensors;  // by name
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file (8 + header length)
  uint64_t data_size = 0;    // bytes after the header
};

// Bytes per element of a safetensors dtype name ("F32", "BF16", ...) that
// this reader supports; 0 for any other name.
int SafetensorsDtypeSize(const std::string& dtype);

// DataLossError "<file>: <why>" (naming the tensor where one is at fault) for
// anything malformed; never reads outside `bytes`.
StatusOr<SafetensorsLayout> ParseSafetensorsHeader(std::string_view bytes, const std::string& file);

}  // namespace reca

#endif  // RECA_SAFETENSORS_HEADER_H_
