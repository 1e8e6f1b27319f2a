#pragma once
/// \file heads/jepa.hpp
/// I-JEPA's two heads (Assran et al., 2023; the official `src/models/vision_transformer.py` and
/// `src/train.py`):
/// - `JepaPredictor`, the student's head: a narrow ViT over the context tokens and one mask token
///   per patch of a target block. The context tokens are projected to the predictor's width and
///   given fixed sin-cos positions; each target block is predicted apart (its mask tokens, with
///   their positions, appended to a copy of the context), and the outputs at the mask tokens are
///   projected back to the encoder's width: `[G*B, M, E]`, block-major (block g of image b at
///   row `g * B + b`), as the reference's `apply_masks` orders them.
/// - `BlockTokens`, the teacher's head: the teacher's patch tokens, layer-normed over the
///   features without affine parameters (`F.layer_norm(h, (D,))`), at the same target blocks, in
///   the same order: the regression target.
/// Both read the target blocks from `Masked::blocks` (masker::MultiBlock) and drop the encoder's
/// `prefix_tokens` leading tokens (the CLS token of `vit::Encoder`; the reference's ViT has none).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/heads/dino_head.hpp>
#include <ssl/nn/transformer.hpp>
#include <ssl/vit/encoder.hpp>

#include <cmath>

