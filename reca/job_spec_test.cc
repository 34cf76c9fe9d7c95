#include "reca/job_spec.h"

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reca/spec_file.h"

namespace reca {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

StatusOr<JobSpec> FromYaml(const std::string& yaml) {
  RECA_ASSIGN_OR_RETURN(json tree, YamlToJson(yaml, "job.yaml"));
  return JobSpecFromJson(tree);
}

std::string ErrorOf(const std::string& yaml) {
  StatusOr<JobSpec> s = FromYaml(yaml);
  EXPECT_FALSE(s.ok()) << yaml;
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(JobSpecTest, FullYamlSpecParses) {
  StatusOr<JobSpec> s = FromYaml(R"(
name: my-reca
seed: 7
steps: 2000
batch_per_rank: 32
model: {family: mar, preset: medium, init: runs/pre/model.safetensors}
data:
  sources:
    - {type: shapes, task: recon, repeat: 2}
    - name: laion
      type: webdataset
      task: i2t
      shards: "data/shard-{0000..0009}.tar"
    - {type: image_folder, task: t2i, manifest: data/cc.jsonl}
  resize: stretch
reca: {cfg_drop: 0.2}
optimizer: {lr: 1e-4, ema_decay: 0.999}
schedule: {warmup_steps: 10, decay: constant}
checkpoint: {every: 100, keep: 2}
)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "my-reca");
  EXPECT_EQ(s->seed, 7u);
  EXPECT_EQ(s->batch_per_rank, 32);
  EXPECT_EQ(s->model.preset, "medium");
  ASSERT_EQ(s->data.sources.size(), 3u);
  EXPECT_EQ(s->data.sources[1].shards, std::vector<std::string>{"data/shard-{0000..0009}.tar"});
  EXPECT_EQ(s->effective_sources()[0].name, "shapes-recon");
  EXPECT_EQ(s->effective_sources()[1].name, "laion");
  EXPECT_DOUBLE_EQ(s->optimizer.lr, 1e-4);
  EXPECT_EQ(s->schedule.decay, "constant");
  EXPECT_EQ(s->checkpoint.keep, 2);
}

TEST(JobSpecTest, EmptySpecIsTheRecaDefault) {
  StatusOr<JobSpec> s = FromYaml("");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->effective_sources().size(), 2u);
  EXPECT_EQ(s->effective_sources()[0].task, "recon");
  EXPECT_EQ(s->warmup_steps(), 10);  // 1% of 1000
  EXPECT_EQ(s->data.resize, "auto");
  EXPECT_EQ(s->effective_resize(), "center_crop");  // mar's policy
}

