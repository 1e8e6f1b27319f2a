#pragma once
/// \file loss/masked_mse.hpp
/// MAE's loss: per-patch mean squared error, averaged over the masked patches only
/// (over all patches where the masker hid nothing), averaged over views.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>
#include <ssl/loss/pairwise.hpp>

#include <vector>

namespace ssl::loss {

namespace detail {
/// The mean of the per-position loss `per` `[B, N]` over the positions `mask` `[B, N]` marks
/// (true = hidden: scored), or over all positions when `mask` is undefined; in a data-parallel
/// run the count is the global one. `who` names the loss in the message.
inline torch::Tensor masked_mean(const torch::Tensor& per, const torch::Tensor& mask, const char* who) {
  if (!mask.defined()) return per.mean();
  TORCH_CHECK(mask.sizes() == per.sizes(), who, ": expected a mask of shape ", ssl::detail::shape_str(per), ", got ",
              ssl::detail::shape_str(mask));
  auto m = mask.to(per.dtype());
  return (per * m).sum() / dist::mean_count(m.sum());  // global count in a data-parallel run
}
}  // namespace detail

/// MAE's masked mean squared error (see the file comment). Target: `target::Pixels`.
struct MaskedMSE {
  /// `pred`, `target`: `[B,N,P]`; `mask`: `[B,N]` bool (true = masked) or undefined.
  [[nodiscard]] static torch::Tensor of(const torch::Tensor& pred, const torch::Tensor& target,
                                        const torch::Tensor& mask) {
    TORCH_CHECK(pred.sizes() == target.sizes(), "loss::MaskedMSE: prediction ",
                ssl::detail::shape_str(pred), " and target ", ssl::detail::shape_str(target),
                " must have the same shape");
    return detail::masked_mean((pred - target).pow(2).mean(-1), mask, "loss::MaskedMSE");
  }

  /// `of` each view's prediction `[B,N,P]`, its pixels `patches.views[i]` and its mask, averaged
  /// over the views. Logged part: `mse`.
  LossOutput operator()(const Prediction& pred, const PixelPatches& patches) const {
    const auto& target = patches.views;
    detail::check_pairs("loss::MaskedMSE", pred, target);
    TORCH_CHECK(pred.masked.size() == pred.views.size(), "loss::MaskedMSE: expected the masking of every view, got ",
                pred.masked.size(), " for ", pred.views.size(), " views");
    auto total = detail::mean_over_pairs(target.size(), [&](size_t i) {
                   return std::vector<torch::Tensor>{of(pred.views[i], target[i], pred.masked[i].mask)};
                 }).front();
    return {total, {{"mse", total.detach()}}};
  }
};

}  // namespace ssl::loss