namespace ssl::heads {

namespace detail {
/// `x` `[B, N, D]` at `blocks` `[B, G, M]` -> `[G*B, M, D]`, block-major (the reference's `apply_masks`).
inline torch::Tensor gather_blocks(const torch::Tensor& x, const torch::Tensor& blocks, const char* who) {
  TORCH_CHECK(blocks.defined() && blocks.dim() == 3 && blocks.size(0) == x.size(0), who,
              ": expected the target blocks Masked::blocks as [B, G, M] with B = ", x.size(0), " (masker::MultiBlock), got ",
              blocks.defined() ? ssl::detail::shape_str(blocks) : std::string("none"));
  const auto B = x.size(0), G = blocks.size(1), M = blocks.size(2);
  auto idx = blocks.transpose(0, 1).reshape({G * B, M});
  return x.repeat({G, 1, 1}).gather(1, idx.unsqueeze(-1).expand({-1, -1, x.size(2)}));
}

/// The encoder's tokens without its `prefix` leading ones, checked against the patch count `n`
/// when `n > 0`.
inline torch::Tensor patch_tokens(const Features& f, int64_t prefix, const char* who) {
  TORCH_CHECK(f.tokens.defined() && f.tokens.dim() == 3 && f.tokens.size(1) > prefix, who,
              ": expected the encoder's tokens [B, ", prefix, " + K, D], got ",
              f.tokens.defined() ? ssl::detail::shape_str(f.tokens) : std::string("none"));
  return f.tokens.narrow(1, prefix, f.tokens.size(1) - prefix);
}
}  // namespace detail

/// I-JEPA's initialisation of a module `m` whose Transformer blocks are `blocks` (the reference's
/// `_init_weights` and `fix_init_weight`): every Linear and Conv2d weight truncated-normal (std
/// `std`, on [-2, 2]), their biases 0, LayerNorms 1 and 0; then each block's output projections
/// (`attn.proj`, `mlp.fc2`) divided by sqrt(2 x its 1-based index). `ijepa::recipe` applies it to
/// the encoder too.
inline void init_jepa_weights(torch::nn::Module& m, nn::Stack& blocks, double std) {
  torch::NoGradGuard g;
  for (auto& item : m.named_modules("", /*include_self=*/false)) {
    auto& mod = *item.value();
    torch::Tensor w, b;
    if (auto* lin = mod.as<torch::nn::LinearImpl>()) w = lin->weight, b = lin->bias;
    else if (auto* conv = mod.as<torch::nn::Conv2dImpl>()) w = conv->weight, b = conv->bias;
    else if (auto* ln = mod.as<torch::nn::LayerNormImpl>()) {
      if (ln->weight.defined()) ln->weight.fill_(1.0);
      if (ln->bias.defined()) ln->bias.zero_();
      continue;
    }
    if (w.defined()) detail::trunc_normal_(w, 0.0, std, -2.0, 2.0);
    if (b.defined()) b.zero_();
  }
  for (int64_t i = 0; i < blocks->options.depth(); ++i) {
    auto& blk = blocks->block(i);
    blk->attn->proj->weight.div_(std::sqrt(2.0 * double(i + 1)));
    blk->mlp->fc2->weight.div_(std::sqrt(2.0 * double(i + 1)));
  }
}

/// Example: `JepaPredictorOptions(encoder_opts).dim(64).depth(2).heads(4)`.
struct JepaPredictorOptions {
  /// A predictor for the ViT encoder `encoder` (its width, patch grid and LayerNorm epsilon).
  explicit JepaPredictorOptions(const vit::Options& encoder)
      : encoder_dim_((vit::check_options(encoder, "heads::JepaPredictorOptions"), encoder.dim())),
        grid_(encoder.grid()), eps_(encoder.eps()) {}
  TORCH_ARG(int64_t, encoder_dim);       ///< width of the encoder's tokens (in and out)
  TORCH_ARG(int64_t, grid);              ///< patches per image side
  TORCH_ARG(double, eps);                ///< LayerNorm epsilon (the reference: 1e-6)
  TORCH_ARG(int64_t, dim) = 64;          ///< the predictor's width (`pred_emb_dim`; the reference: 384)
  TORCH_ARG(int64_t, depth) = 2;         ///< the predictor's blocks (`pred_depth`; the reference: 6 to 12)
  TORCH_ARG(int64_t, heads) = 4;         ///< its attention heads (must divide dim)
  TORCH_ARG(int64_t, mlp_hidden) = 0;    ///< 0 = 4 x dim
  TORCH_ARG(int64_t, prefix_tokens) = 1; ///< leading encoder tokens that are not patches (vit::Encoder's CLS)
  TORCH_ARG(double, init_std) = 0.02;    ///< std of the truncated-normal initialisation
};

/// I-JEPA's predictor (see the file comment). Parameter names: `embed`, `mask_token`, `blocks`,
/// `norm`, `proj` (the reference's `predictor_embed`, `mask_token`, `predictor_blocks`,
/// `predictor_norm`, `predictor_proj`); `pos_embed` is a fixed buffer.
class JepaPredictorImpl : public torch::nn::Cloneable<JepaPredictorImpl> {
 public:
  /// A predictor as `options` says, initialised as the reference's.
  explicit JepaPredictorImpl(JepaPredictorOptions options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too)
  /// by `init_jepa_weights`, the mask token truncated-normal as the weights.
  void reset() override {
    const auto& o = options;
    TORCH_CHECK(o.dim() > 0 && o.depth() >= 1 && o.heads() > 0 && o.dim() % o.heads() == 0,
                "heads::JepaPredictor: expected dim > 0, depth >= 1 and heads dividing dim, got dim ", o.dim(),
                ", depth ", o.depth(), ", heads ", o.heads());
    TORCH_CHECK(o.prefix_tokens() >= 0, "heads::JepaPredictor: prefix_tokens must be >= 0, got ", o.prefix_tokens());
    const auto hidden = o.mlp_hidden() > 0 ? o.mlp_hidden() : 4 * o.dim();
    embed = register_module("embed", torch::nn::Linear(o.encoder_dim(), o.dim()));
    mask_token = register_parameter("mask_token", torch::zeros({1, 1, o.dim()}));
    pos_embed = register_buffer("pos_embed", vit::sincos_2d(o.dim(), o.grid(), /*cls=*/false));
    blocks = register_module(
        "blocks", nn::Stack(nn::StackOptions(o.dim(), o.depth(), o.heads())
                                .block(nn::BlockOptions(o.dim(), o.heads()).mlp_hidden(hidden).eps(o.eps()))));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(o.eps())));
    proj = register_module("proj", torch::nn::Linear(o.dim(), o.encoder_dim()));
    init_jepa_weights(*this, blocks, o.init_std());
    torch::NoGradGuard g;
    detail::trunc_normal_(mask_token, 0.0, o.init_std(), -2.0, 2.0);
  }

  /// `f.tokens` `[B, prefix + K, E]`: the encoded context patches `m.ids_keep` `[B, K]`;
  /// `m.blocks` `[B, G, M]`: the target blocks. Returns `[G*B, M, E]` (see the file comment).
  torch::Tensor forward(const Features& f, const Masked& m) {
    const char* who = "heads::JepaPredictor";
    auto x = detail::patch_tokens(f, options.prefix_tokens(), who);
    const auto B = x.size(0), K = x.size(1);
    TORCH_CHECK(m.ids_keep.defined() && m.ids_keep.dim() == 2 && m.ids_keep.size(0) == B && m.ids_keep.size(1) == K, who,
                ": expected the context patches Masked::ids_keep as [", B, ", ", K, "] (masker::MultiBlock), got ",
                m.ids_keep.defined() ? ssl::detail::shape_str(m.ids_keep) : std::string("none"));
    const auto N = pos_embed.size(1);
    TORCH_CHECK(m.ids_keep.max().item<int64_t>() < N && (!m.blocks.defined() || m.blocks.max().item<int64_t>() < N), who,
                ": built for ", N, " patches, a context or target index is out of range");
    auto pos = pos_embed.expand({B, -1, -1});
    x = embed(x) + pos.gather(1, m.ids_keep.unsqueeze(-1).expand({-1, -1, pos.size(2)}));
    auto targets = mask_token + detail::gather_blocks(pos, m.blocks, who);  // [G*B, M, dim]
    const auto G = m.blocks.size(1);
    auto h = norm(blocks(torch::cat({x.repeat({G, 1, 1}), targets}, 1)));
    return proj(h.narrow(1, K, h.size(1) - K));
  }

  JepaPredictorOptions options;        ///< what it was built from
  torch::nn::Linear embed{nullptr};    ///< encoder width -> predictor width
  torch::Tensor mask_token;            ///< the learned token of target patches `[1, 1, dim]`
  torch::Tensor pos_embed;             ///< fixed sin-cos positions `[1, N, dim]` (buffer)
  nn::Stack blocks{nullptr};           ///< the Transformer blocks
  torch::nn::LayerNorm norm{nullptr};  ///< final LayerNorm
  torch::nn::Linear proj{nullptr};     ///< predictor width -> encoder width
};
TORCH_MODULE(JepaPredictor);

