#pragma once
/// \file loss/masked_regression.hpp
/// data2vec's loss (fairseq's `Data2VecMultiModel.d2v_loss` and its criterion): at each hidden
/// position, the squared error (or smooth L1 with `beta > 0`) between the student's prediction
/// and the teacher's target, summed over the channels and scaled by `scale` (0: 1/sqrt(D), the
/// image config's), averaged over the hidden positions (the reference divides the summed loss
/// by its `sample_size`, the number of hidden positions), averaged over views. Target: a
/// momentum teacher's outputs (`target::Teacher` with `heads::LayerAverage`), one per view.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/loss/masked_mse.hpp>
#include <ssl/loss/pairwise.hpp>

#include <cmath>
#include <vector>

namespace ssl::loss {

/// Example: `loss::MaskedRegression{}` (the image setting), `{.scale = 1}` (the text setting).
struct MaskedRegression {
  double beta = 0.0;   ///< 0: squared error; > 0: smooth L1 with this beta (`loss_beta`)
  double scale = 0.0;  ///< scale of the per-position loss (`loss_scale`; 0: 1/sqrt(D))

  /// `pred`, `target` `[R, L, D]`; `mask` `[R, L]` bool (true = hidden: scored) or undefined (all scored).
  [[nodiscard]] torch::Tensor of(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask) const {
    TORCH_CHECK(beta >= 0 && scale >= 0, "loss::MaskedRegression: beta and scale must be >= 0, got ", beta, " and ", scale);
    TORCH_CHECK(pred.dim() == 3 && pred.sizes() == target.sizes(), "loss::MaskedRegression: prediction ",
                ssl::detail::shape_str(pred), " and target ", ssl::detail::shape_str(target),
                " must have the same shape [R, L, D]");
    const auto y = target.detach().to(pred.dtype());
    auto e = beta == 0 ? (pred - y).pow(2) : torch::smooth_l1_loss(pred, y, at::Reduction::None, beta);
    auto per = e.sum(-1) * (scale > 0 ? scale : 1.0 / std::sqrt(double(pred.size(-1))));
    return detail::masked_mean(per, mask, "loss::MaskedRegression");
  }

  /// `of` each view's prediction, the teacher's target of the same view and the view's mask,
  /// averaged over the views. Logged part: `regression`.
  LossOutput operator()(const Prediction& pred, const TeacherOutputs& teacher) const {
    detail::check_pairs("loss::MaskedRegression", pred, teacher.global);
    TORCH_CHECK(pred.masked.size() >= teacher.global.size(), "loss::MaskedRegression: expected the masking of every view, got ",
                pred.masked.size(), " for ", teacher.global.size(), " views");
    auto total = detail::mean_over_pairs(teacher.global.size(), [&](size_t i) {
                   return std::vector<torch::Tensor>{of(pred.views[i], teacher.global[i], pred.masked[i].mask)};
                 }).front();
    return {total, {{"regression", total.detach()}}};
  }
};

}  // namespace ssl::loss
