#pragma once
/// \file target/tokens.hpp
/// Targets of the text methods, as label tensors with -100 where nothing is predicted (the
/// convention of PyTorch's and Hugging Face's cross-entropy).
///  - `TokenIds`: the original token at each position the masker selected (BERT's MLM), plus
///    the batch's labels when it has them (BERT's next-sentence labels).
///  - `NextTokens`: the next token at each position (GPT's causal LM).
///  - `ReplacedTokens`: ELECTRA's two targets: the generator's MLM labels, and whether each token
///    the discriminator sees differs from the original.
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <vector>

namespace ssl::target {

/// The label of a position that is not scored (`loss::CrossEntropy` skips it).
inline constexpr int64_t ignore_index = -100;

/// `{.tokens = labels [B,N], .sentence = Views::labels}` (the batch's labels, undefined when it has
/// none). The clean ids are the first global view.
struct TokenIds {
  /// Labels from the clean ids `v.global[0]` and the first view's mask (required).
  TokenLabels operator()(const Views& v, const Prediction& p) const {
    TORCH_CHECK(!v.global.empty() && !p.masked.empty() && p.masked[0].mask.defined(),
                "target::TokenIds: expected a view and a masker that selects positions (Masked::mask)");
    const auto& ids = v.global[0];
    return {torch::where(p.masked[0].mask, ids, torch::full_like(ids, ignore_index)), v.labels};
  }
};

/// `{.tokens = labels [B,N]}` with `labels[:, i] = ids[:, i+1]`, -100 at the last position and
/// where the next token is padding (`pad_id`, -1 = none).
struct NextTokens {
  int64_t pad_id = -1;  ///< the padding id, never a target; -1: no padding
  /// Labels from the ids `v.global[0]` (`[B,N]`); the prediction is not needed.
  TokenLabels operator()(const Views& v, const Prediction&) const {
    TORCH_CHECK(!v.global.empty() && v.global[0].dim() == 2, "target::NextTokens: expected token ids [B,N]");
    const auto& ids = v.global[0];
    auto next = torch::cat({ids.narrow(1, 1, ids.size(1) - 1), torch::full_like(ids.narrow(1, 0, 1), ignore_index)}, 1);
    if (pad_id >= 0) next = next.masked_fill(next == pad_id, ignore_index);
    return {next, {}};
  }
};

/// `ReplacedTokenLabels{mlm labels [B,N], replaced [B,N] float, valid [B,N] bool}`: what
/// ELECTRA's loss needs. The first masked view's `input` is what the discriminator saw (the
/// generator's samples in place).
struct ReplacedTokens {
  int64_t pad_id = 0;  ///< the padding id: its positions are not `valid` (not scored)
  /// Labels from the clean ids `v.global[0]` and the first view's masking (mask required).
  ReplacedTokenLabels operator()(const Views& v, const Prediction& p) const {
    TORCH_CHECK(!v.global.empty() && !p.masked.empty() && p.masked[0].mask.defined(),
                "target::ReplacedTokens: expected a view and a masker that selects positions");
    const auto& ids = v.global[0];
    const auto& m = p.masked[0];
    auto labels = torch::where(m.mask, ids, torch::full_like(ids, ignore_index));
    auto replaced = (m.input != ids).to(torch::kFloat32);
    return {labels, replaced, ids != pad_id};
  }
};

}  // namespace ssl::target
