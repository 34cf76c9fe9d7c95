#include "reca/data_pipeline.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "reca/file_util.h"
#include "reca/rng.h"
#include "reca/shapes_edit.h"

namespace reca {
namespace {

// Hash of a tuple of integers (stable across platforms and builds).
uint64_t Key(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x243F6A8885A308D3ull;
  for (uint64_t p : parts) h = SplitMix64(h ^ SplitMix64(p));
  return h;
}

// Salts separating the uses of the seed.
enum : uint64_t {
  kPermSalt = 1,
  kSampleSalt = 2,
  kReplaceSalt = 3,
  kBatchNoiseSalt = 4,
  kWorldSalt = 5,
};

constexpr int64_t kMaxReplacements = 16;
constexpr int64_t kMaxBadLogLines = 200;

}  // namespace

nlohmann::json SamplerState::ToJson() const { return nlohmann::json{{"cursors", cursors}}; }

StatusOr<SamplerState> SamplerState::FromJson(const nlohmann::json& j, size_t num_sources) {
  SamplerState s;
  if (!j.is_object() || !j.contains("cursors") || !j["cursors"].is_array()) {
    return DataLossError("sampler state: expected {\"cursors\": [...]}");
  }
  for (const auto& c : j["cursors"]) {
    if (!c.is_number_integer() || c.get<int64_t>() < 0) {
      return DataLossError("sampler state: cursors must be non-negative integers");
    }
    s.cursors.push_back(c.get<int64_t>());
  }
  if (s.cursors.size() != num_sources) {
    return FailedPreconditionError("sampler state has " + std::to_string(s.cursors.size()) +
                                   " sources but the job spec has " + std::to_string(num_sources) +
                                   ": resuming needs the same data.sources");
  }
  return s;
}

DataPipeline::DataPipeline(const JobSpec& spec, int image_size, int rank, int world,
                           std::ostream& log)
    : spec_(spec),
      sources_(spec.effective_sources()),
      image_size_(image_size),
      rank_(rank),
      world_(world),
      log_(log) {
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  loader_threads_ = spec.data.loader_threads > 0 ? static_cast<size_t>(spec.data.loader_threads)
                                                 : std::max<size_t>(1, std::min<size_t>(8, cores / 2));
}

DataPipeline::~DataPipeline() { Stop(); }

StatusOr<std::unique_ptr<DataPipeline>> DataPipeline::Open(const JobSpec& spec, int image_size,
                                                            int rank, int world, std::ostream& log) {
  std::unique_ptr<DataPipeline> p(new DataPipeline(spec, image_size, rank, world, log));
  if (spec.reca.templates_file.empty()) {
    p->templates_ = ReconTemplates();
  } else {
    const std::string field = "spec.reca.templates_file: " + spec.reca.templates_file;
    StatusOr<std::string> text = ReadFile(spec.reca.templates_file);
    if (!text.ok()) return Status(text.status().code(), field + ": " + std::string(text.status().message()));
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      const size_t a = line.find_first_not_of(" \t\r"), b = line.find_last_not_of(" \t\r");
      if (a == std::string::npos || line[a] == '#') continue;
      p->templates_.push_back(line.substr(a, b - a + 1));
    }
    if (p->templates_.empty()) return InvalidArgumentError(field + ": no templates (one per line)");
    log << "data: " << p->templates_.size() << " reconstruction templates from " << spec.reca.templates_file << "\n";
  }
  DatasetOptions o;
  o.image_size = image_size;
  o.resize = spec.effective_resize() == "stretch" ? ResizePolicy::kStretch : ResizePolicy::kCenterCrop;
  for (size_t i = 0; i < p->sources_.size(); ++i) {
    const SourceSpec& s = p->sources_[i];
    const std::string field = "spec.data.sources[" + std::to_string(i) + "] (" + s.name + ")";
    std::unique_ptr<Dataset> ds;
    std::unique_ptr<ShapesWorld> w;
    if (s.type == "shapes") {
      w = std::make_unique<ShapesWorld>(
          ShapesWorldOptions{Key({spec.seed, kWorldSalt, i}), image_size});
      log << "data: " << s.name << ": shapes world (infinite"
          << (s.task == "edit" ? std::string(", exact edit pairs, ") +
                                     (s.dense_captions ? "dense" : "sparse") + " instructions"
                               : std::string())
          << "), task " << s.task << ", repeat " << s.repeat << "\n";
    } else {
      StatusOr<std::unique_ptr<Dataset>> opened =
          s.type == "image_folder" ? OpenImageFolder(s.manifest, o)
          : s.type == "edit_pairs" ? OpenEditPairs(s.manifest, o)
                                   : OpenWebDataset(s.shards, o);
      if (!opened.ok()) {
        return Status(opened.status().code(), field + ": " + std::string(opened.status().message()));
      }
      ds = std::move(*opened);
      log << "data: " << s.name << ": " << ds->Describe() << ", task " << s.task << ", repeat "
          << s.repeat << "\n";
      for (const DataProblem& prob : ds->open_problems()) {
        log << "data: " << s.name << ": skipped " << prob.origin << ": " << prob.reason << "\n";
        std::lock_guard<std::mutex> lock(p->stats_mu_);
        ++p->stats_.bad_samples;
        ++p->stats_.samples_read;
      }
    }
    p->datasets_.push_back(std::move(ds));
    p->worlds_.push_back(std::move(w));
    p->perms_.emplace_back();
  }
  return p;
}

