#include "reca/optim.h"

#include <cmath>
#include <sstream>
#include <type_traits>

#include <torch/nn/utils/clip_grad.h>

#include "reca/torch_guard.h"

namespace reca {

Status OptimOptions::Validate() const {
  if (!(lr > 0)) return InvalidArgumentError("optimizer.lr: must be > 0");
  if (!(min_lr >= 0 && min_lr <= lr)) return InvalidArgumentError("optimizer.min_lr: must be in [0, lr]");
  if (!(beta1 >= 0 && beta1 < 1)) return InvalidArgumentError("optimizer.beta1: must be in [0, 1)");
  if (!(beta2 >= 0 && beta2 < 1)) return InvalidArgumentError("optimizer.beta2: must be in [0, 1)");
  if (!(eps > 0)) return InvalidArgumentError("optimizer.eps: must be > 0");
  if (!(weight_decay >= 0)) return InvalidArgumentError("optimizer.weight_decay: must be >= 0");
  if (warmup_steps < 0) return InvalidArgumentError("optimizer.warmup_steps: must be >= 0");
  if (total_steps < 1) return InvalidArgumentError("train.steps: must be >= 1");
  if (!(ema_decay >= 0 && ema_decay < 1)) return InvalidArgumentError("optimizer.ema_decay: must be in [0, 1)");
  return OkStatus();
}

double LearningRateAt(const OptimOptions& o, int64_t step) {
  if (step < o.warmup_steps) return o.lr * double(step + 1) / double(o.warmup_steps);
  if (o.constant_after_warmup) return o.lr;
  const int64_t span = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  const double progress = std::min(1.0, double(step - o.warmup_steps) / double(span));
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(M_PI * progress));
}

Optimizer::Optimizer(UnifiedModel& model, OptimOptions options) : model_(model), o_(options) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    params_.push_back(p.value());
    (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  }
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(o_.lr).betas({o_.beta1, o_.beta2}).eps(o_.eps).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(o_.weight_decay));
  groups.emplace_back(no_decay, opts(0.0));
  adamw_ = std::make_unique<torch::optim::AdamW>(std::move(groups),
                                                 torch::optim::AdamWOptions(o_.lr));
  if (o_.ema_decay > 0) {
    torch::NoGradGuard no_grad;
    for (const auto& p : model.named_parameters()) ema_[p.key()] = p.value().detach().clone();
  }
}

void Optimizer::ZeroGrad() { adamw_->zero_grad(); }

StatusOr<double> Optimizer::Step(int64_t step) {
  return TorchGuardOr("optimizer step", [&]() -> double {
    double norm = 0;
    if (o_.grad_clip > 0) {
      norm = torch::nn::utils::clip_grad_norm_(params_, o_.grad_clip);
    } else {
      torch::NoGradGuard no_grad;
      torch::Tensor sq = torch::zeros({}, params_.front().options());
      for (const auto& p : params_) if (p.grad().defined()) sq += p.grad().pow(2).sum();
      norm = std::sqrt(sq.item<double>());
    }
    if (std::isfinite(norm)) {
      const double lr = LearningRateAt(o_, step);
      for (auto& g : adamw_->param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      }
      adamw_->step();
      if (!ema_.empty()) {
        torch::NoGradGuard no_grad;
        for (const auto& p : model_.named_parameters()) {
          ema_.at(p.key()).mul_(o_.ema_decay).add_(p.value().detach(), 1.0 - o_.ema_decay);
        }
      }
    }
    adamw_->zero_grad();
    return norm;
  });
}

namespace {
// torch::optim keys its per-parameter state by the TensorImpl: as a string in
// LibTorch 1.x, as the pointer itself in 2.x.
template <typename Key>
Key StateKey(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}
}  // namespace

std::map<std::string, torch::Tensor> Optimizer::StateTensors() const {
  std::map<std::string, torch::Tensor> out;
  auto& state = adamw_->state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  for (const auto& p : model_.named_parameters()) {
    auto it = state.find(StateKey<Key>(p.value()));
    if (it == state.end()) continue;
    auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
    const std::string k = "adam." + p.key() + ".";
    out[k + "step"] = torch::full({1}, static_cast<int64_t>(st.step()), torch::kInt64);
    out[k + "exp_avg"] = st.exp_avg().detach().cpu();
    out[k + "exp_avg_sq"] = st.exp_avg_sq().detach().cpu();
  }
  for (const auto& [name, t] : ema_) out["ema." + name] = t.detach().cpu();
  return out;
}

Status Optimizer::LoadStateTensors(const std::map<std::string, torch::Tensor>& in,
                                   const std::string& origin) {
  return TorchGuard("optimizer state from " + origin, [&] {
    torch::NoGradGuard no_grad;
    auto& state = adamw_->state();
    using Key = typename std::decay_t<decltype(state)>::key_type;
    state.clear();
    for (const auto& p : model_.named_parameters()) {
      const std::string k = "adam." + p.key() + ".";
      auto step = in.find(k + "step"), m = in.find(k + "exp_avg"), v = in.find(k + "exp_avg_sq");
      if (step == in.end()) continue;  // never stepped
      TORCH_CHECK(m != in.end() && v != in.end(), origin, ": ", k, "exp_avg/exp_avg_sq missing");
      TORCH_CHECK(m->second.sizes() == p.value().sizes() && v->second.sizes() == p.value().sizes(),
                  origin, ": ", k, "moments have shape ", m->second.sizes(), ", parameter has ",
                  p.value().sizes());
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(step->second.item<int64_t>());
      st->exp_avg(m->second.to(p.value().options()).clone());
      st->exp_avg_sq(v->second.to(p.value().options()).clone());
      state[StateKey<Key>(p.value())] = std::move(st);
    }
    for (auto& [name, t] : ema_) {
      auto it = in.find("ema." + name);
      TORCH_CHECK(it != in.end(), origin, ": ema.", name, " missing (EMA is on in this job)");
      TORCH_CHECK(it->second.sizes() == t.sizes(), origin, ": ema.", name, " has the wrong shape");
      t.copy_(it->second);
    }
  });
}

}  // namespace reca
