#include "worker/rank_launch.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "gtest/gtest.h"
#include "reca/v1/job_spec.pb.h"
#include "reca/v1/worker_service.pb.h"

namespace reca {
namespace {

TEST(RankLaunchTest, Paths) {
  EXPECT_EQ(RankDir("/o", 3), "/o/ranks/rank-3");
  EXPECT_EQ(MetricsPath("/o", 0), "/o/metrics.jsonl");
  EXPECT_EQ(MetricsPath("/o", 2), "/o/metrics.rank2.jsonl");
  EXPECT_EQ(CheckpointsDir("/o"), "/o/checkpoints");
}

TEST(RankLaunchTest, SpecJsonHasNumbersForEvery64BitField) {
  v1::JobSpec spec;
  spec.set_name("n");
  spec.set_seed(18446744073709551615ull);
  spec.set_steps(300);
  spec.mutable_checkpoint()->set_every(50);
  auto* source = spec.mutable_data()->add_sources();
  source->set_repeat(2);
  source->add_shards("a-{0..3}.tar");
  absl::StatusOr<std::string> text = JobSpecToTrainerJson(spec);
  ASSERT_TRUE(text.ok()) << text.status();
  const nlohmann::json j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["seed"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(j["steps"], 300);
  EXPECT_EQ(j["checkpoint"]["every"], 50);
  EXPECT_EQ(j["data"]["sources"][0]["repeat"], 2);
  EXPECT_EQ(j["data"]["sources"][0]["shards"][0], "a-{0..3}.tar");
  EXPECT_FALSE(j.contains("batch_per_rank"));
  EXPECT_EQ(JobSpecToTrainerJson(v1::JobSpec()).value(), "{}\n");
}

TEST(RankLaunchTest, RejectsUnusableAssignments) {
  RankLaunchOptions o;
  v1::Assignment a;
  a.set_job_id("j");
  a.set_world_size(1);
  a.set_master_addr("127.0.0.1");
  a.set_master_port(29500);
  EXPECT_EQ(PrepareRankLaunch(a, o).status().code(),
            absl::StatusCode::kInvalidArgument);  // no output_dir
  a.set_output_dir(testing::TempDir() + "/rank_launch");
  a.set_master_port(70000);
  EXPECT_EQ(PrepareRankLaunch(a, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  a.set_master_port(29500);
  a.set_rank(1);
  EXPECT_EQ(PrepareRankLaunch(a, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  a.set_rank(0);
  absl::StatusOr<ProcessSpec> p = PrepareRankLaunch(a, o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(
      std::filesystem::exists(a.output_dir() + "/ranks/rank-0/spec.json"));
}

TEST(RankLaunchTest, GpuRankSeesOnlyItsDevice) {
  RankLaunchOptions o;
  o.trainer_path = "reca-train";
  o.default_threads = 2;
  v1::Assignment a;
  a.set_job_id("j");
  a.set_world_size(1);
  a.set_master_addr("127.0.0.1");
  a.set_master_port(29500);
  a.set_output_dir(testing::TempDir() + "/rank_launch_gpu");
  absl::StatusOr<ProcessSpec> cpu = PrepareRankLaunch(a, o);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->env.count("CUDA_VISIBLE_DEVICES"), 0u);
  EXPECT_EQ(cpu->env.at("OPENBLAS_NUM_THREADS"), "2");
  a.set_accelerator(v1::GPU);
  a.set_gpu_index(3);
  absl::StatusOr<ProcessSpec> gpu = PrepareRankLaunch(a, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(gpu->env.at("CUDA_VISIBLE_DEVICES"), "3");
  EXPECT_EQ(gpu->argv.back(), "--device=cuda");
  // A configured GPU peak reaches GPU ranks only; CPU ranks measure theirs.
  o.gpu_peak_flops = 989e12;
  gpu = PrepareRankLaunch(a, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(gpu->argv.back(), "--peak_flops=9.89e+14");
  a.set_accelerator(v1::CPU);
  cpu = PrepareRankLaunch(a, o);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->argv.back(), "--keep_checkpoints=0");
}

TEST(RankLaunchTest, TheRankResumesFromTheRecordedCheckpointOnly) {
  RankLaunchOptions o;
  o.trainer_path = "reca-train";
  v1::Assignment a;
  a.set_job_id("j");
  a.set_world_size(1);
  a.set_master_addr("127.0.0.1");
  a.set_master_port(29500);
  a.set_output_dir(testing::TempDir() + "/rank_launch_resume");
  auto has = [](const ProcessSpec& p, const std::string& flag) {
    return std::find(p.argv.begin(), p.argv.end(), flag) != p.argv.end();
  };
  absl::StatusOr<ProcessSpec> fresh = PrepareRankLaunch(a, o);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(has(*fresh, "--resume_from=none"));  // nothing recorded
  a.mutable_resume()->set_path("/o/checkpoints/step-00000040");
  a.mutable_resume()->set_manifest_sha256("ab12");
  absl::StatusOr<ProcessSpec> resumed = PrepareRankLaunch(a, o);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(has(*resumed, "--resume_from=/o/checkpoints/step-00000040"));
  EXPECT_TRUE(has(*resumed, "--resume_manifest_sha256=ab12"));
  EXPECT_TRUE(has(*resumed, "--keep_checkpoints=0"));  // the coordinator's retention
  EXPECT_FALSE(std::any_of(resumed->argv.begin(), resumed->argv.end(), [](const std::string& f) {
    return f.rfind("--data_roots=", 0) == 0;  // none configured: anywhere
  }));
  // The worker's data roots and the jobs' runs root (model.init: job:<id>).
  o.data_roots = {"/srv/data", "/mnt/ds"};
  const std::string runs = testing::TempDir() + "/rank_launch_runs";
  a.set_output_dir(runs + "/job-7");
  absl::StatusOr<ProcessSpec> confined = PrepareRankLaunch(a, o);
  ASSERT_TRUE(confined.ok()) << confined.status();
  EXPECT_EQ(confined->argv.back(), "--data_roots=/srv/data,/mnt/ds," + runs);
}

}  // namespace
}  // namespace reca
