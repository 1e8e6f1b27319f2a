#pragma once
/// \file masker/spans.hpp
/// wav2vec 2.0's time masking (Baevski et al., 2020, section 3.1; Hugging Face's
/// `_compute_mask_indices`): every frame is a span's start with probability `p` and the `span`
/// frames from each start are hidden; spans may overlap (the paper: p = 0.065 and 10 frames hide
/// ~49 % of the frames). As in the references the number of starts is drawn, not each start:
/// `n = int(p F + u)` with one `u ~ U[0, 1)` per batch, at least `min_spans`, at most what fits;
/// the n starts are drawn uniformly without replacement from the `F - span + 1` positions where
/// a whole span fits. `p` here is the paper's; Hugging Face's `mask_time_prob` and fairseq's
/// `mask_prob` are `p x span` (0.65).
///
/// What it gives (`Masked`): `input` the batch `[B, T]` of samples, unchanged; `mask` `[B, F]`
/// bool over the frames the feature encoder makes of T samples (`frames`, set from the encoder's
/// `audio::Options` by the recipe). Random numbers: `dist::rand` on the batch's device.
#include <ssl/audio/encoder.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <optional>

namespace ssl::masker {

/// Example: `masker::Spans{.p = 0.065, .span = 10, .frames = audio::small()}` (see the file comment).
struct Spans {
  double p = 0.065;        ///< probability that a frame starts a span (the paper's p)
  int64_t span = 10;       ///< frames per span (the paper's M)
  int64_t min_spans = 2;   ///< spans per clip at least (Hugging Face's `mask_time_min_masks`)
  /// The encoder whose frames are masked (its convolutions' kernels and strides; `wav2vec2::recipe`
  /// sets the encoder's).
  std::optional<audio::Options> frames;

  /// Refuses options it cannot use, naming them.
  void check() const {
    TORCH_CHECK(p > 0 && p < 1, "masker::Spans: p (a frame's probability of starting a span) must be in (0, 1), got ", p);
    TORCH_CHECK(span >= 1, "masker::Spans: span (frames per span) must be >= 1, got ", span);
    TORCH_CHECK(min_spans >= 0, "masker::Spans: min_spans must be >= 0, got ", min_spans);
    TORCH_CHECK(frames.has_value(), "masker::Spans: frames (the encoder's audio::Options) is unset");
  }

  /// Spans in a clip of `n_frames` frames for the batch's draw `u` in [0, 1) (Hugging Face's
  /// `compute_num_masked_span`).
  [[nodiscard]] int64_t spans(int64_t n_frames, double u) const {
    auto n = std::max(static_cast<int64_t>(p * double(n_frames) + u), min_spans);
    if (n * span > n_frames) n = n_frames / span;
    return std::min(n, std::max<int64_t>(n_frames - span + 1, 0));
  }

  /// The masks of the `[B, T]` samples `x`, drawn here.
  Masked operator()(const torch::Tensor& x) const {
    check();
    TORCH_CHECK(x.dim() == 2 && x.is_floating_point(), "masker::Spans: expected samples [B, T] of a floating type, got ",
                x.sizes(), " ", x.dtype());
    const int64_t B = x.size(0), F = frames->frames(x.size(1));
    TORCH_CHECK(F >= span, "masker::Spans: ", x.size(1), " samples make ", F, " frames, fewer than one span of ", span);
    const int64_t starts = F - span + 1;
    auto noise = dist::rand({B, starts + 1}, x.options().dtype(torch::kFloat32));
    const int64_t n = spans(F, noise[0][0].item<double>());
    auto first = std::get<1>(noise.narrow(1, 1, starts).sort(1)).narrow(1, 0, n);  // a uniform n-subset per row
    auto idx = (first.unsqueeze(-1) + torch::arange(span, first.options())).view({B, n * span});
    auto mask = torch::zeros({B, F}, x.options().dtype(torch::kBool));
    return {.input = x, .mask = mask.scatter_(1, idx, true)};
  }
};

}  // namespace ssl::masker
