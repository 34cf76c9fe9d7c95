#include "reca/safetensors.h"

#include <cstring>

#include <ATen/ATen.h>

#include "nlohmann/json.hpp"
#include "reca/file_util.h"
#include "reca/safetensors_header.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

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
  RECA_ASSIGN_OR_RETURN(SafetensorsLayout layout, ParseSafetensorsHeader(bytes, file));
  const char* base = bytes.data() + layout.data_offset;
  SafetensorsContents out;
  out.metadata = std::move(layout.metadata);
  return TorchGuardOr("decoding " + file, [&]() -> StatusOr<SafetensorsContents> {
    for (const SafetensorsEntry& e : layout.tensors) {
      at::ScalarType type;
      if (!TypeOf(e.dtype, &type) || c10::elementSize(type) != static_cast<size_t>(SafetensorsDtypeSize(e.dtype))) {
        return DataLossError(file + ": tensor '" + e.name + "': unsupported dtype " + e.dtype);
      }
      at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(type));
      if (e.end > e.begin) std::memcpy(t.data_ptr(), base + e.begin, e.end - e.begin);
      out.tensors[e.name] = t;
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
