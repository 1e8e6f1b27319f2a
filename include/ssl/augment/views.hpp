#pragma once
/// \file augment/views.hpp
/// Augmenters of the joint-embedding methods: `TwoViews` (SimCLR, BYOL, Barlow Twins, VICReg,
/// MoCo v3, SimSiam) and `MultiCrop` (DINO). Each view is a `Pipeline` (random.hpp) run on the
/// whole batch on its device, every image with its own random parameters.
///
/// The presets follow the `lightly` package's transforms (lightly/transforms/*_transform.py,
/// v1.6), with the sizes scaled to the images': the crop side is the `size` given (required; e.g.
/// 28 for Fashion-MNIST, 224 for ImageNet), as is the images' channel count (1 or 3); the blur
/// kernel is 10% of the view's side (`GaussianBlur::kernel_for`: 3 at 28 px; lightly blurs with
/// PIL, untruncated), DINO's local crops keep its 96/224 ratio to the global side unless given
/// (12 at 28 px, 96 at 224 px). Crops are bilinear and antialiased (DINO's are bicubic), and no
/// normalisation is applied unless `mean`/`std` are set (the images are in [0,1] and the
/// recipes' encoders take them so; lightly normalises with ImageNet's statistics). On 1-channel
/// images, saturation, hue and grayscale do nothing and are left out of the pipelines.
#include <ssl/augment/random.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace ssl::augment {

/// One view's pipeline, with lightly's parameter names; the defaults are lightly's SimCLR view.
/// Order (lightly's): RandomResizedCrop -> RandomHorizontalFlip -> ColorJitter (with probability
/// `cj_prob`) -> RandomGrayscale -> GaussianBlur -> RandomSolarize (VICReg: solarize, then blur)
/// -> Normalize. `size` and `channels` describe the data and have no default (0 = unset:
/// `view_pipeline` refuses it).
struct ViewOptions {
  int64_t size = 0;                        ///< output side in pixels, required (lightly: input_size 224)
  std::array<double, 2> scale{0.08, 1.0};  ///< crop area fraction (lightly: min_scale, 1)
  double hf_prob = 0.5;                    ///< horizontal flip
  double cj_prob = 0.8;                    ///< colour jitter applied
  double cj_strength = 1.0;                ///< multiplies the four below
  double cj_bright = 0.8;                  ///< brightness jitter strength
  double cj_contrast = 0.8;                ///< contrast jitter strength
  double cj_sat = 0.8;                     ///< saturation jitter strength (RGB only)
  double cj_hue = 0.2;                     ///< hue jitter strength (RGB only)
  double gray_prob = 0.2;                  ///< random grayscale (RGB only)
  double blur_prob = 0.5;                  ///< Gaussian blur applied
  std::array<double, 2> sigmas{0.1, 2.0};  ///< blur sigma range, pixels
  int64_t blur_kernel = 0;                 ///< 0: 10% of the view's side (GaussianBlur::kernel_for)
  double solarize_prob = 0.0;              ///< solarization (threshold 0.5)
  bool solarize_before_blur = false;       ///< VICReg's order
  int64_t channels = 0;                    ///< of the images, required: 1 drops saturation, hue, grayscale; or 3
  std::vector<double> mean{};              ///< normalisation mean per channel (or one); empty: none
  std::vector<double> std{};               ///< normalisation std per channel (or one); empty: none
};

/// The pipeline of `o`; stages with probability or strength 0 are left out.
inline Pipeline view_pipeline(const ViewOptions& o) {
  TORCH_CHECK(o.size > 0, "view_pipeline: ViewOptions::size (the output side in pixels) is required, ",
              "e.g. {.size = 224, .channels = 3}, got ", o.size);
  TORCH_CHECK(o.channels == 1 || o.channels == 3, "view_pipeline: ViewOptions::channels (of the images) is required, ",
              "expected channels 1 or 3, got ", o.channels);
  detail::check_range(o.scale, 0.0, "view_pipeline", "ViewOptions::scale");  // when the views are made, not at the first batch
  TORCH_CHECK(o.scale[1] > 0.0, "view_pipeline: expected ViewOptions::scale hi > 0, got ", o.scale[1]);
  const bool rgb = o.channels == 3;
  const double s = o.cj_strength;
  Pipeline p{RandomResizedCrop{.size = o.size, .scale = o.scale}};
  if (o.hf_prob > 0) p.then(RandomHorizontalFlip{.p = o.hf_prob});
  if (o.cj_prob > 0 && s > 0)
    p.then(ColorJitter{.brightness = s * o.cj_bright, .contrast = s * o.cj_contrast,
                       .saturation = rgb ? s * o.cj_sat : 0.0, .hue = rgb ? s * o.cj_hue : 0.0, .p = o.cj_prob});
  if (rgb && o.gray_prob > 0) p.then(RandomGrayscale{.p = o.gray_prob});
  const bool blur = o.blur_prob > 0, solarize = o.solarize_prob > 0;
  const GaussianBlur b{.kernel_size = o.blur_kernel, .sigma = o.sigmas, .p = o.blur_prob};
  const RandomSolarize z{.threshold = 0.5, .p = o.solarize_prob};
  if (o.solarize_before_blur) {
    if (solarize) p.then(z);
    if (blur) p.then(b);
  } else {
    if (blur) p.then(b);
    if (solarize) p.then(z);
  }
  if (!o.mean.empty() || !o.std.empty()) p.then(Normalize{o.mean, o.std});
  return p;
}

