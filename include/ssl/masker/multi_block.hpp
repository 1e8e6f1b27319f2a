#pragma once
/// \file masker/multi_block.hpp
/// I-JEPA's multi-block masking (Assran et al., 2023; the official `src/masks/multiblock.py`):
/// on the patch grid of each image, `targets` target blocks (scale `target_scale` of the grid,
/// aspect ratio in `aspect`) are hidden, and one context block (scale `context_scale`, square),
/// less every target block, is what the encoder sees.
///
/// The rules of the reference sampler, kept here draw for draw:
/// - Per batch, one target size and one context size, from a generator seeded with the step
///   (the reference's collator counter): a single `u ~ U(0, 1)` gives both the scale
///   `lo + u (hi - lo)` and the aspect ratio; `area = int(rows * cols * scale)`,
///   `h = round(sqrt(area * aspect))`, `w = round(sqrt(area / aspect))` (ties to even, as
///   Python), each then reduced below the grid's side.
/// - Per image, from the default CPU generator: each target block's top-left corner uniform in
///   `[0, rows - h) x [0, cols - w)`; then the context block's corner the same way, the block
///   restricted to the patches outside the target blocks, redrawn until it keeps more than
///   `min_keep` patches; after 20 failed draws the last target block's restriction is dropped
///   (then the one before, ...). A target block too must hold more than `min_keep` patches.
/// - Every image of the batch keeps the same number of context patches and of patches per
///   target block: the smallest in the batch, the first ones in row-major order.
///
/// What it gives (`Masked`): `ids_keep` `[B, K]` the context patches (the encoder sees these,
/// row-major), `blocks` `[B, G, M]` the patches of each of the G target blocks, and `mask`
/// `[B, N]` their union. `set_step` (ssl::StepAware) gives the step that seeds the sizes, so a
/// resumed run draws the same sizes; the corners come from the default CPU generator, which
/// checkpoints carry. Masks are made on the CPU and moved to the batch's device. In a
/// data-parallel run every process draws the masks of the global batch and keeps its own rows.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace ssl::masker {

/// Example: `masker::MultiBlock{.patch = 4, .min_keep = 4}` (I-JEPA's defaults otherwise).
struct MultiBlock {
  /// Learns the step (ssl::StepAware): it seeds the batch's block sizes.
  static constexpr unsigned hooks = hook::step;
  std::optional<int64_t> patch;                  ///< the encoder's patch size (required; recipes set it)
  int64_t targets = 4;                           ///< target blocks per image (`num_pred_masks`)
  std::array<double, 2> target_scale{0.15, 0.2}; ///< target block area / grid area (`pred_mask_scale`)
  std::array<double, 2> context_scale{0.85, 1.0};///< context block area / grid area (`enc_mask_scale`)
  std::array<double, 2> aspect{0.75, 1.5};       ///< target blocks' height / width (`aspect_ratio`)
  int64_t min_keep = 10;                         ///< a block must keep more patches than this
  bool allow_overlap = false;                    ///< let the context block cover the target blocks
  int64_t step = 0;                              ///< the current step (set by `set_step`)

  /// The step seeds the block sizes of the next batch (the reference's collator counter).
  void set_step(const StepInfo& info) { step = info.step; }

  /// The patch grid `{rows, cols}` of an `[B,C,H,W]` batch.
  [[nodiscard]] std::array<int64_t, 2> grid_of(const torch::Tensor& x) const {
    return ssl::detail::patch_grid(x, patch, "masker::MultiBlock");
  }

