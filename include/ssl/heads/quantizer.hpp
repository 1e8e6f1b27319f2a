#pragma once
/// \file heads/quantizer.hpp
/// wav2vec 2.0's head (Baevski et al., 2020, section 2; Hugging Face's
/// `Wav2Vec2GumbelVectorQuantizer` and the projections of `Wav2Vec2ForPreTraining`):
/// - `GumbelQuantizer`: a product quantiser. A linear map gives G groups of V logits per frame;
///   each group picks one of its V learnt entries (training: a straight-through Gumbel softmax
///   with temperature tau; evaluation: the argmax), and the G picked entries are concatenated.
///   Its perplexity is the sum over groups of exp(entropy) of the mean choice distribution over
///   the hidden frames (training: of the softmax without noise; evaluation: of the one-hot picks).
/// - `QuantizedContext`: the student's head. Its main output projects the context vectors
///   (`project_hid`); `HeadOutput::codes` quantises the unmasked local features
///   (`Features::local`) and projects them (`project_q`), the targets the context vectors must
///   identify among distractors (target/distractors.hpp); `HeadOutput::diversity` is the
///   codebook-diversity penalty 1 - perplexity / (G V).
///
/// The Gumbel temperature falls per optimizer step as fairseq's `latent_temp` (2, 0.5,
/// 0.999995): `max(start * decay^step, end)` (`ssl::StepAware`).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace ssl::heads {

/// Options of `GumbelQuantizer`: `GumbelQuantizerOptions(512).groups(2).entries(320).dim(256)`.
struct GumbelQuantizerOptions {
  /// A quantiser of `in`-wide features.
  explicit GumbelQuantizerOptions(int64_t in) : in_(in) {}
  TORCH_ARG(int64_t, in);             ///< the features' width
  TORCH_ARG(int64_t, groups) = 2;     ///< G, codebooks (the paper: 2)
  TORCH_ARG(int64_t, entries) = 320;  ///< V, entries per codebook (the paper: 320)
  TORCH_ARG(int64_t, dim) = 256;      ///< the quantised vector's width, G entries of dim / G
};

/// The product quantiser (see the file comment). Initialised as Hugging Face's: the logits' map
/// normal(0, 1) with zero bias, the entries uniform(0, 1).
class GumbelQuantizerImpl : public torch::nn::Cloneable<GumbelQuantizerImpl> {
 public:
  /// A quantiser of `options`.
  explicit GumbelQuantizerImpl(GumbelQuantizerOptions options) : options(std::move(options)) { reset(); }
  /// Builds `logits` and `codebook` (`clone()` calls it too).
  void reset() override {
    const auto G = options.groups(), V = options.entries();
    TORCH_CHECK(options.in() > 0 && G > 0 && V > 0 && options.dim() > 0 && options.dim() % G == 0,
                "heads::GumbelQuantizer: expected positive in, groups, entries and dim with groups dividing dim, got ",
                options.in(), ", ", G, ", ", V, ", ", options.dim());
    logits = register_module("logits", torch::nn::Linear(options.in(), G * V));
    codebook = register_parameter("codebook", torch::rand({1, G * V, options.dim() / G}));
    torch::NoGradGuard g;
    logits->weight.normal_(0.0, 1.0);
    logits->bias.zero_();
  }

  /// `x` `[B, F, in]`, `mask` `[B, F]` bool (the frames the perplexity is taken over; undefined:
  /// all) -> `{[B, F, dim] quantised, perplexity}`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& mask = {}) {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == options.in(), "heads::GumbelQuantizer: expected features [B, F, ",
                options.in(), "], got ", ssl::detail::shape_str(x));
    const auto B = x.size(0), F = x.size(1), G = options.groups(), V = options.entries();
    auto l = logits(x).view({B * F * G, V});
    torch::Tensor probs, perplexity;
    if (is_training()) {
      probs = torch::nn::functional::gumbel_softmax(
                  l.to(torch::kFloat32), torch::nn::functional::GumbelSoftmaxFuncOptions().tau(tau).hard(true).dim(-1))
                  .to(l.dtype());
      perplexity = perplexity_of(torch::softmax(l.view({B * F, G, V}).to(torch::kFloat32), -1), mask);
    } else {
      probs = torch::zeros_like(l).scatter_(-1, l.argmax(-1, true), 1.0);
      perplexity = perplexity_of(probs.view({B * F, G, V}), mask);
    }
    // each group's choice weights times its entries: [G, B F, V] x [G, V, dim / G] (the reference
    // multiplies [B F, G V, 1] by [1, G V, dim / G] and sums over V: the same sums, without the
    // B F x G V x dim / G intermediate)
    auto q = torch::bmm(probs.view({B * F, G, V}).transpose(0, 1), codebook.view({G, V, -1}));
    return {q.transpose(0, 1).reshape({B, F, -1}), perplexity};
  }

  /// Sum over groups of exp(entropy) of `probs` `[R, G, V]` averaged over the rows `mask` keeps.
  static torch::Tensor perplexity_of(const torch::Tensor& probs, const torch::Tensor& mask) {
    torch::Tensor marginal;
    if (mask.defined()) {
      auto m = mask.reshape({-1, 1, 1}).expand(probs.sizes());
      marginal = torch::where(m, probs, torch::zeros_like(probs)).sum(0) / mask.sum();
    } else {
      marginal = probs.mean(0);
    }
    return torch::exp(-torch::xlogy(marginal, marginal).sum(-1)).sum();
  }

  GumbelQuantizerOptions options;        ///< what it was built from
  double tau = 2.0;                      ///< the Gumbel softmax's temperature (training)
  torch::nn::Linear logits{nullptr};     ///< features -> G x V logits (`weight_proj`)
  torch::Tensor codebook;                ///< `[1, G V, dim / G]` the entries (`codevectors`)
};
TORCH_MODULE(GumbelQuantizer);

