#pragma once
/// \file heads/projection.hpp
/// Projection and prediction MLPs of the joint-embedding methods, built from a list of layer
/// specs like lightly's `ProjectionHead`: each block is `Linear(in, out, bias)`, then an optional
/// `BatchNorm1d` (with or without affine parameters), then an optional activation. The modules
/// sit in one `layers` Sequential in that order, so parameter names are lightly's
/// (`layers.0.weight`, `layers.1.running_mean`, ...) and lightly's weights load by name with
/// `ssl::io::load_into`.
///
/// Presets (free functions returning `MlpOptions`) give the layer lists of the methods, each
/// noting the class or code it follows; `ProjectPredict` chains a projector and a predictor
/// (BYOL, SimSiam, MoCo v3) and returns the projection as an extra output.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/nn/batch_norm.hpp>

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace ssl::heads {

using torch::Tensor;

/// Normalisation after a block's linear layer.
enum class Norm {
  None,
  BatchNorm,          ///< `BatchNorm1d(out)` with a learned scale and shift
  BatchNormNoAffine,  ///< `BatchNorm1d(out, affine=False)`: standardisation only
};

/// Activation at the end of a block.
enum class Activation { None, ReLU, GELU };

/// One block: `Linear(in, out, bias)` -> `norm` -> `act`.
/// Example: `MlpLayer{.in = 512, .out = 2048, .norm = Norm::BatchNorm, .act = Activation::ReLU}`.
struct MlpLayer {
  int64_t in = 0;  ///< input width
  int64_t out = 0;  ///< output width
  Norm norm = Norm::None;  ///< normalisation after the linear layer
  Activation act = Activation::None;  ///< activation at the end
  /// Bias of the linear layer; unset = lightly's rule: a bias exactly when no norm follows.
  std::optional<bool> bias;

  /// Whether the linear layer has a bias: `bias`, or lightly's rule when unset.
  [[nodiscard]] bool has_bias() const { return bias.value_or(norm == Norm::None); }
};

/// Options of `Mlp`: the blocks in order (block i+1's `in` must equal block i's `out`) and the
/// BatchNorm hyper-parameters (PyTorch's defaults).
struct MlpOptions {
  /// The blocks `layers`, in order.
  MlpOptions(std::vector<MlpLayer> layers = {}) : layers_(std::move(layers)) {}  // NOLINT: implicit
  /// Input width: the first block's `in` (0 without blocks).
  [[nodiscard]] int64_t in_dim() const { return layers_.empty() ? 0 : layers_.front().in; }
  /// Output width: the last block's `out` (0 without blocks).
  [[nodiscard]] int64_t out_dim() const { return layers_.empty() ? 0 : layers_.back().out; }

  TORCH_ARG(std::vector<MlpLayer>, layers);  ///< the blocks, in order
  TORCH_ARG(double, bn_eps) = 1e-5;  ///< BatchNorm epsilon
  TORCH_ARG(double, bn_momentum) = 0.1;  ///< BatchNorm running-statistics momentum
};

namespace detail {
/// Validates `o` and builds its `layers` Sequential (lightly's layout, see the file comment).
inline torch::nn::Sequential build_layers(const MlpOptions& o, const char* who) {
  TORCH_CHECK(!o.layers().empty(), who, ": expected at least one layer, got none");
  torch::nn::Sequential seq;
  for (size_t i = 0; i < o.layers().size(); ++i) {
    const auto& l = o.layers()[i];
    TORCH_CHECK(l.in > 0 && l.out > 0, who, ": layer ", i, " must have in > 0 and out > 0, got in=", l.in,
                ", out=", l.out);
    if (i > 0) {
      TORCH_CHECK(l.in == o.layers()[i - 1].out, who, ": layer ", i, " expects ", l.in,
                  " inputs but layer ", i - 1, " gives ", o.layers()[i - 1].out);
    }
    seq->push_back(torch::nn::Linear(torch::nn::LinearOptions(l.in, l.out).bias(l.has_bias())));
    if (l.norm != Norm::None) {
      seq->push_back(ssl::nn::BatchNorm1d(torch::nn::BatchNormOptions(l.out)
                                                .affine(l.norm == Norm::BatchNorm)
                                                .eps(o.bn_eps())
                                                .momentum(o.bn_momentum())));
    }
    if (l.act == Activation::ReLU) seq->push_back(torch::nn::ReLU());
    if (l.act == Activation::GELU) seq->push_back(torch::nn::GELU());
  }
  return seq;
}

inline bool has_batch_norm(const MlpOptions& o) {
  for (const auto& l : o.layers()) if (l.norm != Norm::None) return true;
  return false;
}

/// `[..., in]` input check (`[B, in]` when BatchNorm is used: it normalises over dimension 0).
inline void check_mlp_input(const Tensor& x, const MlpOptions& o, const char* who) {
  TORCH_CHECK(x.defined(), who, ": expected a tensor [B,", o.in_dim(), "], got an undefined tensor");
  if (has_batch_norm(o)) {
    TORCH_CHECK(x.dim() == 2 && x.size(1) == o.in_dim(), who, ": expected [B,", o.in_dim(),
                "] (a BatchNorm layer needs 2-D input), got shape ", ssl::detail::shape_str(x));
  } else {
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == o.in_dim(), who, ": expected [...,", o.in_dim(),
                "], got shape ", ssl::detail::shape_str(x));
  }
}
}  // namespace detail