/// Two independently augmented global views of the batch, each with its own pipeline:
/// `Views{.global = {first(x), second(x)}}`. An Augmenter (concepts.hpp).
struct TwoViews {
  Pipeline first{};   ///< the first view's pipeline
  Pipeline second{};  ///< the second view's pipeline
  int64_t channels = 0;  ///< the channel count the pipelines were made for (checked); 0: any

  /// Neither view has a stage (a default-constructed `TwoViews`: the recipes refuse it).
  [[nodiscard]] bool empty() const { return first.empty() && second.empty(); }

  /// `Views{.global = {first(x), second(x)}}` of the batch `x` `[B,C,H,W]`.
  Views operator()(const Tensor& x) const {
    detail::check_images(x, "TwoViews");
    TORCH_CHECK(channels == 0 || x.size(1) == channels, "TwoViews: the pipelines are made for ", channels,
                "-channel images, got a batch of shape ", ssl::detail::shape_str(x));
    Views v;
    v.global = {first(x), second(x)};
    return v;
  }

  /// Both views with the same options.
  static TwoViews symmetric(const ViewOptions& o) { return {view_pipeline(o), view_pipeline(o), o.channels}; }

  /// lightly's SimCLRTransform: crop scale (0.08, 1), flip 0.5, jitter p 0.8 with
  /// (0.8, 0.8, 0.8, 0.2) x strength 1, grayscale 0.2, blur 0.5 with sigma (0.1, 2), both views.
  /// (lightly recommends cj_strength 0.5 for small images such as CIFAR:
  /// `symmetric({.size = 32, .cj_strength = 0.5, .channels = 3})`.) `size`: the views' side in
  /// pixels; `channels`: the images' (1 or 3).
  static TwoViews simclr(int64_t size, int64_t channels) {
    return symmetric({.size = size, .channels = channels});
  }

  /// lightly's BYOLTransform (BYOLView1Transform / BYOLView2Transform): crop (0.08, 1), flip 0.5,
  /// jitter p 0.8 with (0.4, 0.4, 0.2, 0.1), grayscale 0.2, sigma (0.1, 2); asymmetric: blur 1.0
  /// and no solarization on the first view, blur 0.1 and solarization 0.2 on the second.
  static TwoViews byol(int64_t size, int64_t channels) {
    ViewOptions o{.size = size, .cj_bright = 0.4, .cj_contrast = 0.4, .cj_sat = 0.2, .cj_hue = 0.1,
                  .blur_prob = 1.0, .solarize_prob = 0.0, .channels = channels};
    Pipeline first = view_pipeline(o);
    o.blur_prob = 0.1;
    o.solarize_prob = 0.2;
    return {std::move(first), view_pipeline(o), channels};
  }

  /// Barlow Twins: BYOL's augmentations (the paper follows BYOL; lightly's example uses
  /// BYOLTransform).
  static TwoViews barlow_twins(int64_t size, int64_t channels) { return byol(size, channels); }

  /// MoCo v3: BYOL's augmentations (the paper follows BYOL's, asymmetric blur and solarization).
  static TwoViews mocov3(int64_t size, int64_t channels) { return byol(size, channels); }

  /// lightly's VICRegTransform: crop (0.08, 1), flip 0.5, jitter p 0.8 with (0.8, 0.8, 0.4, 0.2)
  /// x strength 0.5, grayscale 0.2, solarization 0.1 then blur 0.5 with sigma (0.1, 2), both views.
  static TwoViews vicreg(int64_t size, int64_t channels) {
    return symmetric({.size = size, .cj_strength = 0.5, .cj_sat = 0.4, .solarize_prob = 0.1,
                      .solarize_before_blur = true, .channels = channels});
  }

  /// lightly's SimSiamTransform: crop (0.2, 1), flip 0.5, jitter p 0.8 with (0.4, 0.4, 0.4, 0.1),
  /// grayscale 0.2, blur 0.5 with sigma (0.1, 2), both views.
  static TwoViews simsiam(int64_t size, int64_t channels) {
    return symmetric({.size = size, .scale = {0.2, 1.0}, .cj_bright = 0.4, .cj_contrast = 0.4, .cj_sat = 0.4,
                      .cj_hue = 0.1, .channels = channels});
  }
};

