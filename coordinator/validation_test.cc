#include "coordinator/validation.h"

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