SamplerState DataPipeline::InitialState() const {
  SamplerState s;
  s.cursors.assign(sources_.size(), 0);
  return s;
}

DataStats DataPipeline::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

StatusOr<int64_t> DataPipeline::IndexAt(size_t source, int64_t position) {
  const int64_t n = datasets_[source]->size();
  const int64_t epoch = position / n, offset = position % n;
  std::lock_guard<std::mutex> lock(perm_mu_);
  std::array<EpochPerm, 2>& cache = perms_[source];
  for (const EpochPerm& e : cache) {
    if (e.epoch == epoch) return e.perm[offset];
  }
  EpochPerm& slot = cache[0].epoch < cache[1].epoch ? cache[0] : cache[1];  // the older one
  slot.perm.resize(n);
  std::iota(slot.perm.begin(), slot.perm.end(), 0);
  Rng rng(Key({spec_.seed, kPermSalt, source, static_cast<uint64_t>(epoch)}));
  for (int64_t i = n - 1; i > 0; --i) std::swap(slot.perm[i], slot.perm[rng.Below(i + 1)]);  // Fisher-Yates
  slot.epoch = epoch;
  return slot.perm[offset];
}

StatusOr<DataPipeline::Loaded> DataPipeline::LoadAt(size_t source, int64_t position) {
  const SourceSpec& s = sources_[source];
  const uint64_t key = Key({spec_.seed, kSampleSalt, source, static_cast<uint64_t>(position)});
  if (worlds_[source]) {
    Loaded l;
    l.key = key;
    if (s.task == "edit") {
      const EditPair pair = EditPairAt(
          ShapesEditOptions{Key({spec_.seed, kWorldSalt, source}), image_size_}, static_cast<uint64_t>(position));
      l.sample.source = {image_size_, image_size_, ShapesWorld::Render(pair.source)};
      l.sample.image = {image_size_, image_size_, ShapesWorld::Render(pair.target)};
      l.sample.caption = s.dense_captions ? pair.dense_instruction : pair.sparse_instruction;
    } else {
      const Scene scene = worlds_[source]->SceneAt(static_cast<uint64_t>(position));
      l.sample.image = {image_size_, image_size_, ShapesWorld::Render(scene)};
      l.sample.caption = s.dense_captions ? ShapesWorld::DenseCaption(scene)
                                          : ShapesWorld::SparseCaption(scene, SplitMix64(key));
    }
    l.sample.origin = "shapes:" + std::to_string(position);
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++stats_.samples_read;
    }
    return l;
  }
  const bool needs_caption = s.task != "recon";
  const int64_t n = datasets_[source]->size();
  Status last;
  for (int64_t attempt = 0; attempt <= kMaxReplacements; ++attempt) {
    int64_t index;
    if (attempt == 0) {
      RECA_ASSIGN_OR_RETURN(index, IndexAt(source, position));
    } else {  // a seeded replacement for a bad sample
      index = static_cast<int64_t>(
          Key({spec_.seed, kReplaceSalt, source, static_cast<uint64_t>(position),
               static_cast<uint64_t>(attempt)}) % static_cast<uint64_t>(n));
    }
    StatusOr<Sample> sample = datasets_[source]->Load(index);
    if (sample.ok() && needs_caption && sample->caption.empty()) {
      sample = InvalidArgumentError(sample->origin + ": no caption (source task " + s.task + ")");
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.samples_read;
    if (sample.ok()) {
      Loaded l;
      l.key = key;
      l.sample = std::move(*sample);
      return l;
    }
    last = sample.status();
    ++stats_.bad_samples;
    if (bad_logged_++ < kMaxBadLogLines) {
      pending_log_ += "data: " + s.name + ": skipped bad sample " + std::string(sample.status().message()) + "\n";
      if (bad_logged_ == kMaxBadLogLines) pending_log_ += "data: further bad samples are counted, not logged\n";
    }
    const double limit_fraction = spec_.data.max_bad_fraction * static_cast<double>(stats_.samples_read);
    if (stats_.bad_samples > spec_.data.max_bad_samples &&
        static_cast<double>(stats_.bad_samples) > limit_fraction) {
      return FailedPreconditionError(
          "data: " + std::to_string(stats_.bad_samples) + " of " + std::to_string(stats_.samples_read) +
          " samples were unreadable, over spec.data.max_bad_samples (" +
          std::to_string(spec_.data.max_bad_samples) + ") and spec.data.max_bad_fraction (" +
          std::to_string(spec_.data.max_bad_fraction) + "); last: " + std::string(last.message()));
    }
  }
  return FailedPreconditionError("data: " + s.name + ": " + std::to_string(kMaxReplacements + 1) +
                                 " bad samples in a row; last: " + std::string(last.message()));
}

