#pragma once
/// \file dino.hpp
/// Emerging Properties in Self-Supervised Vision Transformers — DINO (Caron et al., 2021).
///
/// Multi-crop: two global crops and several small local crops of every image. The student
/// (encoder + DINO head) sees every crop; the teacher, an exponential moving average of the
/// student (momentum 0.996 -> 1 on a cosine), sees only the global crops. The teacher's output
/// is centred (a running mean of its outputs) and sharpened (low temperature, warmed up over
/// the first epochs) into a distribution that each student crop's softmax must match
/// (cross-entropy over every student-crop / teacher-crop pair but a crop with itself).
/// Centring and sharpening together are what keep the two networks from collapsing.
#include <ssl/augment/views.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/dino_head.hpp>
#include <ssl/loss/dino.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/teacher/ema.hpp>
#include <ssl/train/trainer.hpp>

namespace ssl::dino {

/// DINO's parts: any backbone, no masking, multi-crop views, the momentum teacher's outputs of
/// the global crops as targets, the centred cross-entropy, an EMA update, the DINO head.
template <Backbone B>
using Recipe = Compose<B, masker::None, augment::MultiCrop, target::Teacher<B, heads::DINOHead>, loss::DINOLoss,
                       teacher::Ema, heads::DINOHead>;

/// `augment` has no default: the crops depend on the images (size, channels). Example (28 x 28
/// grayscale images): `dino::Options o; o.augment = augment::MultiCrop::dino({.global_size = 28, .channels = 1});`.
struct Options {
  augment::MultiCrop augment{};  ///< required: e.g. `augment::MultiCrop::dino({.global_size = image, .channels = c})`
  heads::DINOHeadOptions head{};  ///< `input_dim`: the backbone's width (leave unset)
  loss::DINOLossOptions loss{};   ///< `out_dim`: the head's `output_dim` (leave unset)
  /// The teacher's momentum, 0.996 rising to 1 on a cosine over the run (the paper's).
  teacher::Ema ema{.base = 0.996, .final = 1.0};
};

/// DINO on `backbone`: the student is the backbone and a `heads::DINOHead`; the teacher a copy of
/// both, moved by `ema`. Sets `head.input_dim` and `loss.out_dim` (a conflicting value set by
/// the caller is refused). Throws when `o.augment` is unset.
template <Backbone B>
Recipe<B> recipe(B backbone, Options o) {
  augment::require_views(o.augment, "dino::recipe",
                         "augment::MultiCrop::dino({.global_size = image_size, .channels = channels})");
  ssl::detail::derive(o.head.input_dim(), backbone->dim(), "dino::recipe", "Options::head.input_dim", "the backbone");
  ssl::detail::derive(o.loss.out_dim(), o.head.output_dim(), "dino::recipe", "Options::loss.out_dim",
                      "Options::head.output_dim");
  auto head = heads::DINOHead(o.head);
  return Recipe<B>({.backbone = backbone,
                    .augment = o.augment,
                    .target = target::Teacher<B, heads::DINOHead>(backbone, head),
                    .loss = loss::DINOLoss(o.loss),
                    .teacher_update = o.ema,
                    .head = head});
}

/// DINO's attention maps: the last block's attention of the CLS token to every patch, one map
/// per head, `[B, heads, grid, grid]`, from the *teacher* (as the paper's figures) of a ViT
/// recipe, on images `x` in the model's input space.
template <class R>
  requires requires(R r, const torch::Tensor& x) { r->target()->backbone->last_attention(x); }
torch::Tensor attention_maps(R& recipe, const torch::Tensor& x) {
  torch::NoGradGuard g;
  auto& enc = recipe->target()->backbone;
  const bool was_training = enc->is_training();
  enc->eval();
  auto a = enc->last_attention(x);  // [B, H, 1+N, 1+N]
  enc->train(was_training);
  const auto grid = x.size(2) / enc->options.patch();
  return a.select(2, 0).narrow(2, 1, grid * grid).reshape({x.size(0), a.size(1), grid, grid});
}

}  // namespace ssl::dino
