#pragma once
/// \file target/pixels.hpp
/// MAE's target: the pixels of every view, patchified, optionally normalised per patch
/// (`norm_pix`: zero mean, unit variance with the unbiased variance + 1e-6, as MAE).
#include <ssl/vit/encoder.hpp>
#include <ssl/core/types.hpp>

#include <vector>

namespace ssl::target {

/// Example: `target::Pixels({.patch = 4, .norm_pix = true})`.
struct Pixels {
  int64_t patch = 16;    ///< patch side in pixels (the encoder's)
  bool norm_pix = true;  ///< normalise each patch's pixels to mean 0, variance 1 (MAE's `norm_pix_loss`)

  /// Target of one `[B,C,H,W]` image batch: `[B, N, p*p*C]`.
  [[nodiscard]] torch::Tensor of(const torch::Tensor& x) const {
    auto t = vit::patchify(x, patch);
    if (norm_pix) {
      auto mean = t.mean(-1, /*keepdim=*/true);
      auto var = t.var(-1, /*unbiased=*/true, /*keepdim=*/true);
      t = (t - mean) / (var + 1e-6).sqrt();
    }
    return t;
  }

  /// Every student view's pixels, patchified (and normalised per patch with `norm_pix`).
  PixelPatches operator()(const Views& views, const Prediction&) const {
    PixelPatches out;
    for (const auto& v : views.all()) out.views.push_back(of(v));
    return out;
  }
};

}  // namespace ssl::target