void DataPipeline::FlushLog() {
  std::string lines;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    lines.swap(pending_log_);
  }
  if (!lines.empty()) log_ << lines << std::flush;
}

void DataPipeline::RestoreStats(const DataStats& stats) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_ = stats;
}

StatusOr<StepBatches> DataPipeline::Build(SamplerState* state) {
  StatusOr<StepBatches> out = BuildStep(state);
  FlushLog();
  return out;
}

StatusOr<StepBatches> DataPipeline::BuildStep(SamplerState* state) {
  if (state->cursors.size() != sources_.size()) {
    return InternalError("sampler state does not match the sources");
  }
  const int64_t b = spec_.batch_per_rank, global = b * world_;
  const std::vector<std::string>& templates = templates_;
  // Every sample of the step, loaded (read, decoded, resized) in parallel;
  // each is a pure function of its position, so the order of loading is free.
  struct Slot {
    size_t source;
    int64_t position;
  };
  std::vector<Slot> slots;
  for (size_t i = 0; i < sources_.size(); ++i) {
    for (int64_t j = 0; j < sources_[i].repeat; ++j) {
      const int64_t first = state->cursors[i] + j * global + static_cast<int64_t>(rank_) * b;
      for (int64_t k = 0; k < b; ++k) slots.push_back({i, first + k});
    }
  }
  std::vector<StatusOr<Loaded>> loaded(slots.size(), StatusOr<Loaded>(InternalError("not loaded")));
  auto load_range = [&](size_t t, size_t stride) {
    for (size_t n = t; n < slots.size(); n += stride) {
      try {
        loaded[n] = LoadAt(slots[n].source, slots[n].position);
      } catch (const std::exception& e) {  // e.g. bad_alloc: an error, not std::terminate
        loaded[n] = InternalError("data: loading sample " + std::to_string(slots[n].position) + ": " + e.what());
      }
    }
  };
  const size_t threads = std::min(loader_threads_, slots.size());
  std::vector<std::thread> pool;
  size_t stride = std::max<size_t>(threads, 1);
  try {
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(load_range, t, threads);
  } catch (const std::system_error&) {  // no more threads: load the rest here
    stride = 1;
    for (std::thread& th : pool) th.join();
    pool.clear();
  }
  load_range(0, stride);
  for (std::thread& th : pool) th.join();
  for (const auto& l : loaded) RECA_RETURN_IF_ERROR(l.status());

  StepBatches out;
  size_t next = 0;
  for (size_t i = 0; i < sources_.size(); ++i) {
    const SourceSpec& s = sources_[i];
    for (int64_t j = 0; j < s.repeat; ++j) {
      std::vector<std::vector<uint8_t>> pixels, edit_sources;
      std::vector<std::string> texts, captions;
      std::vector<uint8_t> keep_source;
      NoiseSeeds noise;
      // Shared by all ranks: keyed by the global block, not the rank's rows.
      noise.batch = Key({spec_.seed, kBatchNoiseSalt, i, static_cast<uint64_t>(state->cursors[i] + j * global)});
      for (int64_t k = 0; k < b; ++k) {
        Loaded& l = *loaded[next++];
        Rng rng(l.key);
        noise.rows.push_back(rng.Next());
        pixels.push_back(std::move(l.sample.image.pixels));
        const bool drop = rng.Bernoulli(spec_.reca.cfg_drop);
        if (s.task == "recon") {
          texts.push_back(drop ? kUncondPrompt : templates[rng.Below(templates.size())]);
        } else if (s.task == "i2t") {
          texts.push_back(kI2TQuestion);
          captions.push_back(l.sample.caption);
        } else if (s.task == "edit") {
          // Guidance on text and image: each is dropped on its own.
          texts.push_back(drop ? std::string() : l.sample.caption);
          keep_source.push_back(rng.Bernoulli(spec_.reca.cfg_drop) ? 0 : 1);
          edit_sources.push_back(std::move(l.sample.source.pixels));
        } else {
          texts.push_back(drop ? std::string(kUncondPrompt)
                               : std::string(kT2IPrefix) + " " + l.sample.caption);
        }
      }
      at::Tensor images = ImagesToTensor(pixels, image_size_);
      const int64_t max_tokens = spec_.reca.max_text_tokens;
      const int src = static_cast<int>(i);
      if (s.task == "recon") {
        out.recon.push_back({images, MakePromptIds(tok_, texts, max_tokens), src, noise,
                             spec_.reca.condition_blur > 0 ? GaussianBlur(images, spec_.reca.condition_blur)
                                                           : at::Tensor()});
      } else if (s.task == "i2t") {
        out.i2t.push_back({images, MakePromptIds(tok_, texts, max_tokens),
                           MakeCaptionIds(tok_, captions, max_tokens), src});
      } else if (s.task == "edit") {
        at::Tensor keep = at::empty({b}, at::kByte);
        std::copy(keep_source.begin(), keep_source.end(), keep.data_ptr<uint8_t>());
        out.edit.push_back({images, ImagesToTensor(edit_sources, image_size_),
                            MakePromptIds(tok_, texts, max_tokens), keep.to(at::kBool), src, noise});
      } else {
        out.t2i.push_back({images, MakePromptIds(tok_, texts, max_tokens), src, noise});
      }
    }
    state->cursors[i] += s.repeat * global;
  }
  return out;
}

