#pragma once
/// \file train/optim.hpp
/// The trainer's optimizers, both stepping through ATen's multi-tensor `_foreach_*` kernels (a
/// handful of kernel launches per parameter group and step, not a dozen per parameter):
///  - `AdamW` with decoupled weight decay on the parameters that should decay: not on norms,
///    biases, CLS / mask tokens and position embeddings. Optional layer-wise learning-rate decay
///    for fine-tuning (BEiT / MAE protocol).
///  - `Lars` (You et al., 2017; SimCLR's, BYOL's and Barlow Twins' optimizer): SGD with momentum
///    whose step `g + wd w` of each weight matrix is scaled by `trust ||w|| / (||g|| + wd ||w||)`;
///    biases and norm parameters get neither the scaling nor weight decay (lightly's LARS with
///    its two recommended parameter groups).
/// The learning rate of every group is `lr * group scale * schedule factor`, set by the trainer
/// before each step. Anything with the members of `ssl::optim::Optimizer` can drive a trainer.
#include <torch/torch.h>
#include <torch/version.h>

#include <array>
#include <cctype>
#include <concepts>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ssl::optim {

/// Example: `AdamWOptions{.lr = 1.5e-4, .weight_decay = 0.05}`.
struct AdamWOptions {
  double lr = 1e-3;  ///< peak learning rate (the schedule scales it)
  double weight_decay = 0.05;  ///< decoupled weight decay of the decaying parameters
  double beta1 = 0.9;  ///< first-moment decay
  double beta2 = 0.999;  ///< second-moment decay
  double eps = 1e-8;  ///< added to the denominator
  /// Layer-wise lr decay: layer l of L gets `layer_decay^(L - l)`; 1 = off. Needs `layer_of`.
  double layer_decay = 1.0;
};

namespace detail {
/// Reads optimizer state `key` into `dst` (same shape), or fails naming both.
inline void read_state(torch::serialize::InputArchive& ar, const std::string& key, torch::Tensor& dst, const char* who) {
  torch::Tensor st;
  TORCH_CHECK(ar.try_read(key, st), who, ": the checkpoint has no state '", key,
              "' (was it written for another model or optimizer grouping?)");
  TORCH_CHECK(st.sizes() == dst.sizes(), who, ": state '", key, "' has shape ", st.sizes(), ", the parameter has ",
              dst.sizes());
  dst.copy_(st);
}
}  // namespace detail

/// Whether a parameter is decayed: matrices and convolutions yes; vectors (norm weights,
/// biases) and tokens / position embeddings no.
inline bool decays(const std::string& name, const torch::Tensor& p) {
  if (p.dim() <= 1) return false;
  for (const char* tok : {"cls_token", "mask_token", "pos_embed", "dist_token"}) {
    if (name.find(tok) != std::string::npos) return false;
  }
  return true;
}

/// Layer id of a ViT-like parameter for layer-wise decay. Embeddings and tokens: 0; block i:
/// `i + 1` (names containing `blocks.<i>.`); everything else (final norm, heads): `num_blocks + 1`.
inline int64_t vit_layer_of(const std::string& name, int64_t num_blocks) {
  const std::string key = "blocks.";
  for (auto pos = name.find(key); pos != std::string::npos; pos = name.find(key, pos + 1)) {
    auto start = pos + key.size();
    auto end = start;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    if (end > start && end < name.size() && name[end] == '.') return std::stoll(name.substr(start, end - start)) + 1;
  }
  for (const char* tok : {"patch_embed", "cls_token", "pos_embed", "mask_token"}) {
    if (name.find(tok) != std::string::npos) return 0;
  }
  return num_blocks + 1;
}