TEST(JobSpecTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf("optimizer: {lr: 0}"), "spec.optimizer.lr: must be > 0");
  EXPECT_EQ(ErrorOf("optimizer: {lr: -1e-3}"), "spec.optimizer.lr: must be > 0");
  EXPECT_EQ(ErrorOf("reca: {cfg_drop: 1.0}"), "spec.reca.cfg_drop: must be in [0, 1)");
  EXPECT_EQ(ErrorOf("model: {family: dit}"),
            "spec.model.family: must be one of mar, flow, maskgit, torchscript (got 'dit')");
  EXPECT_EQ(ErrorOf("model: {family: torchscript}"),
            "spec.model.module: required for family torchscript (a TorchScript .pt file)");
  EXPECT_EQ(ErrorOf("model: {family: flow, module: m.pt}"),
            "spec.model.module: only for family torchscript (family is flow)");
  EXPECT_EQ(ErrorOf("model: {frozen: [auto, vit]}"),
            "spec.model.frozen: `auto` stands alone (the family's default); list module names instead");
  EXPECT_EQ(ErrorOf("model: {und_image_size: -1}"), "spec.model.und_image_size: must be >= 0");
  EXPECT_EQ(ErrorOf("model: {config: [meta_queries=8, shift]}"),
            "spec.model.config[1]: expected key=value, got 'shift'");
  EXPECT_EQ(ErrorOf("reca: {condition_blur: 100}"), "spec.reca.condition_blur: must be in [0, 64]");
  EXPECT_EQ(ErrorOf("reca: {collapse_ratio: 2}"), "spec.reca.collapse_ratio: must be in [0, 1]");
  EXPECT_EQ(ErrorOf("steps: 0"), "spec.steps: must be >= 1");
  EXPECT_EQ(ErrorOf("steps: 1.5"), "spec.steps: expected an integer, got number 1.5");
  EXPECT_EQ(ErrorOf("steps: lots"), "spec.steps: expected an integer, got string \"lots\"");
  EXPECT_EQ(ErrorOf("model: {preset: huge}"),
            "spec.model.preset: must be one of tiny, medium (got 'huge')");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: shapes, task: caption}]}"),
            "spec.data.sources[0].task: must be one of recon, i2t, t2i, edit (got 'caption')");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: webdataset, task: edit, shards: [a.tar]}]}"),
            "spec.data.sources[0].task: edit needs edit pairs: type shapes or edit_pairs (type is "
            "webdataset)");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: edit_pairs, task: t2i, manifest: e.jsonl}]}"),
            "spec.data.sources[0].task: type edit_pairs has edit pairs only, so task must be edit "
            "(is t2i)");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: edit_pairs, task: edit}]}"),
            "spec.data.sources[0].manifest: required for type edit_pairs");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: shapes, task: edit, manifest: e.jsonl}]}"),
            "spec.data.sources[0].manifest: only for types image_folder and edit_pairs (type is "
            "shapes)");
  EXPECT_EQ(ErrorOf("samples: {image_cfg: 0.5}"), "spec.samples.image_cfg: must be >= 1");
  EXPECT_EQ(ErrorOf("eval: {suites: [shapes_edits]}"),
            "spec.eval.suites: [0]: must be one of shapes_eval, recon, shapes_edit (got 'shapes_edits')");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: image_folder}]}"),
            "spec.data.sources[0].manifest: required for type image_folder");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: shapes, shards: [a.tar]}]}"),
            "spec.data.sources[0].shards: only for type webdataset (type is shapes)");
  EXPECT_EQ(ErrorOf("data: {sources: [{task: recon}, {task: recon}]}"),
            "spec.data.sources[1].name: 'shapes-recon' is used by another source");
  EXPECT_EQ(ErrorOf("data: {sources: {type: shapes}}"),
            "spec.data.sources: expected a list, got object");
  EXPECT_EQ(ErrorOf("optimizer: 3"), "spec.optimizer: expected a mapping, got number");
  EXPECT_EQ(ErrorOf("seed: -1"), "spec.seed: must be >= 0");
  EXPECT_EQ(ErrorOf("optimizer: {lr: 1e-4, min_lr: 1e-3}"),
            "spec.optimizer.min_lr: must be <= spec.optimizer.lr");
  EXPECT_EQ(ErrorOf("steps: 10\nschedule: {warmup_steps: 20}"),
            "spec.schedule.warmup_steps: must be <= spec.steps");
  EXPECT_EQ(ErrorOf("eval: {suites: [recon, geneval]}"),
            "spec.eval.suites: [1]: must be one of shapes_eval, recon, shapes_edit (got 'geneval')");
}

TEST(JobSpecTest, UnknownFieldsAreRejected) {
  EXPECT_THAT(ErrorOf("optimizer: {lrr: 1e-4}"),
              HasSubstr("spec.optimizer.lrr: unknown field (known: beta1, beta2, ema_decay, eps,"));
  EXPECT_THAT(ErrorOf("stepz: 3"), HasSubstr("spec.stepz: unknown field"));
  EXPECT_THAT(ErrorOf("data: {sources: [{type: shapes, path: x}]}"),
              HasSubstr("spec.data.sources[0].path: unknown field"));
}

TEST(JobSpecTest, QuotedYamlScalarsStayStrings) {
  StatusOr<JobSpec> s = FromYaml("name: '123'\nsteps: \"5\"");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "spec.steps: expected an integer, got string \"5\"");
  s = FromYaml("name: '123'");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "123");
}

