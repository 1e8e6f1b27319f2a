#pragma once
/// \file eval/loss.hpp
/// Held-out evaluation of a pretraining objective: the recipe's loss and logged parts (e.g.
/// MLM accuracy) averaged over a data set, without gradient, in eval mode, with the random
/// draws of the masker made from a fixed seed (the same masks for every model compared) and
/// the CPU generator restored afterwards (training continues as if nothing happened).
#include <ssl/core/types.hpp>
#include <ssl/data/loader.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>
#include <string>

namespace ssl::eval {

/// Mean of `loss` and of every part over the batches of `inputs` (`targets` may be undefined),
/// weighted by batch size.
template <class R>
std::map<std::string, double> loss_on(R& recipe, const torch::Tensor& inputs, const torch::Tensor& targets,
                                      const data::Transform& transform, int64_t batch = 64, uint64_t seed = 1234,
                                      torch::Device device = torch::kCPU) {
  torch::NoGradGuard g;
  auto cpu_gen = at::detail::getDefaultCPUGenerator();
  const auto cpu_state = cpu_gen.get_state();
  const bool was_training = recipe->is_training();
  recipe->eval();
  torch::manual_seed(seed);
  data::Loader loader(inputs, targets, transform,
                      {.batch_size = std::min<int64_t>(batch, inputs.size(0)), .shuffle = false, .drop_last = false,
                       .prefetch = 0, .device = device});
  std::map<std::string, double> sum;
  double n = 0;
  loader.run(0, 0, [&](const Batch& b, int64_t) {
    auto out = recipe->forward(b);
    const double w = double(b.input.size(0));
    sum["loss"] += w * out.loss.template item<double>();
    for (const auto& [k, v] : out.parts) sum[k] += w * v.template item<double>();
    n += w;
    return true;
  });
  for (auto& [k, v] : sum) v /= n;
  cpu_gen.set_state(cpu_state);
  recipe->train(was_training);
  return sum;
}

/// The unigram baseline of a language model on held-out tokens: the accuracy of always
/// predicting the most frequent training token, and the cross-entropy of the training unigram
/// distribution (add-one smoothed). Tokens in `ignore` (special ids) are not counted.
struct UnigramBaseline {
  /// Accuracy in [0, 1] of the most frequent training token, and the cross-entropy in nats per
  /// token of the smoothed unigram distribution, both over the scored held-out tokens.
  ///@{
  double accuracy = 0, cross_entropy = 0;
  ///@}
};
/// The `UnigramBaseline` of `heldout` given the token counts of `train` (sequences of ids in
/// `[0, vocab)`; an id outside throws), `ignore` counted in neither. Throws when no held-out
/// token is scored.
inline UnigramBaseline unigram_baseline(const std::vector<std::vector<int64_t>>& train,
                                        const std::vector<std::vector<int64_t>>& heldout, int64_t vocab,
                                        const std::vector<int64_t>& ignore = {}) {
  TORCH_CHECK(vocab > 0, "eval::unigram_baseline: expected a positive vocabulary size, got ", vocab);
  std::vector<char> skip(static_cast<size_t>(vocab), 0);
  for (auto i : ignore)
    if (i >= 0 && i < vocab) skip[size_t(i)] = 1;
  auto checked = [&](int64_t t) {
    TORCH_CHECK(t >= 0 && t < vocab, "eval::unigram_baseline: token id ", t, " outside [0, ", vocab, ")");
    return size_t(t);
  };
  std::vector<double> count(static_cast<size_t>(vocab), 1.0);
  double total = double(vocab);
  for (const auto& d : train)
    for (auto t : d)
      if (!skip[checked(t)]) count[size_t(t)] += 1, total += 1;
  for (size_t i = 0; i < skip.size(); ++i)
    if (skip[i]) total -= count[i], count[i] = 0;
  const auto top = std::max_element(count.begin(), count.end()) - count.begin();
  UnigramBaseline u;
  double n = 0;
  for (const auto& d : heldout)
    for (auto t : d) {
      if (skip[checked(t)]) continue;
      u.accuracy += double(int64_t(t) == top);
      u.cross_entropy -= std::log(count[size_t(t)] / total);
      n += 1;
    }
  TORCH_CHECK(n > 0, "eval::unigram_baseline: no held-out token to score");
  u.accuracy /= n;
  u.cross_entropy /= n;
  return u;
}

}  // namespace ssl::eval
