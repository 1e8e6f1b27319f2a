#pragma once
/// \file ijepa.hpp
/// I-JEPA: Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture
/// (Assran et al., 2023).
///
/// From one context block of an image, predict the representations of several target blocks
/// of the same image, in latent space: no pixels, no augmentations. The student (context)
/// encoder sees only the context patches; a narrow ViT predictor gets them and one mask token
/// per target patch (with its position) and predicts, block by block, what the momentum
/// teacher (target) encoder gives at those patches for the whole image, layer-normed. Loss:
/// smooth L1 between the two. The teacher follows the student encoder by EMA.
#include <ssl/augment/identity.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/jepa.hpp>
#include <ssl/loss/smooth_l1.hpp>
#include <ssl/masker/multi_block.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/train/trainer.hpp>
#include <ssl/vit/encoder.hpp>

namespace ssl::ijepa {

/// I-JEPA's parts: a ViT that encodes the context patches, multi-block masking, the batch as
/// its only view, the momentum teacher's layer-normed tokens at the target blocks, smooth L1,
/// an EMA update, the predictor.
using Recipe = Compose<vit::Encoder, masker::MultiBlock, augment::Identity, target::Teacher<vit::Encoder, heads::BlockTokens>,
                       loss::SmoothL1, teacher::Ema, heads::JepaPredictor>;

/// `encoder` has the default architecture (patch 4, 128-d, 4 blocks of 4 heads, mean-pooled
/// features for evaluation: I-JEPA has no CLS objective) but no image size or channel count:
/// set them for your data (the recipe refuses them unset). Example (28 x 28 grayscale images):
/// `ijepa::recipe({.encoder = vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4).mean_pool(true)})`.
struct Options {
  vit::Options encoder = vit::Options{}.patch(4).dim(128).depth(4).heads(4).mean_pool(true);  ///< image, channels: required
  int64_t predictor_dim = 64;    ///< the predictor's width (the reference: 384 for ViT-H)
  /// The predictor's blocks (the reference: 12 for ViT-H). Example 06 uses 4 with lr 5e-4: with
  /// 2 at lr 1.5e-3 the encoder's tokens collapsed onto a few directions (docs/08).
  int64_t predictor_depth = 2;
  int64_t predictor_heads = 4;   ///< its attention heads (must divide predictor_dim)
  /// I-JEPA's masking (4 target blocks of 15-20 % of the grid, aspect 0.75-1.5, a context block
  /// of 85-100 %), with `min_keep` 4 for the small grids of small images (the reference: 10 on
  /// a 16 x 16 grid). `patch`: the encoder's (leave unset).
  masker::MultiBlock masker{.min_keep = 4};
  loss::SmoothL1 loss{};  ///< smooth L1 with beta 1 (the reference's)
  /// The teacher's momentum, 0.996 rising to 1 over the run (the reference's `ema`).
  teacher::Ema ema{.base = 0.996, .final = 1.0};
  /// Std of the predictor's truncated-normal initialisation (the reference's). The encoder keeps
  /// `vit::Encoder`'s (MAE's: the patch embedding initialised as a linear layer): with the
  /// reference's 0.02 on a 4 x 4 one-channel patch, the patch embeddings start ~6x smaller
  /// than the positions, the teacher's targets are nearly the same for every image, and the run
  /// collapsed within 50 steps (docs/08).
  double init_std = 0.02;
};

/// I-JEPA: the student is the ViT and a `heads::JepaPredictor`, the teacher a copy of the ViT
/// (with the parameter-free `heads::BlockTokens`), moved by `ema`. Sets the masker's `patch` (a
/// conflicting value is refused) and checks that its blocks fit the encoder's patch grid. The
/// predictor is initialised as the reference's (`heads::init_jepa_weights`), the encoder as MAE's
/// ViT. Throws when `o.encoder`'s image or channels is unset.
inline Recipe recipe(Options o) {
  vit::check_options(o.encoder, "ijepa::recipe");
  ssl::detail::derive(o.masker.patch, o.encoder.patch(), "ijepa::recipe", "Options::masker.patch", "the encoder's patch");
  o.masker.check(o.encoder.grid(), o.encoder.grid());
  auto backbone = vit::Encoder(o.encoder);  // initialised as MAE's ViT (see Options::init_std)
  auto predictor = heads::JepaPredictor(heads::JepaPredictorOptions(o.encoder)
                                            .dim(o.predictor_dim)
                                            .depth(o.predictor_depth)
                                            .heads(o.predictor_heads)
                                            .init_std(o.init_std));
  return Recipe({.backbone = backbone,
                 .masker = o.masker,
                 .target = target::Teacher<vit::Encoder, heads::BlockTokens>(backbone, heads::BlockTokens()),
                 .loss = o.loss,
                 .teacher_update = o.ema,
                 .head = predictor});
}

}  // namespace ssl::ijepa
