#pragma once
/// \file text/encoder.hpp
/// The text backbone: token (+ position, + segment) embeddings and a stack of the shared
/// Transformer block (nn/transformer.hpp). One class serves BERT / RoBERTa (post-norm,
/// bidirectional, padding masked), ELECTRA (embeddings narrower than the blocks, projected; the
/// generator shares the discriminator's embeddings) and GPT (pre-norm, causal, final norm).
///
/// Parameter names: `embeddings.{tok,pos,seg,norm}`, `proj`, `blocks.<i>.<block>`, `norm`,
/// `pooler`; io/hf.hpp maps Hugging Face BERT / ELECTRA / GPT-2 checkpoints onto them.
#include <ssl/nn/transformer.hpp>
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

namespace ssl::text {

/// The token states the pooled (sentence) feature is made of, before the pooler
/// (`EncoderOptions::pooling`, `Encoder::pool_tokens`).
enum class Pooling {
  mean,         ///< the mean of the non-padding tokens (`mean_pool`)
  last_token,   ///< the last non-padding token (causal without a pooler, as GPT-2's classifier)
  first_token,  ///< the first token (`[CLS]`)
};

/// What `p` reads, in words ("the mean of the tokens", "the last token", "the first token").
[[nodiscard]] inline const char* to_string(Pooling p) {
  switch (p) {
    case Pooling::mean: return "the mean of the tokens";
    case Pooling::last_token: return "the last token";
    case Pooling::first_token: return "the first token";
  }
  return "?";
}

/// Options of a text encoder. Defaults are BERT's (post-norm, exact GELU, eps 1e-12, two
/// segments, pooler); see the presets below. Example:
/// `text::EncoderOptions(8000, 256, 4, 4).max_len(128).pad_id(0).sep_id(3)`.
struct EncoderOptions {
  /// An encoder over `vocab` token ids: `depth` blocks of width `dim`, `heads` heads, MLP 4 x dim.
  EncoderOptions(int64_t vocab, int64_t dim, int64_t depth, int64_t heads)
      : vocab_(vocab), dim_(dim), depth_(depth), heads_(heads), mlp_hidden_(4 * dim) {}
  TORCH_ARG(int64_t, vocab);  ///< token vocabulary size
  TORCH_ARG(int64_t, dim);  ///< width of the token states
  TORCH_ARG(int64_t, depth);  ///< Transformer blocks
  TORCH_ARG(int64_t, heads);  ///< attention heads (must divide dim)
  TORCH_ARG(int64_t, mlp_hidden);  ///< the blocks' MLP hidden width
  /// Longest sequence (number of learned positions).
  TORCH_ARG(int64_t, max_len) = 512;
  /// Segment (token type) vocabulary; 0 = no segment embeddings (RoBERTa-style single segment
  /// still keeps them in HF; GPT has none).
  TORCH_ARG(int64_t, type_vocab) = 2;
  /// Width of the embeddings; 0 = `dim`. When different, a linear `proj` maps them to `dim`
  /// (ELECTRA's `embeddings_project`).
  TORCH_ARG(int64_t, embedding_dim) = 0;
  /// LayerNorm over the summed embeddings (BERT, ELECTRA); GPT has none.
  TORCH_ARG(bool, embedding_norm) = true;
  /// Pre-norm blocks and a final norm (GPT) when true; post-norm (BERT) when false.
  TORCH_ARG(bool, norm_first) = false;
  TORCH_ARG(bool, causal) = false;  ///< causal self-attention (GPT): position i attends to positions <= i
  TORCH_ARG(double, eps) = 1e-12;  ///< LayerNorm epsilon (BERT's)
  TORCH_ARG(std::string, gelu) = "none";  ///< GELU: exact ("none") or "tanh" (GPT-2)
  TORCH_ARG(double, dropout) = 0.1;  ///< dropout on embeddings and block outputs (training only)
  TORCH_ARG(double, attn_dropout) = 0.1;  ///< dropout on attention probabilities (training only)
  /// Padding id: never attended to (bidirectional encoders), and segment 0.
  TORCH_ARG(int64_t, pad_id) = 0;
  /// RoBERTa's position ids: the non-padding tokens count from `pad_id + 1` (so `max_len` must
  /// cover `pad_id + 1 + N`), padding tokens take position `pad_id`. Off: positions 0..N-1.
  TORCH_ARG(bool, padding_positions) = false;
  /// `[SEP]` id: segment ids follow BERT's pair layout `[CLS] a [SEP] b [SEP]` (0 up to and
  /// including the first `[SEP]`, 1 after it, 0 on padding); -1 = every token in segment 0.
  TORCH_ARG(int64_t, sep_id) = -1;
  /// BERT's pooler (dense + tanh on the first token) as the pooled feature. Without it the
  /// pooled feature is the first token's state (bidirectional) or the last non-padding token's
  /// (causal, as GPT-2's sequence classifier).
  TORCH_ARG(bool, pooler) = true;
  /// Pool the mean of the non-padding token states instead of one token (then the pooler, if
  /// any): a sentence embedding that fine-tunes faster from a briefly pretrained model.
  TORCH_ARG(bool, mean_pool) = false;
  /// Activation checkpointing of the blocks in training (`nn::StackOptions::checkpoint`).
  TORCH_ARG(bool, checkpoint) = false;
  /// `Features::layers`: every block's MLP output before its residual (data2vec 2.0's teacher
  /// sets it: its targets; `nn::Block::forward_ffn`, run without activation checkpointing). Off: none kept.
  TORCH_ARG(bool, layer_outputs) = false;

