#pragma once
/// \file eval/linear_probe.hpp
/// Linear probe on frozen features: features standardised with the training set's statistics
/// (MAE's BatchNorm-without-affine), one linear layer trained with Adam and a cosine schedule.
#include <ssl/eval/knn.hpp>
#include <ssl/train/schedule.hpp>

#include <torch/torch.h>

namespace ssl::eval {

/// Example: `LinearProbeOptions{.epochs = 30, .lr = 1e-3}`.
struct LinearProbeOptions {
  int64_t epochs = 30;        ///< passes over the training features
  int64_t batch = 256;        ///< mini-batch size
  double lr = 1e-3;           ///< Adam's initial learning rate, decayed to 0 on a cosine
  double weight_decay = 0.0;  ///< Adam's (L2) weight decay
  uint64_t seed = 0;          ///< seed of the mini-batch order
};

/// Top-1 test accuracy in [0,1] of a linear classifier trained on `train_f`.
inline double linear_probe(const torch::Tensor& train_f, const torch::Tensor& train_y, const torch::Tensor& test_f,
                           const torch::Tensor& test_y, LinearProbeOptions o = {}) {
  TORCH_CHECK(o.batch >= 1 && o.epochs >= 0, "linear_probe: LinearProbeOptions: expected batch >= 1 and epochs >= 0, got batch ",
              o.batch, ", epochs ", o.epochs);
  const auto classes = detail::check_features(train_f, train_y, test_f, test_y, "linear_probe");
  const auto [tr, te] = standardize(train_f, test_f);
  torch::nn::Linear head(train_f.size(1), classes);
  torch::optim::Adam opt(head->parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const int64_t n = tr.size(0), spe = (n + o.batch - 1) / o.batch;
  schedule::CosineWarmup sched{};
  int64_t step = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    auto perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
    for (int64_t s = 0; s < n; s += o.batch, ++step) {
      const double f = sched(StepInfo{.step = step, .total_steps = o.epochs * spe});
      static_cast<torch::optim::AdamOptions&>(opt.param_groups()[0].options()).lr(o.lr * f);
      auto idx = perm.narrow(0, s, std::min(o.batch, n - s));
      auto loss = torch::cross_entropy_loss(head(tr.index_select(0, idx)), train_y.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
  }
  torch::NoGradGuard g;
  return (head(te).argmax(1) == test_y).to(torch::kFloat64).mean().item<double>();
}

}  // namespace ssl::eval