void DataPipeline::Start(int64_t first, int64_t end, SamplerState state) {
  Stop();
  {
    std::lock_guard<std::mutex> lock(q_mu_);
    stop_ = false;
    loader_done_ = false;
    queue_.clear();
  }
  loader_ = std::thread([this, first, end, state]() { LoaderLoop(first, end, state); });
}

void DataPipeline::LoaderLoop(int64_t first, int64_t end, SamplerState state) {
  struct Done {  // however the loop ends, a waiting Next() wakes up
    DataPipeline* p;
    ~Done() {
      {
        std::lock_guard<std::mutex> lock(p->q_mu_);
        p->loader_done_ = true;
      }
      p->q_cv_.notify_all();
    }
  } done{this};
  const size_t depth = static_cast<size_t>(spec_.data.prefetch_steps);
  for (int64_t step = first; step < end; ++step) {
    {
      std::unique_lock<std::mutex> lock(q_mu_);
      q_cv_.wait(lock, [&] { return stop_ || queue_.size() < depth; });
      if (stop_) return;
    }
    StatusOr<StepBatches> built = InternalError("data: not built");
    try {
      built = BuildStep(&state);
    } catch (const std::exception& e) {
      built = InternalError(std::string("data: building step ") + std::to_string(step) + ": " + e.what());
    }
    StatusOr<PreparedStep> item = built.ok()
                                      ? StatusOr<PreparedStep>(PreparedStep{step, std::move(*built), state})
                                      : StatusOr<PreparedStep>(built.status());
    const bool failed = !item.ok();
    {
      std::lock_guard<std::mutex> lock(q_mu_);
      queue_.push_back(std::move(item));
    }
    q_cv_.notify_all();
    if (failed) return;
  }
}

