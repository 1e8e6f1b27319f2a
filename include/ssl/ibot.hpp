#pragma once
/// \file ibot.hpp
/// iBOT: Image BERT Pre-Training with Online Tokenizer (Zhou et al., 2022), the self-distillation
/// half of DINOv2.
///
/// DINO's multi-crop self-distillation plus masked prediction with the teacher as the
/// tokenizer: the EMA teacher sees the whole global crops; the student sees the global crops
/// with blocks of patches hidden (a learned mask embedding in their place) and the local crops
/// whole. Loss = DINO's cross-entropy on the CLS outputs across crops + a patch-level
/// cross-entropy at the hidden patches of each global crop, the teacher's patch distribution
/// (centred, sharpened) as the target — "an online tokenizer". One DINO head for CLS and
/// patches (the paper's default) or two.
#include <ssl/augment/views.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/dino.hpp>
#include <ssl/heads/patch_heads.hpp>
#include <ssl/loss/ibot.hpp>
#include <ssl/masker/blockwise.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::ibot {

/// iBOT's parts: a ViT with a mask token, blockwise masking of the global crops, multi-crop
/// views, the momentum teacher's CLS and hidden-patch outputs as targets, the DINO + patch loss,
/// an EMA update, DINO heads on the CLS and patch tokens.
using Recipe = Compose<vit::Encoder, masker::Blockwise, augment::MultiCrop, target::Teacher<vit::Encoder, heads::IBOTHead>,
                       loss::IBOTLoss, teacher::Ema, heads::IBOTHead>;

/// `encoder` has the default architecture (patch 4, 64-d, 4 blocks of 4 heads, learned positions)
/// but no image size or channel count, and there is no default `augment`: set them for your data
/// (the recipe refuses them unset). Example (28 x 28 grayscale images):
/// `ibot::Options o; o.encoder.image(28).channels(1);
///  o.augment = augment::MultiCrop::dino({.global_size = 28, .channels = 1}); ibot::recipe(o)`.
struct Options {
  vit::Options encoder = vit::Options{}.patch(4).dim(64).depth(4).heads(4).learned_pos(true);  ///< image, channels: required
  augment::MultiCrop augment{};  ///< required: e.g. `augment::MultiCrop::dino({.global_size = image, .channels = c})`
  heads::DINOHeadOptions head = heads::DINOHeadOptions().hidden_dim(512).bottleneck_dim(128).output_dim(1024);  ///< `input_dim`: the encoder's
  /// One DINO head for the CLS and the patch tokens (the paper's default); false: a second head,
  /// of the same options, for the patches.
  bool shared_head = true;
  loss::DINOLossOptions loss = loss::DINOLossOptions().warmup_teacher_temp_epochs(0);  ///< `out_dim`: the head's
  /// Weight of the patch (masked-image-modelling) term; the CLS term's is 1.
  double lambda_patch = 1.0;
  /// DINOv2's masking: half of the global crops, each at a ratio in [0.1, 0.5], in blocks;
  /// local crops whole (`global_only`). `patch`: the encoder's (leave unset).
  masker::Blockwise masker{.ratio = {0.1, 0.5}, .prob = 0.5, .min_patches = 4, .global_only = true};
  /// The teacher's momentum, 0.996 rising to 1 on a cosine over the run.
  teacher::Ema ema{.base = 0.996, .final = 1.0};
};

/// iBOT: the student is the ViT and a `heads::IBOTHead`; the teacher a copy of both, moved by
/// `ema`. Sets the encoder's `mask_token`, the masker's `patch`, `head.input_dim` and
/// `loss.out_dim` (a conflicting value set by the caller is refused). Throws when `o.encoder`'s
/// image or channels or `o.augment` is unset.
inline Recipe recipe(Options o) {
  vit::check_options(o.encoder, "ibot::recipe");
  augment::require_views(o.augment, "ibot::recipe",
                         "augment::MultiCrop::dino({.global_size = image_size, .channels = channels})");
  ssl::detail::derive(o.encoder.mask_token(), true, "ibot::recipe", "Options::encoder.mask_token",
                      "the method (the student's hidden patches are a learned mask token)");
  ssl::detail::derive(o.masker.patch, o.encoder.patch(), "ibot::recipe", "Options::masker.patch", "the encoder's patch");
  ssl::detail::derive(o.head.input_dim(), o.encoder.dim(), "ibot::recipe", "Options::head.input_dim", "the encoder");
  ssl::detail::derive(o.loss.out_dim(), o.head.output_dim(), "ibot::recipe", "Options::loss.out_dim",
                      "Options::head.output_dim");
  auto backbone = vit::Encoder(o.encoder);
  auto head = heads::IBOTHead(o.head, o.shared_head);
  return Recipe({.backbone = backbone,
                 .masker = o.masker,
                 .augment = o.augment,
                 .target = target::Teacher<vit::Encoder, heads::IBOTHead>(backbone, head),
                 .loss = loss::IBOTLoss(loss::IBOTLossOptions(o.loss, head->patch_out_dim()).lambda_patch(o.lambda_patch)),
                 .teacher_update = o.ema,
                 .head = head});
}

/// The teacher's last-block CLS attention of each head, `[B, heads, grid, grid]` (DINO's pictures).
using dino::attention_maps;

}  // namespace ssl::ibot
