#pragma once
/// \file loss/smooth_l1.hpp
/// I-JEPA's loss: the smooth-L1 (Huber) distance between the predictor's output and the
/// teacher's target, averaged over every element (the reference's `F.smooth_l1_loss(z, h)`),
/// averaged over views. Target: a momentum teacher's outputs (`target::Teacher`), one per view.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/loss/pairwise.hpp>

#include <vector>

namespace ssl::loss {

/// Example: `loss::SmoothL1{.beta = 1.0}`. Swap in a mean squared error with
/// `recipe.replace<slot::loss>(MyMse{})` (a Loss scoring `TeacherOutputs`).
struct SmoothL1 {
  double beta = 1.0;  ///< where the loss turns from quadratic to linear (> 0; the reference: 1)

  /// The mean smooth-L1 distance of `pred` and `target` (same shape).
  [[nodiscard]] torch::Tensor of(const torch::Tensor& pred, const torch::Tensor& target) const {
    TORCH_CHECK(beta > 0, "loss::SmoothL1: beta must be > 0, got ", beta);
    TORCH_CHECK(pred.sizes() == target.sizes(), "loss::SmoothL1: prediction ", ssl::detail::shape_str(pred),
                " and target ", ssl::detail::shape_str(target), " must have the same shape");
    return torch::smooth_l1_loss(pred, target.detach(), at::Reduction::Mean, beta);
  }

  /// `of` each view's prediction and the teacher's output of the same view, averaged over the
  /// views. Logged part: `smooth_l1`.
  LossOutput operator()(const Prediction& pred, const TeacherOutputs& teacher) const {
    detail::check_pairs("loss::SmoothL1", pred, teacher.global);
    auto total = detail::mean_over_pairs(teacher.global.size(), [&](size_t i) {
                   return std::vector<torch::Tensor>{of(pred.views[i], teacher.global[i])};
                 }).front();
    return {total, {{"smooth_l1", total.detach()}}};
  }
};

}  // namespace ssl::loss
