#pragma once
/// \file target/distractors.hpp
/// wav2vec 2.0's contrastive targets (Baevski et al., 2020, section 3.2; Hugging Face's
/// `_sample_negative_indices`): at each hidden frame, the true quantised code of that frame and K
/// distractors, the codes of other hidden frames of the same clip drawn uniformly with
/// replacement (never the frame itself). The codes are the head's (`HeadOutput::codes`,
/// `heads::QuantizedContext`), so the loss trains the quantiser through them. What it gives
/// (`CodeCandidates`) names positions; the loss reads the codes there.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <cstdint>

namespace ssl::target {

/// Example: `target::Distractors{.negatives = 100}` (the paper's K).
struct Distractors {
  int64_t negatives = 100;  ///< K, distractors per hidden frame

  /// K distractors for each hidden frame of `mask` `[B, N]` (row-major order), as flat indices
  /// into `[B * N]`: `[M, K]` int64, each a hidden frame of the same row other than its own.
  /// Draws from the mask's device's default generator. Every row needs 2 hidden frames.
  [[nodiscard]] torch::Tensor sample(const torch::Tensor& mask) const {
    TORCH_CHECK(negatives >= 1, "target::Distractors: negatives (distractors per hidden frame) must be >= 1, got ", negatives);
    TORCH_CHECK(mask.defined() && mask.dim() == 2 && mask.scalar_type() == torch::kBool,
                "target::Distractors: expected the masker's [B, N] bool mask of hidden frames, got ",
                mask.defined() ? ssl::detail::shape_str(mask) : std::string("none"));
    const auto counts = mask.sum(1);
    const auto fewest = counts.min().item<int64_t>();
    TORCH_CHECK(fewest >= 2, "target::Distractors: every clip needs 2 hidden frames to draw distractors from, one has ",
                fewest);
    const auto positions = mask.flatten().nonzero().squeeze(1);
    const auto start = (counts.cumsum(0) - counts).repeat_interleave(counts);  // [M] its clip's first row
    const auto own = torch::arange(positions.size(0), positions.options()) - start;
    auto r = (torch::rand({positions.size(0), negatives}, mask.options().dtype(torch::kFloat64)) *
              (counts.repeat_interleave(counts) - 1).unsqueeze(1).to(torch::kFloat64))
                 .floor()
                 .to(torch::kInt64);
    r = r + (r >= own.unsqueeze(1)).to(torch::kInt64);
    return positions.index_select(0, (start.unsqueeze(1) + r).flatten()).view({positions.size(0), negatives});
  }

  /// The candidates of `codes` `[B, N, P]` at the hidden frames of `mask` `[B, N]`, with the
  /// distractors `negatives` `[M, K]` (flat indices into `[B * N]`, as `sample` gives and as
  /// Hugging Face's `sampled_negative_indices` at the hidden frames are).
  [[nodiscard]] static CodeCandidates candidates(const torch::Tensor& codes, const torch::Tensor& mask,
                                                 const torch::Tensor& negatives) {
    TORCH_CHECK(codes.dim() == 3 && mask.dim() == 2 && codes.size(0) == mask.size(0) && codes.size(1) == mask.size(1),
                "target::Distractors: expected codes [B, N, P] and a mask [B, N], got ", ssl::detail::shape_str(codes),
                " and ", ssl::detail::shape_str(mask));
    const auto positions = mask.flatten().nonzero().squeeze(1);
    TORCH_CHECK(negatives.dim() == 2 && negatives.size(0) == positions.size(0),
                "target::Distractors: expected distractor indices [M, K] for the M = ", positions.size(0),
                " hidden frames, got ", ssl::detail::shape_str(negatives));
    return {.codes = codes, .positions = positions, .negatives = negatives, .diversity = {}};
  }

  /// The candidates of the one view's codes (`HeadOutput::codes`) at its hidden frames, with the
  /// head's diversity penalty.
  CodeCandidates operator()(const Views&, const Prediction& pred) const {
    TORCH_CHECK(pred.extra.size() == 1 && pred.masked.size() == 1, "target::Distractors: expected one view, got ",
                pred.extra.size());
    const auto& codes = pred.extra[0].codes;
    TORCH_CHECK(codes.defined(), "target::Distractors: expected the head's codes (HeadOutput::codes, "
                                 "heads::QuantizedContext), got none");
    const auto& mask = pred.masked[0].mask;
    auto out = candidates(codes, mask, sample(mask));
    out.diversity = pred.extra[0].diversity;
    return out;
  }
};

}  // namespace ssl::target
