// proto/reca/v1/job_spec.proto is generated from the job spec's field table
// (reca-train --spec_proto; tests/trainer/spec_reference_test.sh checks the
// file is current). This test checks the generated message is the same tree
// as the YAML/JSON job spec, field for field, and that a client's JSON (what
// a Python client sends after reading YAML) parses into it.
#include <set>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "reca/job_spec.h"
#include "reca/v1/job_spec.pb.h"

namespace reca {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Every key of `tree` is a field of `d` and every field of `d` a key of tree.
void ExpectSameTree(const nlohmann::json& tree, const Descriptor* d, const std::string& path) {
  std::set<std::string> keys;
  for (auto it = tree.begin(); it != tree.end(); ++it) {
    keys.insert(it.key());
    const FieldDescriptor* f = d->FindFieldByName(it.key());
    ASSERT_NE(f, nullptr) << path << "." << it.key() << " has no proto field in " << d->full_name();
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      const nlohmann::json& sub = it.value().is_array() ? nlohmann::json::object() : it.value();
      if (it.value().is_array()) {
        EXPECT_TRUE(f->is_repeated()) << path << "." << it.key();
        SourceSpec item;
        JobSpec one;
        one.data.sources = {item};
        ExpectSameTree(JobSpecToJson(one)["data"]["sources"][0], f->message_type(), path + "." + it.key() + "[]");
      } else {
        ExpectSameTree(sub, f->message_type(), path + "." + it.key());
      }
    } else {
      EXPECT_EQ(f->is_repeated(), it.value().is_array()) << path << "." << it.key();
      EXPECT_TRUE(f->is_repeated() || f->has_presence()) << path << "." << it.key() << " must be optional";
    }
  }
  for (int i = 0; i < d->field_count(); ++i) {
    EXPECT_TRUE(keys.count(d->field(i)->name())) << d->full_name() << "." << d->field(i)->name()
                                                 << " is not a job spec field";
  }
}

TEST(JobSpecProtoTest, SameFieldsAsTheJobSpec) {
  ExpectSameTree(JobSpecToJson(JobSpec()), reca::v1::JobSpec::descriptor(), "spec");
}

TEST(JobSpecProtoTest, ClientJsonParses) {
  reca::v1::JobSpec msg;
  const std::string json = R"({"name": "r1", "steps": 200, "optimizer": {"lr": 0.0001},
    "data": {"sources": [{"type": "webdataset", "task": "recon", "repeat": 2,
                          "shards": ["a-{0..3}.tar"]}]}})";
  auto status = google::protobuf::util::JsonStringToMessage(json, &msg);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(msg.steps(), 200);
  EXPECT_FALSE(msg.has_batch_per_rank());  // unset: the spec's default applies
  EXPECT_DOUBLE_EQ(msg.optimizer().lr(), 1e-4);
  ASSERT_EQ(msg.data().sources_size(), 1);
  EXPECT_EQ(msg.data().sources(0).shards(0), "a-{0..3}.tar");
  // The canonical spec of a checkpoint's state.json parses too.
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(JobSpecToJson(JobSpec()).dump(), &msg).ok());
  // Unknown fields are rejected, as in YAML.
  EXPECT_FALSE(google::protobuf::util::JsonStringToMessage(R"({"stepz": 3})", &msg).ok());
}

}  // namespace
}  // namespace reca
