#pragma once
/// \file loss/mocov3.hpp
/// MoCo v3's contrastive loss (Chen, Xie, He, 2021; the official `moco-v3` code's
/// `contrastive_loss`): queries `q` (student: backbone, projector, predictor) and keys `k`
/// (momentum teacher: backbone, projector) are L2-normalised; each query must pick its own key
/// among the keys of the whole batch (every process's, gathered), logits = q k^T / temperature;
/// cross-entropy scaled by `2 * temperature`. The method sums it over the two views:
/// `ctr(q1, k2) + ctr(q2, k1)`.
/// Convention (loss/pairwise.hpp): `pred.views == {q1, q2}`, `targets == {k2, k1}` (the
/// teacher's output of the other view: `target::Teacher` with `cross = true`). The value is the
/// *sum* over the pairs, as the official code (the other pairwise losses average).
#include <ssl/dist/collective.hpp>
#include <ssl/loss/pairwise.hpp>

#include <vector>

namespace ssl::loss {

/// MoCo v3's contrastive loss (see the file comment). Example: `loss::MoCoV3{.temperature = 0.2}`.
struct MoCoV3 {
  double temperature = 1.0;  ///< the official default (0.2 for ViTs in the paper's recipes)

  /// `q`, `k`: `[B, D]`, row i of both = two views of sample i.
  [[nodiscard]] static torch::Tensor of(const torch::Tensor& q, const torch::Tensor& k, double temperature = 1.0) {
    constexpr const char* who = "loss::MoCoV3";
    detail::check_embedding(q, who, "the queries");
    detail::check_embedding(k, who, "the keys");
    detail::check_same_shape(q, k, who);
    TORCH_CHECK(temperature > 0, who, ": expected a temperature > 0, got ", temperature);
    namespace F = torch::nn::functional;
    const auto nq = F::normalize(q, F::NormalizeFuncOptions().dim(1));
    const auto nk = dist::all_gather_with_grad(F::normalize(k, F::NormalizeFuncOptions().dim(1)));
    const auto n = q.size(0);
    const auto labels = torch::arange(n, q.options().dtype(torch::kLong)) + dist::rank() * n;
    return F::cross_entropy(nq.mm(nk.t()) / temperature, labels) * (2.0 * temperature);
  }

  /// `of` summed over the pairs (query `pred.views[i]`, key `paired.views[i]`). Logged part: `mocov3`.
  LossOutput operator()(const Prediction& pred, const PairedEmbeddings& paired) const {
    const auto& targets = paired.views;
    detail::check_pairs("loss::MoCoV3", pred, targets);
    auto total = detail::mean_over_pairs(targets.size(), [&](size_t i) {
                   return std::vector<torch::Tensor>{of(pred.views[i], targets[i], temperature)};
                 }).front() * double(targets.size());
    return {total, {{"mocov3", total.detach()}}};
  }
};

}  // namespace ssl::loss