/// A projection / prediction MLP (see the file comment). Models `ssl::Head` on `Features::pooled`.
class MlpImpl : public torch::nn::Cloneable<MlpImpl> {
 public:
  /// An MLP of the blocks of `options`.
  explicit MlpImpl(MlpOptions options) : options(std::move(options)) { reset(); }

  /// Builds the layers with PyTorch's default initialisation (as lightly, which keeps it).
  void reset() override { layers = register_module("layers", detail::build_layers(options, "heads::Mlp")); }

  /// `x`: `[B, in_dim]` -> `[B, out_dim]`.
  Tensor forward(const Tensor& x) {
    detail::check_mlp_input(x, options, "heads::Mlp");
    return layers->forward(x);
  }
  /// The MLP on `f.pooled`.
  Tensor forward(const Features& f, const Masked&) { return forward(f.pooled); }

  /// Input width.
  [[nodiscard]] int64_t in_dim() const { return options.in_dim(); }
  /// Output width.
  [[nodiscard]] int64_t out_dim() const { return options.out_dim(); }

  MlpOptions options;  ///< what the MLP was built from
  torch::nn::Sequential layers{nullptr};  ///< Linear, BatchNorm1d, activation modules in order
};
TORCH_MODULE(Mlp);

/// A projector followed by a predictor (BYOL, SimSiam, MoCo v3): `forward` returns
/// `HeadOutput{.out = predictor(z), .projection = z}` with `z = projector(f.pooled)`. The target
/// network of those methods copies the backbone and `projector` only (`projector->clone()`).
/// Parameter names: `projector.layers.*`, `predictor.layers.*`.
class ProjectPredictImpl : public torch::nn::Cloneable<ProjectPredictImpl> {
 public:
  /// The two MLPs; the predictor's input width must be the projector's output width.
  ProjectPredictImpl(MlpOptions projector, MlpOptions predictor)
      : projector_options(std::move(projector)), predictor_options(std::move(predictor)) {
    reset();
  }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    TORCH_CHECK(predictor_options.in_dim() == projector_options.out_dim(),
                "heads::ProjectPredict: the predictor expects ", predictor_options.in_dim(),
                " inputs but the projector gives ", projector_options.out_dim());
    projector = register_module("projector", Mlp(projector_options));
    predictor = register_module("predictor", Mlp(predictor_options));
  }

  /// `x`: `[B, in]` -> `{.out = p [B, out], .projection = z [B, projector out]}`.
  HeadOutput forward(const Tensor& x) {
    auto z = projector->forward(x);
    return {.out = predictor->forward(z), .projection = z};
  }
  /// The head on `f.pooled`.
  HeadOutput forward(const Features& f, const Masked&) { return forward(f.pooled); }

  MlpOptions projector_options;  ///< the projector's blocks
  MlpOptions predictor_options;  ///< the predictor's blocks
  Mlp projector{nullptr};  ///< features -> z
  Mlp predictor{nullptr};  ///< z -> prediction
};
TORCH_MODULE(ProjectPredict);

// ---- Presets ---------------------------------------------------------------------------------

/// SimCLR (v1: `num_layers = 2`; v2: 3): lightly's `SimCLRProjectionHead` with its defaults:
/// `num_layers - 1` blocks `Linear(no bias) - BN - ReLU`, then `Linear(no bias) - BN`; with
/// `batch_norm = false` every linear has a bias and there is no BN.
inline MlpOptions simclr(int64_t in, int64_t hidden = 2048, int64_t out = 128, int64_t num_layers = 2,
                         bool batch_norm = true) {
  TORCH_CHECK(num_layers >= 2, "heads::simclr: expected num_layers >= 2, got ", num_layers);
  const auto n = batch_norm ? Norm::BatchNorm : Norm::None;
  std::vector<MlpLayer> l{{in, hidden, n, Activation::ReLU}};
  for (int64_t i = 2; i < num_layers; ++i) l.push_back({hidden, hidden, n, Activation::ReLU});
  l.push_back({hidden, out, n, Activation::None});
  return l;
}

/// BYOL's projector: lightly's `BYOLProjectionHead` (`Linear(no bias) - BN - ReLU - Linear`).
inline MlpOptions byol_projection(int64_t in, int64_t hidden = 4096, int64_t out = 256) {
  return std::vector<MlpLayer>{{in, hidden, Norm::BatchNorm, Activation::ReLU}, {hidden, out}};
}

/// BYOL's predictor: lightly's `BYOLPredictionHead` (same layout as the projector, 256 -> 256).
inline MlpOptions byol_prediction(int64_t in = 256, int64_t hidden = 4096, int64_t out = 256) {
  return std::vector<MlpLayer>{{in, hidden, Norm::BatchNorm, Activation::ReLU}, {hidden, out}};
}

