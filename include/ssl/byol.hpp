#pragma once
/// \file byol.hpp
/// Bootstrap Your Own Latent (Grill et al., 2020).
///
/// Two augmentations of every image. The online network (encoder, projector, predictor)
/// predicts the target network's projection of the *other* view (negative cosine, both
/// orderings). The target network is an exponential moving average of the online encoder and
/// projector, its momentum rising from 0.99 to 1 on a cosine; it gets no gradient.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/loss/neg_cosine.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::byol {

/// BYOL's parts: any backbone, no masking, two views, the momentum teacher's projection of the
/// other view as the target, negative cosine, an EMA update, a projector and a predictor.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::TwoViews, target::CrossTeacher<B, heads::Mlp>, loss::NegCosine,
                       teacher::Ema, heads::ProjectPredict>;

/// `augment` has no default: the views depend on the images (size, channels). Example (28 x 28
/// grayscale images): `byol::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(16)),
/// {.augment = augment::TwoViews::byol(28, 1)})`.
struct Options {
  augment::TwoViews augment{};  ///< required: e.g. `augment::TwoViews::byol(image_size, channels)`
  /// Hidden width of the projector and of the predictor; `out`: the width of their outputs.
  int64_t hidden = 4096, out = 256;  ///< projector and predictor (the paper's 4096 -> 256)
  /// The teacher's momentum, 0.99 rising to 1 on a cosine over the run (the paper's).
  teacher::Ema ema{.base = 0.99, .final = 1.0};
};

/// BYOL on `backbone`: the student is the backbone, `heads::byol_projection` and
/// `heads::byol_prediction`; the teacher a copy of the backbone and projector, moved by `ema`.
/// Throws when `o.augment` is unset.
template <Backbone B>
Recipe<B> recipe(B backbone, const Options& o) {
  augment::require_views(o.augment, "byol::recipe", "augment::TwoViews::byol(image_size, channels)");
  const auto d = backbone->dim();
  auto head = heads::ProjectPredict(heads::byol_projection(d, o.hidden, o.out),
                                    heads::byol_prediction(o.out, o.hidden, o.out));
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .target = target::CrossTeacher<B, heads::Mlp>(backbone, head->projector),
                    .teacher_update = o.ema,
                    .head = head});
}

}  // namespace ssl::byol
