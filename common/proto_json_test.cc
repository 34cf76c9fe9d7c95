#include "common/proto_json.h"

#include "gtest/gtest.h"
#include "reca/v1/job_spec.pb.h"

namespace reca {
namespace {

TEST(ProtoJsonTest, SetFieldsOnlyWithNumbersAsNumbers) {
  v1::JobSpec spec;
  spec.set_steps(5);
  spec.set_seed(18446744073709551615ull);
  spec.mutable_optimizer()->set_lr(1e-4);
  spec.mutable_data()->add_sources()->set_type("shapes");
  spec.mutable_data()->mutable_sources(0)->add_shards("a-{0..3}.tar");
  const nlohmann::json j = ProtoToJson(spec);
  EXPECT_TRUE(j["steps"].is_number_integer());
  EXPECT_EQ(j["seed"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(j["optimizer"]["lr"].get<double>(), 1e-4);
  EXPECT_EQ(j["data"]["sources"][0]["type"], "shapes");
  EXPECT_EQ(j["data"]["sources"][0]["shards"][0], "a-{0..3}.tar");
  EXPECT_FALSE(
      j.contains("batch_per_rank"));  // unset: the trainer's default applies
  EXPECT_EQ(ProtoToJson(v1::JobSpec()).dump(), "{}");
}

}  // namespace
}  // namespace reca
