#include "reca/data_pipeline.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "reca/data/tar_test_util.h"
#include "reca/file_util.h"
#include "reca/image_io.h"

namespace reca {
namespace {

std::string TmpDir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(t ? t : "/tmp") + "/pipeline_" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  EXPECT_TRUE(MakeDirs(dir).ok());
  return dir;
}

// A 32x32 PNG of one colour unique to `i`.
std::string ColourPng(int i) {
  RgbImage img{32, 32, std::vector<uint8_t>(32 * 32 * 3)};
  for (size_t p = 0; p < img.pixels.size(); p += 3) {
    img.pixels[p] = static_cast<uint8_t>(i * 7);
    img.pixels[p + 1] = static_cast<uint8_t>(i * 13);
    img.pixels[p + 2] = static_cast<uint8_t>(255 - i);
  }
  return *EncodePng(img);
}

// An image folder of `n` distinct images (with captions), plus `bad` files
// that are not images.
std::string MakeFolder(const std::string& name, int n, int bad = 0) {
  const std::string dir = TmpDir(name);
  std::ofstream manifest(dir + "/data.jsonl");
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(WriteFileAtomic(dir + "/img" + std::to_string(i) + ".png", ColourPng(i)).ok());
    manifest << "{\"path\": \"img" << i << ".png\", \"caption\": \"image " << i << "\"}\n";
  }
  for (int i = 0; i < bad; ++i) {
    EXPECT_TRUE(WriteFileAtomic(dir + "/bad" + std::to_string(i) + ".png", "not an image").ok());
    manifest << "{\"path\": \"bad" << i << ".png\", \"caption\": \"broken\"}\n";
  }
  return dir + "/data.jsonl";
}

JobSpec FolderSpec(const std::string& manifest, const std::string& task, int64_t batch) {
  JobSpec spec;
  spec.batch_per_rank = batch;
  SourceSpec s;
  s.type = "image_folder";
  s.task = task;
  s.manifest = manifest;
  spec.data.sources = {s};
  return spec;
}

std::vector<StepBatches> Steps(const JobSpec& spec, int rank, int world, int64_t count,
                               std::ostream& log) {
  auto p = DataPipeline::Open(spec, 32, rank, world, log);
  EXPECT_TRUE(p.ok()) << p.status();
  SamplerState state = (*p)->InitialState();
  std::vector<StepBatches> out;
  for (int64_t i = 0; i < count; ++i) {
    auto b = (*p)->Build(&state);
    EXPECT_TRUE(b.ok()) << b.status();
    out.push_back(*b);
  }
  return out;
}

// The first step's batches of a fresh pipeline (or why it failed).
StatusOr<StepBatches> FirstStep(const JobSpec& spec, std::ostream& log) {
  RECA_ASSIGN_OR_RETURN(auto p, DataPipeline::Open(spec, 32, 0, 1, log));
  SamplerState state = p->InitialState();
  return p->Build(&state);
}

// Identifies an image by its first pixel (MakeFolder's images are distinct).
std::vector<std::string> Ids(const at::Tensor& images) {
  std::vector<std::string> ids;
  at::Tensor px = (images.select(2, 0).select(2, 0) * 255).round().to(at::kInt);
  for (int64_t i = 0; i < images.size(0); ++i) {
    ids.push_back(std::to_string(px[i][0].item<int>()) + "," + std::to_string(px[i][1].item<int>()));
  }
  return ids;
}

TEST(DataPipelineTest, RanksSplitTheGlobalBatchWithoutOverlap) {
  const std::string manifest = MakeFolder("split", 20);
  std::ostringstream log;
  const std::vector<StepBatches> one = Steps(FolderSpec(manifest, "recon", 6), 0, 1, 3, log);
  const std::vector<StepBatches> r0 = Steps(FolderSpec(manifest, "recon", 3), 0, 2, 3, log);
  const std::vector<StepBatches> r1 = Steps(FolderSpec(manifest, "recon", 3), 1, 2, 3, log);
  std::set<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    // One rank with batch 2B sees exactly rank 0's rows then rank 1's ...
    EXPECT_TRUE(at::equal(one[s].recon[0].images,
                          at::cat({r0[s].recon[0].images, r1[s].recon[0].images})));
    std::vector<uint64_t> rows = r0[s].recon[0].noise.rows;
    rows.insert(rows.end(), r1[s].recon[0].noise.rows.begin(), r1[s].recon[0].noise.rows.end());
    EXPECT_EQ(one[s].recon[0].noise.rows, rows);  // ... with the same noise
    EXPECT_EQ(one[s].recon[0].noise.batch, r0[s].recon[0].noise.batch);
    EXPECT_EQ(r0[s].recon[0].noise.batch, r1[s].recon[0].noise.batch);
    for (const auto& id : Ids(one[s].recon[0].images)) seen.insert(id);
  }
  // 18 samples of a 20-image epoch: all distinct, so no overlap anywhere.
  EXPECT_EQ(seen.size(), 18u);
}