/// AdamW (Loshchilov & Hutter; the update of `torch.optim.AdamW`, amsgrad off) over grouped
/// parameters, each group with its own weight decay and lr scale. The update is ATen's fused
/// AdamW kernel (`_fused_adamw_`, LibTorch >= 2.4: one pass over each tensor, every
/// intermediate in registers; `torch.optim.AdamW(fused=True)`), else a chain of multi-tensor
/// `_foreach_*` kernels (`foreach=True`). Either way a handful of calls per group and step, not
/// a dozen per parameter. Bias corrections count each parameter's own steps (a parameter
/// without gradient in a step is skipped, as in PyTorch).
class AdamW {
 public:
  /// `layer_of(name)` -> layer id in [0, num_layers] (only used when `layer_decay != 1`).
  /// `lr_scale_of(name)` -> a further factor (> 0) on the learning rate of that parameter (e.g.
  /// ELECTRA's generator held back: `electra::generator_lr_scale`); none: 1 for every parameter.
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& named, AdamWOptions o,
        std::function<int64_t(const std::string&)> layer_of = {}, int64_t num_layers = 0,
        std::function<double(const std::string&)> lr_scale_of = {})
      : options_(o) {
    TORCH_CHECK(o.lr >= 0 && o.eps > 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 &&
                    o.weight_decay >= 0 && o.layer_decay > 0,
                "optim::AdamW: expected lr >= 0, eps > 0, betas in [0,1), weight_decay >= 0, layer_decay > 0; got lr ",
                o.lr, ", eps ", o.eps, ", betas (", o.beta1, ", ", o.beta2, "), weight_decay ", o.weight_decay,
                ", layer_decay ", o.layer_decay);
    std::map<std::tuple<int64_t, bool, double>, std::vector<torch::Tensor>> groups;
    std::set<const void*> seen;  // a parameter shared by two modules (ELECTRA's embeddings) is stepped once
    for (const auto& [name, p] : named) {
      if (!p.requires_grad() || !seen.insert(p.unsafeGetTensorImpl()).second) continue;
      const int64_t layer = (o.layer_decay != 1.0 && layer_of) ? layer_of(name) : num_layers;
      const double extra = lr_scale_of ? lr_scale_of(name) : 1.0;
      TORCH_CHECK(std::isfinite(extra) && extra > 0, "optim::AdamW: lr_scale_of('", name, "') must be > 0, got ", extra);
      groups[{layer, decays(name, p), extra}].push_back(p);
    }
    TORCH_CHECK(!groups.empty(), "optim::AdamW: no trainable parameters");
    for (auto& [key, params] : groups) {
      Group g;
      g.params = std::move(params);
      const auto& [layer, decayed, extra] = key;
      g.weight_decay = decayed ? o.weight_decay : 0.0;
      g.scale = std::pow(o.layer_decay, double(num_layers - layer)) * extra;
      g.lr = o.lr * g.scale;
      torch::NoGradGuard ng;
      for (const auto& p : g.params) {
        g.exp_avg.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        g.exp_avg_sq.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        g.steps.push_back(torch::zeros({}, p.options().dtype(torch::kFloat32)));
      }
      groups_.push_back(std::move(g));
    }
  }

  /// Sets every group's lr to `lr * scale * factor`.
  void set_lr_factor(double factor) {
    for (auto& g : groups_) g.lr = options_.lr * g.scale * factor;
  }
  /// Current learning rate of parameter group `group`.
  [[nodiscard]] double lr(size_t group = 0) const { return groups_.at(group).lr; }
  /// Number of parameter groups.
  [[nodiscard]] size_t num_groups() const { return groups_.size(); }

  /// Drops every gradient (undefined, as `set_to_none`).
  void zero_grad() {
    for (auto& g : groups_)
      for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
  }

  /// One AdamW step of every parameter with a gradient (fused kernel where available).
  void step() {
    torch::NoGradGuard ng;
    ++step_;
    for (auto& g : groups_) {
      std::vector<torch::Tensor> params, grads, m, v, steps;
      for (size_t i = 0; i < g.params.size(); ++i) {
        const auto& grad = g.params[i].grad();
        if (!grad.defined()) continue;  // parameters without gradient are left untouched
        TORCH_CHECK(!grad.is_sparse(), "optim::AdamW: sparse gradients are not supported");
        params.push_back(g.params[i]);
        grads.push_back(grad);
        m.push_back(g.exp_avg[i]);
        v.push_back(g.exp_avg_sq[i]);
        steps.push_back(g.steps[i]);
      }
      if (params.empty()) continue;
      at::_foreach_add_(steps, 1.0);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
      if (fused_ && (params[0].is_cpu() || params[0].is_cuda())) {
        at::_fused_adamw_(params, grads, m, v, /*max_exp_avg_sqs=*/{}, steps, g.lr, options_.beta1, options_.beta2,
                          g.weight_decay, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
        continue;
      }
#endif
      foreach_step(g, params, grads, m, v, steps);
    }
  }

  /// Off: the `_foreach_*` chain even where the fused kernel exists (for benchmarks and tests).
  void use_fused(bool on) { fused_ = on; }
  /// Whether steps use ATen's fused AdamW kernel (LibTorch >= 2.4, CPU and CUDA).
  [[nodiscard]] bool fused() const {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return fused_;
#else
    return false;
#endif
  }

  /// The optimised parameters, group by group.
  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> v;
    for (const auto& g : groups_) v.insert(v.end(), g.params.begin(), g.params.end());
    return v;
  }

  /// Moments and step counts (the lr is set by the trainer's schedule before each step).
  void save(torch::serialize::OutputArchive& ar) const {
    ar.write("step", torch::tensor(step_));
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
        const auto k = std::to_string(gi) + "." + std::to_string(i);
        ar.write("exp_avg." + k, groups_[gi].exp_avg[i]);
        ar.write("exp_avg_sq." + k, groups_[gi].exp_avg_sq[i]);
        ar.write("steps." + k, groups_[gi].steps[i]);
      }
  }
  /// Restores what `save` wrote (same parameters).
  void load(torch::serialize::InputArchive& ar) {
    torch::Tensor t;
    ar.read("step", t);
    step_ = t.item<int64_t>();
    torch::NoGradGuard ng;
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
        const auto k = std::to_string(gi) + "." + std::to_string(i);
        detail::read_state(ar, "exp_avg." + k, groups_[gi].exp_avg[i], "optim::AdamW");
        detail::read_state(ar, "exp_avg_sq." + k, groups_[gi].exp_avg_sq[i], "optim::AdamW");
        // Per-parameter step counts (older checkpoints: the optimizer's step count).
        torch::Tensor st;
        if (ar.try_read("steps." + k, st)) groups_[gi].steps[i].copy_(st);
        else groups_[gi].steps[i].fill_(double(step_));
      }
  }
  /// The options it was made with.
  const AdamWOptions& options() const { return options_; }

 private:
  struct Group {
    std::vector<torch::Tensor> params, exp_avg, exp_avg_sq, steps;
    double weight_decay = 0, scale = 1, lr = 0;
  };

  /// `torch.optim.AdamW(foreach=True)`'s update; bias corrections from each parameter's count.
  void foreach_step(const Group& g, std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& grads,
                    std::vector<torch::Tensor>& m, std::vector<torch::Tensor>& v, const std::vector<torch::Tensor>& steps) {
    if (g.weight_decay != 0.0) at::_foreach_mul_(params, 1.0 - g.lr * g.weight_decay);
    at::_foreach_lerp_(m, grads, 1.0 - options_.beta1);
    at::_foreach_mul_(v, options_.beta2);
    at::_foreach_addcmul_(v, grads, grads, 1.0 - options_.beta2);
    std::vector<c10::Scalar> step_size, bc2_sqrt;
    for (const auto& t : steps) {  // host values: the counts live beside their CPU or CUDA tensors
      const double k = t.item<double>();
      step_size.emplace_back(-g.lr / (1.0 - std::pow(options_.beta1, k)));
      bc2_sqrt.emplace_back(std::sqrt(1.0 - std::pow(options_.beta2, k)));
    }
    auto denom = at::_foreach_sqrt(v);
    at::_foreach_div_(denom, bc2_sqrt);
    at::_foreach_add_(denom, options_.eps);
    at::_foreach_addcdiv_(params, m, denom, step_size);
  }

  AdamWOptions options_;
  std::vector<Group> groups_;
  int64_t step_ = 0;
  bool fused_ = true;
};

