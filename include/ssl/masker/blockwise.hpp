#pragma once
/// \file masker/blockwise.hpp
/// BEiT's blockwise masking (Bao et al., 2021, Algorithm 1), also iBOT's and DINOv2's: on the
/// `grid x grid` patch grid of each image, repeatedly place a rectangular block of random area
/// (at least `min_patches`) and log-uniform aspect ratio in `[min_aspect, 1 / min_aspect]`
/// until the image's target number of patches `round(ratio * N)` is hidden. A block is accepted
/// only if it hides at least one new patch and no more than the patches still to hide (so an
/// image never exceeds its target); after ten rejected tries in a row the image keeps what it
/// has (the reference's give-up rule, rare at these sizes).
///
/// - BEiT: one ratio for every image (`ratio = {0.4, 0.4}`, `prob = 1`).
/// - iBOT / DINOv2: each image is masked with probability `prob` (0.5), at a ratio drawn
///   uniformly from `ratio` ({0.1, 0.5}); the others are left whole.
/// - `global_only`: in a multi-crop recipe only the global views are masked (iBOT's students
///   see masked global crops and whole local crops); `Compose` says which view is which.
///
/// The mask is `Masked::mask` `[B, N]` bool (true = hidden), row-major over the patch grid;
/// `ids_keep` stays undefined: the encoder sees every position and puts its mask token where the
/// mask is set (`vit::Options::mask_token`). Draws come from the default CPU generator (the
/// algorithm is sequential per image), so `torch::manual_seed` replays them and checkpoints
/// resume them; the mask is then moved to the batch's device.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <mutex>
#include <optional>

namespace ssl::masker {

/// Example: `masker::Blockwise{.patch = 4, .ratio = {0.4, 0.4}, .min_patches = 4}`.
struct Blockwise {
  /// Told which views are global (ssl::MasksByViewKind), to leave local views whole (`global_only`).
  static constexpr unsigned hooks = hook::view_kind;
  std::optional<int64_t> patch;           ///< the encoder's patch size (required; recipes set it)
  std::array<double, 2> ratio{0.4, 0.4};  ///< per-image target fraction, uniform in [lo, hi]
  double prob = 1.0;                      ///< probability that an image is masked at all
  int64_t min_patches = 16;               ///< smallest block area (BEiT: 16 of a 14 x 14 grid)
  int64_t max_patches = -1;               ///< largest block area (-1: no limit beyond the target)
  double min_aspect = 0.3;                ///< aspect ratios log-uniform in [min_aspect, 1 / min_aspect]
  bool global_only = false;               ///< leave local views whole (iBOT)

  /// The patch grid `{rows, cols}` of an `[B,C,H,W]` batch.
  [[nodiscard]] std::array<int64_t, 2> grid_of(const torch::Tensor& x) const {
    return ssl::detail::patch_grid(x, patch, "masker::Blockwise");
  }

  /// Masks every image of `x` (`[B,C,H,W]`): `{.input = x, .mask = [B, N] bool}`, N = rows x cols.
  Masked operator()(const torch::Tensor& x) const {
    const auto [h, w] = grid_of(x);
    // Data-parallel: every process draws the global batch's masks and keeps its rows (dist::rand's rule).
    const int64_t B = x.size(0), world = dist::world_size();
    auto mask = draw(B * world, h, w);
    if (world > 1) mask = mask.narrow(0, dist::rank() * B, B);
    return {.input = x, .mask = mask.to(x.device())};
  }
  /// The multi-crop form (`Compose` passes whether the view is global).
  Masked operator()(const torch::Tensor& x, bool global) const {
    if (global_only && !global) return Masked{.input = x};
    return (*this)(x);
  }

