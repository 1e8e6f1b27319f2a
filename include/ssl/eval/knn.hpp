#pragma once
/// \file eval/knn.hpp
/// Frozen-feature evaluation: feature extraction and the weighted k-NN classifier of
/// InstDisc / DINO (cosine similarity, k nearest, votes weighted by exp(sim / T)).
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <functional>
#include <tuple>
#include <utility>

namespace ssl::eval {

/// Applies `encode` (`[B,...]` -> `[B,D]`) to `inputs` in batches under no-grad; `transform`
/// maps a raw batch to model input. Returns `[N,D]` float32 on CPU.
inline torch::Tensor extract(const std::function<torch::Tensor(const torch::Tensor&)>& encode, const torch::Tensor& inputs,
                             const std::function<torch::Tensor(const torch::Tensor&)>& transform, int64_t batch = 512,
                             torch::Device device = torch::kCPU) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < inputs.size(0); s += batch) {
    auto x = inputs.narrow(0, s, std::min(batch, inputs.size(0) - s));
    x = transform ? transform(x) : x;
    out.push_back(encode(x.to(device)).to(torch::kCPU, torch::kFloat32));
  }
  return torch::cat(out, 0);
}

namespace detail {
/// Checks `[N,D]` / `[M,D]` features with `[N]` / `[M]` labels; returns the number of classes.
inline int64_t check_features(const torch::Tensor& train_f, const torch::Tensor& train_y, const torch::Tensor& test_f,
                              const torch::Tensor& test_y, const char* who) {
  TORCH_CHECK(train_f.dim() == 2 && test_f.dim() == 2 && train_f.size(1) == test_f.size(1), who,
              ": expected [N,D] train and [M,D] test features, got ", train_f.sizes(), " and ", test_f.sizes());
  TORCH_CHECK(train_y.dim() == 1 && test_y.dim() == 1 && train_y.size(0) == train_f.size(0) &&
                  test_y.size(0) == test_f.size(0),
              who, ": expected one label per feature row, got ", train_y.sizes(), " labels for ", train_f.size(0),
              " train rows and ", test_y.sizes(), " for ", test_f.size(0), " test rows");
  return std::max(train_y.max().item<int64_t>(), test_y.max().item<int64_t>()) + 1;
}
}  // namespace detail

/// Standardises every feature dimension with the training set's mean and std (MAE's
/// BatchNorm-without-affine before a linear probe). Returns {train, test}.
inline std::pair<torch::Tensor, torch::Tensor> standardize(const torch::Tensor& train_f, const torch::Tensor& test_f) {
  auto tr = train_f.to(torch::kFloat32), te = test_f.to(torch::kFloat32);
  auto mean = tr.mean(0, true), std = tr.std(0, true, true) + 1e-6;
  return {(tr - mean) / std, (te - mean) / std};
}

/// Example: `KnnOptions{.k = 20, .temperature = 0.07}`.
struct KnnOptions {
  int64_t k = 20;             ///< neighbours that vote (in [1, training samples])
  double temperature = 0.07;  ///< a neighbour's vote is exp(cosine similarity / temperature)
  int64_t chunk = 1024;       ///< test features compared at once (bounds the `[chunk, train]` similarities)
  /// Standardise every feature dimension with the training set's mean and std before the
  /// cosine similarity (helps features whose dimensions differ widely in scale, e.g. token maps).
  bool standardize = false;
};

/// Top-1 accuracy in [0,1] of the weighted k-NN vote of `test` features among `train` features.
inline double knn_top1(const torch::Tensor& train_f, const torch::Tensor& train_y, const torch::Tensor& test_f,
                       const torch::Tensor& test_y, KnnOptions o = {}) {
  const auto classes = detail::check_features(train_f, train_y, test_f, test_y, "knn_top1");
  TORCH_CHECK(o.k >= 1 && o.k <= train_f.size(0), "knn_top1: k must be in [1, ", train_f.size(0), "], got ", o.k);
  torch::NoGradGuard g;
  auto tr = train_f.to(torch::kFloat32), te = test_f.to(torch::kFloat32);
  if (o.standardize) std::tie(tr, te) = standardize(tr, te);
  tr = torch::nn::functional::normalize(tr, torch::nn::functional::NormalizeFuncOptions().dim(1));
  te = torch::nn::functional::normalize(te, torch::nn::functional::NormalizeFuncOptions().dim(1));
  int64_t correct = 0;
  for (int64_t s = 0; s < te.size(0); s += o.chunk) {
    const auto n = std::min(o.chunk, te.size(0) - s);
    auto sim = te.narrow(0, s, n).matmul(tr.t());
    auto [top, idx] = sim.topk(o.k, 1);
    auto w = (top / o.temperature).exp();
    auto votes = torch::zeros({n, classes}, torch::kFloat32);
    votes.scatter_add_(1, train_y.index({idx.reshape(-1)}).view({n, o.k}), w);
    correct += (votes.argmax(1) == test_y.narrow(0, s, n)).sum().item<int64_t>();
  }
  return double(correct) / double(te.size(0));
}

}  // namespace ssl::eval
