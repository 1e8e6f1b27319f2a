#pragma once
/// \file target/visual_tokens.hpp
/// BEiT's target: the discrete visual token of every hidden patch. A `VisualTokenizer`
/// (`tokenizer::KMeans`, `tokenizer::VQVAE`, or any module with the same three members) turns the
/// clean view into one token per patch; the target is `TokenLabels{labels [B, N]}` with the token where the
/// masker hid the patch and -100 elsewhere, the convention of `loss::CrossEntropy` (the loss BERT's
/// masked LM uses). The tokenizer is frozen: registered (checkpoints and `.to(device)` carry
/// it) with `requires_grad = false`, evaluated without gradient in eval mode.
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/target/tokens.hpp>

#include <torch/torch.h>

#include <vector>

namespace ssl {

/// Turns images into visual tokens. Smallest model: a module holder with
/// `Tensor encode(const Tensor& images)` -> `[B, N]` int64 in `[0, vocab_size())`, one per patch
/// in row-major order, and `int64_t vocab_size()`, `int64_t patch()`.
template <class T>
concept VisualTokenizer = detail::module_holder<T> && requires(T t, const torch::Tensor& x) {
  { t->encode(x) } -> std::convertible_to<torch::Tensor>;
  { t->vocab_size() } -> std::convertible_to<int64_t>;
  { t->patch() } -> std::convertible_to<int64_t>;
};

namespace target {

/// BEiT's target as a module (held by `VisualTokens`): the frozen tokenizer, registered so that
/// checkpoints and `.to(device)` carry it.
template <VisualTokenizer Tok>
class VisualTokensImpl : public torch::nn::Cloneable<VisualTokensImpl<Tok>> {
 public:
  /// The target of a trained `tokenizer` (shared, not copied; frozen by `reset`).
  explicit VisualTokensImpl(Tok tokenizer) : tokenizer(std::move(tokenizer)) { reset(); }

  /// Registers the tokenizer as `tokenizer` and turns its gradient off.
  void reset() override {
    this->register_module("tokenizer", tokenizer.ptr());
    for (auto& p : tokenizer->parameters()) p.requires_grad_(false);
  }

  /// `{.tokens = [B, N]}`: the token of each patch of `v.global[0]` where the first view's mask
  /// hides it, -100 elsewhere. The mask is required and must be the tokenizer's patch grid.
  TokenLabels forward(const Views& v, const Prediction& p) {
    TORCH_CHECK(!v.global.empty() && !p.masked.empty() && p.masked[0].mask.defined(),
                "target::VisualTokens: expected a view and a masker that hides patches (Masked::mask)");
    torch::NoGradGuard g;
    const bool was_training = tokenizer->is_training();
    tokenizer->eval();
    auto tokens = tokenizer->encode(v.global[0]).to(torch::kLong);
    tokenizer->train(was_training);
    const auto& mask = p.masked[0].mask;
    TORCH_CHECK(tokens.sizes() == mask.sizes(), "target::VisualTokens: the tokenizer gives ",
                ssl::detail::shape_str(tokens), " tokens but the masker's mask is ", ssl::detail::shape_str(mask),
                ": tokenizer patch ", tokenizer->patch(), " must equal the encoder's patch");
    return {torch::where(mask, tokens, torch::full_like(tokens, ignore_index)), {}};
  }

  Tok tokenizer;  ///< the frozen visual tokenizer
};

/// The module holder. Example: `target::VisualTokens<tokenizer::KMeans>(tokenizer::fit_kmeans(images))`.
template <VisualTokenizer Tok>
class VisualTokens : public torch::nn::ModuleHolder<VisualTokensImpl<Tok>> {
 public:
  using torch::nn::ModuleHolder<VisualTokensImpl<Tok>>::ModuleHolder;
  /// The target of the views (`VisualTokensImpl::forward`).
  TokenLabels operator()(const Views& v, const Prediction& p) { return this->get()->forward(v, p); }
};

}  // namespace target
}  // namespace ssl