TEST(DataPipelineTest, LoaderThreadsDoNotChangeTheBatches) {
  const std::string manifest = MakeFolder("threads", 12, 2);
  JobSpec one = FolderSpec(manifest, "t2i", 5), four = one;
  one.data.loader_threads = 1;
  four.data.loader_threads = 4;
  std::ostringstream log;
  const std::vector<StepBatches> a = Steps(one, 0, 1, 4, log), b = Steps(four, 0, 1, 4, log);
  for (size_t s = 0; s < a.size(); ++s) {
    EXPECT_TRUE(at::equal(a[s].t2i[0].images, b[s].t2i[0].images)) << s;
    EXPECT_TRUE(at::equal(a[s].t2i[0].prompt.post, b[s].t2i[0].prompt.post)) << s;
    EXPECT_EQ(a[s].t2i[0].noise.rows, b[s].t2i[0].noise.rows);
  }
}

TEST(DataPipelineTest, EachEpochVisitsEverySampleOnceInANewOrder) {
  const std::string manifest = MakeFolder("epochs", 6);
  std::ostringstream log;
  const std::vector<StepBatches> steps = Steps(FolderSpec(manifest, "recon", 3), 0, 1, 4, log);
  std::vector<std::string> e0 = Ids(steps[0].recon[0].images), e1 = Ids(steps[2].recon[0].images);
  for (const auto& id : Ids(steps[1].recon[0].images)) e0.push_back(id);
  for (const auto& id : Ids(steps[3].recon[0].images)) e1.push_back(id);
  EXPECT_EQ(std::set<std::string>(e0.begin(), e0.end()).size(), 6u);
  EXPECT_EQ(std::set<std::string>(e1.begin(), e1.end()).size(), 6u);
  EXPECT_NE(e0, e1);
}

TEST(DataPipelineTest, SamplerStateResumesExactly) {
  const std::string manifest = MakeFolder("resume", 7);
  JobSpec spec = FolderSpec(manifest, "t2i", 3);
  std::ostringstream log;
  auto p = DataPipeline::Open(spec, 32, 0, 1, log);
  ASSERT_TRUE(p.ok()) << p.status();
  SamplerState state = (*p)->InitialState();
  ASSERT_TRUE((*p)->Build(&state).ok());
  // Through JSON, as a checkpoint stores it.
  auto restored = SamplerState::FromJson(state.ToJson(), 1);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->cursors, std::vector<int64_t>{3});
  auto next = (*p)->Build(&state);
  auto p2 = DataPipeline::Open(spec, 32, 0, 1, log);
  auto again = (*p2)->Build(&*restored);
  ASSERT_TRUE(next.ok() && again.ok());
  EXPECT_TRUE(at::equal(next->t2i[0].images, again->t2i[0].images));
  EXPECT_TRUE(at::equal(next->t2i[0].prompt.post, again->t2i[0].prompt.post));
  EXPECT_EQ(SamplerState::FromJson(state.ToJson(), 2).status().message(),
            "sampler state has 1 sources but the job spec has 2: resuming needs the same data.sources");
}

TEST(DataPipelineTest, BadSamplesAreSkippedCountedAndLoggedByName) {
  const std::string manifest = MakeFolder("bad", 10, 2);
  const std::string dir = manifest.substr(0, manifest.rfind('/'));
  std::ostringstream log;
  const std::vector<StepBatches> steps = Steps(FolderSpec(manifest, "recon", 4), 0, 1, 3, log);
  for (const auto& s : steps) EXPECT_EQ(s.recon[0].images.size(0), 4);
  // 12 positions read, each bad file once.
  EXPECT_NE(log.str().find("data: image_folder-recon: skipped bad sample " + dir +
                           "/bad0.png: not a PNG or JPEG image"),
            std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find(dir + "/bad1.png: not a PNG or JPEG image"), std::string::npos);
}

