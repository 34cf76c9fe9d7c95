#include "reca/trainer.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "reca/ckpt/sha256.h"
#include "reca/file_util.h"
#include "reca/safetensors.h"

namespace reca {
namespace {

std::string Tmp(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(t ? t : "/tmp") + "/" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  return dir;
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && st.st_size > 0;
}

// One reconstruction and one captioning batch per step: cheaper than the default 2 + 2.
std::vector<SourceSpec> ShapesSources() {
  SourceSpec recon, i2t;
  recon.task = "recon";
  i2t.task = "i2t";
  return {recon, i2t};
}

JobSpec Small() {
  JobSpec s;
  s.steps = 3;
  s.batch_per_rank = 4;
  s.log_every = 1;
  s.samples.count = 2;
  s.samples.iters = 2;
  s.samples.diffusion_steps = 3;
  return s;
}

RuntimeOptions Runtime(const std::string& out) {
  RuntimeOptions rt;
  rt.out_dir = out;
  rt.heldout = false;
  return rt;
}

std::string Bytes(const std::string& path) {
  StatusOr<std::string> b = ReadFile(path);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : "";
}

TEST(TrainerTest, RunsWritesOutputsAndIsDeterministic) {
  std::ostringstream log1, log2;
  RuntimeOptions a = Runtime(Tmp("run_a")), b = Runtime(Tmp("run_b"));
  a.heldout = true;
  auto s1 = RunTraining(Small(), a, log1);
  ASSERT_TRUE(s1.ok()) << s1.status();
  auto s2 = RunTraining(Small(), b, log2);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s1->last_loss, s2->last_loss);
  EXPECT_GT(s1->heldout_recon_loss, 0);
  EXPECT_NE(log1.str().find("conditioned on another image"), std::string::npos);
  EXPECT_TRUE(Exists(a.out_dir + "/recon_final.png"));
  EXPECT_TRUE(Exists(a.out_dir + "/t2i_final.png"));
  EXPECT_TRUE(Exists(a.out_dir + "/checkpoints/step-00000003/MANIFEST.json"));
  EXPECT_EQ(Bytes(a.out_dir + "/model.safetensors"), Bytes(b.out_dir + "/model.safetensors"));
  EXPECT_NE(log1.str().find("step     3/3"), std::string::npos) << log1.str();
  // One metrics line per step with the documented fields.
  std::ifstream metrics(a.out_dir + "/metrics.jsonl");
  std::string line, last;
  int lines = 0;
  while (std::getline(metrics, line)) ++lines, last = line;
  EXPECT_EQ(lines, 3);
  for (const char* field : {"\"step\":3", "\"loss\":", "\"loss_by_source\":{\"shapes-recon\":",
                            "\"samples_per_s\":", "\"step_s\":", "\"data_wait_s\":",
                            "\"allreduce_s\":", "\"lr\":", "\"grad_norm\":"}) {
    EXPECT_NE(last.find(field), std::string::npos) << field << " in " << last;
  }
}

TEST(TrainerTest, ResumeIsBitExact) {
  // 6 steps straight vs 3 steps, stop (as SIGTERM does), resume for 3 more.
  JobSpec spec = Small();
  spec.steps = 6;
  spec.samples.count = 0;
  spec.optimizer.ema_decay = 0.9;
  spec.data.sources = ShapesSources();
  std::ostringstream log;
  const std::string straight = Tmp("straight"), split = Tmp("split");
  ASSERT_TRUE(RunTraining(spec, Runtime(straight), log).ok()) << log.str();
  RuntimeOptions first = Runtime(split);
  first.stop_after = 3;
  auto s = RunTraining(spec, first, log);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->stopped_early);
  EXPECT_EQ(s->steps, 3);
  RuntimeOptions fresh = Runtime(split);
  fresh.resume = false;  // would overwrite: refused
  EXPECT_EQ(RunTraining(spec, fresh, log).status().code(), StatusCode::kFailedPrecondition);
  auto resumed = RunTraining(spec, Runtime(split), log);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->first_step, 3);
  EXPECT_NE(log.str().find("resuming from " + split + "/checkpoints/step-00000003 at step 3"),
            std::string::npos);
  EXPECT_EQ(Bytes(straight + "/model.safetensors"), Bytes(split + "/model.safetensors"));
  EXPECT_EQ(Bytes(straight + "/ema.safetensors"), Bytes(split + "/ema.safetensors"));
  // Each step once in the metrics, however the run was split.
  std::ifstream metrics(split + "/metrics.jsonl");
  std::string line;
  int64_t expect = 1;
  while (std::getline(metrics, line)) {
    EXPECT_NE(line.find("{\"step\":" + std::to_string(expect++) + ","), std::string::npos) << line;
  }
  EXPECT_EQ(expect, 7);
}

