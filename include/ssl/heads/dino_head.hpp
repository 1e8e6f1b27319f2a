#pragma once
/// \file heads/dino_head.hpp
/// DINO's projection head (Caron et al., 2021), as lightly's `DINOProjectionHead` (1.6):
/// `Linear - [BN] - GELU - Linear - [BN] - GELU - Linear(bottleneck)`, l2-normalisation, then a
/// weight-normalised `Linear(bottleneck, output_dim)` without bias whose weight is
/// `g * v / ||v||` row by row (`torch.nn.utils.weight_norm`, dim 0), `g` initialised to 1 and,
/// with `norm_last_layer`, fixed (not trained). The MLP's linears are initialised truncated-
/// normal (std 0.02, cut at +-2) with zero biases; `v` keeps PyTorch's default Linear init.
///
/// Parameter names are lightly's (`layers.0.weight`, ..., `last_layer.weight_g`,
/// `last_layer.weight_v`), so lightly's weights load by name with `ssl::io::load_into`.
///
/// Freezing the last layer: during the first `freeze_last_layer` epochs (epoch <
/// `freeze_last_layer`; the epoch comes from `set_step`, called by the trainer through
/// `Compose::before_step`, or `set_epoch`) the forward pass uses the last layer's weight
/// detached, so `weight_g` and `weight_v` receive no gradient at all. The optimizer leaves
/// parameters without a gradient untouched (no update, no weight decay, no momentum), which is
/// what lightly's `cancel_last_layer_gradients(epoch)` achieves by setting their `.grad` to None.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/heads/projection.hpp>

#include <torch/torch.h>

#include <cmath>
#include <optional>

namespace ssl::heads {

namespace detail {
/// In-place truncated normal on `[a, b]` by inverse-CDF sampling (as `torch.nn.init.trunc_normal_`
/// and lightly's `_no_grad_trunc_normal`).
inline void trunc_normal_(Tensor t, double mean, double std, double a, double b) {
  torch::NoGradGuard g;
  auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = cdf((a - mean) / std), u = cdf((b - mean) / std);
  t.uniform_(2 * l - 1, 2 * u - 1).erfinv_().mul_(std * std::sqrt(2.0)).add_(mean).clamp_(a, b);
}
}  // namespace detail

/// Example: `DINOHeadOptions(384).hidden_dim(2048).bottleneck_dim(256).output_dim(65536)`.
struct DINOHeadOptions {
  /// The options of a head whose input width is set later (a recipe sets it from its backbone).
  DINOHeadOptions() = default;
  /// The options of a head on `input_dim`-wide features.
  explicit DINOHeadOptions(int64_t input_dim) : input_dim_(input_dim) {}
  /// The backbone's width: required to build a head; a recipe sets it from its backbone (and
  /// refuses a different one).
  TORCH_ARG(std::optional<int64_t>, input_dim);
  TORCH_ARG(int64_t, hidden_dim) = 2048;  ///< width of the two hidden layers
  TORCH_ARG(int64_t, bottleneck_dim) = 256;  ///< width of the L2-normalised bottleneck
  TORCH_ARG(int64_t, output_dim) = 65536;  ///< number of prototypes (the logits' width)
  /// BatchNorm after the two hidden linears (then without bias); false for a ViT backbone.
  TORCH_ARG(bool, batch_norm) = false;
  /// Epochs during which the last layer gets no gradient (see the file comment); <= 0: never.
  TORCH_ARG(int64_t, freeze_last_layer) = -1;
  /// Keep the weight-norm scale `g` fixed at 1 (not a trained parameter).
  TORCH_ARG(bool, norm_last_layer) = true;
};

/// `torch.nn.utils.weight_norm(nn.Linear(in, out, bias=False))`: weight = `weight_g *
/// weight_v / ||weight_v||` with the norm over each output row; `weight_g` `[out,1]`,
/// `weight_v` `[out,in]`.
class WeightNormLinearImpl : public torch::nn::Cloneable<WeightNormLinearImpl> {
 public:
  /// An `in` -> `out` linear map; `train_g`: the scale `weight_g` is trained.
  WeightNormLinearImpl(int64_t in, int64_t out, bool train_g) : in(in), out(out), train_g(train_g) { reset(); }

  /// `weight_v`: PyTorch's default Linear init (uniform +-1/sqrt(in)); `weight_g`: 1.
  void reset() override {
    auto v = torch::empty({out, in});
    torch::nn::init::kaiming_uniform_(v, std::sqrt(5.0));
    weight_g = register_parameter("weight_g", torch::ones({out, 1}), /*requires_grad=*/train_g);
    weight_v = register_parameter("weight_v", v);
  }

