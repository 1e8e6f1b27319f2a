#pragma once
/// \file train/optim.hpp
/// AdamW with decoupled weight decay on the parameters that should decay: not on norms, biases,
/// CLS / mask tokens and position embeddings. Optional layer-wise learning-rate decay for
/// fine-tuning (BEiT / MAE protocol). The learning rate of every group is
/// `lr * group scale * schedule factor`, set by the trainer before each step.
#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ssl::optim {

/// Example: `AdamWOptions{.lr = 1.5e-4, .weight_decay = 0.05}`.
struct AdamWOptions {
  double lr = 1e-3;
  double weight_decay = 0.05;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  /// Layer-wise lr decay: layer l of L gets `layer_decay^(L - l)`; 1 = off. Needs `layer_of`.
  double layer_decay = 1.0;
};

/// Whether a parameter is decayed: matrices and convolutions yes; vectors (norm weights,
/// biases) and tokens / position embeddings no.
inline bool decays(const std::string& name, const torch::Tensor& p) {
  if (p.dim() <= 1) return false;
  for (const char* tok : {"cls_token", "mask_token", "pos_embed", "dist_token"}) {
    if (name.find(tok) != std::string::npos) return false;
  }
  return true;
}

/// Layer id of a ViT-like parameter for layer-wise decay: embeddings and tokens 0, block i
/// `i + 1` (names containing `blocks.<i>.`), everything else (final norm, heads) `num_blocks + 1`.
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

/// torch::optim::AdamW over grouped parameters, with a per-group lr scale.
class AdamW {
 public:
  /// `layer_of(name)` -> layer id in [0, num_layers] (only used when `layer_decay != 1`).
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& named, AdamWOptions o,
        std::function<int64_t(const std::string&)> layer_of = {}, int64_t num_layers = 0)
      : options_(o) {
    std::map<std::pair<int64_t, bool>, std::vector<torch::Tensor>> groups;
    for (const auto& [name, p] : named) {
      if (!p.requires_grad()) continue;
      const int64_t layer = (o.layer_decay != 1.0 && layer_of) ? layer_of(name) : num_layers;
      groups[{layer, decays(name, p)}].push_back(p);
    }
    TORCH_CHECK(!groups.empty(), "optim::AdamW: no trainable parameters");
    std::vector<torch::optim::OptimizerParamGroup> pg;
    for (auto& [key, params] : groups) {
      auto opts = std::make_unique<torch::optim::AdamWOptions>(o.lr);
      opts->betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(key.second ? o.weight_decay : 0.0);
      pg.emplace_back(std::move(params), std::move(opts));
      scales_.push_back(std::pow(o.layer_decay, double(num_layers - key.first)));
    }
    opt_ = std::make_unique<torch::optim::AdamW>(std::move(pg), torch::optim::AdamWOptions(o.lr));
  }

  /// Sets every group's lr to `lr * scale * factor`.
  void set_lr_factor(double factor) {
    auto& groups = opt_->param_groups();
    for (size_t i = 0; i < groups.size(); ++i) {
      static_cast<torch::optim::AdamWOptions&>(groups[i].options())
          .lr(options_.lr * scales_[i] * factor);
    }
  }
  [[nodiscard]] double lr(size_t group = 0) const {
    return static_cast<const torch::optim::AdamWOptions&>(opt_->param_groups()[group].options())
        .lr();
  }
  void zero_grad() { opt_->zero_grad(/*set_to_none=*/true); }
  void step() { opt_->step(); }
  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> v;
    for (const auto& g : opt_->param_groups()) v.insert(v.end(), g.params().begin(), g.params().end());
    return v;
  }
  void save(torch::serialize::OutputArchive& ar) const { opt_->save(ar); }
  void load(torch::serialize::InputArchive& ar) { opt_->load(ar); }
  const AdamWOptions& options() const { return options_; }

 private:
  AdamWOptions options_;
  std::vector<double> scales_;
  std::unique_ptr<torch::optim::AdamW> opt_;
};

}  // namespace ssl::optim
