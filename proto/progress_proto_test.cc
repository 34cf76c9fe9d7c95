#include <string>

#include "gtest/gtest.h"
#include "reca/v1/progress.grpc.pb.h"
#include "reca/v1/progress.pb.h"

namespace reca::v1 {
namespace {

TrainProgress MakeProgress() {
  TrainProgress p;
  p.set_job_id("job-42");
  p.set_rank(3);
  p.set_step(1'000'000'000'000);
  p.set_loss(0.125);
  p.set_samples_per_second(512.5);
  p.set_step_seconds(0.25);
  p.set_data_wait_seconds(0.01);
  p.set_allreduce_seconds(0.02);
  return p;
}

TEST(TrainProgressTest, SerializeParseRoundTrip) {
  const TrainProgress in = MakeProgress();
  std::string wire;
  ASSERT_TRUE(in.SerializeToString(&wire));

  TrainProgress out;
  ASSERT_TRUE(out.ParseFromString(wire));
  EXPECT_EQ(out.job_id(), "job-42");
  EXPECT_EQ(out.rank(), 3);
  EXPECT_EQ(out.step(), 1'000'000'000'000);
  EXPECT_DOUBLE_EQ(out.loss(), 0.125);
  EXPECT_DOUBLE_EQ(out.samples_per_second(), 512.5);
  EXPECT_DOUBLE_EQ(out.step_seconds(), 0.25);
  EXPECT_DOUBLE_EQ(out.data_wait_seconds(), 0.01);
  EXPECT_DOUBLE_EQ(out.allreduce_seconds(), 0.02);
  EXPECT_EQ(out.SerializeAsString(), wire);
}

TEST(TrainProgressTest, RejectsMalformedWire) {
  TrainProgress out;
  EXPECT_FALSE(out.ParseFromString(std::string("\xff\xff\xff", 3)));
}

// The message is usable on its own: no channel, server or client is involved, only the
// protobuf runtime (defaults, reflection by name, copies).
TEST(TrainProgressTest, WorksWithoutGrpc) {
  TrainProgress empty;
  EXPECT_EQ(empty.job_id(), "");
  EXPECT_EQ(empty.step(), 0);
  EXPECT_EQ(empty.ByteSizeLong(), 0u);

  const TrainProgress p = MakeProgress();
  EXPECT_EQ(TrainProgress::descriptor()->full_name(), "reca.v1.TrainProgress");
  const auto* field = TrainProgress::descriptor()->FindFieldByName("samples_per_second");
  ASSERT_NE(field, nullptr);
  EXPECT_DOUBLE_EQ(p.GetReflection()->GetDouble(p, field), 512.5);

  TrainProgress copy = p;
  copy.set_rank(4);
  EXPECT_EQ(p.rank(), 3);
  EXPECT_NE(copy.SerializeAsString(), p.SerializeAsString());
}

}  // namespace
}  // namespace reca::v1
