#include "reca/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "nlohmann/json.hpp"

namespace reca {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeSize {
  const char* name;
  int size;
};
constexpr DtypeSize kDtypeSizes[] = {
    {"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

}  // namespace

int SafetensorsDtypeSize(const std::string& dtype) {
  for (const auto& d : kDtypeSizes) {
    if (dtype == d.name) return d.size;
  }
  return 0;
}

StatusOr<SafetensorsLayout> ParseSafetensorsHeader(std::string_view bytes, const std::string& file) {
  auto bad = [&](const std::string& why) { return DataLossError(file + ": " + why); };
  if (bytes.size() < 8) return bad("too short for a safetensors header");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (n > kMaxHeaderBytes || n > bytes.size() - 8) return bad("header length out of range");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  } catch (const std::exception& e) {
    return bad(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) return bad("header is not a JSON object");
  SafetensorsLayout out;
  out.data_offset = 8 + n;
  out.data_size = bytes.size() - 8 - n;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return bad("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return bad("__metadata__." + m.key() + " is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + it.key() + "': ";
    const nlohmann::json& e = *it;
    if (!e.is_object()) return bad(where + "needs dtype, shape and data_offsets[2]");
    const auto dtype = e.find("dtype"), shape = e.find("shape"), offsets = e.find("data_offsets");
    if (dtype == e.end() || shape == e.end() || offsets == e.end() || !dtype->is_string() ||
        !shape->is_array() || !offsets->is_array() || offsets->size() != 2) {
      return bad(where + "needs dtype, shape and data_offsets[2]");
    }
    SafetensorsEntry entry;
    entry.name = it.key();
    entry.dtype = dtype->get<std::string>();
    const int elem = SafetensorsDtypeSize(entry.dtype);
    if (elem == 0) return bad(where + "unsupported dtype " + entry.dtype);
    // The product of the dims (zeros skipped) must fit in int64, as tensor
    // sizes must, even when a zero dim makes the tensor empty.
    constexpr uint64_t kMaxDim = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t numel, nonzero = 1;
    bool empty = false;
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
        return bad(where + "shape entries must be non-negative integers");
      }
      const uint64_t v = d.get<uint64_t>();
      if (v == 0) {
        empty = true;
      } else {
        if (v > kMaxDim / nonzero) return bad(where + "shape overflows");
        nonzero *= v;
      }
      entry.shape.push_back(static_cast<int64_t>(v));
    }
    numel = empty ? 0 : nonzero;
    if (!(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      return bad(where + "data_offsets must be non-negative integers");
    }
    entry.begin = (*offsets)[0].get<uint64_t>();
    entry.end = (*offsets)[1].get<uint64_t>();
    if (entry.begin > entry.end || entry.end > out.data_size) {
      return bad(where + "data_offsets outside the file (truncated?)");
    }
    const uint64_t len = entry.end - entry.begin;
    if (numel > len || len != numel * static_cast<uint64_t>(elem)) {
      return bad(where + "byte range does not match dtype and shape");
    }
    ranges.emplace_back(entry.begin, entry.end);
    out.tensors.push_back(std::move(entry));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) return bad("tensor byte ranges overlap");
  }
  return out;
}

}  // namespace reca
