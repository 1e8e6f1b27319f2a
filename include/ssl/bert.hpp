#pragma once
/// \file bert.hpp
/// BERT: Pre-training of Deep Bidirectional Transformers (Devlin et al., 2019), and the
/// RoBERTa-style variant (Liu et al., 2019).
///
/// Select 15 % of the (non-special) tokens; replace 80 % of them by `[MASK]`, 10 % by a random
/// token, keep 10 %; a bidirectional post-norm Transformer encodes the corrupted sequence; an
/// MLM head whose decoder is the input embedding predicts the original token at each selected
/// position; the loss is the cross-entropy there, plus, in the original BERT, the next-sentence
/// prediction on `[CLS]` for sentence pairs whose second half is the true continuation half of
/// the time. RoBERTa: no next-sentence prediction, a fresh mask every time a sequence is seen,
/// full-length sequences.
#include <ssl/augment/identity.hpp>
#include <ssl/text/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/lm.hpp>
#include <ssl/loss/cross_entropy.hpp>
#include <ssl/masker/bert.hpp>
#include <ssl/target/tokens.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

#include <utility>
#include <vector>

namespace ssl::bert {

/// BERT's parts: a text encoder, BERT's masking, the batch as its only view, the original ids at
/// the selected positions (and next-sentence labels) as targets, their cross-entropy, no teacher,
/// the MLM head tied to the input embedding.
using Recipe = Compose<text::Encoder, masker::Bert, augment::Identity, target::TokenIds, loss::CrossEntropy,
                       teacher::None, heads::LmHead>;

/// Example: `bert::recipe({.encoder = text::bert_mini(V).max_len(128).sep_id(3), .masking = masker::Bert::for_vocab(vocab)})`.
struct Options {
  /// The encoder's architecture and vocabulary size, e.g. `text::bert_mini(V)`.
  text::EncoderOptions encoder;
  /// Which tokens are selected and how they are replaced (its vocabulary and special ids are required).
  masker::Bert masking;
  /// Next-sentence prediction (original BERT; needs batches whose labels are is-next labels).
  bool next_sentence = false;
  /// MLM logits only at the selected positions (same loss, ~15 % of the decoder's compute).
  bool only_masked = true;
  /// Standard deviation of the normal initialisation of the encoder's and head's weights
  /// (`text::init_bert_weights`).
  double init_std = 0.02;
};

/// RoBERTa-style options: no next-sentence prediction, dynamic masking.
inline Options roberta(Options o) {
  o.next_sentence = false;
  o.masking.dynamic = true;
  return o;
}

/// BERT (or RoBERTa with `roberta(o)`): the encoder, an MLM head whose decoder is the encoder's
/// token embedding (plus a next-sentence classifier with `next_sentence`), both initialised as
/// BERT. The loss logs `mlm` (and `nsp`).
inline Recipe recipe(const Options& o) {
  text::Encoder encoder(o.encoder);
  heads::LmHead head(heads::LmHeadOptions(o.encoder.dim(), o.encoder.vocab())
                         .embedding_dim(o.encoder.embedding_width())
                         .eps(o.encoder.eps())
                         .only_masked(o.only_masked)
                         .next_sentence(o.next_sentence),
                     encoder->embeddings->tok);
  text::init_bert_weights(*encoder, o.init_std, o.encoder.pad_id());
  text::init_bert_weights(*head, o.init_std);
  return Recipe({.backbone = encoder, .masker = o.masking, .loss = {.name = "mlm"}, .head = head});
}

/// The `k` most likely tokens (id, probability) at each `mask_id` position of `ids` (`[N]` or
/// `[1,N]`), in order of position. Runs without gradient in eval mode.
template <class R>
std::vector<std::vector<std::pair<int64_t, double>>> fill_mask(R& recipe, torch::Tensor ids, int64_t mask_id,
                                                               int64_t k = 5) {
  torch::NoGradGuard g;
  if (ids.dim() == 1) ids = ids.unsqueeze(0);
  TORCH_CHECK(ids.dim() == 2 && ids.size(0) == 1, "bert::fill_mask: expected one sequence [N] or [1,N], got ",
              ssl::detail::shape_str(ids));
  const bool was_training = recipe->is_training();
  recipe->eval();
  auto where = ids == mask_id;
  TORCH_CHECK(where.any().template item<bool>(), "bert::fill_mask: the sequence has no [MASK] (id ", mask_id, ")");
  auto tokens = recipe->backbone()->forward(Masked{.input = ids}).tokens;
  auto probs = torch::softmax(recipe->head()->logits(tokens.index({where})), -1).to(torch::kCPU);
  auto [p, i] = probs.topk(k, -1);
  std::vector<std::vector<std::pair<int64_t, double>>> out(static_cast<size_t>(p.size(0)));
  for (int64_t r = 0; r < p.size(0); ++r)
    for (int64_t j = 0; j < k; ++j) out[size_t(r)].emplace_back(i[r][j].template item<int64_t>(), p[r][j].template item<double>());
  recipe->train(was_training);
  return out;
}

}  // namespace ssl::bert
