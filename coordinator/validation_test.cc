#include "coordinator/validation.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

TEST(ValidationTest, ValidSpecSummary) {
  v1::JobSpec spec;
  spec.set_name("r1");
  spec.set_steps(200);
  spec.mutable_optimizer()->set_lr(1e-4);
  auto summary = ValidateSpec(spec, 1 << 20);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->name, "r1");
  EXPECT_EQ(summary->steps, 200);
  // Unset fields take the trainer's defaults.
  summary = ValidateSpec(v1::JobSpec(), 1 << 20);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->steps, 1000);
}

TEST(ValidationTest, FieldLevelErrors) {
  v1::JobSpec spec;
  spec.mutable_optimizer()->set_lr(-1);
  auto s = ValidateSpec(spec, 1 << 20).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.optimizer.lr"), std::string::npos) << s;

  spec.Clear();
  spec.mutable_model()->set_family("nope");
  s = ValidateSpec(spec, 1 << 20).status();
  EXPECT_NE(s.message().find("spec.model.family"), std::string::npos) << s;

  spec.Clear();
  spec.set_name(std::string(5000, 'x'));
  s = ValidateSpec(spec, 1000).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("more than the limit of 1000"), std::string::npos)
      << s;
}

// Issue 22: every field bounded by the trainer's field table, its bound in
// the error; and the job-wide product the table cannot express.
TEST(ValidationTest, SpecBoundsComeFromTheFieldTable) {
  v1::JobSpec spec;
  spec.set_steps(std::numeric_limits<int64_t>::max());
  auto s = ValidateSpec(spec, 1 << 20).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "spec.steps: must be in [1, 100000000]");

  spec.Clear();
  spec.set_name(std::string(100 << 10, 'x'));
  s = ValidateSpec(spec, 1 << 20).status();
  EXPECT_EQ(s.message(), "spec.name: 102400 bytes, more than the limit of 128");

  spec.Clear();
  spec.mutable_model()->set_init("/" + std::string(5000, 'p'));
  EXPECT_EQ(ValidateSpec(spec, 1 << 20).status().message(),
            "spec.model.init: 5001 bytes, more than the limit of 4096");

  spec.Clear();
  spec.set_batch_per_rank(65536);
  v1::SourceSpec* source = spec.mutable_data()->add_sources();
  source->set_repeat(17);
  EXPECT_EQ(ValidateSpec(spec, 1 << 20).status().message(),
            "spec.batch_per_rank: 65536 x 17 batches per step (the sources' "
            "repeats) = 1114112 samples per rank per step, more than the limit "
            "of 1048576");
  source->set_repeat(16);
  auto summary = ValidateSpec(spec, 1 << 20);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->samples_per_rank_step, 1 << 20);
}

TEST(ValidationTest, JobSizeBoundsStepsTimesSamplesTimesRanks) {
  SpecSummary spec;
  spec.steps = 100000000;
  spec.samples_per_rank_step = 1 << 20;
  v1::Resources resources;  // 0 ranks = 1
  EXPECT_TRUE(ValidateJobSize(spec, resources).ok());  // 2^46.6 samples
  resources.set_ranks(128);
  const absl::Status s = ValidateJobSize(spec, resources);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "spec.steps: 100000000 steps x 1048576 samples per rank per step x "
            "128 ranks = 13421772800000000 samples, more than the limit of "
            "9007199254740992 (2^53) for one job; fewer steps or a smaller "
            "batch");
  resources.set_ranks(85);  // 8.9e15
  EXPECT_TRUE(ValidateJobSize(spec, resources).ok());
}

TEST(ValidationTest, CheckLength) {
  EXPECT_TRUE(CheckLength(std::string(128, 'a'), "owner", kMaxIdBytes).ok());
  const absl::Status s =
      CheckLength(std::string(129, 'a'), "owner", kMaxIdBytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "owner: 129 bytes, more than the limit of 128");
}

TEST(ValidationTest, UnknownFieldsAreRejectedWithTheirPath) {
  v1::JobSpec spec;
  spec.mutable_optimizer()->set_lr(1e-4);
  // Field 99 of OptimizerSpec does not exist: a newer client's field.
  spec.mutable_optimizer()
      ->GetReflection()
      ->MutableUnknownFields(spec.mutable_optimizer())
      ->AddVarint(99, 1);
  auto s = ValidateSpec(spec, 1 << 20).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.optimizer: unknown field number 99"),
            std::string::npos)
      << s;
}

TEST(ValidationTest, SpecPathsStayInTheDataRoots) {
  PathRoots roots;
  roots.roots = {"/srv/data", "/runs"};
  roots.check_relative = false;  // the workers' to check
  v1::JobSpec spec;
  spec.mutable_model()->set_init("/runs/job-1/checkpoints/step-00000004");
  EXPECT_TRUE(ValidateSpec(spec, 1 << 20, roots).ok());
  spec.mutable_model()->set_init("job:job-00000001");  // resolved later
  EXPECT_TRUE(ValidateSpec(spec, 1 << 20, roots).ok());
  spec.mutable_model()->set_init("/etc/passwd");
  EXPECT_EQ(ValidateSpec(spec, 1 << 20, roots).status().message(),
            "spec.model.init: /etc/passwd is outside the allowed roots "
            "(/srv/data, /runs)");
  spec.mutable_model()->set_init("weights/../../x.safetensors");
  EXPECT_EQ(ValidateSpec(spec, 1 << 20, roots).status().message(),
            "spec.model.init: weights/../../x.safetensors: '..' is not "
            "allowed in paths");
}

TEST(ValidationTest, Resources) {
  v1::Resources r;
  r.set_ranks(2000);
  EXPECT_NE(ValidateResources(r).message().find("resources.ranks"),
            std::string::npos);
  r.set_ranks(2);
  r.set_accelerator(static_cast<v1::Accelerator>(7));
  EXPECT_NE(ValidateResources(r).message().find("resources.accelerator"),
            std::string::npos);
  r.set_accelerator(v1::GPU);
  EXPECT_TRUE(ValidateResources(r).ok());
}

}  // namespace
}  // namespace reca::coordinator