/// Example: `LarsOptions{.lr = 0.3, .weight_decay = 1e-6}`. `trust = 0` gives plain SGD with
/// momentum (and weight decay on the decaying parameters); lightly's LARS would not move then.
struct LarsOptions {
  double lr = 0.1;  ///< peak learning rate (the schedule scales it)
  double momentum = 0.9;  ///< SGD momentum
  double weight_decay = 1e-6;  ///< weight decay of the weight matrices
  double trust = 0.001;  ///< trust coefficient (lightly's default)
  double eps = 1e-8;     ///< added to the update norm
};

/// LARS (see the file comment). Equals `lightly.utils.lars.LARS` (dampening 0, no Nesterov) over
/// two groups: weight matrices (`decays(name, p)`) with `weight_decay`, the others with 0 (lightly
/// scales a step only where the group has weight decay).
class Lars {
 public:
  /// Optimises the trainable tensors of `named` (name, parameter), each once.
  Lars(const std::vector<std::pair<std::string, torch::Tensor>>& named, LarsOptions o) : options_(o) {
    TORCH_CHECK(o.lr >= 0 && o.momentum >= 0 && o.momentum < 1 && o.weight_decay >= 0 && o.trust >= 0 && o.eps >= 0,
                "optim::Lars: expected lr >= 0, momentum in [0,1), weight_decay >= 0, trust >= 0, eps >= 0; got lr ",
                o.lr, ", momentum ", o.momentum, ", weight_decay ", o.weight_decay, ", trust ", o.trust, ", eps ", o.eps);
    std::set<const void*> seen;
    for (const auto& [name, p] : named) {
      if (!p.requires_grad() || !seen.insert(p.unsafeGetTensorImpl()).second) continue;
      groups_[decays(name, p) ? 0 : 1].params.push_back(p);
    }
    TORCH_CHECK(!groups_[0].params.empty() || !groups_[1].params.empty(), "optim::Lars: no trainable parameters");
    groups_[1].adapt = false;
    torch::NoGradGuard ng;
    for (auto& g : groups_)
      for (const auto& p : g.params) g.momentum.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    set_lr_factor(1.0);
  }

