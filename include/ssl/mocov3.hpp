#pragma once
/// \file mocov3.hpp
/// An Empirical Study of Training Self-Supervised Vision Transformers — MoCo v3 (Chen, Xie,
/// He, 2021).
///
/// Two augmentations. The query network (encoder, projector, predictor) embeds each view; the
/// momentum network (moving average of encoder and projector) embeds the other view as the
/// key; each query must find its own key among the keys of the whole batch (InfoNCE, scaled by
/// 2 tau), summed over both orderings. No memory queue: the batch supplies the negatives.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/loss/mocov3.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::mocov3 {

/// MoCo v3's parts: any backbone, no masking, two views, the momentum teacher's projection of
/// the other view as the key, the contrastive loss, an EMA update, a projector and a predictor.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::TwoViews, target::CrossTeacher<B, heads::Mlp>, loss::MoCoV3,
                       teacher::Ema, heads::ProjectPredict>;

/// `augment` has no default: the views depend on the images (size, channels). Example (28 x 28
/// grayscale images): `mocov3::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(16)),
/// {.augment = augment::TwoViews::mocov3(28, 1)})`.
struct Options {
  augment::TwoViews augment{};  ///< required: e.g. `augment::TwoViews::mocov3(image_size, channels)`
  /// Hidden width of the projector and of the predictor; `out`: the width of their outputs.
  int64_t hidden = 4096, out = 256;  ///< the paper's projector 4096 -> 256 and predictor 4096 -> 256
  double temperature = 1.0;          ///< the official default (0.2 in the paper's ViT recipes)
  /// The teacher's momentum, 0.99 rising to 1 on a cosine over the run (the official code's default).
  teacher::Ema ema{.base = 0.99, .final = 1.0};
};

/// MoCo v3 on `backbone`: the official code's heads (for a `vit::Encoder`: a 3-layer projector
/// and a predictor ending in BatchNorm; otherwise a 2-layer projector and no last BatchNorm);
/// the teacher a copy of the backbone and projector, moved by `ema`. Throws when `o.augment` is
/// unset.
template <Backbone B>
Recipe<B> recipe(B backbone, const Options& o) {
  augment::require_views(o.augment, "mocov3::recipe", "augment::TwoViews::mocov3(image_size, channels)");
  const auto d = backbone->dim();
  // The official code's two builds: a ViT gets a 3-layer projector and a predictor ending in
  // BN; a ResNet a 2-layer projector and a predictor without the last BN.
  constexpr bool vit = std::is_same_v<B, vit::Encoder>;
  auto head = heads::ProjectPredict(heads::mocov3_projection(d, o.hidden, o.out, vit ? 3 : 2),
                                    heads::mocov3_prediction(o.out, o.hidden, o.out, /*last_bn=*/vit));
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .target = target::CrossTeacher<B, heads::Mlp>(backbone, head->projector),
                    .loss = {.temperature = o.temperature},
                    .teacher_update = o.ema,
                    .head = head});
}

}  // namespace ssl::mocov3