TEST(DataPipelineTest, TooManyBadSamplesFailTheJob) {
  const std::string manifest = MakeFolder("toomany", 4, 4);
  JobSpec spec = FolderSpec(manifest, "recon", 8);
  spec.data.max_bad_samples = 2;
  spec.data.max_bad_fraction = 0.1;
  std::ostringstream log;
  auto b = FirstStep(spec, log);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("samples were unreadable, over spec.data.max_bad_samples (2)"),
            std::string::npos)
      << b.status();
  EXPECT_NE(b.status().message().find("last: " + manifest.substr(0, manifest.rfind('/')) + "/bad"),
            std::string::npos)
      << b.status();
}

TEST(DataPipelineTest, CaptionTasksNeedCaptions) {
  const std::string dir = TmpDir("nocap");
  ASSERT_TRUE(WriteFileAtomic(dir + "/a.png", ColourPng(1)).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/m.jsonl", "{\"path\": \"a.png\"}\n").ok());
  JobSpec spec = FolderSpec(dir + "/m.jsonl", "i2t", 1);
  spec.data.max_bad_samples = 0;
  spec.data.max_bad_fraction = 0;
  std::ostringstream log;
  auto b = FirstStep(spec, log);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find(dir + "/a.png: no caption (source task i2t)"), std::string::npos)
      << b.status();
}

TEST(DataPipelineTest, WebDatasetShardsWithATruncatedOne) {
  const std::string dir = TmpDir("wds");
  for (int s = 0; s < 2; ++s) {
    tar_test::TarBuilder tar;
    for (int i = 0; i < 4; ++i) {
      const std::string key = "s" + std::to_string(s) + "_" + std::to_string(i);
      tar.File(key + ".png", ColourPng(s * 4 + i)).File(key + ".txt", "shape " + key);
    }
    std::string bytes = tar.Finish();
    if (s == 1) bytes.resize(bytes.size() / 2);  // cut in the middle of a member
    ASSERT_TRUE(WriteFileAtomic(dir + "/shard-" + std::to_string(s) + ".tar", bytes).ok());
  }
  JobSpec spec;
  spec.batch_per_rank = 4;
  SourceSpec src;
  src.type = "webdataset";
  src.task = "i2t";
  src.shards = {dir + "/shard-{0..1}.tar"};
  spec.data.sources = {src};
  std::ostringstream log;
  const std::vector<StepBatches> steps = Steps(spec, 0, 1, 2, log);
  EXPECT_EQ(steps[1].i2t[0].captions.size(0), 4);
  EXPECT_NE(log.str().find("data: webdataset-i2t: skipped " + dir + "/shard-1.tar: "), std::string::npos)
      << log.str();
  JobSpec missing = spec;
  missing.data.sources[0].shards = {dir + "/nothing-*.tar"};
  auto p = DataPipeline::Open(missing, 32, 0, 1, log);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find(dir + "/nothing-*.tar"), std::string::npos) << p.status();
}

TEST(DataPipelineTest, PrefetchingMatchesSynchronousBuilds) {
  JobSpec spec;
  spec.batch_per_rank = 2;
  spec.data.prefetch_steps = 2;
  std::ostringstream log;
  const std::vector<StepBatches> sync = Steps(spec, 0, 1, 5, log);
  auto p = DataPipeline::Open(spec, 32, 0, 1, log);
  ASSERT_TRUE(p.ok());
  SamplerState start = (*p)->InitialState();
  ASSERT_TRUE((*p)->Build(&start).ok());  // resume after step 0
  (*p)->Start(1, 5, start);
  for (int64_t step = 1; step < 5; ++step) {
    double waited = -1;
    auto next = (*p)->Next(&waited);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->step, step);
    EXPECT_GE(waited, 0.0);
    EXPECT_TRUE(at::equal(next->batches.recon[1].images, sync[step].recon[1].images));
    EXPECT_EQ(next->after.cursors[0], (step + 1) * 2 * 2);  // 2 repeats x batch 2
  }
  (*p)->Stop();
}

}  // namespace
}  // namespace reca