 public:
  /// Width of the embeddings: `embedding_dim`, or `dim` when 0.
  [[nodiscard]] int64_t embedding_width() const { return embedding_dim_ > 0 ? embedding_dim_ : dim_; }
  /// The token states the pooled feature is made of: their mean (`mean_pool`), else the last
  /// non-padding token's (causal without a pooler), else the first token's.
  [[nodiscard]] Pooling pooling() const {
    if (mean_pool_) return Pooling::mean;
    return causal_ && !pooler_ ? Pooling::last_token : Pooling::first_token;
  }
  /// The options of each block.
  [[nodiscard]] nn::BlockOptions block() const {
    return nn::BlockOptions(dim_, heads_)
        .mlp_hidden(mlp_hidden_)
        .norm_first(norm_first_)
        .causal(causal_)
        .eps(eps_)
        .gelu(gelu_)
        .dropout(dropout_)
        .attn_dropout(attn_dropout_);
  }
};

/// BERT presets (Turc et al. 2019 sizes; `base` is BERT-base).
inline EncoderOptions bert_tiny(int64_t vocab) { return EncoderOptions(vocab, 128, 2, 2); }
/// BERT-mini: 256-d, 4 blocks, 4 heads.
inline EncoderOptions bert_mini(int64_t vocab) { return EncoderOptions(vocab, 256, 4, 4); }
/// BERT-small: 512-d, 4 blocks, 8 heads.
inline EncoderOptions bert_small(int64_t vocab) { return EncoderOptions(vocab, 512, 4, 8); }
/// BERT-base: 768-d, 12 blocks, 12 heads.
inline EncoderOptions bert_base(int64_t vocab) { return EncoderOptions(vocab, 768, 12, 12); }

/// Turns options into GPT-2's architecture: causal, pre-norm with a final norm, tanh GELU,
/// eps 1e-5, no segments, no embedding norm, no pooler.
inline EncoderOptions gpt(EncoderOptions o) {
  return o.causal(true).norm_first(true).gelu("tanh").eps(1e-5).type_vocab(0).embedding_norm(false).pooler(false).sep_id(-1);
}

/// Token + position (+ segment) embeddings, optionally normalised. Shared between ELECTRA's
/// generator and discriminator.
class EmbeddingsImpl : public torch::nn::Cloneable<EmbeddingsImpl> {
 public:
  /// The embeddings of an encoder with `options`.
  explicit EmbeddingsImpl(EncoderOptions options) : options(std::move(options)) { reset(); }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto E = options.embedding_width();
    tok = register_module("tok", torch::nn::Embedding(options.vocab(), E));
    pos = register_module("pos", torch::nn::Embedding(options.max_len(), E));
    if (options.type_vocab() > 0) seg = register_module("seg", torch::nn::Embedding(options.type_vocab(), E));
    if (options.embedding_norm())
      norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E}).eps(options.eps())));
  }

  /// `ids` `[B,N]` int64, `segments` `[B,N]` int64 or undefined -> `[B,N,E]`.
  Tensor forward(const Tensor& ids, const Tensor& segments) {
    Tensor x;
    if (options.padding_positions()) {  // RoBERTa: cumsum of the non-padding tokens, from pad_id + 1
      const auto real = (ids != options.pad_id()).to(torch::kInt64);
      x = tok(ids) + pos(real.cumsum(1) * real + options.pad_id());
    } else {
      x = tok(ids) + pos(torch::arange(ids.size(1), ids.options())).unsqueeze(0);
    }
    if (seg) x = x + seg(segments.defined() ? segments : torch::zeros_like(ids));
    if (norm) x = norm(x);
    return options.dropout() > 0 ? torch::dropout(x, options.dropout(), is_training()) : x;
  }

  EncoderOptions options;  ///< what they were built from
  torch::nn::Embedding tok{nullptr};  ///< token embeddings `[vocab, E]`
  torch::nn::Embedding pos{nullptr};  ///< learned position embeddings `[max_len, E]`
  torch::nn::Embedding seg{nullptr};  ///< segment embeddings `[type_vocab, E]` (none when 0)
  torch::nn::LayerNorm norm{nullptr};  ///< over the summed embeddings (with `embedding_norm`)
};
TORCH_MODULE(Embeddings);