/// Options of `QuantizedContext`, for context vectors of width `dim` and local features of width
/// `local`. The defaults are the paper's base model.
struct QuantizedContextOptions {
  /// The head of an encoder with `dim`-wide context vectors and `local`-wide local features.
  QuantizedContextOptions(int64_t dim, int64_t local) : dim_(dim), local_(local) {}
  TORCH_ARG(int64_t, dim);              ///< the context vectors' width
  TORCH_ARG(int64_t, local);            ///< the local features' width
  TORCH_ARG(int64_t, groups) = 2;       ///< the quantiser's codebooks G
  TORCH_ARG(int64_t, entries) = 320;    ///< entries per codebook V
  TORCH_ARG(int64_t, code_dim) = 256;   ///< the quantised vectors' width (`codevector_dim`)
  TORCH_ARG(int64_t, proj_dim) = 256;   ///< both projections' width (`proj_codevector_dim`)
  TORCH_ARG(double, feature_dropout) = 0.1;  ///< dropout on the local features (`dropout_features`)
  TORCH_ARG(double, tau_start) = 2.0;        ///< the Gumbel temperature at step 0
  TORCH_ARG(double, tau_end) = 0.5;          ///< its floor
  TORCH_ARG(double, tau_decay) = 0.999995;   ///< its factor per optimizer step
};

/// wav2vec 2.0's head (see the file comment): `HeadOutput{out, codes, diversity}`.
class QuantizedContextImpl : public torch::nn::Cloneable<QuantizedContextImpl> {
 public:
  /// The Gumbel temperature follows the optimizer steps (ssl::StepAware): Compose calls `set_step`.
  static constexpr unsigned hooks = hook::step;

  /// A head of `options`.
  explicit QuantizedContextImpl(QuantizedContextOptions options) : options(std::move(options)) { reset(); }
  /// Builds the projections and the quantiser (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    TORCH_CHECK(o.feature_dropout() >= 0 && o.feature_dropout() < 1,
                "heads::QuantizedContext: feature_dropout must be in [0, 1), got ", o.feature_dropout());
    TORCH_CHECK(o.tau_start() > 0 && o.tau_end() > 0 && o.tau_decay() > 0 && o.tau_decay() <= 1,
                "heads::QuantizedContext: the Gumbel temperatures must be positive and tau_decay in (0, 1], got ",
                o.tau_start(), ", ", o.tau_end(), ", ", o.tau_decay());
    project_hid = register_module("project_hid", torch::nn::Linear(o.dim(), o.proj_dim()));
    quantizer = register_module(
        "quantizer", GumbelQuantizer(GumbelQuantizerOptions(o.local()).groups(o.groups()).entries(o.entries()).dim(o.code_dim())));
    project_q = register_module("project_q", torch::nn::Linear(o.code_dim(), o.proj_dim()));
    quantizer->tau = o.tau_start();
  }

  /// `f.tokens` `[B, F, dim]` and `f.local` `[B, F, local]`; `m.mask` `[B, F]` the hidden frames.
  HeadOutput forward(const Features& f, const Masked& m) {
    TORCH_CHECK(f.local.defined(), "heads::QuantizedContext: expected the backbone's local features (Features::local, "
                                   "audio::Encoder), got none");
    auto local = options.feature_dropout() > 0 ? torch::dropout(f.local, options.feature_dropout(), is_training()) : f.local;
    auto [q, perplexity] = quantizer(local, m.mask);
    const double entries = double(options.groups() * options.entries());
    return {.out = project_hid(f.tokens), .codes = project_q(q.to(project_q->weight.dtype())),
            .diversity = (entries - perplexity) / entries};
  }

  /// The Gumbel temperature of step `i.step`: `max(tau_start * tau_decay^step, tau_end)`.
  void set_step(const StepInfo& i) {
    quantizer->tau = std::max(options.tau_start() * std::pow(options.tau_decay(), double(i.step)), options.tau_end());
  }

  QuantizedContextOptions options;       ///< what it was built from
  torch::nn::Linear project_hid{nullptr};  ///< context vectors -> proj_dim
  GumbelQuantizer quantizer{nullptr};    ///< local features -> quantised vectors
  torch::nn::Linear project_q{nullptr};  ///< quantised vectors -> proj_dim
};
TORCH_MODULE(QuantizedContext);

}  // namespace ssl::heads
