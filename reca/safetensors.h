// Safetensors reading and writing (https://huggingface.co/docs/safetensors):
// an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, optional string metadata, then raw data.
// Files written here load in Python (bench/python/safetensors_io.py and the
// `safetensors` package). Reading validates every offset and size and names
// the file and tensor in any error.
#ifndef RECA_SAFETENSORS_H_
#define RECA_SAFETENSORS_H_

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "reca/status.h"

namespace reca {

struct SafetensorsContents {
  std::map<std::string, at::Tensor> tensors;  // CPU, contiguous
  std::map<std::string, std::string> metadata;
};

// Serialises to bytes (tensors are moved to CPU, made contiguous).
StatusOr<std::string> EncodeSafetensors(const std::map<std::string, at::Tensor>& tensors,
                                        const std::map<std::string, std::string>& metadata);
StatusOr<SafetensorsContents> DecodeSafetensors(const std::string& bytes,
                                                const std::string& name_for_errors);

// Crash-safe write (reca/file_util.h WriteFileAtomic).
Status WriteSafetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                        const std::map<std::string, std::string>& metadata = {});
StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path);

}  // namespace reca

#endif  // RECA_SAFETENSORS_H_
