// Data pipeline throughput: images per second decoded from WebDataset tar
// shards and built into training batches by one loader thread
// (bench/RESULTS.md; bench/run_io_bench.sh compares it with what a training
// step consumes).
//
//   reca-data-bench --dir=DIR [--shards=8] [--per_shard=500] [--px=256]
//                   [--image_size=32] [--batch=64] [--steps=30] [--loader_threads=1]
//
// Writes DIR/shard-{0000..N-1}.tar once (JPEG renders of the shapes world at
// px x px with their captions), then times Dataset::Load (read + JPEG decode +
// resize) and DataPipeline::Build (the above + tokenising + tensors).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "reca/cli_args.h"
#include "reca/data/dataset.h"
#include "reca/data/tar_test_util.h"
#include "reca/data_pipeline.h"
#include "reca/file_util.h"
#include "reca/shapes_world.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Jpeg(const std::vector<uint8_t>& rgb, int px) {
  std::string out;
  stbi_write_jpg_to_func(
      [](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), n); },
      &out, px, px, 3, rgb.data(), 90);
  return out;
}

reca::Status WriteShards(const std::string& dir, int64_t shards, int64_t per_shard, int px) {
  reca::ShapesWorld world(reca::ShapesWorldOptions{7, px});
  for (int64_t s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof(name), "/shard-%04lld.tar", static_cast<long long>(s));
    reca::tar_test::TarBuilder tar;
    for (int64_t i = 0; i < per_shard; ++i) {
      const reca::Scene scene = world.SceneAt(static_cast<uint64_t>(s * per_shard + i));
      const std::string key = "sample" + std::to_string(s * per_shard + i);
      tar.File(key + ".jpg", Jpeg(reca::ShapesWorld::Render(scene), px))
          .File(key + ".txt", reca::ShapesWorld::DenseCaption(scene));
    }
    RECA_RETURN_IF_ERROR(reca::WriteFileAtomic(dir + name, tar.Finish()));
  }
  return reca::OkStatus();
}

reca::Status Run(int argc, char** argv) {
  RECA_ASSIGN_OR_RETURN(reca::CliArgs args, reca::CliArgs::Parse(argc, argv));
  std::string dir;
  int64_t shards = 8, per_shard = 500, px = 256, image_size = 32, batch = 64, steps = 30,
          loader_threads = 1;
  RECA_RETURN_IF_ERROR(args.Get("dir", &dir));
  RECA_RETURN_IF_ERROR(args.Get("shards", &shards));
  RECA_RETURN_IF_ERROR(args.Get("per_shard", &per_shard));
  RECA_RETURN_IF_ERROR(args.Get("px", &px));
  RECA_RETURN_IF_ERROR(args.Get("image_size", &image_size));
  RECA_RETURN_IF_ERROR(args.Get("batch", &batch));
  RECA_RETURN_IF_ERROR(args.Get("steps", &steps));
  RECA_RETURN_IF_ERROR(args.Get("loader_threads", &loader_threads));
  RECA_RETURN_IF_ERROR(args.CheckAllUsed());
  if (dir.empty()) return reca::InvalidArgumentError("--dir: required");
  RECA_RETURN_IF_ERROR(reca::MakeDirs(dir));
  const std::string pattern = dir + "/shard-{0000.." + [&] {
    char b[24];
    std::snprintf(b, sizeof(b), "%04lld", static_cast<long long>(shards - 1));
    return std::string(b);
  }() + "}.tar";
  reca::DatasetOptions o;
  o.image_size = static_cast<int>(image_size);
  if (!reca::OpenWebDataset({pattern}, o).ok()) {
    const double t0 = Now();
    RECA_RETURN_IF_ERROR(WriteShards(dir, shards, per_shard, static_cast<int>(px)));
    std::printf("wrote %lld shards of %lld JPEGs (%lldpx) in %.1f s\n", static_cast<long long>(shards),
                static_cast<long long>(per_shard), static_cast<long long>(px), Now() - t0);
  }
  double t0 = Now();
  RECA_ASSIGN_OR_RETURN(auto ds, reca::OpenWebDataset({pattern}, o));
  std::printf("indexed: %s in %.3f s\n", ds->Describe().c_str(), Now() - t0);
  const int64_t n = std::min<int64_t>(ds->size(), 2000);
  t0 = Now();
  for (int64_t i = 0; i < n; ++i) RECA_RETURN_IF_ERROR(ds->Load(i).status());
  const double decode_rate = n / (Now() - t0);

  reca::JobSpec spec;
  spec.batch_per_rank = batch;
  spec.data.loader_threads = loader_threads;
  reca::SourceSpec src;
  src.type = "webdataset";
  src.task = "i2t";
  src.shards = {pattern};
  spec.data.sources = {src};
  std::ostringstream quiet;
  RECA_ASSIGN_OR_RETURN(auto pipeline, reca::DataPipeline::Open(spec, static_cast<int>(image_size), 0, 1, quiet));
  reca::SamplerState state = pipeline->InitialState();
  t0 = Now();
  for (int64_t s = 0; s < steps; ++s) RECA_RETURN_IF_ERROR(pipeline->Build(&state).status());
  const double build_rate = steps * batch / (Now() - t0);
  std::printf("decode_images_per_s %.0f (1 thread)\npipeline_samples_per_s %.0f (%lld loader threads)\n",
              decode_rate, build_rate, static_cast<long long>(loader_threads));
  return reca::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  reca::Status s = Run(argc, argv);
  if (!s.ok()) {
    std::cerr << "reca-data-bench: " << s << "\n";
    return 2;
  }
  return 0;
}