/// Segment ids of BERT's pair layout: 1 after the first `[SEP]` (up to and including the
/// second), 0 before and on padding.
inline Tensor segments_from_sep(const Tensor& ids, int64_t sep_id, int64_t pad_id) {
  auto is_sep = (ids == sep_id).to(torch::kInt64);
  auto before = is_sep.cumsum(1) - is_sep;  // [SEP]s strictly before each position
  return ((before >= 1) & (ids != pad_id)).to(torch::kInt64);
}

/// The text backbone. `forward(Masked)` reads token ids `m.input` (`[B,N]` int64, `N <=
/// max_len`) and gives `tokens` `[B,N,D]` and `pooled` `[B,D]`. With `m.ids_keep` `[B,K]`
/// (data2vec 2.0's masking, masker::RandomTokens) it encodes only those positions, each with
/// its own position embedding, and gives `tokens` `[B,K,D]` in `ids_keep`'s order (MAE's
/// visible-only encoding, on text); padding among them is not attended to.
class EncoderImpl : public torch::nn::Cloneable<EncoderImpl> {
 public:
  /// An encoder with its own embeddings.
  explicit EncoderImpl(EncoderOptions options) : options(std::move(options)) { reset(); }
  /// An encoder that uses (and trains) `shared` embeddings: ELECTRA's generator.
  EncoderImpl(EncoderOptions options, Embeddings shared) : options(std::move(options)), shared_(std::move(shared)) {
    reset();
  }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    TORCH_CHECK(options.vocab() > 0 && options.dim() > 0 && options.depth() >= 0 && options.max_len() > 0,
                "text::Encoder: expected positive vocab, dim, max_len and depth >= 0; got vocab ", options.vocab(),
                ", dim ", options.dim(), ", depth ", options.depth(), ", max_len ", options.max_len());
    TORCH_CHECK(options.heads() > 0, "text::Encoder: EncoderOptions::heads (attention heads) must be positive, got ",
                options.heads());
    TORCH_CHECK(options.dim() % options.heads() == 0, "text::Encoder: EncoderOptions::dim (", options.dim(),
                ") must be divisible by EncoderOptions::heads (", options.heads(), ")");
    TORCH_CHECK(options.mlp_hidden() > 0, "text::Encoder: EncoderOptions::mlp_hidden must be positive, got ",
                options.mlp_hidden());
    if (shared_) {
      const auto& so = shared_->options;
      TORCH_CHECK(so.vocab() == options.vocab() && so.embedding_width() == options.embedding_width() &&
                      so.max_len() == options.max_len() && so.type_vocab() == options.type_vocab(),
                  "text::Encoder: shared embeddings have vocab ", so.vocab(), ", width ", so.embedding_width(),
                  ", max_len ", so.max_len(), ", type_vocab ", so.type_vocab(), "; this encoder expects ",
                  options.vocab(), ", ", options.embedding_width(), ", ", options.max_len(), ", ",
                  options.type_vocab());
      embeddings = register_module("embeddings", shared_);
    } else {
      embeddings = register_module("embeddings", Embeddings(options));
    }
    if (options.embedding_width() != options.dim())
      proj = register_module("proj", torch::nn::Linear(options.embedding_width(), options.dim()));
    nn::StackOptions so(options.dim(), options.depth(), options.heads());
    so.block(options.block()).checkpoint(options.checkpoint());
    blocks = register_module("blocks", nn::Stack(so));
    if (options.norm_first())
      norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.dim()}).eps(options.eps())));
    if (options.pooler()) pooler = register_module("pooler", torch::nn::Linear(options.dim(), options.dim()));
  }

  /// The token states `[B,N,D]` and pooled feature `[B,D]` of the ids `m.input` (see the class comment).
  Features forward(const Masked& m) {
    const auto& ids = m.input;
    ssl::detail::check_dim(ids, 2, "text::Encoder", "token ids [B,N]");
    TORCH_CHECK(ids.scalar_type() == torch::kInt64, "text::Encoder: expected int64 token ids, got ",
                ids.scalar_type());
    const int64_t longest = options.max_len() - (options.padding_positions() ? options.pad_id() + 1 : 0);
    if (options.padding_positions())
      TORCH_CHECK(ids.size(1) >= 1 && ids.size(1) <= longest, "text::Encoder: sequence length ", ids.size(1),
                  " is outside [1, ", longest, "] (max_len = ", options.max_len(), " less the pad_id + 1 = ",
                  options.pad_id() + 1, " positions RoBERTa reserves)");
    TORCH_CHECK(ids.size(1) >= 1 && ids.size(1) <= options.max_len(), "text::Encoder: sequence length ",
                ids.size(1), " is outside [1, max_len = ", options.max_len(), "]");
    if (!ids.is_cuda() && ids.numel() > 0) {  // a host-side check is free on the CPU
      const auto [min, max] = at::aminmax(ids);  // one pass over the ids
      const auto lo = min.item<int64_t>(), hi = max.item<int64_t>();
      TORCH_CHECK(lo >= 0 && hi < options.vocab(), "text::Encoder: token ids must be in [0, ", options.vocab(),
                  "), got values in [", lo, ", ", hi, "]");
    }
    Tensor segments;
    if (options.type_vocab() > 0 && options.sep_id() >= 0)
      segments = segments_from_sep(ids, options.sep_id(), options.pad_id());
    auto x = embeddings(ids, segments);
    if (proj) x = proj(x);
    auto not_pad = ids != options.pad_id();
    if (m.ids_keep.defined()) {
      TORCH_CHECK(!options.causal(), "text::Encoder: a causal encoder cannot encode a subset of positions (ids_keep)");
      TORCH_CHECK(m.ids_keep.dim() == 2 && m.ids_keep.size(0) == ids.size(0) && m.ids_keep.size(1) <= ids.size(1) &&
                      m.ids_keep.scalar_type() == torch::kInt64,
                  "text::Encoder: expected ids_keep as int64 [", ids.size(0), ", K <= ", ids.size(1), "], got ",
                  ssl::detail::shape_str(m.ids_keep), " ", m.ids_keep.scalar_type());
      x = x.gather(1, m.ids_keep.unsqueeze(-1).expand({-1, -1, x.size(2)}));
      not_pad = not_pad.gather(1, m.ids_keep);
    }
    std::optional<Tensor> keep;
    if (!options.causal() && options.pad_id() >= 0) keep = not_pad;
    std::vector<Tensor> layers;
    if (options.layer_outputs()) std::tie(x, layers) = blocks->forward_ffn(x, keep);
    else x = blocks(x, keep);
    if (norm) x = norm(x);
    auto pooled = pool_tokens(x, not_pad);
    if (pooler) pooled = torch::tanh(pooler(pooled));
    return {x, pooled, std::move(layers)};
  }

  /// The sentence feature `[B,D]` of token states `x` `[B,N,D]` before the pooler, as
  /// `options.pooling()` says: the mean of the tokens where `not_pad` (`[B,N]` bool) holds, the
  /// last non-padding token's state (right padding), or the first token's.
  Tensor pool_tokens(const Tensor& x, const Tensor& not_pad) const {
    switch (options.pooling()) {
      case Pooling::mean: {
        auto w = not_pad.to(x.scalar_type()).unsqueeze(-1);
        return (x * w).sum(1) / w.sum(1).clamp_min(1.0);
      }
      case Pooling::last_token: {
        auto last = (not_pad.to(torch::kInt64).sum(1) - 1).clamp_min(0);
        return x.gather(1, last.view({-1, 1, 1}).expand({-1, 1, x.size(2)})).squeeze(1);
      }
      case Pooling::first_token: break;
    }
    return x.select(1, 0);
  }

  /// Width D of the features.
  [[nodiscard]] int64_t dim() const { return options.dim(); }

  EncoderOptions options;  ///< what the encoder was built from
  Embeddings embeddings{nullptr};  ///< token, position and segment embeddings (possibly shared)
  torch::nn::Linear proj{nullptr};    ///< embedding width -> dim (when they differ)
  torch::nn::Linear pooler{nullptr};  ///< BERT's pooler dense layer (with `pooler`)
  nn::Stack blocks{nullptr};  ///< the Transformer blocks
  torch::nn::LayerNorm norm{nullptr};  ///< final LayerNorm (pre-norm encoders only)

 private:
  Embeddings shared_{nullptr};
};
TORCH_MODULE(Encoder);

