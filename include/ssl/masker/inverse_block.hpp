#pragma once
/// \file masker/inverse_block.hpp
/// data2vec 2.0's image masking (Baevski et al., 2022; fairseq's `compute_block_mask_2d` with
/// `inverse_mask`, as its image config uses it), and its multiple masks per image.
///
/// "Inverse block masking": blocks of `block x block` patches are what the student *sees*, the
/// rest is hidden. On each image's `g x g` patch grid:
/// - `int(L (1 - ratio + adjust) / block^2)` block centres are drawn uniformly (with
///   repetition; L = g^2), and the `block x block` square around each centre is kept (clamped
///   at the grid's border, so edge blocks are smaller);
/// - then every image keeps exactly `int(L (1 - ratio))` patches (the reference's
///   `require_same_masks`): kept patches are dropped at random, or hidden ones added at random,
///   uniformly (the reference's `torch.multinomial` without replacement over equal weights);
/// - everything else is hidden: `mask` is true there.
/// `ratio` 0.8, `block` 3 and `adjust` 0.07 are the reference's ImageNet values; on the 7 x 7
/// grid of a 28-pixel image with patch 4 it keeps 9 of 49 patches, one 3 x 3 block.
///
/// `clones` masks per image (the reference's `clone_batch`, 16 for images): the batch is
/// repeated, each image `clones` times in a row (`repeat_interleave`), and each copy gets its
/// own mask. The student then encodes `B x clones` views while the teacher encodes the `B`
/// images once: `heads::LayerAverage` repeats its targets the same way (heads/data2vec.hpp).
///
/// What it gives (`Masked`): `input` the repeated batch `[B*clones, C, H, W]`; `mask`
/// `[B*clones, L]`; `ids_keep` `[B*clones, K]` the kept patches in row-major order, then
/// `ids_restore` the inverse of `[kept..., hidden...]` (the reference's `make_maskinfo`).
/// Random numbers come from the batch device's default generator (`dist::rand`: in a
/// data-parallel run, each process's rows of the global batch's draw).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace ssl::masker {

/// Example: `masker::InverseBlock{.patch = 4, .clones = 4}` (see the file comment).
struct InverseBlock {
  std::optional<int64_t> patch;  ///< the encoder's patch side in pixels (data2vec2::recipe sets it)
  double ratio = 0.8;            ///< fraction of the patches hidden (`mask_prob`)
  int64_t block = 3;             ///< side of a kept block, in patches (`mask_length`, > 1)
  double adjust = 0.07;          ///< extra kept fraction used to place the blocks (`mask_prob_adjust`)
  int64_t clones = 1;            ///< masks per image (`clone_batch`)

  /// Patches kept per image on a grid of `L` patches: `int(L (1 - ratio))`.
  [[nodiscard]] int64_t kept(int64_t L) const { return static_cast<int64_t>(double(L) * (1.0 - ratio)); }

  /// Refuses options it cannot use on a `g x g` grid, naming them (before any drawing).
  void check(int64_t g) const {
    TORCH_CHECK(ratio > 0.0 && ratio < 1.0, "masker::InverseBlock: ratio (the fraction hidden) must be in (0, 1), got ", ratio);
    TORCH_CHECK(block > 1 && block <= g, "masker::InverseBlock: block (the kept block's side, in patches) must be in [2, ", g,
                "] on a ", g, " x ", g, " grid, got ", block);
    TORCH_CHECK(adjust >= 0.0 && adjust < 1.0, "masker::InverseBlock: adjust must be in [0, 1), got ", adjust);
    TORCH_CHECK(clones >= 1, "masker::InverseBlock: clones (masks per image) must be >= 1, got ", clones);
    const auto k = kept(g * g);
    TORCH_CHECK(k >= 1 && k < g * g, "masker::InverseBlock: ratio ", ratio, " keeps ", k, " of the ", g * g,
                " patches of a ", g, " x ", g, " grid; it must keep at least one and hide at least one");
  }

  /// The side g of the square patch grid of the `[B,C,H,W]` batch `x`, the options checked on it.
  [[nodiscard]] int64_t grid_of(const torch::Tensor& x) const {
    const auto [gh, gw] = ssl::detail::patch_grid(x, patch, "masker::InverseBlock");
    TORCH_CHECK(gh == gw, "masker::InverseBlock: expected a square patch grid, got ", gh, " x ", gw);
    check(gh);
    return gh;
  }

  /// The masks of the `[B,C,H,W]` batch `x` (square grids), drawn here.
  Masked operator()(const torch::Tensor& x) const {
    const int64_t g = grid_of(x), R = x.size(0) * clones, L = g * g;
    const auto centres = static_cast<int64_t>(double(L) * ((1.0 - ratio + adjust) / double(block * block)));
    const auto f = x.options().dtype(torch::kFloat32);
    return with_draws(x, dist::rand({R, centres}, f), dist::rand({R, L}, f));
  }

  /// The masks for given draws (exposed so that tests can replay them): `centres` `[B*clones, C]`
  /// uniform in [0, 1) (centre = floor(u L)), `order` `[B*clones, L]` uniform in [0, 1): to keep
  /// exactly `kept(L)`, the block patches with the largest draws stay, or the hidden patches
  /// with the largest draws are added.
  Masked with_draws(const torch::Tensor& x, const torch::Tensor& centres, const torch::Tensor& order) const {
    const int64_t g = grid_of(x), R = x.size(0) * clones, L = g * g, K = kept(L);
    TORCH_CHECK(centres.dim() == 2 && centres.size(0) == R && order.dim() == 2 && order.size(0) == R && order.size(1) == L,
                "masker::InverseBlock: expected draws [", R, ", C] and [", R, ", ", L, "], got ", ssl::detail::shape_str(centres),
                " and ", ssl::detail::shape_str(order));
    auto c = (centres.to(torch::kFloat64) * double(L)).floor().to(torch::kInt64).clamp(0, L - 1);
    auto rows = c.div(g, "floor"), cols = c.remainder(g);
    auto keep = torch::zeros({R, L}, x.options().dtype(torch::kFloat32));
    const int64_t off = block / 2;
    for (int64_t i = 0; i < block; ++i)
      for (int64_t j = 0; j < block; ++j) {
        auto idx = (rows + (i - off)).clamp(0, g - 1) * g + (cols + (j - off)).clamp(0, g - 1);
        keep.scatter_(1, idx, 1.0f);
      }
    // Exactly K kept: the kept patches first (score >= 1), each group in the order of `order`.
    auto score = keep + order.to(keep.dtype()) * 0.5f;
    auto top = score.topk(K, 1, /*largest=*/true, /*sorted=*/false);
    auto kept_mask = torch::zeros({R, L}, x.options().dtype(torch::kBool)).scatter_(1, std::get<1>(top), true);
    auto mask = kept_mask.logical_not();
    // Kept patches first, each part row-major (a stable sort of the mask); ids_restore inverts it.
    auto ids_shuffle = std::get<1>(mask.to(torch::kUInt8).sort(/*stable=*/true, 1, /*descending=*/false));
    auto ids_restore = ids_shuffle.argsort(int64_t{1}, /*descending=*/false);
    Masked out;
    out.input = clones > 1 ? x.repeat_interleave(clones, 0) : x;
    out.mask = mask;
    out.ids_keep = ids_shuffle.narrow(1, 0, K).contiguous();
    out.ids_restore = ids_restore;
    return out;
  }
};

}  // namespace ssl::masker
