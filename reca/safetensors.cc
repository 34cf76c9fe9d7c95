#include "reca/safetensors.h"

#include <cstring>
#include <limits>

#include <ATen/ATen.h>

#include "nlohmann/json.hpp"
#include "reca/file_util.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {at::kFloat, "F32"}, {at::kDouble, "F64"}, {at::kHalf, "F16"}, {at::kBFloat16, "BF16"},
    {at::kLong, "I64"},  {at::kInt, "I32"},    {at::kShort, "I16"}, {at::kChar, "I8"},
    {at::kByte, "U8"},   {at::kBool, "BOOL"},
};

const char* NameOf(at::ScalarType t) {
  for (const auto& d : kDtypes) if (d.type == t) return d.name;
  return nullptr;
}

bool TypeOf(const std::string& name, at::ScalarType* t) {
  for (const auto& d : kDtypes) {
    if (name == d.name) {
      *t = d.type;
      return true;
    }
  }
  return false;
}

}  // namespace

StatusOr<std::string> EncodeSafetensors(const std::map<std::string, at::Tensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  return TorchGuardOr("encoding safetensors", [&]() -> StatusOr<std::string> {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::vector<at::Tensor> data;
    uint64_t offset = 0;
    for (const auto& [name, tensor] : tensors) {
      if (name == "__metadata__") return InvalidArgumentError("tensor name '__metadata__' is reserved");
      const char* dtype = NameOf(tensor.scalar_type());
      if (dtype == nullptr) {
        return InvalidArgumentError("tensor '" + name + "': unsupported dtype " +
                                    std::string(c10::toString(tensor.scalar_type())));
      }
      at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
      const uint64_t bytes = t.numel() * t.element_size();
      header[name] = {{"dtype", dtype},
                      {"shape", t.sizes().vec()},
                      {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
      data.push_back(t);
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');
    std::string out(8, '\0');
    const uint64_t n = json.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out += json;
    out.reserve(out.size() + offset);
    for (const at::Tensor& t : data) {
      out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
    }
    return out;
  });
}

StatusOr<SafetensorsContents> DecodeSafetensors(const std::string& bytes,
                                                const std::string& file) {
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
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* base = bytes.data() + 8 + n;
  SafetensorsContents out;
  return TorchGuardOr("decoding " + file, [&]() -> StatusOr<SafetensorsContents> {
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
      if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
          !e.contains("data_offsets") || !e["dtype"].is_string() || !e["shape"].is_array() ||
          !e["data_offsets"].is_array() || e["data_offsets"].size() != 2) {
        return bad(where + "needs dtype, shape and data_offsets[2]");
      }
      at::ScalarType type;
      if (!TypeOf(e["dtype"].get<std::string>(), &type)) {
        return bad(where + "unsupported dtype " + e["dtype"].get<std::string>());
      }
      std::vector<int64_t> shape;
      uint64_t numel = 1;
      for (const auto& d : e["shape"]) {
        if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
          return bad(where + "shape entries must be non-negative integers");
        }
        const uint64_t v = d.get<uint64_t>();
        if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v) return bad(where + "shape overflows");
        numel *= v;
        shape.push_back(static_cast<int64_t>(v));
      }
      if (!e["data_offsets"][0].is_number_unsigned() || !e["data_offsets"][1].is_number_unsigned()) {
        return bad(where + "data_offsets must be non-negative integers");
      }
      const uint64_t begin = e["data_offsets"][0].get<uint64_t>();
      const uint64_t end = e["data_offsets"][1].get<uint64_t>();
      const uint64_t elem = c10::elementSize(type);
      if (begin > end || end > data_size) return bad(where + "data_offsets outside the file (truncated?)");
      if (numel > (end - begin) || (end - begin) != numel * elem) {
        return bad(where + "byte range does not match dtype and shape");
      }
      ranges.emplace_back(begin, end);
      at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
      if (end > begin) std::memcpy(t.data_ptr(), base + begin, end - begin);
      out.tensors[it.key()] = t;
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i].first < ranges[i - 1].second) return bad("tensor byte ranges overlap");
    }
    return std::move(out);
  });
}

Status WriteSafetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  RECA_ASSIGN_OR_RETURN(std::string bytes, EncodeSafetensors(tensors, metadata));
  return WriteFileAtomic(path, bytes);
}

StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path) {
  RECA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodeSafetensors(bytes, path);
}

}  // namespace reca
