#pragma once
/// \file data2vec2.hpp
/// data2vec 2.0: Efficient Self-supervised Learning with Contextualized Target Representations
/// for Vision, Speech and Language (Baevski et al., 2022), on images.
///
/// The student encodes only the patches an inverse block mask leaves visible, several masks per
/// image; a light convolutional decoder fills the grid back in and predicts, at every hidden
/// patch, what the momentum teacher (an EMA of the student's encoder) gives for the whole image:
/// the average of its blocks' feed-forward outputs, each instance-normalised, then layer-normed
/// (the contextualised targets of data2vec). Loss: squared error at the hidden patches, scaled
/// by 1/sqrt(D). The teacher encodes each image once for all its masks.
///
/// Not here (the reference has them): the CLS token's loss against the mean target
/// (`cls_loss` 0.01), and the linear annealing of the EMA momentum (here: `teacher::Ema`'s half
/// cosine). Text uses the same parts with a text encoder that encodes the visible tokens only,
/// which `text::Encoder` does not do yet.
#include <ssl/augment/identity.hpp>
#include <ssl/compose.hpp>
#include <ssl/core/check.hpp>
#include <ssl/heads/data2vec.hpp>
#include <ssl/loss/masked_regression.hpp>
#include <ssl/masker/inverse_block.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/train/trainer.hpp>
#include <ssl/vit/encoder.hpp>

namespace ssl::data2vec2 {

/// data2vec 2.0's parts: a ViT that encodes the visible patches, inverse block masking with
/// several masks per image, the batch as its only view, the momentum teacher's averaged block
/// outputs, the scaled squared error at the hidden patches, an EMA update, the conv decoder.
using Recipe = Compose<vit::Encoder, masker::InverseBlock, augment::Identity, target::Teacher<vit::Encoder, heads::LayerAverage>,
                       loss::MaskedRegression, teacher::Ema, heads::ConvDecoder>;

/// `encoder` has the default architecture (patch 4, 128-d, 4 blocks of 4 heads) but no image size
/// or channel count: set them for your data (the recipe refuses them unset). Example (28 x 28
/// grayscale images): `data2vec2::recipe({.encoder = vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4)})`.
struct Options {
  vit::Options encoder = vit::Options{}.patch(4).dim(128).depth(4).heads(4);  ///< image, channels: required
  /// The reference's image masking (80 % hidden, kept 3 x 3 blocks), 4 masks per image (the
  /// reference: 16 on ImageNet). `patch`: the encoder's (leave unset).
  masker::InverseBlock masker{.clones = 4};
  int64_t top_k = 0;             ///< the teacher's last blocks averaged (0 = all, the reference's images)
  int64_t decoder_dim = 0;       ///< the decoder's width (0 = the encoder's, as the reference's base model)
  int64_t decoder_layers = 6;    ///< its convolution blocks (the reference's images: 6)
  int64_t decoder_kernel = 3;    ///< its kernel side (the reference's images: 3)
  int64_t decoder_groups = 16;   ///< its convolution groups (the reference's images: 16)
  loss::MaskedRegression loss{};  ///< squared error, scaled by 1/sqrt(D) (the reference's images)
  /// The teacher's momentum, rising to 1 over the run. The reference: 0.9998 to 0.99999 over its
  /// first 100k of 375k steps; a run here has ~1000 steps, and I-JEPA's 0.996 is kept.
  teacher::Ema ema{.base = 0.996, .final = 1.0};
};

/// data2vec 2.0: the student is the ViT and a `heads::ConvDecoder`, the teacher a copy of the ViT
/// that also gives its blocks' outputs (with the parameter-free `heads::LayerAverage`), moved by
/// `ema`. Sets the masker's `patch` (a conflicting value is refused) and checks the masking on the
/// encoder's grid. Throws when `o.encoder`'s image or channels is unset.
inline Recipe recipe(Options o) {
  vit::check_options(o.encoder, "data2vec2::recipe");
  ssl::detail::derive(o.masker.patch, o.encoder.patch(), "data2vec2::recipe", "Options::masker.patch", "the encoder's patch");
  o.masker.check(o.encoder.grid());
  auto backbone = vit::Encoder(o.encoder);
  auto decoder = heads::ConvDecoder(heads::ConvDecoderOptions(o.encoder.dim(), o.encoder.grid())
                                        .dim(o.decoder_dim)
                                        .layers(o.decoder_layers)
                                        .kernel(o.decoder_kernel)
                                        .groups(o.decoder_groups)
                                        .noise_std(0.01));
  auto target = target::Teacher<vit::Encoder, heads::LayerAverage>(backbone, heads::LayerAverage(o.top_k));
  TORCH_CHECK(o.top_k <= o.encoder.depth(), "data2vec2::recipe: top_k ", o.top_k, " is more than the encoder's ",
              o.encoder.depth(), " blocks");
  target->backbone->options.layer_outputs(true);  // the teacher's copy only: its blocks' outputs are the targets
  return Recipe({.backbone = backbone,
                 .masker = o.masker,
                 .target = target,
                 .loss = o.loss,
                 .teacher_update = o.ema,
                 .head = decoder});
}

}  // namespace ssl::data2vec2