  /// The effective weight `[out, in]`.
  Tensor weight() const { return torch::_weight_norm(weight_v, weight_g, 0); }

  /// `x` `[..., in]` -> `x weight^T` `[..., out]` (no bias).
  Tensor forward(const Tensor& x) { return torch::nn::functional::linear(x, weight()); }

  int64_t in;      ///< input width
  int64_t out;     ///< output width
  bool train_g;    ///< whether `weight_g` is a trained parameter
  Tensor weight_g;  ///< the weight's scale `[out,1]`
  Tensor weight_v;  ///< the weight's direction `[out,in]`
};
TORCH_MODULE(WeightNormLinear);

/// DINO's head (see the file comment). Models `ssl::Head` on `Features::pooled`.
class DINOHeadImpl : public torch::nn::Cloneable<DINOHeadImpl> {
 public:
  /// Its last layer is frozen in the first epoch (ssl::StepAware): Compose must call `set_step`.
  static constexpr unsigned hooks = hook::step;
  /// A head as `options` says, initialised as DINO's (truncated normal, std 0.02).
  explicit DINOHeadImpl(DINOHeadOptions options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    TORCH_CHECK(o.input_dim().has_value(), "heads::DINOHead: DINOHeadOptions::input_dim is required (the backbone's width)");
    TORCH_CHECK(*o.input_dim() > 0 && o.hidden_dim() > 0 && o.bottleneck_dim() > 0 && o.output_dim() > 0,
                "heads::DINOHead: expected positive dimensions, got input ", *o.input_dim(), ", hidden ",
                o.hidden_dim(), ", bottleneck ", o.bottleneck_dim(), ", output ", o.output_dim());
    layers = register_module("layers", detail::build_layers(mlp_options(), "heads::DINOHead"));
    for (auto& mod : layers->modules(/*include_self=*/false)) {
      if (auto* lin = mod->as<torch::nn::LinearImpl>()) {
        detail::trunc_normal_(lin->weight, 0.0, 0.02, -2.0, 2.0);
        if (lin->bias.defined()) torch::nn::init::zeros_(lin->bias);
      }
    }
    last_layer = register_module(
        "last_layer", WeightNormLinear(o.bottleneck_dim(), o.output_dim(), /*train_g=*/!o.norm_last_layer()));
  }

  /// The MLP part as `MlpOptions` (lightly's blocks).
  [[nodiscard]] MlpOptions mlp_options() const {
    const auto& o = options;
    const auto n = o.batch_norm() ? Norm::BatchNorm : Norm::None;
    return std::vector<MlpLayer>{{o.input_dim().value(), o.hidden_dim(), n, Activation::GELU},
                                 {o.hidden_dim(), o.hidden_dim(), n, Activation::GELU},
                                 {o.hidden_dim(), o.bottleneck_dim()}};
  }

  /// `x`: `[B, input_dim]` (`[..., input_dim]` without BatchNorm) -> `[..., output_dim]`.
  Tensor forward(const Tensor& x) {
    detail::check_mlp_input(x, mlp_options(), "heads::DINOHead");
    auto h = torch::nn::functional::normalize(layers->forward(x),
                                              torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1));
    auto w = last_layer->weight();
    if (last_layer_frozen()) w = w.detach();
    return torch::nn::functional::linear(h, w);
  }
  /// The head on `f.pooled`.
  Tensor forward(const Features& f, const Masked&) { return forward(f.pooled); }

  /// The trainer's hook (through `Compose::before_step`): records the epoch of the coming step.
  void set_step(const StepInfo& i) { set_epoch(i.epoch); }
  /// Sets the epoch of the coming step (freezes or unfreezes the last layer).
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  /// The epoch last set.
  [[nodiscard]] int64_t epoch() const { return epoch_; }
  /// Whether the last layer is frozen in the current epoch (`epoch < freeze_last_layer`).
  [[nodiscard]] bool last_layer_frozen() const { return epoch_ < options.freeze_last_layer(); }

  /// Width of the output: `output_dim`.
  [[nodiscard]] int64_t out_dim() const { return options.output_dim(); }

  DINOHeadOptions options;  ///< what the head was built from
  torch::nn::Sequential layers{nullptr};  ///< the MLP up to the bottleneck (`mlp_options()`)
  WeightNormLinear last_layer{nullptr};  ///< the weight-normalised prototypes

 private:
  int64_t epoch_ = 0;
};
TORCH_MODULE(DINOHead);

}  // namespace ssl::heads
