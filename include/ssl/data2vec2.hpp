#pragma once
/// \file data2vec2.hpp
/// data2vec 2.0: Efficient Self-supervised Learning with Contextualized Target Representations
/// for Vision, Speech and Language (Baevski et al., 2022), on images and on text: one
/// composition, two instantiations.
///
/// The student encodes only the positions a mask leaves visible, several masks per sample; a
/// light convolutional decoder fills the rest back in and predicts, at every hidden position,
/// what the momentum teacher (an EMA of the student's encoder, run in evaluation mode) gives
/// for the whole sample: the average of its blocks' feed-forward outputs, each
/// instance-normalised (images: then layer-normed), the contextualised targets of data2vec.
/// Loss: squared error at the hidden positions, summed over channels and scaled (images:
/// 1/sqrt(D); text: 1). The teacher encodes each sample once for all its masks.
///
/// | | images (`recipe`) | text (`text_recipe`) |
/// |---|---|---|
/// | backbone | `vit::Encoder` | `text::Encoder` |
/// | masker | `masker::InverseBlock`: kept 3 x 3 blocks, 80 % hidden | `masker::RandomTokens`: 48 % hidden |
/// | decoder | 6 blocks of 3 x 3 convolutions, 16 groups, residual | 5 blocks of width-9 convolutions, no residual, 2 projections, input dropout 0.1 |
/// | targets | layer-normed | not |
///
/// Not here (the reference has them): the CLS token's loss against the mean target (images,
/// `cls_loss` 0.01); the teacher's sharing of the student's embeddings (`ema_encoder_only`:
/// here the teacher has its own, moved by the EMA with the rest); the linear annealing of the
/// EMA momentum (here: `teacher::Ema`'s half cosine).
#include <ssl/augment/identity.hpp>
#include <ssl/compose.hpp>
#include <ssl/core/check.hpp>
#include <ssl/heads/data2vec.hpp>
#include <ssl/loss/masked_regression.hpp>
#include <ssl/masker/inverse_block.hpp>
#include <ssl/masker/random_tokens.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/text/encoder.hpp>
#include <ssl/train/trainer.hpp>
#include <ssl/vit/encoder.hpp>

namespace ssl::data2vec2 {

/// data2vec 2.0's parts over an encoder `B` that encodes the visible positions and a masker `M`
/// that draws several masks per sample: the batch as its only view, the momentum teacher's
/// averaged block outputs, the scaled squared error at the hidden positions, an EMA update, the
/// conv decoder.
template <class B, class M>
using RecipeOf = Compose<B, M, augment::Identity, target::Teacher<B, heads::LayerAverage>, loss::MaskedRegression, teacher::Ema,
                         heads::ConvDecoder>;
/// On images: a ViT, inverse block masking.
using Recipe = RecipeOf<vit::Encoder, masker::InverseBlock>;
/// On text: a text encoder, random token masking.
using TextRecipe = RecipeOf<text::Encoder, masker::RandomTokens>;

namespace detail {
/// Both settings' composition from their parts: the teacher is a copy of `backbone` that also
/// gives its blocks' outputs (`Features::layers`, the teacher's copy only), averaged by
/// `average`, and encodes in evaluation mode (the reference's `tm.eval()`).
template <class B, class M>
RecipeOf<B, M> compose(B backbone, M masker, heads::LayerAverage average, loss::MaskedRegression loss, teacher::Ema ema,
                       heads::ConvDecoder decoder) {
  auto target = target::Teacher<B, heads::LayerAverage>(backbone, std::move(average));
  target->backbone->options.layer_outputs(true);
  target->eval_mode = true;
  return RecipeOf<B, M>(
      {.backbone = backbone, .masker = masker, .target = target, .loss = loss, .teacher_update = ema, .head = decoder});
}
}  // namespace detail

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
  TORCH_CHECK(o.top_k <= o.encoder.depth(), "data2vec2::recipe: top_k ", o.top_k, " is more than the encoder's ",
              o.encoder.depth(), " blocks");
  return detail::compose(backbone, o.masker, heads::LayerAverage(o.top_k), o.loss, o.ema, decoder);
}

/// The text setting. `encoder`: e.g. `text::bert_tiny(V).max_len(64).pad_id(0)` (its `pad_id`
/// is never scored; RoBERTa's padding positions are not supported).
struct TextOptions {
  text::EncoderOptions encoder;  ///< the architecture and vocabulary (required)
  /// The reference's text masking (48 % hidden), 4 masks per sequence (the reference: 8).
  /// `pad_id`: the encoder's (leave unset).
  masker::RandomTokens masker{.ratio = 0.48, .clones = 4};
  int64_t top_k = 0;             ///< the teacher's last blocks averaged (0 = all, the reference's text: all 12)
  int64_t decoder_dim = 0;       ///< the decoder's width (0 = the encoder's, as the reference's base model)
  int64_t decoder_layers = 5;    ///< its convolution blocks (the reference's text: 5)
  int64_t decoder_kernel = 9;    ///< its kernel width (the reference's text: 9)
  loss::MaskedRegression loss{.scale = 1.0};  ///< squared error summed over channels (`loss_scale` 1, text)
  /// The teacher's momentum, rising to 1 over the run: as the image setting's (the reference's
  /// text: 0.9999 to 0.99999 over its first 100k steps).
  teacher::Ema ema{.base = 0.996, .final = 1.0};
  double init_std = 0.02;        ///< BERT's normal initialisation of the encoder (`text::init_bert_weights`)
};

/// data2vec 2.0 on text: the student is the text encoder (encoding the kept tokens only) and a
/// 1-D `heads::ConvDecoder`; the teacher a copy of the encoder that also gives its blocks'
/// outputs, averaged without a final layer norm (`heads::LayerAverage`), in evaluation mode.
/// Sets the masker's `pad_id` to the encoder's (a conflicting value is refused).
inline TextRecipe text_recipe(TextOptions o) {
  const char* who = "data2vec2::text_recipe";
  TORCH_CHECK(!o.encoder.causal(), who, ": expected a bidirectional encoder (EncoderOptions::causal false)");
  TORCH_CHECK(!o.encoder.padding_positions(), who, ": RoBERTa's padding positions (EncoderOptions::padding_positions) ",
              "are not supported: the kept tokens' positions are their indices");
  TORCH_CHECK(o.top_k >= 0 && o.top_k <= o.encoder.depth(), who, ": top_k ", o.top_k, " must be in [0, the encoder's ",
              o.encoder.depth(), " blocks]");
  o.masker.check();
  if (o.encoder.pad_id() >= 0)
    ssl::detail::derive(o.masker.pad_id, o.encoder.pad_id(), who, "Options::masker.pad_id", "the encoder's pad_id");
  auto backbone = text::Encoder(o.encoder);
  text::init_bert_weights(*backbone, o.init_std, o.encoder.pad_id());
  auto decoder = heads::ConvDecoder(heads::ConvDecoderOptions(o.encoder.dim(), 0)
                                        .dim(o.decoder_dim)
                                        .layers(o.decoder_layers)
                                        .kernel(o.decoder_kernel)
                                        .groups(1)
                                        .residual(false)
                                        .projections(2)
                                        .input_dropout(0.1)
                                        .noise_std(0.01)
                                        .prefix_tokens(0));
  return detail::compose(backbone, o.masker,
                         heads::LayerAverage(o.top_k, /*prefix_tokens=*/0, /*instance_norm_layers=*/true, /*layer_norm_targets=*/false),
                         o.loss, o.ema, decoder);
}

}  // namespace ssl::data2vec2
