#pragma once
/// \file loss/ntxent.hpp
/// SimCLR's NT-Xent (normalised temperature-scaled cross-entropy, Chen et al., 2020).
///
/// Both embeddings are L2-normalised; each of the 2B samples must pick its other view among all
/// samples of both views (itself excluded), with logits = cosine similarity / temperature; the
/// loss is the mean cross-entropy over the 2B rows. In a multi-process run the candidates are
/// every process's samples (`dist::all_gather_with_grad`). Equals `lightly.loss.NTXentLoss(
/// temperature, memory_bank_size=0)`, whose temperature default (0.5) is kept.
/// Convention (loss/pairwise.hpp): `targets[i]` is the other view's projection; SimCLR's
/// Target gives `{z1, z0}` for `pred.views == {z0, z1}` (the criterion is symmetric).
#include <ssl/dist/collective.hpp>
#include <ssl/loss/pairwise.hpp>

#include <limits>
#include <vector>

namespace ssl::loss {

/// SimCLR's NT-Xent loss (see the file comment). Example: `loss::NTXent{.temperature = 0.5}`.
struct NTXent {
  double temperature = 0.5;  ///< divides the cosine similarities (the logits); lightly's default

  /// `a`, `b`: `[B, D]`, row i of both = two views of sample i.
  [[nodiscard]] static torch::Tensor of(const torch::Tensor& a, const torch::Tensor& b, double temperature = 0.5) {
    constexpr const char* who = "loss::NTXent";
    detail::check_embedding(a, who, "the first embedding");
    detail::check_embedding(b, who, "the second embedding");
    detail::check_same_shape(a, b, who);
    TORCH_CHECK(temperature > 0, who, ": expected a temperature > 0, got ", temperature);
    namespace F = torch::nn::functional;
    const auto n = a.size(0);
    const auto na = F::normalize(a, F::NormalizeFuncOptions().dim(1));
    const auto nb = F::normalize(b, F::NormalizeFuncOptions().dim(1));
    const auto all_a = dist::all_gather_with_grad(na);  // [m, D], m = world_size * n
    const auto all_b = dist::all_gather_with_grad(nb);
    // Row i of this process is global sample r*n + i: its positive in the other view, and its
    // own column in the same view (removed from the candidates with -inf).
    const auto own = torch::arange(n, a.options().dtype(torch::kLong)) + dist::rank() * n;
    const auto self = torch::arange(all_a.size(0), own.options()).unsqueeze(0) == own.unsqueeze(1);
    const double inf = std::numeric_limits<double>::infinity();
    auto logits_a = torch::cat({na.mm(all_b.t()), na.mm(all_a.t()).masked_fill(self, -inf)}, 1);
    auto logits_b = torch::cat({nb.mm(all_a.t()), nb.mm(all_b.t()).masked_fill(self, -inf)}, 1);
    auto logits = torch::cat({logits_a, logits_b}, 0) / temperature;
    return F::cross_entropy(logits, own.repeat({2}));
  }

  /// `of` averaged over the pairs (`pred.views[i]`, `paired.views[i]`). Logged part: `ntxent`.
  LossOutput operator()(const Prediction& pred, const PairedEmbeddings& paired) const {
    const auto& targets = paired.views;
    detail::check_pairs("loss::NTXent", pred, targets);
    auto total = detail::mean_over_pairs(targets.size(), [&](size_t i) {
                   return std::vector<torch::Tensor>{of(pred.views[i], targets[i], temperature)};
                 }).front();
    return {total, {{"ntxent", total.detach()}}};
  }
};

}  // namespace ssl::loss