TEST(TrainerTest, ResumesOnlyFromTheRecordedCheckpoint) {
  // The service passes the coordinator's record: step 1 here, though steps 2
  // and 3 are on disk (a failed attempt committed them, nobody recorded them).
  JobSpec spec = Small();
  spec.samples.count = 0;
  spec.checkpoint.every = 1;
  spec.checkpoint.keep = 1;
  std::ostringstream log;
  const std::string straight = Tmp("recorded_straight"), out = Tmp("recorded");
  ASSERT_TRUE(RunTraining(spec, Runtime(straight), log).ok()) << log.str();
  RuntimeOptions first = Runtime(out);
  first.keep_checkpoints = 0;  // overrides keep = 1: all three stay
  ASSERT_TRUE(RunTraining(spec, first, log).ok());
  const std::string ckpts = out + "/checkpoints/";
  for (const char* s : {"step-00000001", "step-00000002", "step-00000003"}) {
    ASSERT_TRUE(Exists(ckpts + s + "/MANIFEST.json")) << s;
  }
  const std::string manifest = Bytes(ckpts + "step-00000001/MANIFEST.json");

  RuntimeOptions wrong = Runtime(out);  // a manifest that is not the recorded one
  wrong.resume_from = ckpts + "step-00000001";
  wrong.resume_manifest_sha256 = std::string(64, '0');
  auto bad = RunTraining(spec, wrong, log);
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("not the recorded 0000"), std::string::npos) << bad.status();
  EXPECT_TRUE(Exists(ckpts + "step-00000003/MANIFEST.json"));  // nothing discarded on error

  RuntimeOptions recorded = Runtime(out);
  recorded.resume_from = ckpts + "step-00000001";
  recorded.resume_manifest_sha256 = Sha256Hex(manifest);
  recorded.keep_checkpoints = 0;
  std::ostringstream log2;
  auto resumed = RunTraining(spec, recorded, log2);
  ASSERT_TRUE(resumed.ok()) << resumed.status() << log2.str();
  EXPECT_EQ(resumed->first_step, 1);
  EXPECT_NE(log2.str().find("discarding " + ckpts + "step-00000002: committed by an attempt that failed"),
            std::string::npos) << log2.str();
  EXPECT_EQ(Bytes(straight + "/model.safetensors"), Bytes(out + "/model.safetensors"));
  EXPECT_TRUE(Exists(ckpts + "step-00000003/MANIFEST.json"));  // committed again by this run

  RuntimeOptions none = Runtime(out);  // nothing recorded: from the start
  none.resume_from = "none";
  std::ostringstream log3;
  auto fresh = RunTraining(spec, none, log3);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->first_step, 0);
  EXPECT_EQ(Bytes(straight + "/model.safetensors"), Bytes(out + "/model.safetensors"));

  RuntimeOptions odd = Runtime(out);
  odd.resume_from = out + "/checkpoints";
  EXPECT_EQ(RunTraining(spec, odd, log).status().code(), StatusCode::kInvalidArgument);
}

TEST(TrainerTest, CorruptCheckpointFailsWithTheFileNamed) {
  JobSpec spec = Small();
  spec.samples.count = 0;
  const std::string out = Tmp("corrupt");
  std::ostringstream log;
  RuntimeOptions rt = Runtime(out);
  rt.stop_after = 1;
  ASSERT_TRUE(RunTraining(spec, rt, log).ok());
  const std::string model = out + "/checkpoints/step-00000001/model.safetensors";
  std::string bytes = Bytes(model);
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(model, std::ios::binary | std::ios::trunc) << bytes;
  auto s = RunTraining(spec, Runtime(out), log);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find(model + ": SHA-256 mismatch"), std::string::npos)
      << s.status();
}

TEST(TrainerTest, StartsFromWeightsFileOrCheckpointDirectory) {
  std::ostringstream log;
  JobSpec pre = Small();
  pre.samples.count = 0;
  pre.data.sources = ShapesSources();
  pre.data.sources[0].task = "t2i";
  const std::string pre_out = Tmp("pre");
  ASSERT_TRUE(RunTraining(pre, Runtime(pre_out), log).ok()) << log.str();
  for (const std::string& init : {pre_out + "/model.safetensors", pre_out + "/checkpoints/step-00000003"}) {
    JobSpec rec = Small();
    rec.samples.count = 0;
    rec.model.init = init;
    auto s = RunTraining(rec, Runtime(Tmp("rec")), log);
    ASSERT_TRUE(s.ok()) << init << ": " << s.status();
  }
}

TEST(TrainerTest, LossFallsOnRecordedBatches) {
  // Replaying two recorded steps many times must fit them.
  JobSpec spec = Small();
  spec.batch_per_rank = 8;
  spec.samples.count = 0;
  spec.data.sources = ShapesSources();
  const std::string batches = Tmp("fit_batches.safetensors");
  ASSERT_TRUE(DumpBatches(spec, 2, batches).ok());
  RuntimeOptions rt = Runtime(Tmp("fit"));
  rt.batches_file = batches;
  spec.steps = 40;
  spec.optimizer.lr = 2e-3;
  spec.log_every = 10;
  std::ostringstream log;
  auto s = RunTraining(spec, rt, log);
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

TEST(TrainerTest, BadInputsNameTheFieldOrFile) {
  std::ostringstream log;
  JobSpec spec = Small();
  spec.optimizer.lr = -1;
  EXPECT_EQ(RunTraining(spec, Runtime(Tmp("bad")), log).status().message(),
            "spec.optimizer.lr: must be > 0");
  spec = Small();
  spec.model.init = Tmp("missing.safetensors");
  auto s = RunTraining(spec, Runtime(Tmp("bad")), log);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("missing.safetensors"), std::string::npos);
  spec = Small();
  SourceSpec folder;
  folder.type = "image_folder";
  folder.manifest = "/nonexistent/data.jsonl";
  spec.data.sources = {folder};
  s = RunTraining(spec, Runtime(Tmp("bad")), log);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("spec.data.sources[0] (image_folder-recon): "), std::string::npos)
      << s.status();
  EXPECT_NE(s.status().message().find("/nonexistent/data.jsonl"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace reca
