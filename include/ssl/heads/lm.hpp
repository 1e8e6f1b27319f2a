#pragma once
/// \file heads/lm.hpp
/// Language-model heads on a text backbone's token states.
///  - `LmHead`: logits over the vocabulary with the decoder weight tied to the input token
///    embedding. With `transform` it is BERT's / ELECTRA-generator's MLM head (dense, GELU,
///    LayerNorm, tied decoder + bias); without, GPT-2's `lm_head`. Optionally BERT's
///    next-sentence classifier on the pooled feature (returned as `HeadOutput::sentence`).
///  - `ReplacedTokenHead`: ELECTRA's discriminator head (dense, GELU, one logit per token).
#include <ssl/text/encoder.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

namespace ssl::heads {

/// Example: `LmHeadOptions(256, 8000).only_masked(true).next_sentence(true)`.
struct LmHeadOptions {
  /// A head on `dim`-wide token states over a `vocab`-token vocabulary.
  LmHeadOptions(int64_t dim, int64_t vocab) : dim_(dim), vocab_(vocab) {}
  TORCH_ARG(int64_t, dim);  ///< width of the backbone's token states
  TORCH_ARG(int64_t, vocab);  ///< vocabulary size (the logits' width)
  /// Dense + GELU + LayerNorm before the decoder (BERT, ELECTRA's generator); GPT-2: false.
  TORCH_ARG(bool, transform) = true;
  /// Width of the tied embedding (the transform maps `dim` to it); 0 = `dim`.
  TORCH_ARG(int64_t, embedding_dim) = 0;
  /// Output bias over the vocabulary (BERT); GPT-2: false.
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(double, eps) = 1e-12;  ///< the transform's LayerNorm epsilon (BERT's)
  /// Logits only where the masker hid a token (`[M,V]` for the M true entries of `mask`, in
  /// row-major order) instead of everywhere (`[B,N,V]`): the same loss for ~15 % of the compute.
  TORCH_ARG(bool, only_masked) = false;
  /// BERT's next-sentence classifier on the pooled feature (`HeadOutput::sentence`, `[B,2]`).
  TORCH_ARG(bool, next_sentence) = false;
};

/// The language-model head of BERT, RoBERTa-style MLM, ELECTRA's generator and GPT: token
/// states to logits over the vocabulary through the tied token embedding (Hugging Face's
/// `BertLMPredictionHead`, `lm_head` of GPT-2), and BERT's optional next-sentence classifier.
class LmHeadImpl : public torch::nn::Cloneable<LmHeadImpl> {
 public:
  /// `tied`: the token embedding whose weight (`[vocab, embedding_dim]`) is the decoder's.
  LmHeadImpl(LmHeadOptions options, torch::nn::Embedding tied) : options(std::move(options)), tied(std::move(tied)) {
    reset();
  }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto E = options.embedding_dim() > 0 ? options.embedding_dim() : options.dim();
    TORCH_CHECK(tied && tied->weight.size(0) == options.vocab() && tied->weight.size(1) == E,
                "heads::LmHead: the tied embedding must be [", options.vocab(), ", ", E, "], got ",
                tied ? ssl::detail::shape_str(tied->weight) : std::string("none"));
    if (options.transform()) {
      dense = register_module("dense", torch::nn::Linear(options.dim(), E));
      norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E}).eps(options.eps())));
    } else {
      TORCH_CHECK(E == options.dim(), "heads::LmHead: without transform the embedding width (", E,
                  ") must equal dim (", options.dim(), ")");
    }
    if (options.bias()) bias = register_parameter("bias", torch::zeros({options.vocab()}));
    if (options.next_sentence()) nsp = register_module("nsp", torch::nn::Linear(options.dim(), 2));
  }

  /// Logits of token states `h` (`[..., dim]`) -> `[..., vocab]`.
  Tensor logits(Tensor h) {
    if (dense) h = norm(torch::gelu(dense(h)));
    return torch::nn::functional::linear(h, tied->weight, bias);
  }

  /// `{.out, .sentence}`: the logits of `f.tokens` (`[B,N,vocab]`, or `[M,vocab]` with
  /// `only_masked`) and, with `next_sentence`, the NSP logits `[B,2]` of `f.pooled`.
  HeadOutput forward(const Features& f, const Masked& m) {
    Tensor h = f.tokens;
    if (options.only_masked() && m.mask.defined()) h = h.index({m.mask});
    HeadOutput out{.out = logits(h)};
    if (nsp) out.sentence = nsp(f.pooled);
    return out;
  }

  LmHeadOptions options;  ///< what the head was built from
  torch::nn::Embedding tied;  ///< not registered here: it belongs to the backbone
  torch::nn::Linear dense{nullptr};    ///< the transform's dense layer (with `transform`)
  torch::nn::Linear nsp{nullptr};      ///< the next-sentence classifier (with `next_sentence`)
  torch::nn::LayerNorm norm{nullptr};  ///< the transform's LayerNorm (with `transform`)
  Tensor bias;                         ///< output bias `[vocab]` (with `bias`)
};
TORCH_MODULE(LmHead);

/// ELECTRA's discriminator head: one "was this token replaced?" logit per position, `[B,N]`.
class ReplacedTokenHeadImpl : public torch::nn::Cloneable<ReplacedTokenHeadImpl> {
 public:
  /// A head on `dim`-wide token states.
  explicit ReplacedTokenHeadImpl(int64_t dim) : dim(dim) { reset(); }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    dense = register_module("dense", torch::nn::Linear(dim, dim));
    out = register_module("out", torch::nn::Linear(dim, 1));
  }
  /// Logits `[B,N]` of `f.tokens`: dense, GELU, one output.
  Tensor forward(const Features& f, const Masked&) { return out(torch::gelu(dense(f.tokens))).squeeze(-1); }

  int64_t dim;  ///< width of the token states
  torch::nn::Linear dense{nullptr};  ///< dim -> dim, before the GELU
  torch::nn::Linear out{nullptr};    ///< dim -> 1 logit
};
TORCH_MODULE(ReplacedTokenHead);

}  // namespace ssl::heads
