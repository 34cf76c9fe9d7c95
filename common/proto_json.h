// A protobuf message as the JSON tree a YAML job spec would be: set fields
// only (explicit presence), field names as in the .proto, and 64-bit integers
// as JSON numbers (proto3's JSON mapping writes them as strings, which
// reca-train's spec parser rightly refuses). The coordinator validates specs
// through this, and workers write the trainer's spec.json with it.
#ifndef RECA_COMMON_PROTO_JSON_H_
#define RECA_COMMON_PROTO_JSON_H_

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

namespace reca {

nlohmann::json ProtoToJson(const google::protobuf::Message& message);

}  // namespace reca

#endif  // RECA_COMMON_PROTO_JSON_H_