  /// `B` masks `[B, rows * cols]` bool on the CPU.
  [[nodiscard]] torch::Tensor draw(int64_t B, int64_t rows, int64_t cols) const {
    check_options(rows, cols);
    auto out = torch::zeros({B, rows * cols}, torch::kBool);
    auto* m = out.data_ptr<bool>();
    auto gen = at::detail::getDefaultCPUGenerator();
    auto* g = at::check_generator<at::CPUGeneratorImpl>(gen);
    std::lock_guard<std::mutex> lock(gen.mutex());
    Draw d{g};
    for (int64_t b = 0; b < B; ++b) {
      const double r = d.uniform(ratio[0], ratio[1]);
      if (prob < 1.0 && !(d.uniform(0.0, 1.0) < prob)) continue;
      fill(m + b * rows * cols, rows, cols, static_cast<int64_t>(std::nearbyint(r * double(rows * cols))), d);
    }
    return out;
  }

 private:
  struct Draw {
    at::CPUGeneratorImpl* g;
    double uniform(double a, double b) {  // a + (b - a) * U[0, 1), 53 random bits
      const double u = double(g->random64() >> 11) * (1.0 / 9007199254740992.0);
      return a + (b - a) * u;
    }
    int64_t integer(int64_t lo, int64_t hi) {  // uniform in [lo, hi]
      return lo + std::min<int64_t>(hi - lo, static_cast<int64_t>(uniform(0.0, 1.0) * double(hi - lo + 1)));
    }
  };

  void check_options(int64_t rows, int64_t cols) const {
    TORCH_CHECK(ratio[0] >= 0 && ratio[0] <= ratio[1] && ratio[1] < 1, "masker::Blockwise: expected 0 <= ratio[0] <= ",
                "ratio[1] < 1, got {", ratio[0], ", ", ratio[1], "}");
    TORCH_CHECK(prob >= 0 && prob <= 1, "masker::Blockwise: expected a masking probability in [0, 1], got ", prob);
    TORCH_CHECK(min_patches >= 1 && (max_patches < 0 || max_patches >= min_patches),
                "masker::Blockwise: expected 1 <= min_patches <= max_patches (or max_patches = -1), got ",
                min_patches, " and ", max_patches);
    TORCH_CHECK(min_aspect > 0 && min_aspect <= 1, "masker::Blockwise: expected min_aspect in (0, 1], got ", min_aspect);
    TORCH_CHECK(rows >= 2 && cols >= 2, "masker::Blockwise: a block must fit strictly inside the grid, got a ", rows,
                "x", cols, " patch grid");
  }

  /// One image: blocks until `target` patches are hidden (or ten tries in a row fail).
  void fill(bool* mask, int64_t rows, int64_t cols, int64_t target, Draw& d) const {
    int64_t count = 0;
    while (count < target) {
      int64_t room = target - count;
      if (max_patches > 0) room = std::min(room, max_patches);
      const int64_t added = place_block(mask, rows, cols, room, d);
      if (added == 0) break;
      count += added;
    }
  }

  /// Up to ten tries to place one block that hides between 1 and `room` new patches.
  int64_t place_block(bool* mask, int64_t rows, int64_t cols, int64_t room, Draw& d) const {
    const double log_lo = std::log(min_aspect), log_hi = std::log(1.0 / min_aspect);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double area = d.uniform(double(min_patches), double(room));
      const double aspect = std::exp(d.uniform(log_lo, log_hi));
      const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(area * aspect)));
      const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(area / aspect)));
      if (w >= cols || h >= rows) continue;
      const int64_t top = d.integer(0, rows - h), left = d.integer(0, cols - w);
      int64_t already = 0;
      for (int64_t i = top; i < top + h; ++i)
        for (int64_t j = left; j < left + w; ++j) already += mask[i * cols + j];
      const int64_t added = h * w - already;
      if (added > 0 && added <= room) {
        for (int64_t i = top; i < top + h; ++i)
          for (int64_t j = left; j < left + w; ++j) mask[i * cols + j] = true;
        return added;
      }
    }
    return 0;
  }
};

}  // namespace ssl::masker
