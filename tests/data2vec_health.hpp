// Shared by data2vec 2.0's reduced runs on images (test_data2vec.cpp) and text
// (test_learning.cpp): what the objective looks like on held-out samples.
#pragma once
#include <ssl/core/types.hpp>

#include <torch/torch.h>

namespace ssl_test {

/// data2vec 2.0's objective on held-out samples, masks and decoder noise drawn from seed 7 (the
/// same before and after training).
struct Data2vecHealth {
  double loss;               ///< the recipe's loss
  double position_baseline;  ///< the loss of the best context-blind guess: each target as the mean target at its position
  /// The teacher's targets' variance across the samples, per position and channel, averaged: 0
  /// when every sample gets the same targets (a collapse).
  double spread;
};

/// `Data2vecHealth` of a data2vec 2.0 recipe `r` (images or text) on the samples `x`, in eval mode.
template <class R>
Data2vecHealth data2vec_health(R& r, const torch::Tensor& x) {
  torch::NoGradGuard g;
  r->eval();
  torch::manual_seed(7);
  auto views = r->augment()(x);
  auto pred = r->predict(views);
  const auto t = r->target()(views, pred).global[0];
  const auto& mask = pred.masked[0].mask;
  const auto by_position = t.mean(0, true).expand_as(t);  // each sample's copies weigh the same
  const auto per_sample = t.index_select(0, torch::arange(0, t.size(0), r->masker().clones));
  const auto centred = per_sample - per_sample.mean(0, true);
  r->train();
  const auto& l = r->loss();
  return {l.of(pred.views[0], t, mask).template item<double>(), l.of(by_position, t, mask).template item<double>(),
          centred.pow(2).mean().template item<double>()};
}

}  // namespace ssl_test