/// I-JEPA's target head (see the file comment): no parameters. Give it to the teacher
/// (`target::Teacher<vit::Encoder, heads::BlockTokens>`).
class BlockTokensImpl : public torch::nn::Cloneable<BlockTokensImpl> {
 public:
  /// `prefix_tokens`: leading encoder tokens that are not patches (vit::Encoder's CLS: 1).
  explicit BlockTokensImpl(int64_t prefix_tokens = 1) : prefix_tokens(prefix_tokens) {
    TORCH_CHECK(prefix_tokens >= 0, "heads::BlockTokens: prefix_tokens must be >= 0, got ", prefix_tokens);
  }
  /// Nothing to build (no parameters).
  void reset() override {}

  /// `f.tokens` `[B, prefix + N, E]` of the whole image; `m.blocks` `[B, G, M]`. Returns the
  /// layer-normed tokens (epsilon 1e-5, no affine) at the blocks, `[G*B, M, E]`.
  torch::Tensor forward(const Features& f, const Masked& m) {
    auto h = detail::patch_tokens(f, prefix_tokens, "heads::BlockTokens");
    h = torch::layer_norm(h, {h.size(-1)});
    return detail::gather_blocks(h, m.blocks, "heads::BlockTokens");
  }

  int64_t prefix_tokens;  ///< leading encoder tokens dropped
};
TORCH_MODULE(BlockTokens);

}  // namespace ssl::heads