/// DINO's multi-crop, lightly's DINOTransform scaled to the images' size. `global_size` and
/// `channels` describe the data and have no default (0 = unset: `MultiCrop::dino` refuses it).
/// Example (28 x 28 grayscale images): `{.global_size = 28, .channels = 1}` (local crops 12 px).
struct MultiCropOptions {
  int64_t global_size = 0;                        ///< required (lightly: 224)
  int64_t local_size = 0;                         ///< 0: 96/224 of the global side, rounded (lightly: 96)
  int64_t n_local = 6;                            ///< lightly: 6
  std::array<double, 2> global_scale{0.4, 1.0};   ///< lightly: (0.4, 1)
  std::array<double, 2> local_scale{0.05, 0.4};   ///< lightly: (0.05, 0.4)
  int64_t channels = 0;                           ///< of the images, required: 1 or 3
  std::vector<double> mean{};                     ///< normalisation mean per channel (or one); empty: none
  std::vector<double> std{};                      ///< normalisation std per channel (or one); empty: none

  /// The local crops' side: `local_size`, or 96/224 of `global_size` when 0 (12 at 28 px).
  [[nodiscard]] int64_t local_side() const {
    return local_size > 0 ? local_size : std::max<int64_t>(1, std::llround(double(global_size) * 96.0 / 224.0));
  }
};

/// Two global crops and `n_local` local crops of the batch:
/// `Views{.global = {g0, g1}, .local = {l_1, ..., l_n}}` (the student sees all, the teacher the
/// globals). An Augmenter (concepts.hpp). Built from `MultiCropOptions` as lightly's
/// DINOTransform: every view flips (0.5), jitters with p 0.8 and (0.8, 0.8, 0.4, 0.2) x 0.5,
/// grays (0.2) and blurs with sigma (0.1, 2); blur p 1.0 on g0, 0.1 on g1, 0.5 on the locals;
/// solarization 0.2 on g1 only.
struct MultiCrop {
  Pipeline global0{};    ///< the first global view's pipeline
  Pipeline global1{};    ///< the second global view's pipeline
  Pipeline local{};      ///< every local view's pipeline
  int64_t n_local = 0;   ///< local views per image
  int64_t channels = 0;  ///< the channel count the pipelines were made for (checked); 0: any

  /// No stage in any view (a default-constructed `MultiCrop`: the recipes refuse it).
  [[nodiscard]] bool empty() const { return global0.empty() && global1.empty() && local.empty(); }

  /// DINO's views from `o`.
  static MultiCrop dino(const MultiCropOptions& o) {
    TORCH_CHECK(o.global_size > 0, "MultiCrop::dino: MultiCropOptions::global_size (the global crops' side in pixels) ",
                "is required, e.g. {.global_size = 224, .channels = 3}, got ", o.global_size);
    TORCH_CHECK(o.channels == 1 || o.channels == 3, "MultiCrop::dino: MultiCropOptions::channels (of the images) ",
                "is required, expected 1 or 3, got ", o.channels);
    TORCH_CHECK(o.n_local >= 0, "MultiCrop::dino: expected n_local >= 0, got ", o.n_local);
    ViewOptions v{.size = o.global_size, .scale = o.global_scale, .cj_strength = 0.5, .cj_sat = 0.4,
                  .blur_prob = 1.0, .channels = o.channels, .mean = o.mean, .std = o.std};
    MultiCrop m{.global0 = view_pipeline(v), .n_local = o.n_local, .channels = o.channels};
    v.blur_prob = 0.1;
    v.solarize_prob = 0.2;
    m.global1 = view_pipeline(v);
    v.size = o.local_side();
    v.scale = o.local_scale;
    v.blur_prob = 0.5;
    v.solarize_prob = 0.0;
    m.local = view_pipeline(v);
    return m;
  }

  /// The two global views and `n_local` local views of the batch `x` `[B,C,H,W]`.
  Views operator()(const Tensor& x) const {
    detail::check_images(x, "MultiCrop");
    TORCH_CHECK(channels == 0 || x.size(1) == channels, "MultiCrop: the pipelines are made for ", channels,
                "-channel images, got a batch of shape ", ssl::detail::shape_str(x));
    Views v{.global = {global0(x), global1(x)}, .batch_same_size = true};
    // The local crops in one call of their pipeline on n_local copies of every image (each copy
    // draws its own parameters): fewer, larger operations. The copies of an image are adjacent
    // rows, so a batch split over processes draws the same crops as on one (dist::rand).
    if (n_local == 1) v.local = {local(x)};
    if (n_local > 1) {
      const auto all = local(x.repeat_interleave(n_local, 0));
      const auto per_image = all.reshape({x.size(0), n_local, all.size(1), all.size(2), all.size(3)});
      for (int64_t i = 0; i < n_local; ++i) v.local.push_back(per_image.select(1, i).contiguous());
    }
    return v;
  }
};

/// A recipe's check that its views were given (the views depend on the user's images, so no
/// recipe has a default): `who` is the recipe, `example` a preset that would do.
template <class V>
void require_views(const V& views, const char* who, const char* example) {
  TORCH_CHECK(!views.empty(), who, ": Options::augment is required (the views of your images), e.g. ", example);
}

}  // namespace ssl::augment
