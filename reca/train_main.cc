// reca-train: one RecA / pre-training process. See README.md ("Running the
// trainer by hand") and `reca-train --help`.
#include <iostream>
#include <map>
#include <string>

#include "reca/cli_args.h"
#include "reca/trainer.h"

#if defined(RECA_HAVE_YAML)
#include "reca/config_file.h"
#endif

namespace {

constexpr const char* kUsage = R"(usage: reca-train [--config=FILE.yaml] [--name=value ...]

  --mode=reca|pretrain     reca: recon + i2t (mix 2:2:0); pretrain: t2i + i2t (0:1:1)
  --model=tiny|medium      model preset of the family (default tiny)
  --family=mar             model family (default mar)
  --init=PATH              start from these weights (safetensors) instead of a fresh init
  --out=DIR                output directory (default runs/train)
  --steps=N --batch=N      optimizer steps; batch per source batch (default 100, 16)
  --mix=R:I:T              per-step repeats of recon : i2t : t2i
  --seed=N --threads=N     seed; LibTorch intra-op threads (default 1: GEMMs use
                           OpenBLAS's own pool of all cores; 0 = all cores)
  --device=cpu|cuda[:i]    --bf16 (bfloat16 autocast, CUDA only)
  --lr --min_lr --warmup_steps --weight_decay --grad_clip --ema_decay
  --dense_captions         train captions are dense (default: sparse)
  --cfg_drop=P             text-drop probability of recon/t2i prompts (default 0.1)
  --log_every --sample_every --save_every --num_samples
  --sample_iters --sample_steps --cfg --temperature      sampling for the PNG grids
  --batches_file=PATH      replay recorded batches (benchmark); --dump_batches=PATH
                           --dump_steps=N writes such a file and exits;
  --save_init=PATH         write the freshly initialised weights (--seed) and exit
A YAML --config holds the same names as flat keys; flags override it.
)";

reca::Status ParseMix(const std::string& s, reca::SourceMix* mix) {
  int64_t r, i, t;
  char tail;
  if (std::sscanf(s.c_str(), "%ld:%ld:%ld%c", &r, &i, &t, &tail) != 3) {
    return reca::InvalidArgumentError("--mix: expected R:I:T, e.g. 2:2:0, got '" + s + "'");
  }
  mix->recon = r, mix->i2t = i, mix->t2i = t;
  return reca::OkStatus();
}

reca::StatusOr<std::map<std::string, std::string>> ReadConfigFile(const std::string& path) {
#if defined(RECA_HAVE_YAML)
  return reca::ReadFlatYaml(path);
#else
  return reca::UnimplementedError("--config: this build has no YAML support (yaml-cpp); use flags");
#endif
}

reca::Status Run(int argc, char** argv) {
  RECA_ASSIGN_OR_RETURN(reca::CliArgs args, reca::CliArgs::Parse(argc, argv));
  bool help = false;
  RECA_RETURN_IF_ERROR(args.Get("help", &help));
  if (help) {
    std::cout << kUsage;
    return reca::OkStatus();
  }
  std::string config;
  RECA_RETURN_IF_ERROR(args.Get("config", &config));
  if (!config.empty()) {
    RECA_ASSIGN_OR_RETURN(auto values, ReadConfigFile(config));
    args.AddDefaults(values);
  }
  reca::TrainOptions o;
  RECA_RETURN_IF_ERROR(args.Get("mode", &o.mode));
  o.mix = reca::DefaultMix(o.mode);
  std::string mix;
  RECA_RETURN_IF_ERROR(args.Get("mix", &mix));
  if (!mix.empty()) RECA_RETURN_IF_ERROR(ParseMix(mix, &o.mix));
  RECA_RETURN_IF_ERROR(args.Get("family", &o.family));
  RECA_RETURN_IF_ERROR(args.Get("model", &o.preset));
  RECA_RETURN_IF_ERROR(args.Get("init", &o.init));
  RECA_RETURN_IF_ERROR(args.Get("out", &o.out_dir));
  RECA_RETURN_IF_ERROR(args.Get("steps", &o.steps));
  RECA_RETURN_IF_ERROR(args.Get("batch", &o.batch));
  RECA_RETURN_IF_ERROR(args.Get("seed", &o.seed));
  RECA_RETURN_IF_ERROR(args.Get("threads", &o.threads));
  RECA_RETURN_IF_ERROR(args.Get("device", &o.device));
  RECA_RETURN_IF_ERROR(args.Get("bf16", &o.bf16));
  RECA_RETURN_IF_ERROR(args.Get("lr", &o.optim.lr));
  RECA_RETURN_IF_ERROR(args.Get("min_lr", &o.optim.min_lr));
  o.optim.warmup_steps = -1;
  RECA_RETURN_IF_ERROR(args.Get("warmup_steps", &o.optim.warmup_steps));
  RECA_RETURN_IF_ERROR(args.Get("weight_decay", &o.optim.weight_decay));
  RECA_RETURN_IF_ERROR(args.Get("grad_clip", &o.optim.grad_clip));
  RECA_RETURN_IF_ERROR(args.Get("ema_decay", &o.optim.ema_decay));
  RECA_RETURN_IF_ERROR(args.Get("dense_captions", &o.dense_captions));
  RECA_RETURN_IF_ERROR(args.Get("cfg_drop", &o.cfg_drop));
  RECA_RETURN_IF_ERROR(args.Get("log_every", &o.log_every));
  RECA_RETURN_IF_ERROR(args.Get("sample_every", &o.sample_every));
  RECA_RETURN_IF_ERROR(args.Get("save_every", &o.save_every));
  RECA_RETURN_IF_ERROR(args.Get("num_samples", &o.num_samples));
  RECA_RETURN_IF_ERROR(args.Get("sample_iters", &o.sampling.num_iter));
  RECA_RETURN_IF_ERROR(args.Get("sample_steps", &o.sampling.diffusion_steps));
  RECA_RETURN_IF_ERROR(args.Get("cfg", &o.sampling.cfg));
  RECA_RETURN_IF_ERROR(args.Get("temperature", &o.sampling.temperature));
  RECA_RETURN_IF_ERROR(args.Get("batches_file", &o.batches_file));
  std::string dump;
  int64_t dump_steps = 4;
  RECA_RETURN_IF_ERROR(args.Get("dump_batches", &dump));
  RECA_RETURN_IF_ERROR(args.Get("dump_steps", &dump_steps));
  std::string save_init;
  RECA_RETURN_IF_ERROR(args.Get("save_init", &save_init));
  RECA_RETURN_IF_ERROR(args.CheckAllUsed());
  o.optim.total_steps = o.steps;
  if (o.optim.warmup_steps < 0) o.optim.warmup_steps = (o.steps + 99) / 100;  // Harmon: 1%

  if (!save_init.empty()) {
    RECA_RETURN_IF_ERROR(reca::SaveInitialWeights(o, save_init));
    std::cout << "wrote initial weights to " << save_init << "\n";
    return reca::OkStatus();
  }
  if (!dump.empty()) {
    RECA_RETURN_IF_ERROR(reca::DumpBatches(o, dump_steps, dump));
    std::cout << "wrote " << dump_steps << " recorded steps to " << dump << "\n";
    return reca::OkStatus();
  }
  return reca::RunTraining(o, std::cout).status();
}

}  // namespace

int main(int argc, char** argv) {
  reca::Status s = Run(argc, argv);
  if (!s.ok()) {
    std::cerr << "reca-train: " << s << "\n";
    return 2;
  }
  return 0;
}
