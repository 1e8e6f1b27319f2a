#pragma once
/// \file eval/frozen.hpp
/// Frozen-feature evaluation of a model on a labelled train / test split (images, or any inputs
/// as tensors): which features of a backbone are scored (its pooled vector, its whole output
/// map, or the token maps of a ViT's last blocks), and the weighted k-NN and the linear probe of
/// those features, with the raw-pixel floors measured by the same protocol; optionally also at
/// smaller label budgets (the frozen side of a label-budget sweep).
#include <ssl/core/types.hpp>
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/eval/budget.hpp>
#include <ssl/eval/knn.hpp>
#include <ssl/eval/linear_probe.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ssl::eval {

/// Which frozen features of a backbone are scored.
enum class FeatureKind {
  /// A pooled vector: the backbone's own (`Features::pooled`: a ResNet's global average, a
  /// ViT's CLS token) or the caller's pooling of the output tokens (e.g. `cls_mean_patch`).
  pooled,
  /// The whole output map flattened (a ResNet's last stage H' x W' x C, every token of a ViT).
  tokens,
  /// The token maps of a ViT's last 4 blocks, each after the final norm (`block_features`).
  blocks,
};

/// The `FeatureKind` named `name`: "pooled", "tokens" or "blocks".
inline FeatureKind feature_kind(const std::string& name) {
  if (name == "pooled") return FeatureKind::pooled;
  if (name == "tokens") return FeatureKind::tokens;
  TORCH_CHECK(name == "blocks", "eval::feature_kind: expected pooled, tokens or blocks, got '", name, "'");
  return FeatureKind::blocks;
}

/// The CLS token concatenated with the mean patch token of a ViT's output tokens `[B, 1 + N, D]`:
/// `[B, 2D]`.
inline torch::Tensor cls_mean_patch(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) >= 2, "eval::cls_mean_patch: expected tokens [B, 1 + N, D] ",
              "with N >= 1, got ", tokens.sizes());
  return torch::cat({tokens.select(1, 0), tokens.narrow(1, 1, tokens.size(1) - 1).mean(1)}, 1);
}

/// Features from a ViT's output tokens `[B, 1 + N, D]`: `tokens` flattens every token, `pooled`
/// is `cls_mean_patch`; `blocks` needs the encoder (`frozen_features`).
inline torch::Tensor token_features(const torch::Tensor& tokens, FeatureKind kind) {
  TORCH_CHECK(kind != FeatureKind::blocks, "eval::token_features: the blocks' token maps come from the encoder, ",
              "not its output tokens (use frozen_features)");
  return kind == FeatureKind::tokens ? tokens.flatten(1) : cls_mean_patch(tokens);
}

/// The token maps of a ViT's last `n` blocks (every block of a shallower one), each after the
/// final norm, flattened and concatenated: DINO's linear-evaluation features
/// (`get_intermediate_layers`, n_last_blocks = 4) over the whole token map. `enc` is any encoder
/// with `intermediate_layers(x, n)` and `options.depth()` (a `vit::Encoder`).
template <class Encoder>
torch::Tensor block_features(Encoder& enc, const torch::Tensor& x, int64_t n = 4) {
  auto maps = enc->intermediate_layers(x, std::min<int64_t>(n, enc->options.depth()));
  for (auto& m : maps) m = m.flatten(1);
  return torch::cat(maps, 1);
}

/// The `kind` features of a backbone `net` (a student or its teacher) on the model input `x`:
/// `blocks`: `block_features` (a backbone without `intermediate_layers` is an error); `tokens`:
/// the output map flattened; `pooled`: `pooled(net->forward(x))`, a callable from `Features` to
/// `[B, D]`.
template <class Net, class Pooled>
torch::Tensor frozen_features(Net& net, const torch::Tensor& x, FeatureKind kind, const Pooled& pooled) {
  if (kind == FeatureKind::blocks) {
    if constexpr (requires { net->intermediate_layers(x, 1); })
      return block_features(net, x);
    else
      TORCH_CHECK(false, "eval::frozen_features: the blocks' token maps are a ViT's; this backbone has no ",
                  "intermediate_layers (use tokens or pooled)");
  }
  const auto f = net->forward(Masked{.input = x});
  return kind == FeatureKind::tokens ? f.tokens.flatten(1) : pooled(f);
}

/// `frozen_features` with the backbone's own pooled vector (`Features::pooled`).
template <class Net>
torch::Tensor frozen_features(Net& net, const torch::Tensor& x, FeatureKind kind) {
  return frozen_features(net, x, kind, [](const Features& f) { return f.pooled; });
}

