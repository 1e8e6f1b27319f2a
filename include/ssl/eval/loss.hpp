#pragma once
/// \file eval/loss.hpp
/// Held-out evaluation of a pretraining objective: the recipe's loss and logged parts (e.g.
/// MLM accuracy) averaged over a data set, without gradient, in eval mode, with the random
/// draws of the masker made from a fixed seed (the same masks for every model compared) and
/// the CPU generator restored afterwards (training continues as if nothing happened).
#include <ssl/core/types.hpp>
#include <ssl/data/loader.hpp>

#include <torch/torch.h>

#include <map>
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

}  // namespace ssl::eval
