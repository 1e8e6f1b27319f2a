#pragma once
/// \file beit.hpp
/// BEiT: BERT Pre-Training of Image Transformers (Bao et al., 2021).
///
/// Masked image modelling with discrete targets: a visual tokenizer turns every patch of the
/// image into a token of a codebook; about 40 % of the patches are hidden in rectangular blocks
/// (blockwise masking); the ViT sees every position, a learned mask embedding in the hidden ones,
/// and a linear head predicts the token of each hidden patch — BERT's masked-LM cross-entropy
/// over the visual vocabulary. BEiT's tokenizer is DALL-E's dVAE; here it is one the user trains
/// offline on their own images: `tokenizer::fit_kmeans` or a `tokenizer::VQVAE`.
#include <ssl/augment/identity.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/patch_heads.hpp>
#include <ssl/loss/cross_entropy.hpp>
#include <ssl/masker/blockwise.hpp>
#include <ssl/target/visual_tokens.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::beit {

/// BEiT's parts: a ViT with a mask token, blockwise masking, the batch as its only view, the
/// tokenizer's codes of the hidden patches as targets, their cross-entropy, no teacher, a linear
/// head over the visual vocabulary.
template <VisualTokenizer Tok>
using Recipe = Compose<vit::Encoder, masker::Blockwise, augment::Identity, target::VisualTokens<Tok>, loss::CrossEntropy,
                       teacher::None, heads::PatchLogits>;

/// `encoder` has the default architecture (patch 4, 128-d, 4 blocks of 4 heads) but no image size
/// or channel count: set them for your data (the recipe refuses them unset).
/// Example (28 x 28 grayscale images): `beit::recipe(tokenizer::fit_kmeans(images),
/// {.encoder = vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4)})`.
struct Options {
  vit::Options encoder = vit::Options{}.patch(4).dim(128).depth(4).heads(4);  ///< image and channels: required
  /// 40 % in blocks of at least 4 patches: BEiT's 75 of 196 patches and 16-patch blocks scaled
  /// to a 7 x 7 grid.
  masker::Blockwise masker{.ratio = {0.4, 0.4}, .min_patches = 4};
};

/// BEiT with the visual tokenizer `tokenizer` (trained beforehand, frozen here): its vocabulary
/// sizes the head. Sets the encoder's `mask_token` and the masker's `patch` (a conflicting value
/// set by the caller is refused); the tokenizer's patch must be the encoder's.
template <VisualTokenizer Tok>
Recipe<Tok> recipe(Tok tokenizer, Options o) {
  vit::check_options(o.encoder, "beit::recipe");
  TORCH_CHECK(tokenizer->patch() == o.encoder.patch(), "beit::recipe: the tokenizer's patch (", tokenizer->patch(),
              ") must be the encoder's (", o.encoder.patch(), "): one token per patch");
  ssl::detail::derive(o.encoder.mask_token(), true, "beit::recipe", "Options::encoder.mask_token",
                      "the method (hidden patches are a learned mask token)");
  ssl::detail::derive(o.masker.patch, o.encoder.patch(), "beit::recipe", "Options::masker.patch", "the encoder's patch");
  const auto vocab = tokenizer->vocab_size();
  return Recipe<Tok>({.backbone = vit::Encoder(o.encoder),
                      .masker = o.masker,
                      .target = target::VisualTokens<Tok>(std::move(tokenizer)),
                      .loss = {.name = "mim"},
                      .head = heads::PatchLogits(o.encoder.dim(), vocab)});
}

}  // namespace ssl::beit
