#pragma once
/// \file loss/neg_cosine.hpp
/// BYOL's / SimSiam's loss: the negative cosine similarity between the prediction of one view
/// and the target of the other, averaged over the batch and symmetrised over the two views:
/// `0.5 * (f(p0, z1) + f(p1, z0))`, `f(p, z) = -mean_b cos(p_b, z_b)`, as lightly's BYOL and
/// SimSiam examples combine `lightly.loss.NegativeCosineSimilarity` (range [-1, 1]; BYOL's
/// paper writes `2 - 2 cos`, the same gradient up to a factor 2).
/// Convention (loss/pairwise.hpp): `pred.views == {p0, p1}` (predictor outputs) and
/// `targets == {z1, z0}`: the other view's target projection, which the Target detaches (BYOL:
/// the teacher's; SimSiam: the student's own, stop-gradient). The loss does not detach.
#include <ssl/loss/pairwise.hpp>

#include <vector>

namespace ssl::loss {

/// BYOL's / SimSiam's negative cosine similarity (see the file comment). Example: `loss::NegCosine{}`.
struct NegCosine {
  double eps = 1e-8;  ///< as torch.nn.functional.cosine_similarity

  /// `p`, `z`: `[B, D]` (or `[B, ..., D]`); cosine over the last dim, mean over the rest.
  [[nodiscard]] static torch::Tensor of(const torch::Tensor& p, const torch::Tensor& z, double eps = 1e-8) {
    TORCH_CHECK(p.defined() && p.dim() >= 2, "loss::NegCosine: expected a prediction of shape [B, D], got ",
                ssl::detail::shape_str(p));
    detail::check_same_shape(p, z, "loss::NegCosine");
    return -torch::cosine_similarity(p, z, /*dim=*/-1, eps).mean();
  }

  /// `of` averaged over the pairs (prediction `pred.views[i]`, target `paired.views[i]`).
  /// Logged part: `neg_cosine`.
  LossOutput operator()(const Prediction& pred, const PairedEmbeddings& paired) const {
    const auto& targets = paired.views;
    detail::check_pairs("loss::NegCosine", pred, targets);
    auto total = detail::mean_over_pairs(targets.size(), [&](size_t i) {
                   return std::vector<torch::Tensor>{of(pred.views[i], targets[i], eps)};
                 }).front();
    return {total, {{"neg_cosine", total.detach()}}};
  }
};

}  // namespace ssl::loss