namespace reca {
namespace {

TEST(DataPipelineTest, TemplatesFileAndConditionBlur) {
  const std::string dir = TmpDir("templates");
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/t.txt", "# my instructions\n\n  describe the image .  \nwhat is in this image ?\n").ok());
  JobSpec spec = ShapesSpec(2, 0, 0, 8, /*cfg_drop=*/0.0);
  spec.reca.templates_file = dir + "/t.txt";
  spec.reca.condition_blur = 1.5;
  std::ostringstream log;
  StatusOr<std::vector<StepBatches>> steps = BuildSteps(spec, 32, 3);
  ASSERT_TRUE(steps.ok()) << steps.status();
  // Only the file's two instructions (trimmed, comments and blanks skipped).
  Tokenizer tok;
  std::set<std::vector<int64_t>> prompts;
  const PromptIds want =
      MakePromptIds(tok, {"describe the image .", "what is in this image ?"}, spec.reca.max_text_tokens);
  for (const StepBatches& s : *steps) {
    for (const ReconBatch& b : s.recon) {
      for (int64_t i = 0; i < b.prompt.post.size(0); ++i) {
        at::Tensor row = b.prompt.post[i];
        row = row.index({row.ne(Tokenizer::kPad)});
        prompts.insert(std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel()));
      }
      // The condition is the blurred target: same mean, less gradient energy.
      ASSERT_TRUE(b.condition.defined());
      EXPECT_TRUE(at::allclose(b.condition, GaussianBlur(b.images, 1.5)));
      EXPECT_NEAR(b.condition.mean().item<double>(), b.images.mean().item<double>(), 1e-2);
      auto dx = [](const at::Tensor& t) { return (t.narrow(3, 1, 31) - t.narrow(3, 0, 31)).pow(2).mean().item<double>(); };
      EXPECT_LT(dx(b.condition), 0.5 * dx(b.images));
    }
  }
  EXPECT_EQ(prompts.size(), 2u);
  // A blur of 0 leaves no condition (the images themselves are used).
  spec.reca.condition_blur = 0;
  EXPECT_FALSE((*BuildSteps(spec, 32, 1))[0].recon[0].condition.defined());
  // Errors name the field and file.
  spec.reca.templates_file = dir + "/missing.txt";
  EXPECT_NE(BuildSteps(spec, 32, 1).status().ToString().find("spec.reca.templates_file: " + dir + "/missing.txt"),
            std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir + "/empty.txt", "# nothing\n\n").ok());
  spec.reca.templates_file = dir + "/empty.txt";
  EXPECT_NE(BuildSteps(spec, 32, 1).status().ToString().find("no templates"), std::string::npos);
}

