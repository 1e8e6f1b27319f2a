#pragma once
/// \file vicreg.hpp
/// VICReg: Variance-Invariance-Covariance Regularization (Bardes, Ponce, LeCun, 2022).
///
/// Two augmentations, one encoder and an expander; the loss keeps the two embeddings close
/// (invariance: mean squared error, weight lambda), keeps every dimension's standard deviation
/// over the batch above 1 (variance: hinge, weight mu) and decorrelates the dimensions
/// (covariance: squared off-diagonal covariances, weight nu). No negatives, no teacher.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/loss/vicreg.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/views.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::vicreg {

/// VICReg's parts: any backbone, no masking, two views, the other view's embedding as the
/// target, the variance-invariance-covariance loss, no teacher, an expander MLP.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::TwoViews, target::OtherView, loss::VICReg, teacher::None, heads::Mlp>;

/// `augment` has no default: the views depend on the images (size, channels). Example (28 x 28
/// grayscale images): `vicreg::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(16)),
/// {.augment = augment::TwoViews::vicreg(28, 1)})`.
struct Options {
  augment::TwoViews augment{};  ///< required: e.g. `augment::TwoViews::vicreg(image_size, channels)`
  int64_t hidden = 8192;  ///< expander widths (the paper's 8192-8192-8192)
  int64_t out = 8192;  ///< embedding width: the expander's output
  /// The loss weights (the paper's): `lambda` of the invariance, `mu` of the variance, `nu` of
  /// the covariance term (`loss::VICReg`).
  ///@{
  double lambda = 25.0, mu = 25.0, nu = 1.0;
  ///@}
};

/// VICReg on `backbone`: the expander `heads::vicreg(backbone->dim(), hidden, out)` on its
/// pooled features and `loss::VICReg` with `lambda`, `mu`, `nu`. Throws when `o.augment` is unset.
template <Backbone B>
Recipe<B> recipe(B backbone, const Options& o) {
  augment::require_views(o.augment, "vicreg::recipe", "augment::TwoViews::vicreg(image_size, channels)");
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .loss = {.lambda = o.lambda, .mu = o.mu, .nu = o.nu},
                    .head = heads::Mlp(heads::vicreg(backbone->dim(), o.hidden, o.out))});
}

}  // namespace ssl::vicreg
