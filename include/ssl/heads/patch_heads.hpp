#pragma once
/// \file heads/patch_heads.hpp
/// Heads that predict per patch, for masked image modelling with a ViT:
///  - `PatchLogits` (BEiT): a linear layer from the encoder's patch tokens to the visual-token
///    vocabulary, applied at the hidden patches only (`[M, vocab]` for the M hidden patches in
///    row-major order, the form `loss::CrossEntropy` accepts for labels -100 elsewhere).
///  - `IBOTHead` (iBOT / DINOv2): DINO heads for the CLS token (`HeadOutput::out`, `[B, K]`) and
///    for the patch tokens at the hidden positions (`HeadOutput::patches`, `[M, K']`, only when
///    the view is masked); one head shared by both (the iBOT paper's default) or two.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/heads/dino_head.hpp>

#include <torch/torch.h>

#include <optional>

namespace ssl::heads {

namespace detail {
/// The patch tokens (`tokens[:, 1:]`) at the hidden positions of `mask` `[B, N]`: `[M, D]`.
inline torch::Tensor hidden_patch_tokens(const Features& f, const torch::Tensor& mask, const char* who) {
  const auto N = f.tokens.size(1) - 1;
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == f.tokens.size(0) && mask.size(1) == N, who, ": expected a mask [",
              f.tokens.size(0), ", ", N, "] over the patch tokens, got ", ssl::detail::shape_str(mask));
  return f.tokens.narrow(1, 1, N).index({mask});
}
}  // namespace detail

/// Example: `heads::PatchLogits(128, 256)`.
class PatchLogitsImpl : public torch::nn::Cloneable<PatchLogitsImpl> {
 public:
  /// A linear map from `dim`-wide patch tokens to logits over `vocab` visual tokens (BEiT's head).
  PatchLogitsImpl(int64_t dim, int64_t vocab) : dim(dim), vocab(vocab) { reset(); }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    TORCH_CHECK(dim > 0 && vocab > 1, "heads::PatchLogits: expected dim > 0 and vocab > 1, got ", dim, " and ", vocab);
    linear = register_module("linear", torch::nn::Linear(dim, vocab));
    torch::NoGradGuard g;
    ssl::heads::detail::trunc_normal_(linear->weight, 0.0, 0.02, -2.0, 2.0);
    linear->bias.zero_();
  }
  /// `[M, vocab]` at the hidden patches (`[B, N, vocab]` for every patch when nothing is masked).
  torch::Tensor forward(const Features& f, const Masked& m) {
    TORCH_CHECK(f.tokens.defined() && f.tokens.dim() == 3 && f.tokens.size(2) == dim,
                "heads::PatchLogits: expected tokens [B, 1+N, ", dim, "] (CLS first), got ",
                ssl::detail::shape_str(f.tokens));
    if (!m.mask.defined()) return linear(f.tokens.narrow(1, 1, f.tokens.size(1) - 1));
    return linear(detail::hidden_patch_tokens(f, m.mask, "heads::PatchLogits"));
  }
  int64_t dim;                        ///< width of the patch tokens
  int64_t vocab;                      ///< visual tokens (the logits' width)
  torch::nn::Linear linear{nullptr};  ///< dim -> vocab
};
TORCH_MODULE(PatchLogits);

/// Example: `heads::IBOTHead(DINOHeadOptions(64).output_dim(1024), /*shared=*/true)`.
class IBOTHeadImpl : public torch::nn::Cloneable<IBOTHeadImpl> {
 public:
  /// Its last layer is frozen in the first epoch (ssl::StepAware): Compose must call `set_step`.
  static constexpr unsigned hooks = hook::step;
  /// `patch_options` is used only when the heads are not shared.
  IBOTHeadImpl(DINOHeadOptions cls_options, bool shared = true, std::optional<DINOHeadOptions> patch_options = {})
      : cls_options(std::move(cls_options)), shared(shared), patch_options(patch_options.value_or(this->cls_options)) {
    reset();
  }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    cls = register_module("cls", DINOHead(cls_options));
    if (!shared) patch = register_module("patch", DINOHead(patch_options));
  }
  /// The head of the patch tokens (the CLS head when shared).
  DINOHead& patch_head() { return shared ? cls : patch; }

  /// `{.out, .patches}`: the CLS head on the CLS token (`[B,out_dim]`) and, when `m.mask` is
  /// defined, the patch head on the hidden patch tokens (`[M,patch_out_dim]`).
  HeadOutput forward(const Features& f, const Masked& m) {
    TORCH_CHECK(f.tokens.defined() && f.tokens.dim() == 3, "heads::IBOTHead: expected ViT tokens [B, 1+N, D], got ",
                ssl::detail::shape_str(f.tokens));
    HeadOutput out{.out = cls->forward(f.tokens.select(1, 0))};
    if (m.mask.defined()) out.patches = patch_head()->forward(detail::hidden_patch_tokens(f, m.mask, "heads::IBOTHead"));
    return out;
  }
  /// Frozen-last-layer epochs of both heads (`Compose::before_step`).
  void set_step(const StepInfo& i) {
    cls->set_step(i);
    if (!shared) patch->set_step(i);
  }
  /// Width of the CLS head's output.
  [[nodiscard]] int64_t out_dim() const { return cls_options.output_dim(); }
  /// Width of the patch head's output.
  [[nodiscard]] int64_t patch_out_dim() const { return shared ? cls_options.output_dim() : patch_options.output_dim(); }

  DINOHeadOptions cls_options;  ///< the CLS head's options
  bool shared;  ///< one head for the CLS and the patch tokens
  DINOHeadOptions patch_options;  ///< the patch head's options (unused when shared)
  DINOHead cls{nullptr};    ///< the CLS token's head
  DINOHead patch{nullptr};  ///< the patch tokens' head (none when shared)
};
TORCH_MODULE(IBOTHead);

}  // namespace ssl::heads