StatusOr<PreparedStep> DataPipeline::Next(double* waited_seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  FlushLog();
  std::unique_lock<std::mutex> lock(q_mu_);
  q_cv_.wait(lock, [&] { return !queue_.empty() || stop_ || loader_done_ || !loader_.joinable(); });
  if (queue_.empty()) {
    return FailedPreconditionError(stop_ ? "data pipeline stopped" : "data pipeline: no more steps");
  }
  StatusOr<PreparedStep> item = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  q_cv_.notify_all();
  FlushLog();
  if (waited_seconds) {
    *waited_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return item;
}

void DataPipeline::Stop() {
  {
    std::lock_guard<std::mutex> lock(q_mu_);
    stop_ = true;
  }
  q_cv_.notify_all();
  if (loader_.joinable()) loader_.join();
}

StatusOr<std::vector<StepBatches>> BuildSteps(const JobSpec& spec, int image_size, int64_t count) {
  std::ostringstream quiet;
  RECA_ASSIGN_OR_RETURN(auto data, DataPipeline::Open(spec, image_size, 0, 1, quiet));
  SamplerState state = data->InitialState();
  std::vector<StepBatches> steps;
  for (int64_t s = 0; s < count; ++s) {
    RECA_ASSIGN_OR_RETURN(StepBatches b, data->Build(&state));
    steps.push_back(std::move(b));
  }
  return steps;
}

JobSpec ShapesSpec(int64_t recon, int64_t i2t, int64_t t2i, int64_t batch, double cfg_drop,
                   uint64_t seed) {
  JobSpec spec;
  spec.seed = seed;
  spec.batch_per_rank = batch;
  spec.reca.cfg_drop = cfg_drop;
  const std::pair<const char*, int64_t> tasks[] = {{"recon", recon}, {"i2t", i2t}, {"t2i", t2i}};
  for (const auto& [task, repeat] : tasks) {
    if (repeat <= 0) continue;
    SourceSpec s;
    s.task = task;
    s.repeat = repeat;
    spec.data.sources.push_back(s);
  }
  return spec;
}

}  // namespace reca