TEST(DataPipelineTest, ShapesEditPairsBecomeEditBatchesWithDropsForGuidance) {
  JobSpec spec;
  spec.batch_per_rank = 64;
  spec.reca.cfg_drop = 0.25;
  SourceSpec s;
  s.task = "edit";
  spec.data.sources = {s};
  std::ostringstream log;
  auto step = FirstStep(spec, log);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_NE(log.str().find("exact edit pairs, sparse instructions"), std::string::npos) << log.str();
  ASSERT_EQ(step->edit.size(), 1u);
  EXPECT_TRUE(step->recon.empty() && step->i2t.empty() && step->t2i.empty());
  const EditBatch& b = step->edit[0];
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{64, 3, 32, 32}));
  ASSERT_EQ(b.sources.sizes(), b.images.sizes());
  ASSERT_EQ(b.keep_source.scalar_type(), at::kBool);
  ASSERT_EQ(b.keep_source.size(0), 64);
  EXPECT_EQ(b.noise.rows.size(), 64u);
  // Every pair changes its image; about cfg_drop of the sources and of the
  // instructions are dropped, independently.
  for (int64_t i = 0; i < 64; ++i) EXPECT_FALSE(at::equal(b.images[i], b.sources[i])) << i;
  const int64_t dropped_sources = 64 - b.keep_source.sum().item<int64_t>();
  EXPECT_GT(dropped_sources, 5);
  EXPECT_LT(dropped_sources, 30);
  Tokenizer tok;
  int dropped_texts = 0;
  std::set<std::string> verbs;
  for (int64_t i = 0; i < 64; ++i) {
    std::vector<int64_t> ids(b.prompt.post[i].data_ptr<int64_t>(),
                             b.prompt.post[i].data_ptr<int64_t>() + b.prompt.post.size(1));
    const std::string text = tok.Decode(ids);
    if (text.empty()) {
      ++dropped_texts;
    } else {
      verbs.insert(text.substr(0, text.find(' ')));
    }
  }
  EXPECT_GT(dropped_texts, 5);
  EXPECT_LT(dropped_texts, 30);
  // Sparse phrasing: "make the circle blue ." (adjust), never "change".
  EXPECT_TRUE(verbs.count("make") && verbs.count("add") && verbs.count("extract"))
      << testing::PrintToString(verbs);
  EXPECT_FALSE(verbs.count("change"));
  // The same spec rebuilds the same batch.
  std::ostringstream quiet;
  auto again = FirstStep(spec, quiet);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(at::equal(again->edit[0].sources, b.sources));
  EXPECT_TRUE(at::equal(again->edit[0].keep_source, b.keep_source));
  // Recorded steps keep edit batches.
  auto decoded = DecodeStepBatches(EncodeStepBatches({*step}), "steps.safetensors");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ((*decoded)[0].edit.size(), 1u);
  EXPECT_TRUE(at::equal((*decoded)[0].edit[0].sources, b.sources));
  EXPECT_TRUE(at::equal((*decoded)[0].edit[0].prompt.post, b.prompt.post));
}

TEST(DataPipelineTest, EditPairsManifestLoadsSourceInstructionAndTarget) {
  const std::string dir = TmpDir("edit_pairs");
  std::ofstream manifest(dir + "/edits.jsonl");
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(WriteFileAtomic(dir + "/src" + std::to_string(i) + ".png", ColourPng(2 * i)).ok());
    ASSERT_TRUE(WriteFileAtomic(dir + "/tgt" + std::to_string(i) + ".png", ColourPng(2 * i + 1)).ok());
    manifest << "{\"source\": \"src" << i << ".png\", \"instruction\": \"make the square red\", "
             << "\"target\": \"tgt" << i << ".png\"}\n";
  }
  manifest << "{\"source\": \"gone.png\", \"instruction\": \"remove it\", \"target\": \"tgt0.png\"}\n";
  manifest.close();
  JobSpec spec;
  spec.batch_per_rank = 4;
  spec.reca.cfg_drop = 0;
  SourceSpec s;
  s.type = "edit_pairs";
  s.task = "edit";
  s.manifest = dir + "/edits.jsonl";
  spec.data.sources = {s};
  std::ostringstream log;
  auto step = FirstStep(spec, log);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_NE(log.str().find("edit pairs: 4 pairs from"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("gone.png: listed at " + dir + "/edits.jsonl:5 but cannot be found"),
            std::string::npos)
      << log.str();
  const EditBatch& b = step->edit.at(0);
  // Each row's source and target are its own pair's: ColourPng(2i), ColourPng(2i + 1).
  auto id = [](int k) { return std::to_string(k * 7) + "," + std::to_string(k * 13); };
  const std::vector<std::string> src = Ids(b.sources), tgt = Ids(b.images);
  std::set<std::string> seen;
  for (int64_t r = 0; r < 4; ++r) {
    int pair = -1;
    for (int i = 0; i < 4; ++i) {
      if (src[r] == id(2 * i)) pair = i;
    }
    ASSERT_GE(pair, 0) << src[r];
    EXPECT_EQ(tgt[r], id(2 * pair + 1));
    seen.insert(src[r]);
  }
  EXPECT_EQ(seen.size(), 4u);  // one epoch: every pair once
  EXPECT_TRUE(b.keep_source.all().item<bool>());
  Tokenizer tok;
  std::vector<int64_t> ids(b.prompt.post[0].data_ptr<int64_t>(),
                           b.prompt.post[0].data_ptr<int64_t>() + b.prompt.post.size(1));
  EXPECT_EQ(tok.Decode(ids), "make the square red");
}

}  // namespace
}  // namespace reca
