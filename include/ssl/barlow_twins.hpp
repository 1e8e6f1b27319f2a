#pragma once
/// \file barlow_twins.hpp
/// Barlow Twins: Self-Supervised Learning via Redundancy Reduction (Zbontar et al., 2021).
///
/// Two augmentations of every image go through one encoder and a wide projector; the
/// cross-correlation matrix of the two batches of (batch-standardised) embeddings is pushed to
/// the identity: its diagonal to 1 (invariance), its off-diagonal to 0 with weight lambda
/// (redundancy reduction). No negatives, no teacher, no predictor.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/loss/barlow_twins.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/views.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::barlow_twins {

/// Barlow Twins' parts: any backbone, no masking, two views, the other view's projection as the
/// target, the cross-correlation loss, no teacher, a projector MLP.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::TwoViews, target::OtherView, loss::BarlowTwins, teacher::None,
                       heads::Mlp>;

/// `augment` has no default: the views depend on the images (size, channels). Example (28 x 28
/// grayscale images): `barlow_twins::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(16)),
/// {.augment = augment::TwoViews::barlow_twins(28, 1)})`.
struct Options {
  augment::TwoViews augment{};  ///< required: e.g. `augment::TwoViews::barlow_twins(image_size, channels)`
  int64_t hidden = 8192;  ///< projector widths (the paper's 8192-8192-8192)
  int64_t out = 8192;    ///< embedding width: the projector's output, the side of the `[D, D]` cross-correlation
  double lambda = 5e-3;  ///< weight of the off-diagonal (redundancy-reduction) term (`loss::BarlowTwins::lambda`)
};

/// Barlow Twins on `backbone`: the projector `heads::barlow_twins(backbone->dim(), hidden, out)`
/// on its pooled features, `loss::BarlowTwins` with `lambda`. Throws when `o.augment` is unset.
template <Backbone B>
Recipe<B> recipe(B backbone, const Options& o) {
  augment::require_views(o.augment, "barlow_twins::recipe", "augment::TwoViews::barlow_twins(image_size, channels)");
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .loss = {.lambda = o.lambda},
                    .head = heads::Mlp(heads::barlow_twins(backbone->dim(), o.hidden, o.out))});
}

}  // namespace ssl::barlow_twins
