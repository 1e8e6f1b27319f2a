#pragma once
/// \file gpt.hpp
/// GPT: generative pre-training by next-token prediction (Radford et al., 2018/2019).
///
/// The same Transformer block with a causal mask (pre-norm, GPT-2 layout): position i sees
/// positions <= i; the output embedding is the input embedding; the loss is the cross-entropy
/// of each position's prediction against the next token. Nothing is masked: the shift is the
/// objective.
#include <ssl/augment/identity.hpp>
#include <ssl/text/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/lm.hpp>
#include <ssl/loss/cross_entropy.hpp>
#include <ssl/masker/none.hpp>
#include <ssl/target/tokens.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

#include <vector>

namespace ssl::gpt {

/// GPT's parts: a causal text encoder, no masking, the batch as its only view, the next token at
/// each position as the target, its cross-entropy, no teacher, an LM head tied to the input embedding.
using Recipe = Compose<text::Encoder, masker::None, augment::Identity, target::NextTokens, loss::CrossEntropy,
                       teacher::None, heads::LmHead>;

/// Example: `gpt::recipe({.encoder = text::EncoderOptions(V, 256, 4, 4).max_len(128), .pad_id = 0})`.
/// `encoder` is turned into GPT-2's architecture by `text::gpt`, unless it is causal already (made
/// by `text::gpt` or read from a GPT-2 config by `hf::text_options`): then it is taken as it is.
struct Options {
  /// The encoder's size and vocabulary (width, depth, heads, `max_len`); the rest is GPT-2's
  /// (a causal `encoder` keeps its own eps, activation and dropouts).
  text::EncoderOptions encoder;
  /// Targets equal to this id are not scored (right padding); -1 = none.
  int64_t pad_id = -1;
  /// Standard deviation of the encoder's normal initialisation (`text::init_gpt2_weights`).
  double init_std = 0.02;
};

/// GPT: the encoder in GPT-2's architecture, an LM head without transform or bias whose decoder
/// is the token embedding; GPT-2's initialisation. The loss logs `lm`.
inline Recipe recipe(const Options& o) {
  auto eo = o.encoder.causal() ? o.encoder : text::gpt(o.encoder);
  eo.pad_id(o.pad_id);
  text::Encoder encoder(eo);
  heads::LmHead head(heads::LmHeadOptions(eo.dim(), eo.vocab()).transform(false).bias(false).eps(eo.eps()),
                     encoder->embeddings->tok);
  text::init_gpt2_weights(*encoder, eo.depth(), o.init_std);
  return Recipe({.backbone = encoder, .target = {.pad_id = o.pad_id}, .loss = {.name = "lm"}, .head = head});
}

/// Continues `prompt` (`[N]` ids) by `n` tokens: greedy when `top_k == 1`, else sampling from
/// the `top_k` most likely tokens at `temperature`. Stops early at `stop_id` (>= 0).
template <class R>
std::vector<int64_t> generate(R& recipe, const std::vector<int64_t>& prompt, int64_t n, int64_t top_k = 1,
                              double temperature = 1.0, int64_t stop_id = -1) {
  torch::NoGradGuard g;
  TORCH_CHECK(!prompt.empty() && top_k >= 1 && temperature > 0, "gpt::generate: expected a non-empty prompt, ",
              "top_k >= 1 and temperature > 0; got ", prompt.size(), " tokens, top_k ", top_k, ", temperature ",
              temperature);
  const bool was_training = recipe->is_training();
  recipe->eval();
  auto& enc = recipe->backbone();
  const auto device = enc->embeddings->tok->weight.device();
  std::vector<int64_t> ids = prompt;
  for (int64_t s = 0; s < n; ++s) {
    const auto max_len = enc->options.max_len();
    const auto start = ids.size() > size_t(max_len) ? ids.size() - size_t(max_len) : 0;
    auto x = torch::tensor(std::vector<int64_t>(ids.begin() + long(start), ids.end()), torch::kInt64).to(device).unsqueeze(0);
    auto h = enc->forward(Masked{.input = x}).tokens.select(1, x.size(1) - 1);
    auto logits = recipe->head()->logits(h).squeeze(0).to(torch::kCPU).to(torch::kFloat32) / temperature;
    int64_t next;
    if (top_k == 1) {
      next = logits.argmax().template item<int64_t>();
    } else {
      auto [v, i] = logits.topk(std::min<int64_t>(top_k, logits.size(0)));
      next = i[torch::multinomial(torch::softmax(v, 0), 1).template item<int64_t>()].template item<int64_t>();
    }
    ids.push_back(next);
    if (next == stop_id) break;
  }
  recipe->train(was_training);
  return ids;
}

}  // namespace ssl::gpt
