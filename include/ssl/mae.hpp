#pragma once
/// \file mae.hpp
/// Masked Autoencoders Are Scalable Vision Learners (He et al., 2021).
///
/// Split the image into patches and hide a random 75 % of them; the ViT encoder sees only the
/// visible 25 %; a light decoder receives the encoded patches plus a shared mask token in every
/// hidden position and reconstructs the pixels; the loss is the mean squared error on the
/// hidden patches only (per-patch normalised pixels by default).
#include <ssl/augment/identity.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/mae_decoder.hpp>
#include <ssl/loss/masked_mse.hpp>
#include <ssl/masker/random_patches.hpp>
#include <ssl/target/pixels.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::mae {

/// MAE's parts: a ViT that encodes the visible patches only, random patch masking, the batch as
/// its only view, its (normalised) pixels as the target, the MSE at the hidden patches, no
/// teacher, the MAE decoder.
using Recipe = Compose<vit::Encoder, masker::RandomPatches, augment::Identity, target::Pixels, loss::MaskedMSE,
                       teacher::None, heads::MaeDecoder>;

/// `encoder` has the default architecture (patch 4, 128-d, 4 blocks of 4 heads) but no image size
/// or channel count: set them for your data (the recipe refuses them unset).
/// Example (28 x 28 grayscale images): `mae::recipe({.encoder = vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4)})`.
struct Options {
  vit::Options encoder = vit::Options{}.patch(4).dim(128).depth(4).heads(4);  ///< image and channels: required
  int64_t decoder_dim = 64;        ///< the decoder's token width
  int64_t decoder_depth = 2;       ///< the decoder's Transformer blocks
  int64_t decoder_heads = 4;       ///< the decoder's attention heads (must divide decoder_dim)
  int64_t decoder_mlp_hidden = 0;  ///< 0 = 4 x decoder_dim
  double mask_ratio = 0.75;        ///< fraction of the patches hidden from the encoder
  bool norm_pix = true;            ///< the target is each patch's pixels normalised to mean 0, variance 1
};

/// MAE: the ViT encoder, `masker::RandomPatches` and `target::Pixels` at the encoder's patch
/// size, and a `heads::MaeDecoder` that predicts the pixels of every patch. Throws when
/// `o.encoder`'s image or channels is unset.
inline Recipe recipe(const Options& o) {
  vit::check_options(o.encoder, "mae::recipe");
  return Recipe({.backbone = vit::Encoder(o.encoder),
                 .masker = {.patch = o.encoder.patch(), .ratio = o.mask_ratio},
                 .target = {.patch = o.encoder.patch(), .norm_pix = o.norm_pix},
                 .head = heads::MaeDecoder(heads::MaeDecoderOptions(o.encoder)
                                               .dim(o.decoder_dim)
                                               .depth(o.decoder_depth)
                                               .heads(o.decoder_heads)
                                               .mlp_hidden(o.decoder_mlp_hidden))});
}

/// A reconstruction for pictures: images in the input's space.
struct Reconstruction {
  torch::Tensor mask;       ///< `[B,N]` bool, true = hidden
  torch::Tensor masked;     ///< input with hidden patches set to `fill`
  torch::Tensor predicted;  ///< the decoder's output for every patch
  torch::Tensor pasted;     ///< input in visible patches, prediction in hidden ones
};

/// Runs the recipe on `x` (`[B,C,H,W]`, model space) without gradient. With `norm_pix`, each
/// predicted patch is mapped back with the true patch's mean and std (as MAE's visualisation).
inline Reconstruction reconstruct(Recipe& r, const torch::Tensor& x, double fill = 0.0) {
  torch::NoGradGuard g;
  const bool was_training = r->is_training();
  r->eval();
  const auto& target = r->target();
  Prediction pr = r->predict(Views{.global = {x}});
  const Masked& m = pr.masked.front();
  auto pred = pr.views.front();
  if (target.norm_pix) {
    auto t = vit::patchify(x, target.patch);
    pred = pred * (t.var(-1, true, true) + 1e-6).sqrt() + t.mean(-1, true);
  }
  const auto C = x.size(1), P = target.patch;
  auto mask_px = vit::unpatchify(m.mask.unsqueeze(-1).expand({-1, -1, P * P * C}).to(x.dtype()), P, C);
  auto predicted = vit::unpatchify(pred, P, C);
  Reconstruction out{m.mask, x * (1 - mask_px) + fill * mask_px, predicted, x * (1 - mask_px) + predicted * mask_px};
  r->train(was_training);
  return out;
}

}  // namespace ssl::mae
