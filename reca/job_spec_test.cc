#include "reca/job_spec.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reca/job_spec_fields.h"
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
  EXPECT_EQ(ErrorOf("model: {und_image_size: -1}"), "spec.model.und_image_size: must be in [0, 16384]");
  EXPECT_EQ(ErrorOf("model: {config: [meta_queries=8, shift]}"),
            "spec.model.config[1]: expected key=value, got 'shift'");
  EXPECT_EQ(ErrorOf("reca: {condition_blur: 100}"), "spec.reca.condition_blur: must be in [0, 64]");
  EXPECT_EQ(ErrorOf("reca: {collapse_ratio: 2}"), "spec.reca.collapse_ratio: must be in [0, 1]");
  EXPECT_EQ(ErrorOf("steps: 0"), "spec.steps: must be in [1, 100000000]");
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

// Issue 22: a reflection client sent values no real job has. Every integer
// field is bounded by what the trainer computes with it without overflow,
// every string and list by a size, and the errors say the bound.
TEST(JobSpecTest, IntegersAreBoundedWithTheBoundInTheError) {
  EXPECT_EQ(ErrorOf("steps: 9223372036854775807"), "spec.steps: must be in [1, 100000000]");
  EXPECT_EQ(ErrorOf("steps: 100000001"), "spec.steps: must be in [1, 100000000]");
  EXPECT_TRUE(FromYaml("steps: 100000000\nlog_every: 100000000").ok());
  // Past int64: the nearest int64, then refused by range (never wrapped to
  // -1, which warmup_steps would take for "1% of steps").
  EXPECT_EQ(ErrorOf("steps: 18446744073709551615"), "spec.steps: must be in [1, 100000000]");
  EXPECT_EQ(ErrorOf("schedule: {warmup_steps: 18446744073709551615}"),
            "spec.schedule.warmup_steps: must be in [-1, 100000000]");
  EXPECT_EQ(ErrorOf("steps: 1e20"), "spec.steps: must be in [1, 100000000]");
  EXPECT_EQ(ErrorOf("steps: -1e20"), "spec.steps: must be in [1, 100000000]");
  StatusOr<JobSpec> json_max = JobSpecFromJson(json::parse(R"({"max_restarts": 18446744073709551615})"));
  ASSERT_FALSE(json_max.ok());
  EXPECT_EQ(json_max.status().message(), "spec.max_restarts: must be in [0, 1000]");
  EXPECT_EQ(ErrorOf("batch_per_rank: 65537"), "spec.batch_per_rank: must be in [1, 65536]");
  EXPECT_EQ(ErrorOf("checkpoint: {every: 9223372036854775807}"),
            "spec.checkpoint.every: must be in [0, 100000000]");
  EXPECT_EQ(ErrorOf("samples: {diffusion_steps: 10001}"), "spec.samples.diffusion_steps: must be in [1, 10000]");
  EXPECT_EQ(ErrorOf("data: {sources: [{repeat: 1025}]}"), "spec.data.sources[0].repeat: must be in [1, 1024]");
  // The seed is only mixed, never counted with: any 64-bit value.
  StatusOr<JobSpec> seed = FromYaml("seed: 18446744073709551615");
  ASSERT_TRUE(seed.ok()) << seed.status();
  EXPECT_EQ(seed->seed, 18446744073709551615u);
}

TEST(JobSpecTest, SamplesPerRankStepAreBounded) {
  // 65536 x the default sources' 4 batches: 262144 samples per rank per step.
  EXPECT_TRUE(FromYaml("batch_per_rank: 65536").ok());
  EXPECT_EQ(ErrorOf("batch_per_rank: 65536\ndata: {sources: [{repeat: 10}, {task: i2t, repeat: 10}]}"),
            "spec.batch_per_rank: 65536 x 20 batches per step (the sources' repeats) = 1310720 samples "
            "per rank per step, more than the limit of 1048576");
}

