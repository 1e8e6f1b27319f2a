#pragma once
/// \file masker/random_patches.hpp
/// MAE's random patch masking: per-sample uniform noise, argsort, keep the first
/// `int(N * (1 - ratio))` patches. Every sample hides the same number of patches.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <tuple>

namespace ssl::masker {

namespace detail {
/// MAE's `random_masking` on a `[R, N]` noise: each row keeps the `keep` positions of lowest
/// noise. Returns `{mask [R,N] bool (true = hidden), ids_keep [R,keep] (in the noise's order),
/// ids_restore [R,N]}` (the inverse of `[kept..., hidden...]`). Shared by RandomPatches and RandomTokens.
inline std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> keep_lowest(const torch::Tensor& noise, int64_t keep) {
  auto ids_shuffle = noise.argsort(int64_t{1}, /*descending=*/false);
  auto ids_restore = ids_shuffle.argsort(int64_t{1}, /*descending=*/false);
  // mask in shuffled order is [0]*keep + [1]*(n-keep); unshuffle it.
  auto shuffled = torch::ones(noise.sizes(), noise.options().dtype(torch::kBool));
  shuffled.narrow(1, 0, keep).fill_(false);
  return {shuffled.gather(1, ids_restore), ids_shuffle.narrow(1, 0, keep), ids_restore};
}
}  // namespace detail

/// Example: `masker::RandomPatches({.patch = 4, .ratio = 0.75})`.
struct RandomPatches {
  int64_t patch = 16;  ///< patch side in pixels (the encoder's; must divide the image sides)
  double ratio = 0.75;  ///< fraction of the patches hidden, in (0, 1)

  /// Number of patches of an `[B,C,H,W]` batch.
  [[nodiscard]] int64_t num_patches(const torch::Tensor& x) const {
    ssl::detail::check_dim(x, 4, "masker::RandomPatches", "[B,C,H,W]");
    TORCH_CHECK(patch > 0 && x.size(2) % patch == 0 && x.size(3) % patch == 0,
                "masker::RandomPatches: image ", x.size(2), "x", x.size(3),
                " is not divisible by the patch size ", patch);
    return (x.size(2) / patch) * (x.size(3) / patch);
  }

  /// Draws the noise on the batch's device from its default generator.
  Masked operator()(const torch::Tensor& x) const {
    auto n = num_patches(x);
    return with_noise(x, dist::rand({x.size(0), n}, x.options().dtype(torch::kFloat32)));
  }

  /// The masking for a given `[B,N]` noise (smallest noise = kept), as in the reference
  /// implementations; exposed so that tests can replay the reference's noise.
  Masked with_noise(const torch::Tensor& x, const torch::Tensor& noise) const {
    TORCH_CHECK(ratio > 0.0 && ratio < 1.0, "masker::RandomPatches: ratio must be in (0,1), got ",
                ratio);
    const auto n = num_patches(x);
    TORCH_CHECK(noise.dim() == 2 && noise.size(0) == x.size(0) && noise.size(1) == n,
                "masker::RandomPatches: expected noise of shape [", x.size(0), ", ", n,
                "], got ", ssl::detail::shape_str(noise));
    const auto keep = static_cast<int64_t>(double(n) * (1.0 - ratio));
    TORCH_CHECK(keep >= 1, "masker::RandomPatches: ratio ", ratio, " keeps no patch out of ", n);
    auto [mask, ids_keep, ids_restore] = detail::keep_lowest(noise, keep);
    return {x, mask, ids_keep, ids_restore};
  }
};

}  // namespace ssl::masker
