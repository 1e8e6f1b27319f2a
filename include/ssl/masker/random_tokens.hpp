#pragma once
/// \file masker/random_tokens.hpp
/// data2vec 2.0's text masking (Baevski et al., 2022; fairseq's `random_masking` in
/// `examples/data2vec/models/modalities/base.py`, which its text config uses: `mask_length` 1):
/// MAE's random masking over the token positions of a `[B, N]` batch of ids. Each row draws
/// uniform noise and keeps the `int(N (1 - ratio))` positions of lowest noise; the encoder sees
/// only those (`ids_keep`, as MAE's encoder sees its visible patches), the rest are hidden
/// (`mask`). Nothing is replaced: unlike BERT's masking the hidden tokens are simply absent.
///
/// `clones` masks per sequence (the reference's `clone_batch`, 8 for text): the batch is
/// repeated, each row `clones` times in a row (`repeat_interleave`), and each copy draws its own
/// mask. The teacher encodes the `B` sequences once and `heads::LayerAverage` repeats its targets.
///
/// Padding (`pad_id` set; the reference's text has none: it packs 512-token blocks): padding
/// positions take noise 2, above every real draw, so they are the last to be kept and are
/// never scored: `mask` is false there. A row with fewer real tokens than `int(N (1 - ratio))`
/// keeps padding too; the encoder does not attend to it (`text::Encoder`).
///
/// What it gives (`Masked`): `input` the repeated ids `[B*clones, N]`; `mask` `[B*clones, N]`
/// bool (true = hidden real token); `ids_keep` `[B*clones, K]` in the noise's order;
/// `ids_restore` `[B*clones, N]`, the inverse of `[kept..., hidden...]`.
/// Random numbers come from the batch device's default generator (`dist::rand`: in a
/// data-parallel run, each process's rows of the global batch's draw).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>
#include <ssl/masker/random_patches.hpp>

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace ssl::masker {

/// Example: `masker::RandomTokens{.ratio = 0.48, .clones = 4, .pad_id = 0}` (see the file comment).
struct RandomTokens {
  double ratio = 0.48;   ///< fraction of the positions hidden (`mask_prob`, text: 0.48)
  int64_t clones = 1;    ///< masks per sequence (`clone_batch`)
  std::optional<int64_t> pad_id;  ///< padding id, never scored (unset: no padding; data2vec2::text_recipe sets the encoder's)

  /// Positions kept in a row of `n`: `int(n (1 - ratio))`.
  [[nodiscard]] int64_t kept(int64_t n) const { return static_cast<int64_t>(double(n) * (1.0 - ratio)); }

  /// Refuses options it cannot use, naming them (before any drawing).
  void check() const {
    TORCH_CHECK(ratio > 0.0 && ratio < 1.0, "masker::RandomTokens: ratio (the fraction hidden) must be in (0, 1), got ", ratio);
    TORCH_CHECK(clones >= 1, "masker::RandomTokens: clones (masks per sequence) must be >= 1, got ", clones);
  }

  /// The masks of the `[B, N]` int64 ids `x`, drawn here.
  Masked operator()(const torch::Tensor& x) const {
    check_ids(x);
    return with_noise(x, dist::rand({x.size(0) * clones, x.size(1)}, x.options().dtype(torch::kFloat32)));
  }

  /// The masks for a given noise `[B*clones, N]` in [0, 1) (lowest = kept; exposed so that tests
  /// can replay the reference's draws).
  Masked with_noise(const torch::Tensor& x, const torch::Tensor& noise) const {
    check_ids(x);
    const int64_t R = x.size(0) * clones, N = x.size(1), K = kept(N);
    TORCH_CHECK(noise.dim() == 2 && noise.size(0) == R && noise.size(1) == N, "masker::RandomTokens: expected noise [", R,
                ", ", N, "], got ", ssl::detail::shape_str(noise));
    TORCH_CHECK(K >= 1 && K < N, "masker::RandomTokens: ratio ", ratio, " keeps ", K, " of ", N,
                " positions; it must keep at least one and hide at least one");
    Masked out;
    out.input = clones > 1 ? x.repeat_interleave(clones, 0) : x;
    auto n = noise.to(torch::kFloat32);
    torch::Tensor real;
    if (pad_id) {
      real = out.input != *pad_id;
      n = torch::where(real, n, torch::full({}, 2.0f, n.options()));
    }
    auto [mask, ids_keep, ids_restore] = detail::keep_lowest(n, K);
    out.mask = pad_id ? mask.logical_and(real) : mask;
    out.ids_keep = ids_keep.contiguous();
    out.ids_restore = ids_restore;
    return out;
  }

 private:
  void check_ids(const torch::Tensor& x) const {
    check();
    ssl::detail::check_dim(x, 2, "masker::RandomTokens", "token ids [B,N]");
    TORCH_CHECK(x.scalar_type() == torch::kInt64, "masker::RandomTokens: expected int64 token ids, got ", x.scalar_type());
  }
};

}  // namespace ssl::masker