TEST(JobSpecTest, StringsAndListsAreBounded) {
  EXPECT_EQ(ErrorOf("name: " + std::string(100 << 10, 'x')),
            "spec.name: 102400 bytes, more than the limit of 128");
  EXPECT_TRUE(FromYaml("name: " + std::string(128, 'x')).ok());
  EXPECT_EQ(ErrorOf("model: {init: /" + std::string(4096, 'p') + "}"),
            "spec.model.init: 4097 bytes, more than the limit of 4096");
  EXPECT_EQ(ErrorOf("reca: {templates_file: " + std::string(5000, 't') + "}"),
            "spec.reca.templates_file: 5000 bytes, more than the limit of 4096");
  EXPECT_EQ(ErrorOf("data: {sources: [{type: webdataset, shards: [a.tar, " + std::string(4097, 's') + "]}]}"),
            "spec.data.sources[0].shards: [1]: 4097 bytes, more than the limit of 4096");
  EXPECT_EQ(ErrorOf("data: {sources: [{name: " + std::string(129, 'n') + "}]}"),
            "spec.data.sources[0].name: 129 bytes, more than the limit of 128");
  std::string frozen = "model: {frozen: [";
  for (int i = 0; i < 257; ++i) frozen += (i ? ", m" : "m") + std::to_string(i);
  EXPECT_EQ(ErrorOf(frozen + "]}"), "spec.model.frozen: 257 items, more than the limit of 256");
  std::string sources = "data: {sources: [";
  for (int i = 0; i < 65; ++i) sources += (i ? ", {name: s" : "{name: s") + std::to_string(i) + "}";
  EXPECT_EQ(ErrorOf(sources + "]}"), "spec.data.sources: 65 items, more than the limit of 64");
  // A value that is not one of the choices is quoted cut, however long.
  EXPECT_EQ(ErrorOf("model: {family: " + std::string(1000, 'f') + "}"),
            "spec.model.family: must be one of mar, flow, maskgit, torchscript (got '" + std::string(64, 'f') +
                "...')");
}

// Every field of the table has a bound: integers a finite range (exact as a
// double, which the checks compare in), strings a byte limit or a list of
// choices, lists an item limit. A field added without one fails here.
class BoundsAudit {
 public:
  template <class T> void Field(const char* name, T*, const char*, const spec_fields::Check& c) {
    Audit(name, static_cast<T*>(nullptr), c);
  }
  template <class T> void Struct(const char*, T* v, const char*) { spec_fields::Visit(*this, *v); }
  template <class T> void List(const char* name, std::vector<T>*, const char*, const spec_fields::Check& c) {
    EXPECT_GT(c.max_items, 0u) << name << ": a list needs an item limit";
    T item;
    spec_fields::Visit(*this, item);
  }

 private:
  static void Audit(const char* name, int64_t*, const spec_fields::Check& c) {
    EXPECT_TRUE(std::isfinite(c.lo) && std::isfinite(c.hi)) << name << ": an integer needs a finite range";
    EXPECT_LT(std::fabs(c.lo), 9007199254740992.0) << name;
    EXPECT_LT(std::fabs(c.hi), 9007199254740992.0) << name;
  }
  static void Audit(const char*, uint64_t*, const spec_fields::Check&) {}  // the seed: any value
  static void Audit(const char*, double*, const spec_fields::Check&) {}
  static void Audit(const char*, bool*, const spec_fields::Check&) {}
  static void Audit(const char* name, std::string*, const spec_fields::Check& c) {
    EXPECT_TRUE(c.max_bytes > 0 || !c.choices.empty()) << name << ": a string needs a byte limit or choices";
  }
  static void Audit(const char* name, std::vector<std::string>*, const spec_fields::Check& c) {
    EXPECT_GT(c.max_items, 0u) << name << ": a list needs an item limit";
    EXPECT_TRUE(c.max_bytes > 0 || !c.choices.empty()) << name << ": its strings need a byte limit or choices";
  }
};

TEST(JobSpecTest, EveryFieldIsBounded) {
  JobSpec spec;
  BoundsAudit audit;
  spec_fields::Visit(audit, spec);
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
  EXPECT_THAT(md, HasSubstr("| `checkpoint.keep` | integer | `3` | [0, 1000000] |"));
  EXPECT_THAT(md, HasSubstr("| `steps` | integer | `1000` | [1, 100000000] |"));
  EXPECT_THAT(md, HasSubstr("| `name` | string | `\"reca-job\"` | at most 128 bytes |"));
  EXPECT_THAT(md, HasSubstr("| `data.sources` | list | `[]` | at most 64 items |"));
  EXPECT_THAT(md, HasSubstr("| `data.sources[].shards` | list of strings | `[]` | at most 65536 items of at most "
                            "4096 bytes |"));
  EXPECT_THAT(md, HasSubstr("| `eval.suites` | list of strings | `[]` | `shapes_eval` \\| `recon` \\| "
                            "`shapes_edit`; at most 16 items |"));
}

}  // namespace
}  // namespace reca