/// Barlow Twins: lightly's `BarlowTwinsProjectionHead`: two `Linear(no bias) - BN - ReLU`
/// blocks, then `Linear`.
inline MlpOptions barlow_twins(int64_t in, int64_t hidden = 8192, int64_t out = 8192) {
  return std::vector<MlpLayer>{{in, hidden, Norm::BatchNorm, Activation::ReLU},
                               {hidden, hidden, Norm::BatchNorm, Activation::ReLU},
                               {hidden, out}};
}

/// VICReg: lightly's `VICRegProjectionHead`: `num_layers - 1` blocks `Linear(no bias) - BN -
/// ReLU`, then `Linear`.
inline MlpOptions vicreg(int64_t in, int64_t hidden = 8192, int64_t out = 8192, int64_t num_layers = 3) {
  TORCH_CHECK(num_layers >= 2, "heads::vicreg: expected num_layers >= 2, got ", num_layers);
  std::vector<MlpLayer> l{{in, hidden, Norm::BatchNorm, Activation::ReLU}};
  for (int64_t i = 2; i < num_layers; ++i) l.push_back({hidden, hidden, Norm::BatchNorm, Activation::ReLU});
  l.push_back({hidden, out});
  return l;
}

/// SimSiam's projector: lightly's `SimSiamProjectionHead`: two `Linear(no bias) - BN - ReLU`
/// blocks, then `Linear(no bias) - BN(affine=False)`.
inline MlpOptions simsiam_projection(int64_t in, int64_t hidden = 2048, int64_t out = 2048) {
  return std::vector<MlpLayer>{{in, hidden, Norm::BatchNorm, Activation::ReLU},
                               {hidden, hidden, Norm::BatchNorm, Activation::ReLU},
                               {hidden, out, Norm::BatchNormNoAffine}};
}

/// SimSiam's predictor: lightly's `SimSiamPredictionHead` (bottleneck 512:
/// `Linear(no bias) - BN - ReLU - Linear`).
inline MlpOptions simsiam_prediction(int64_t in = 2048, int64_t hidden = 512, int64_t out = 2048) {
  return std::vector<MlpLayer>{{in, hidden, Norm::BatchNorm, Activation::ReLU}, {hidden, out}};
}

/// MoCo v2 (and v1-style options): lightly's `MoCoProjectionHead` with its defaults:
/// `num_layers - 1` blocks `Linear - [BN] - ReLU`, then `Linear - [BN]` (BN affine, and linears
/// without bias, when `batch_norm`).
inline MlpOptions moco_projection(int64_t in, int64_t hidden = 2048, int64_t out = 128, int64_t num_layers = 2,
                                  bool batch_norm = false) {
  TORCH_CHECK(num_layers >= 2, "heads::moco_projection: expected num_layers >= 2, got ", num_layers);
  const auto n = batch_norm ? Norm::BatchNorm : Norm::None;
  std::vector<MlpLayer> l{{in, hidden, n, Activation::ReLU}};
  for (int64_t i = 2; i < num_layers; ++i) l.push_back({hidden, hidden, n, Activation::ReLU});
  l.push_back({hidden, out, n, Activation::None});
  return l;
}

/// MoCo v3's projector, as facebookresearch/moco-v3 `_build_mlp(num_layers, in, hidden, out)`:
/// every linear without bias, `num_layers - 1` blocks `Linear - BN - ReLU`, then
/// `Linear - BN(affine=False)`. `num_layers = 3` is the ViT setting, 2 the ResNet one.
/// (lightly's `MoCoProjectionHead(num_layers=3, batch_norm=True)` differs: its last BN is affine.)
inline MlpOptions mocov3_projection(int64_t in, int64_t hidden = 4096, int64_t out = 256, int64_t num_layers = 3) {
  TORCH_CHECK(num_layers >= 2, "heads::mocov3_projection: expected num_layers >= 2, got ", num_layers);
  std::vector<MlpLayer> l{{in, hidden, Norm::BatchNorm, Activation::ReLU, false}};
  for (int64_t i = 2; i < num_layers; ++i) l.push_back({hidden, hidden, Norm::BatchNorm, Activation::ReLU, false});
  l.push_back({hidden, out, Norm::BatchNormNoAffine, Activation::None, false});
  return l;
}

/// MoCo v3's predictor, as facebookresearch/moco-v3 `_build_mlp(2, in, hidden, out, last_bn)`:
/// `Linear - BN - ReLU - Linear [- BN(affine=False)]`, no biases. `last_bn = true` is the ViT
/// setting (default), `false` the ResNet one.
inline MlpOptions mocov3_prediction(int64_t in = 256, int64_t hidden = 4096, int64_t out = 256, bool last_bn = true) {
  return std::vector<MlpLayer>{{in, hidden, Norm::BatchNorm, Activation::ReLU, false},
                               {hidden, out, last_bn ? Norm::BatchNormNoAffine : Norm::None, Activation::None, false}};
}

}  // namespace ssl::heads