TEST(JobSpecTest, MalformedYamlNamesFileAndLine) {
  StatusOr<json> t = YamlToJson("steps: 3\noptimizer: {lr: [1,\n", "job.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("job.yaml:"));
  t = YamlToJson("steps: 3\nsteps: 4\n", "job.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "job.yaml:2: duplicate key 'steps'");
}

// Found by fuzz/job_spec_fuzzer: invalid UTF-8 in a rejected value made the
// error message's json::dump() throw (reca-train died with std::terminate);
// in an accepted string it made JobSpecToJson(spec).dump() throw later, when
// the spec is written into a checkpoint. And YAML's .inf / .nan were read as
// 0 (strtod does not know the YAML spelling); now they are rejected.
TEST(JobSpecTest, InvalidUtf8AndInfinityAreRejectedNotThrown) {
  EXPECT_THAT(ErrorOf("optimizer:\n  lr: -\xcf\xf5\n"), HasSubstr("spec.optimizer.lr: expected a number"));
  EXPECT_THAT(ErrorOf("name: a\xff\n"), HasSubstr("spec.name: not valid UTF-8"));
  EXPECT_THAT(ErrorOf("name: a\xc0\x80\n"), HasSubstr("spec.name: not valid UTF-8"));
  EXPECT_THAT(ErrorOf("model: {frozen: [b\xfe]}\n"), HasSubstr("spec.model.frozen[0]: not valid UTF-8"));
  EXPECT_THAT(ErrorOf("samples: {cfg: .inf}\n"), HasSubstr("spec.samples.cfg: must be a finite number"));
  EXPECT_THAT(ErrorOf("optimizer: {grad_clip: -.Inf}\n"), HasSubstr("spec.optimizer.grad_clip: must be a finite number"));
  EXPECT_THAT(ErrorOf("reca: {cfg_drop: .NaN}\n"), HasSubstr("spec.reca.cfg_drop: must be a number, not NaN"));
  EXPECT_TRUE(FromYaml("name: caf\xc3\xa9\n").ok());
}

TEST(JobSpecTest, MissingFileNamesThePath) {
  StatusOr<json> t = ReadSpecTree("/nonexistent/job.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "/nonexistent/job.yaml: cannot read the job spec");
}

TEST(JobSpecTest, AJsonNumberTooLargeIsAnErrorNotATerminate) {
  // json::parse throws out_of_range (not parse_error) for it: found by
  // fuzz/job_spec_fuzzer (fuzz/corpus/job_spec/regress-json-number-overflow.json).
  const std::string path = testing::TempDir() + "/overflow.json";
  {
    std::ofstream f(path);
    f << "{\"steps\": 3332" << std::string(400, '4') << "}";
  }
  StatusOr<json> t = ReadSpecTree(path);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("number overflow"));
}

TEST(JobSpecTest, RoundTripsThroughJson) {
  StatusOr<JobSpec> s = FromYaml("seed: 3\ndata: {sources: [{type: shapes, task: t2i, repeat: 3}]}");
  ASSERT_TRUE(s.ok()) << s.status();
  json j = JobSpecToJson(*s);
  StatusOr<JobSpec> back = JobSpecFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(JobSpecToJson(*back), j);
  EXPECT_EQ(j["data"]["sources"][0]["repeat"], 3);
  EXPECT_EQ(j["optimizer"]["lr"], 5e-4);
}

TEST(JobSpecTest, ParsesKeepBest) {
  auto none = ParseKeepBest("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto lower = ParseKeepBest("-recon/loss");
  ASSERT_TRUE(lower.ok() && lower->has_value());
  EXPECT_EQ((*lower)->suite, "recon");
  EXPECT_EQ((*lower)->metric, "loss");
  EXPECT_TRUE((*lower)->lower_is_better);
  for (const char* bad : {"recon", "/psnr", "recon/", "-"}) {
    auto s = ParseKeepBest(bad);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.status().message().find("spec.checkpoint.keep_best"),
              std::string::npos);
  }
  JobSpec spec;  // a suite the evaluator does not score
  spec.checkpoint.keep_best = "recon/psnr";
  EXPECT_THAT(std::string(ValidateJobSpec(spec).message()), HasSubstr("suite 'recon' is not in spec.eval.suites"));
  spec.eval.suites = {"recon"};
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}


TEST(JobSpecTest, OverridesSetNestedFields) {
  json tree = json::object();
  ASSERT_TRUE(ApplyOverride(&tree, "optimizer.lr", "2e-4").ok());
  ASSERT_TRUE(ApplyOverride(&tree, "name", "run 7").ok());
  ASSERT_TRUE(ApplyOverride(&tree, "data.sources", "[{\"task\": \"recon\"}]").ok());
  ASSERT_TRUE(ApplyOverride(&tree, "data.sources.0.repeat", "4").ok());
  StatusOr<JobSpec> s = JobSpecFromJson(tree);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->optimizer.lr, 2e-4);
  EXPECT_EQ(s->name, "run 7");
  EXPECT_EQ(s->data.sources[0].repeat, 4);
  EXPECT_EQ(ApplyOverride(&tree, "data.sources.5.repeat", "1").message(),
            "override data.sources.5.repeat: index 5 is past the end of a list of 1");
}

TEST(JobSpecTest, ReferenceListsEveryField) {
  const std::string md = JobSpecReferenceMarkdown();
  EXPECT_THAT(md, HasSubstr("| `optimizer.lr` | number | `0.0005` | > 0 |"));
  EXPECT_THAT(md, HasSubstr("| `data.sources[].task` | string | `\"recon\"` |"));
  EXPECT_THAT(md, HasSubstr("| `checkpoint.keep` |"));
}

}  // namespace
}  // namespace reca
