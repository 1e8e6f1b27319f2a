#pragma once
/// \file simsiam.hpp
/// Exploring Simple Siamese Representation Learning (Chen & He, 2021).
///
/// Two augmentations, one encoder, a projector and a predictor; the prediction of each view
/// must match the other view's projection under the negative cosine, and that projection is
/// *not* differentiated (stop-gradient): the "teacher" is the student itself with the gradient
/// stopped, so there is no momentum copy and no negatives.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/loss/neg_cosine.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/views.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::simsiam {

/// SimSiam's parts: any backbone, no masking, two views, the other view's detached projection as
/// the target, negative cosine, no teacher, a projector and a predictor.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::TwoViews, target::StopGradient, loss::NegCosine, teacher::None,
                       heads::ProjectPredict>;

/// `augment` has no default: the views depend on the images (size, channels). Example (28 x 28
/// grayscale images): `simsiam::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(16)),
/// {.augment = augment::TwoViews::simsiam(28, 1)})`.
struct Options {
  augment::TwoViews augment{};  ///< required: e.g. `augment::TwoViews::simsiam(image_size, channels)`
  /// The projector's hidden width; `out`: its output width, the embedding's.
  int64_t proj_hidden = 2048, out = 2048;  ///< projector (the paper's 2048-2048-2048)
  int64_t pred_hidden = 512;               ///< predictor bottleneck (the paper's 512)
};

/// SimSiam on `backbone`: `heads::simsiam_projection` then `heads::simsiam_prediction` (`out`
/// -> `pred_hidden` -> `out`). Throws when `o.augment` is unset.
template <Backbone B>
Recipe<B> recipe(B backbone, const Options& o) {
  augment::require_views(o.augment, "simsiam::recipe", "augment::TwoViews::simsiam(image_size, channels)");
  const auto d = backbone->dim();
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .head = heads::ProjectPredict(heads::simsiam_projection(d, o.proj_hidden, o.out),
                                                  heads::simsiam_prediction(o.out, o.pred_hidden, o.out))});
}

}  // namespace ssl::simsiam
