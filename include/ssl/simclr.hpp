#pragma once
/// \file simclr.hpp
/// A Simple Framework for Contrastive Learning of Visual Representations (Chen et al., 2020).
///
/// Two random augmentations of every image; one encoder and a small MLP projector embed both;
/// each embedding must recognise its partner among all the other images' embeddings of the
/// batch (NT-Xent: cosine similarity / temperature, cross-entropy). No teacher, no memory bank:
/// the other images of the batch are the negatives.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/loss/ntxent.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/views.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::simclr {

/// SimCLR's parts: any backbone, no masking, two views, the other view's projection as the
/// positive, NT-Xent, no teacher, a projector MLP.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::TwoViews, target::OtherView, loss::NTXent, teacher::None, heads::Mlp>;

/// `augment` has no default: the views depend on the images (size, channels). Example (28 x 28
/// grayscale images): `simclr::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(16)),
/// {.augment = augment::TwoViews::simclr(28, 1)})`.
struct Options {
  augment::TwoViews augment{};  ///< required: e.g. `augment::TwoViews::simclr(image_size, channels)`
  int64_t hidden = 2048;  ///< projector hidden width (lightly's SimCLRProjectionHead)
  int64_t out = 128;      ///< embedding width
  double temperature = 0.5;  ///< NT-Xent's softmax temperature (lightly's default)
};

/// SimCLR on `backbone`: the projector `heads::simclr(backbone->dim(), hidden, out)` on its
/// pooled features and `loss::NTXent` at `temperature`. Throws when `o.augment` is unset.
template <Backbone B>
Recipe<B> recipe(B backbone, const Options& o) {
  augment::require_views(o.augment, "simclr::recipe", "augment::TwoViews::simclr(image_size, channels)");
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .loss = {.temperature = o.temperature},
                    .head = heads::Mlp(heads::simclr(backbone->dim(), o.hidden, o.out))});
}

}  // namespace ssl::simclr