  /// Sets the learning rate to `lr * factor`.
  void set_lr_factor(double factor) { lr_ = options_.lr * factor; }
  /// Current learning rate (one for both groups).
  [[nodiscard]] double lr(size_t = 0) const { return lr_; }
  /// Drops every gradient (undefined, as `set_to_none`).
  void zero_grad() {
    for (auto& g : groups_)
      for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
  }

  /// One LARS step of every parameter with a gradient.
  void step() {
    torch::NoGradGuard ng;
    for (auto& g : groups_) {
      std::vector<torch::Tensor> params, grads, bufs;
      for (size_t i = 0; i < g.params.size(); ++i) {
        const auto& grad = g.params[i].grad();
        if (!grad.defined()) continue;
        TORCH_CHECK(!grad.is_sparse(), "optim::Lars: sparse gradients are not supported");
        params.push_back(g.params[i]);
        grads.push_back(grad);
        bufs.push_back(g.momentum[i]);
      }
      if (params.empty()) continue;
      std::vector<torch::Tensor> d;
      if (g.adapt && options_.trust > 0) {
        // lightly's rule, with no host sync: where ||w|| > 0 and ||g|| > 0,
        // d = (g + wd w) * trust ||w|| / (||g|| + wd ||w|| + eps); elsewhere d = g.
        const auto wn = torch::stack(at::_foreach_norm(params));
        const auto gn = torch::stack(at::_foreach_norm(grads));
        const auto on = (wn > 0) & (gn > 0);
        const auto q = torch::where(on, options_.trust * wn / (gn + options_.weight_decay * wn + options_.eps),
                                    torch::ones_like(wn));
        d = at::_foreach_add(grads, at::_foreach_mul(params, (on.to(wn.dtype()) * options_.weight_decay).unbind()));
        at::_foreach_mul_(d, q.unbind());
      } else if (g.adapt && options_.weight_decay != 0) {
        d = at::_foreach_add(grads, params, options_.weight_decay);
      } else {
        d = grads;
      }
      at::_foreach_mul_(bufs, options_.momentum);
      at::_foreach_add_(bufs, d);
      at::_foreach_add_(params, bufs, -lr_);
    }
  }

  /// The optimised parameters.
  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> v;
    for (const auto& g : groups_) v.insert(v.end(), g.params.begin(), g.params.end());
    return v;
  }
  /// Writes the momentum buffers.
  void save(torch::serialize::OutputArchive& ar) const {
    for (size_t gi = 0; gi < 2; ++gi)
      for (size_t i = 0; i < groups_[gi].momentum.size(); ++i)
        ar.write("momentum." + std::to_string(gi) + "." + std::to_string(i), groups_[gi].momentum[i]);
  }
  /// Restores what `save` wrote (same parameters).
  void load(torch::serialize::InputArchive& ar) {
    torch::NoGradGuard ng;
    for (size_t gi = 0; gi < 2; ++gi)
      for (size_t i = 0; i < groups_[gi].momentum.size(); ++i) {
        detail::read_state(ar, "momentum." + std::to_string(gi) + "." + std::to_string(i), groups_[gi].momentum[i],
                           "optim::Lars");
      }
  }
  /// The options it was made with.
  const LarsOptions& options() const { return options_; }

 private:
  struct Group {
    std::vector<torch::Tensor> params, momentum;
    bool adapt = true;
  };
  LarsOptions options_;
  std::array<Group, 2> groups_;
  double lr_ = 0;
};

/// What `ssl::Trainer` needs of an optimizer (`AdamW`, `Lars`, or your own).
template <class O>
concept Optimizer = requires(O o, const O co, double f, torch::serialize::OutputArchive& out,
                             torch::serialize::InputArchive& in) {
  o.set_lr_factor(f);
  o.zero_grad();
  o.step();
  { co.lr() } -> std::convertible_to<double>;
  { co.parameters() } -> std::convertible_to<std::vector<torch::Tensor>>;
  co.save(out);
  o.load(in);
};

}  // namespace ssl::optim
