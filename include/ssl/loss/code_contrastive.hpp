#pragma once
/// \file loss/code_contrastive.hpp
/// wav2vec 2.0's loss (Baevski et al., 2020, section 3.2; Hugging Face's
/// `Wav2Vec2ForPreTraining.forward`): at each hidden frame, the cross-entropy of picking the true
/// code among the K + 1 candidates by cosine similarity to the frame's prediction over a
/// temperature kappa; a distractor equal to the true code scores -inf (it cannot be told apart).
/// Averaged over the hidden frames, plus `diversity_weight` times the head's codebook-diversity
/// penalty 1 - perplexity / (G V). Hugging Face sums both over the hidden frames: its loss is
/// this times their number M (its pretraining script divides by M).
///
/// The cosine similarities come from one `[N, N]` product per sample between the unit-length
/// predictions and codes, read at the candidates' positions (the reference gathers a `[K + 1, B,
/// N, P]` tensor of candidate codes first: the same values up to rounding, K times the memory).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <limits>

namespace ssl::loss {

/// Example: `loss::CodeContrastive{.temperature = 0.1, .diversity_weight = 0.1}` (the paper's).
struct CodeContrastive {
  double temperature = 0.1;       ///< kappa (`contrastive_logits_temperature`)
  double diversity_weight = 0.1;  ///< alpha (`diversity_loss_weight`)

  /// The `[M, K + 1]` logits of the hidden frames (the true code first) for predictions `pred`
  /// `[B, N, P]`: cosine similarity over `temperature`, -inf for a distractor equal to the true code.
  [[nodiscard]] torch::Tensor logits(const torch::Tensor& pred, const CodeCandidates& c) const {
    TORCH_CHECK(temperature > 0, "loss::CodeContrastive: temperature must be > 0, got ", temperature);
    TORCH_CHECK(pred.dim() == 3 && c.codes.defined() && c.codes.sizes() == pred.sizes(),
                "loss::CodeContrastive: expected predictions and codes of one shape [B, N, P], got ",
                ssl::detail::shape_str(pred), " and ", c.codes.defined() ? ssl::detail::shape_str(c.codes) : std::string("none"));
    TORCH_CHECK(c.positions.dim() == 1 && c.negatives.dim() == 2 && c.negatives.size(0) == c.positions.size(0),
                "loss::CodeContrastive: expected positions [M] and distractors [M, K], got ",
                ssl::detail::shape_str(c.positions), " and ", ssl::detail::shape_str(c.negatives));
    const auto N = pred.size(1);
    TORCH_CHECK(torch::equal(c.negatives.div(N, "floor"), c.positions.div(N, "floor").unsqueeze(1).expand_as(c.negatives)),
                "loss::CodeContrastive: every distractor must be in the same sample as its hidden frame");
    auto unit = [](const torch::Tensor& x) {
      const auto f = x.to(torch::kFloat32);
      return f / torch::linalg_vector_norm(f, 2, -1, true).clamp_min(1e-8);
    };
    auto sims = torch::bmm(unit(pred), unit(c.codes).transpose(1, 2)).view({-1, N});  // [B N, N]
    auto rows = sims.index_select(0, c.positions);                                   // [M, N]
    auto pos = rows.gather(1, c.positions.remainder(N).unsqueeze(1));
    auto neg = rows.gather(1, c.negatives.remainder(N));
    torch::Tensor same;
    {
      torch::NoGradGuard g;
      const auto flat = c.codes.detach().reshape({-1, c.codes.size(2)});
      const auto sum = flat.sum(-1);  // equal codes have equal sums: compare whole codes only there
      same = sum.index_select(0, c.negatives.flatten()).view_as(c.negatives) == sum.index_select(0, c.positions).unsqueeze(1);
      const auto pairs = same.nonzero();
      if (pairs.size(0) > 0) {
        const auto a = flat.index_select(0, c.positions.index_select(0, pairs.select(1, 0)));
        const auto b = flat.index_select(0, c.negatives.index({pairs.select(1, 0), pairs.select(1, 1)}));
        same.index_put_({pairs.select(1, 0), pairs.select(1, 1)}, (a == b).all(-1));
      }
    }
    return torch::cat({pos, neg.masked_fill(same, -std::numeric_limits<float>::infinity())}, 1) / temperature;
  }

  /// The cross-entropy of `logits` averaged over the M hidden frames: `pred` `[B, N, P]`.
  [[nodiscard]] torch::Tensor contrastive(const torch::Tensor& pred, const CodeCandidates& c) const {
    return cross_entropy(logits(pred, c));
  }

  /// The loss of the `[M, K + 1]` logits `z` (as `logits` gives them) and the candidates' diversity
  /// penalty. Logged parts: `contrastive`, `diversity` (the penalty, before its weight).
  [[nodiscard]] LossOutput score(const torch::Tensor& z, const CodeCandidates& c) const {
    auto contr = cross_entropy(z);
    TORCH_CHECK(c.diversity.defined() || diversity_weight == 0,
                "loss::CodeContrastive: expected the head's diversity penalty (HeadOutput::diversity), got none");
    auto total = diversity_weight == 0 ? contr : contr + diversity_weight * c.diversity;
    LossOutput out{total, {{"contrastive", contr.detach()}}};
    if (c.diversity.defined()) out.parts.emplace_back("diversity", c.diversity.detach());
    return out;
  }

  /// The loss of the one view's predictions (`score` of their `logits`).
  LossOutput operator()(const Prediction& pred, const CodeCandidates& c) const {
    TORCH_CHECK(pred.views.size() == 1, "loss::CodeContrastive: expected one view, got ", pred.views.size());
    return score(logits(pred.views[0], c), c);
  }

 private:
  /// Cross-entropy of `[M, K + 1]` logits whose true class is 0, averaged over the rows.
  static torch::Tensor cross_entropy(const torch::Tensor& z) {
    return torch::nn::functional::cross_entropy(z, torch::zeros({z.size(0)}, z.options().dtype(torch::kInt64)));
  }
};

}  // namespace ssl::loss