/// Example: `FrozenEvalOptions{.probe = {.epochs = 30}, .device = torch::kCUDA}`.
struct FrozenEvalOptions {
  /// The weighted k-NN (k = 20, cosine, T = 0.07 by default).
  KnnOptions knn{};
  /// The linear probe on standardised features (Adam, 30 epochs by default).
  LinearProbeOptions probe{};
  /// Images per batch when extracting the features.
  int64_t batch = 512;
  /// Where the features are computed (the k-NN and the probe run on the CPU).
  torch::Device device = torch::kCPU;
  /// Label budgets: for each N, the k-NN and the linear probe are also trained on the first N
  /// training features only (all when fewer; k at most N) and scored on the whole test split,
  /// from the same extracted features (`FrozenScores::budgets`). Empty: none.
  std::vector<int64_t> label_budgets{};
  /// A budget's linear probe trains for at least this many optimizer steps: with few labels its
  /// epochs are raised to reach it (`epochs_for_steps`). 0: `probe.epochs` exactly.
  int64_t budget_min_steps = 0;
};

/// One label budget of `frozen_eval`: the k-NN and the linear probe trained on `labels` features.
struct BudgetScores {
  int64_t labels = 0;        ///< training features used (the budget, at most the split's size)
  int64_t probe_epochs = 0;  ///< the linear probe's epochs (`probe.epochs`, or more to reach `budget_min_steps`)
  /// Test accuracy of the k-NN and of the linear probe, in [0, 1].
  ///@{
  double knn = -1, linear = -1;
  ///@}
};

/// What `frozen_eval` measured: top-1 accuracies in [0, 1], the feature width and the seconds
/// the extraction and both classifiers took (with every label budget's).
struct FrozenScores {
  /// Test accuracy of the k-NN, of the linear probe (-1: not measured), and the wall-clock
  /// seconds of the extraction and both classifiers.
  ///@{
  double knn = -1, linear = -1, seconds = 0;
  ///@}
  int64_t dim = 0;  ///< width D of the features
  std::vector<BudgetScores> budgets;  ///< one per `FrozenEvalOptions::label_budgets`, in its order
};

/// The k-NN and the linear probe of `encode` (a model-input batch on `o.device` -> `[B, D]`)
/// applied to `transform(inputs)` of both splits (any inputs: images, clips, ...): trained on
/// `train_x` with `train_y`, scored on `test_x` with `test_y`; then the same at each of
/// `o.label_budgets`.
inline FrozenScores frozen_eval(const std::function<torch::Tensor(const torch::Tensor&)>& encode,
                                const torch::Tensor& train_x, const torch::Tensor& train_y, const torch::Tensor& test_x,
                                const torch::Tensor& test_y, const data::Transform& transform,
                                const FrozenEvalOptions& o = {}) {
  for (const int64_t n : o.label_budgets)  // before the extraction, the expensive part
    TORCH_CHECK(n >= 1, "eval::frozen_eval: FrozenEvalOptions::label_budgets must be >= 1, got ", n);
  TORCH_CHECK(o.budget_min_steps >= 0, "eval::frozen_eval: FrozenEvalOptions::budget_min_steps must be >= 0, got ",
              o.budget_min_steps);
  const auto t0 = std::chrono::steady_clock::now();
  auto ftr = extract(encode, train_x, transform, o.batch, o.device);
  auto fte = extract(encode, test_x, transform, o.batch, o.device);
  FrozenScores s;
  s.dim = ftr.size(1);
  s.knn = knn_top1(ftr, train_y, fte, test_y, o.knn);
  s.linear = linear_probe(ftr, train_y, fte, test_y, o.probe);
  for (const int64_t n : o.label_budgets) {
    BudgetScores b;
    b.labels = std::min(n, ftr.size(0));
    const int64_t steps_per_epoch = (b.labels + o.probe.batch - 1) / o.probe.batch;  // the probe's last batch counts
    b.probe_epochs = epochs_for_steps(steps_per_epoch, o.probe.epochs, o.budget_min_steps);
    if (b.labels == ftr.size(0) && b.probe_epochs == o.probe.epochs) {  // every label: the scores above
      b.knn = s.knn;
      b.linear = s.linear;
    } else {
      const auto f = ftr.narrow(0, 0, b.labels), y = train_y.narrow(0, 0, b.labels);
      auto knn = o.knn;
      knn.k = std::min(knn.k, b.labels);
      auto probe = o.probe;
      probe.epochs = b.probe_epochs;
      b.knn = knn_top1(f, y, fte, test_y, knn);
      b.linear = linear_probe(f, y, fte, test_y, probe);
    }
    s.budgets.push_back(b);
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

/// `frozen_eval` of two image splits: trained on `train`, scored on `test`.
inline FrozenScores frozen_eval(const std::function<torch::Tensor(const torch::Tensor&)>& encode,
                                const data::ImageSet& train, const data::ImageSet& test,
                                const data::Transform& transform, const FrozenEvalOptions& o = {}) {
  return frozen_eval(encode, train.images, train.labels, test.images, test.labels, transform, o);
}

/// The raw-pixel floors: `frozen_eval` of the pixels in [0, 1] themselves (uint8 images / 255,
/// flattened), the same protocol; what a pretrained model's features have to beat.
inline FrozenScores raw_pixel_floors(const data::ImageSet& train, const data::ImageSet& test,
                                     const FrozenEvalOptions& o = {}) {
  return frozen_eval([](const torch::Tensor& x) { return x.flatten(1); }, train, test,
                     [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); }, o);
}

}  // namespace ssl::eval
