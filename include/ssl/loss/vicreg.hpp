#pragma once
/// \file loss/vicreg.hpp
/// VICReg (Bardes et al., 2022): `lambda * invariance + mu * variance + nu * covariance`, with
///  - invariance: mean squared error between the two embeddings;
///  - variance:   mean over dimensions of `relu(1 - sqrt(Var_batch + eps))` (unbiased variance),
///                averaged over the two embeddings;
///  - covariance: sum of the squared off-diagonal entries of the batch covariance (divided by
///                B - 1) over D, summed over the two embeddings.
/// Inputs are `[B, D]` or `[B, ..., D]` (statistics per middle position, then averaged).
/// Equals `lightly.loss.VICRegLoss()` (lambda 25, mu 25, nu 1, eps 1e-4). With
/// `gather_distributed`, variance and covariance use every process's batch
/// (`dist::all_gather_with_grad`), the invariance stays local (lightly's choice). On by default
/// here (lightly: off): a data-parallel run then computes one process's loss over the global
/// batch; on one process it changes nothing.
/// Convention (loss/pairwise.hpp): `targets == {z1, z0}` for `pred.views == {z0, z1}`
/// (symmetric).
#include <ssl/dist/collective.hpp>
#include <ssl/loss/pairwise.hpp>

#include <vector>

namespace ssl::loss {

/// VICReg's loss (see the file comment). Example: `loss::VICReg{.lambda = 25, .mu = 25, .nu = 1}`.
struct VICReg {
  double lambda = 25.0;  ///< invariance weight
  double mu = 25.0;      ///< variance weight
  double nu = 1.0;       ///< covariance weight
  double eps = 1e-4;               ///< added to the batch variance before its square root
  bool gather_distributed = true;  ///< variance and covariance over every process's batch

  /// The three terms of the loss, before weighting (0-D each).
  struct Terms {
    /// The invariance (mean squared error), variance (hinge on the std, mean of both
    /// embeddings) and covariance (off-diagonal, sum of both embeddings) terms.
    ///@{
    torch::Tensor invariance, variance, covariance;
    ///@}
  };

  /// mean over dims of relu(1 - std), std from the unbiased batch variance (dim 0).
  [[nodiscard]] static torch::Tensor variance_term(const torch::Tensor& z, double eps = 1e-4) {
    return torch::relu(1.0 - (z.var(0, /*unbiased=*/true) + eps).sqrt()).mean();
  }
  /// sum_{i != j} Cov_ij^2 / D, averaged over the middle positions of `[B, ..., D]`.
  [[nodiscard]] static torch::Tensor covariance_term(const torch::Tensor& z) {
    const auto B = z.size(0), D = z.size(-1);
    const auto c = (z - z.mean(0, true)).reshape({B, -1, D});
    const auto cov = torch::einsum("bmc,bmd->mcd", {c, c}) / double(B - 1);
    const auto eye = torch::eye(D, cov.options().dtype(torch::kBool));
    return (cov.masked_fill(eye, 0).pow(2).sum(torch::IntArrayRef{-2, -1}) / double(D)).mean();
  }

  /// The terms of one pair of embeddings (`[B, D]` or `[B, ..., D]`, B >= 2); with
  /// `gather_distributed`, variance and covariance over every process's batch.
  [[nodiscard]] static Terms terms(const torch::Tensor& za, const torch::Tensor& zb, double eps = 1e-4,
                                   bool gather_distributed = false) {
    constexpr const char* who = "loss::VICReg";
    TORCH_CHECK(za.defined() && za.dim() >= 2, who, ": expected embeddings of shape [B, D] or [B, ..., D], got ",
                ssl::detail::shape_str(za));
    detail::check_same_shape(za, zb, who);
    TORCH_CHECK(za.size(0) >= 2, who, ": expected a batch of at least 2 samples (batch variance), got ",
                za.size(0));
    Terms t;
    t.invariance = (za - zb).pow(2).mean();
    const auto a = gather_distributed ? dist::all_gather_with_grad(za) : za;
    const auto b = gather_distributed ? dist::all_gather_with_grad(zb) : zb;
    t.variance = 0.5 * (variance_term(a, eps) + variance_term(b, eps));
    t.covariance = covariance_term(a) + covariance_term(b);
    return t;
  }

  /// The loss of one pair: `lambda * invariance + mu * variance + nu * covariance`.
  [[nodiscard]] static torch::Tensor of(const torch::Tensor& za, const torch::Tensor& zb, double lambda = 25.0,
                                        double mu = 25.0, double nu = 1.0, double eps = 1e-4,
                                        bool gather_distributed = false) {
    auto t = terms(za, zb, eps, gather_distributed);
    return lambda * t.invariance + mu * t.variance + nu * t.covariance;
  }

  /// The loss averaged over the pairs (`pred.views[i]`, `paired.views[i]`). Logged parts:
  /// `vicreg`, `invariance`, `variance`, `covariance`.
  LossOutput operator()(const Prediction& pred, const PairedEmbeddings& paired) const {
    const auto& targets = paired.views;
    detail::check_pairs("loss::VICReg", pred, targets);
    auto m = detail::mean_over_pairs(targets.size(), [&](size_t i) {
      auto t = terms(pred.views[i], targets[i], eps, gather_distributed);
      return std::vector<torch::Tensor>{t.invariance, t.variance, t.covariance};
    });
    const auto &inv = m[0], &var = m[1], &cov = m[2];
    auto total = lambda * inv + mu * var + nu * cov;
    return {total,
            {{"vicreg", total.detach()},
             {"invariance", inv.detach()},
             {"variance", var.detach()},
             {"covariance", cov.detach()}}};
  }
};

}  // namespace ssl::loss
