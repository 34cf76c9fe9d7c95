#include "reca/trainer.h"

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>

#include "gtest/gtest.h"
#include "reca/safetensors.h"

namespace reca {
namespace {

std::string Tmp(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  return std::string(t ? t : "/tmp") + "/" + name;
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && st.st_size > 0;
}

TrainOptions Small(const std::string& out) {
  TrainOptions o;
  o.out_dir = out;
  o.steps = 3;
  o.batch = 4;
  o.threads = 1;
  o.num_samples = 2;
  o.sampling.num_iter = 2;
  o.sampling.diffusion_steps = 3;
  o.optim.total_steps = o.steps;
  o.log_every = 1;
  return o;
}

TEST(TrainerTest, RunsWritesOutputsAndIsDeterministic) {
  std::ostringstream log1, log2;
  TrainOptions a = Small(Tmp("run_a")), b = Small(Tmp("run_b"));
  auto s1 = RunTraining(a, log1);
  ASSERT_TRUE(s1.ok()) << s1.status();
  auto s2 = RunTraining(b, log2);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s1->last_loss, s2->last_loss);
  EXPECT_GT(s1->heldout_recon_loss, 0);
  EXPECT_GT(s1->heldout_recon_loss_mismatched, 0);
  EXPECT_NE(log1.str().find("conditioned on another image"), std::string::npos);
  EXPECT_TRUE(Exists(a.out_dir + "/model.safetensors"));
  EXPECT_TRUE(Exists(a.out_dir + "/recon_reca_final.png"));
  EXPECT_TRUE(Exists(a.out_dir + "/t2i_reca_final.png"));
  auto wa = ReadSafetensors(a.out_dir + "/model.safetensors");
  auto wb = ReadSafetensors(b.out_dir + "/model.safetensors");
  ASSERT_TRUE(wa.ok() && wb.ok());
  for (const auto& [name, t] : wa->tensors) EXPECT_TRUE(at::equal(t, wb->tensors.at(name))) << name;
  EXPECT_NE(log1.str().find("step     3/3"), std::string::npos) << log1.str();
  EXPECT_NE(log1.str().find("samples/s"), std::string::npos);
}

TEST(TrainerTest, PretrainThenRecaFromItsWeights) {
  std::ostringstream log;
  TrainOptions pre = Small(Tmp("pre"));
  pre.mode = "pretrain";
  pre.mix = DefaultMix("pretrain");
  ASSERT_TRUE(RunTraining(pre, log).ok());
  TrainOptions rec = Small(Tmp("rec"));
  rec.init = pre.out_dir + "/model.safetensors";
  auto s = RunTraining(rec, log);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NE(log.str().find("init=" + rec.init), std::string::npos);
}

TEST(TrainerTest, LossFallsOnRecordedBatches) {
  // Replaying two recorded steps many times must fit them.
  TrainOptions o = Small(Tmp("fit"));
  o.batch = 8;
  o.mix = SourceMix{1, 1, 0};
  o.num_samples = 0;
  const std::string batches = Tmp("fit_batches.safetensors");
  ASSERT_TRUE(DumpBatches(o, 2, batches).ok());
  o.batches_file = batches;
  o.steps = 40;
  o.optim.total_steps = 40;
  o.optim.lr = 2e-3;
  o.log_every = 10;
  std::ostringstream log;
  auto s = RunTraining(o, log);
  ASSERT_TRUE(s.ok()) << s.status();
  std::istringstream lines(log.str());
  std::string line;
  std::vector<double> losses;
  while (std::getline(lines, line)) {
    const size_t p = line.find("| loss ");
    if (p != std::string::npos) losses.push_back(std::stod(line.substr(p + 7)));
  }
  ASSERT_GE(losses.size(), 3u) << log.str();
  EXPECT_LT(losses.back(), 0.8 * losses[1]) << log.str();
}

TEST(TrainerTest, BadOptionsNameTheField) {
  std::ostringstream log;
  TrainOptions o = Small(Tmp("bad"));
  o.optim.lr = -1;
  EXPECT_EQ(RunTraining(o, log).status().message(), "optimizer.lr: must be > 0");
  o = Small(Tmp("bad"));
  o.mode = "finetune";
  EXPECT_NE(RunTraining(o, log).status().message().find("train.mode"), std::string::npos);
  o = Small(Tmp("bad"));
  o.init = Tmp("missing.safetensors");
  auto s = RunTraining(o, log);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("missing.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace reca
