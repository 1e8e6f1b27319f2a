#pragma once
/// \file loss/barlow_twins.hpp
/// Barlow Twins (Zbontar et al., 2021): standardise each embedding dimension over the batch
/// (mean 0, biased variance 1, eps 1e-5: batch norm without affine), take the `[D, D]`
/// cross-correlation `C = za^T zb / B`, and push it to the identity:
/// `sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2`. Equals `lightly.loss.BarlowTwinsLoss(
/// lambda_param=5e-3)`. In a data-parallel run both embeddings are gathered from every process
/// (`dist::all_gather_with_grad`, `gather_distributed`, on by default): standardisation and C
/// use the global batch, as one process with the whole batch; on one process nothing changes.
/// Convention (loss/pairwise.hpp): `targets == {z1, z0}` for `pred.views == {z0, z1}`
/// (symmetric: C of the swapped pair is C^T).
#include <ssl/loss/pairwise.hpp>

#include <vector>

namespace ssl::loss {

/// Barlow Twins' loss (see the file comment). Example: `loss::BarlowTwins{.lambda = 5e-3}`.
struct BarlowTwins {
  double lambda = 5e-3;  ///< weight of the redundancy-reduction (off-diagonal) term
  bool gather_distributed = true;  ///< statistics over every process's batch

  /// The two sums of the loss, before weighting (0-D each).
  struct Terms {
    torch::Tensor on_diag;   ///< sum_i (1 - C_ii)^2
    torch::Tensor off_diag;  ///< sum_{i != j} C_ij^2
  };

  /// Standardises each column of `z` (`[B, D]`) over the batch, as training-mode batch norm.
  [[nodiscard]] static torch::Tensor standardise(const torch::Tensor& z, double eps = 1e-5) {
    auto c = z - z.mean(0, true);
    return c / (c.pow(2).mean(0, true) + eps).sqrt();
  }

  /// `za`, `zb`: `[B, D]`, B >= 2.
  [[nodiscard]] static Terms terms(const torch::Tensor& za, const torch::Tensor& zb) {
    constexpr const char* who = "loss::BarlowTwins";
    detail::check_embedding(za, who, "the first embedding");
    detail::check_embedding(zb, who, "the second embedding");
    detail::check_same_shape(za, zb, who);
    TORCH_CHECK(za.size(0) >= 2, who, ": expected a batch of at least 2 samples (per-dimension batch ",
                "statistics), got ", za.size(0));
    const auto c = standardise(za).t().mm(standardise(zb)) / double(za.size(0));
    const auto eye = torch::eye(c.size(0), c.options().dtype(torch::kBool));
    return {(c.diagonal() - 1).pow(2).sum(), c.masked_fill(eye, 0).pow(2).sum()};
  }

  /// The loss of one pair of `[B, D]` embeddings on this process: `on_diag + lambda * off_diag`.
  [[nodiscard]] static torch::Tensor of(const torch::Tensor& za, const torch::Tensor& zb, double lambda = 5e-3) {
    auto t = terms(za, zb);
    return t.on_diag + lambda * t.off_diag;
  }

  /// The loss averaged over the pairs (`pred.views[i]`, `paired.views[i]`). Logged parts:
  /// `barlow_twins`, `on_diag`, `off_diag`.
  LossOutput operator()(const Prediction& pred, const PairedEmbeddings& paired) const {
    const auto& targets = paired.views;
    detail::check_pairs("loss::BarlowTwins", pred, targets);
    auto m = detail::mean_over_pairs(targets.size(), [&](size_t i) {
      auto t = gather_distributed
                   ? terms(dist::all_gather_with_grad(pred.views[i]), dist::all_gather_with_grad(targets[i]))
                   : terms(pred.views[i], targets[i]);
      return std::vector<torch::Tensor>{t.on_diag, t.off_diag};
    });
    const auto &on = m[0], &off = m[1];
    auto total = on + lambda * off;
    return {total, {{"barlow_twins", total.detach()}, {"on_diag", on.detach()}, {"off_diag", off.detach()}}};
  }
};

}  // namespace ssl::loss