  /// The block `{h, w}` that the draw `u` in [0, 1) gives on a `rows x cols` grid for a scale
  /// range and an aspect-ratio range (the reference's `_sample_block_size`).
  [[nodiscard]] static std::array<int64_t, 2> block_size(double u, int64_t rows, int64_t cols,
                                                         const std::array<double, 2>& scale,
                                                         const std::array<double, 2>& ratio) {
    const double s = scale[0] + u * (scale[1] - scale[0]);
    const auto area = static_cast<int64_t>(double(rows * cols) * s);
    const double ar = ratio[0] + u * (ratio[1] - ratio[0]);
    auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(double(area) * ar)));  // ties to even, as Python's round
    auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(double(area) / ar)));
    while (h >= rows) --h;
    while (w >= cols) --w;
    return {h, w};
  }

  /// Refuses options whose blocks could never be placed on a `rows x cols` grid (which would
  /// make the reference's sampler loop for ever): every size the scale and aspect ranges can
  /// give must hold more than `min_keep` patches.
  void check(int64_t rows, int64_t cols) const {
    auto in_unit = [](const std::array<double, 2>& r) { return r[0] > 0 && r[0] <= r[1] && r[1] <= 1; };
    TORCH_CHECK(targets >= 1, "masker::MultiBlock: targets (target blocks per image) must be >= 1, got ", targets);
    TORCH_CHECK(min_keep >= 0, "masker::MultiBlock: min_keep must be >= 0, got ", min_keep);
    TORCH_CHECK(in_unit(target_scale) && in_unit(context_scale), "masker::MultiBlock: target_scale and context_scale ",
                "must be ranges lo <= hi in (0, 1], got [", target_scale[0], ", ", target_scale[1], "] and [",
                context_scale[0], ", ", context_scale[1], "]");
    TORCH_CHECK(aspect[0] > 0 && aspect[0] <= aspect[1], "masker::MultiBlock: aspect must be a range 0 < lo <= hi, got [",
                aspect[0], ", ", aspect[1], "]");
    TORCH_CHECK(rows >= 2 && cols >= 2, "masker::MultiBlock: the patch grid must be at least 2 x 2, got ", rows, " x ", cols);
    for (int i = 0; i <= 1000; ++i) {
      const double u = std::min(i / 1000.0, 1.0 - 1e-9);
      for (auto [name, hw] : {std::pair{"target", block_size(u, rows, cols, target_scale, aspect)},
                              std::pair{"context", block_size(u, rows, cols, context_scale, {1.0, 1.0})}})
        TORCH_CHECK(hw[0] * hw[1] > min_keep, "masker::MultiBlock: on a ", rows, " x ", cols, " patch grid a ", name,
                    " block can be ", hw[0], " x ", hw[1], " patches, not more than min_keep = ", min_keep,
                    ": lower min_keep or raise the ", name, " scale");
    }
  }

  /// Masks every image of `x` (`[B,C,H,W]`): see the file comment.
  Masked operator()(const torch::Tensor& x) const {
    const auto [rows, cols] = grid_of(x);
    check(rows, cols);
    auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(step));
    auto draw = [&] { return torch::rand({1}, g).item<float>(); };
    const auto target_hw = block_size(draw(), rows, cols, target_scale, aspect);
    const auto context_hw = block_size(draw(), rows, cols, context_scale, {1.0, 1.0});
    for (const auto& hw : {target_hw, context_hw})  // check() scans the sizes; this guards the ones drawn
      TORCH_CHECK(hw[0] * hw[1] > min_keep, "masker::MultiBlock: drew a ", hw[0], " x ", hw[1], " block on a ", rows,
                  " x ", cols, " patch grid, not more than min_keep = ", min_keep, " patches");

    // Data-parallel: every process draws the global batch's masks and keeps its rows (dist::rand's
    // rule, as masker::Blockwise), so the context and block sizes agree across processes.
    const int64_t world = dist::world_size(), B = x.size(0) * world, N = rows * cols;
    std::vector<std::vector<torch::Tensor>> target_idx(static_cast<size_t>(B));
    std::vector<torch::Tensor> context_idx(static_cast<size_t>(B));
    int64_t keep_target = N, keep_context = N;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<torch::Tensor> outside;  // per target block: 1 outside it, 0 inside
      for (int64_t t = 0; t < targets; ++t) {
        auto [idx, complement] = place(target_hw, rows, cols, {});
        keep_target = std::min(keep_target, idx.size(0));
        target_idx[size_t(b)].push_back(idx);
        outside.push_back(complement);
      }
      auto idx = place(context_hw, rows, cols, allow_overlap ? std::vector<torch::Tensor>{} : outside).first;
      keep_context = std::min(keep_context, idx.size(0));
      context_idx[size_t(b)] = idx;
    }
    std::vector<torch::Tensor> ctx, blk;
    for (int64_t b = 0; b < B; ++b) {
      ctx.push_back(context_idx[size_t(b)].narrow(0, 0, keep_context));
      std::vector<torch::Tensor> per;
      for (const auto& t : target_idx[size_t(b)]) per.push_back(t.narrow(0, 0, keep_target));
      blk.push_back(torch::stack(per));
    }
    auto ids_keep = torch::stack(ctx), blocks = torch::stack(blk);
    if (world > 1) {
      ids_keep = ids_keep.narrow(0, dist::rank() * x.size(0), x.size(0));
      blocks = blocks.narrow(0, dist::rank() * x.size(0), x.size(0));
    }
    auto mask = torch::zeros({x.size(0), N}, torch::kBool);
    mask.scatter_(1, blocks.reshape({x.size(0), -1}), true);
    const auto dev = x.device();
    return Masked{.input = x, .mask = mask.to(dev), .ids_keep = ids_keep.to(dev), .blocks = blocks.to(dev)};
  }

 private:
  /// One block of size `hw` at a random corner (the default generator), restricted to
  /// `allowed` (each `[rows, cols]` int32, 1 = allowed; the last ones dropped after 20 failed
  /// draws each): its patches (row-major int64) and the unrestricted block's complement.
  [[nodiscard]] std::pair<torch::Tensor, torch::Tensor> place(const std::array<int64_t, 2>& hw, int64_t rows,
                                                              int64_t cols, const std::vector<torch::Tensor>& allowed) const {
    const auto [h, w] = hw;
    int64_t tries = 0, timeout = 20;
    while (true) {
      const auto top = torch::randint(0, rows - h, {1}).item<int64_t>();
      const auto left = torch::randint(0, cols - w, {1}).item<int64_t>();
      auto m = torch::zeros({rows, cols}, torch::kInt32);
      m.narrow(0, top, h).narrow(1, left, w).fill_(1);
      const auto n = std::max<int64_t>(int64_t(allowed.size()) - tries, 0);
      for (int64_t k = 0; k < n; ++k) m.mul_(allowed[size_t(k)]);
      auto idx = m.flatten().nonzero().flatten();
      if (idx.size(0) > min_keep) {
        auto complement = torch::ones({rows, cols}, torch::kInt32);
        complement.narrow(0, top, h).narrow(1, left, w).fill_(0);
        return {idx, complement};
      }
      if (--timeout == 0) ++tries, timeout = 20;
    }
  }
};

}  // namespace ssl::masker