/// BERT's initialisation: normal(0, std) for linear and embedding weights, zero biases, unit
/// LayerNorm, zero padding row. (GPT-2 additionally scales its residual projections; use
/// `init_gpt2_weights`.)
inline void init_bert_weights(torch::nn::Module& m, double std = 0.02, int64_t pad_id = -1) {
  torch::NoGradGuard g;
  for (auto& item : m.named_modules("", /*include_self=*/true)) {
    auto& mod = item.value();
    if (auto* lin = mod->as<torch::nn::LinearImpl>()) {
      lin->weight.normal_(0.0, std);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* emb = mod->as<torch::nn::EmbeddingImpl>()) {
      emb->weight.normal_(0.0, std);
      if (pad_id >= 0 && pad_id < emb->weight.size(0) && item.key().ends_with("tok")) emb->weight[pad_id].zero_();
    } else if (auto* ln = mod->as<torch::nn::LayerNormImpl>()) {
      if (ln->weight.defined()) ln->weight.fill_(1.0);
      if (ln->bias.defined()) ln->bias.zero_();
    }
  }
}

/// GPT-2's initialisation: `init_bert_weights`, then the blocks' output projections
/// (`attn.proj`, `mlp.fc2`) scaled by `1/sqrt(2 * depth)`.
inline void init_gpt2_weights(torch::nn::Module& m, int64_t depth, double std = 0.02) {
  init_bert_weights(m, std);
  torch::NoGradGuard g;
  const double s = std / std::sqrt(2.0 * double(depth));
  for (auto& item : m.named_parameters()) {
    const auto& k = item.key();
    if (k.ends_with("attn.proj.weight") || k.ends_with("mlp.fc2.weight")) item.value().normal_(0.0, s);
  }
}

}  // namespace ssl::text
