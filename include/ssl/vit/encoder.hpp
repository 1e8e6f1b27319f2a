#pragma once
/// \file vit/encoder.hpp
/// Vision Transformer: patch embedding for any channel count, fixed 2-D sin-cos (or learned)
/// position embedding, CLS token, the shared Transformer blocks. Models `ssl::Backbone`: it
/// encodes only the patches named by `Masked::ids_keep` (MAE's visible-only encoder).
#include <ssl/nn/transformer.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <optional>

#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

namespace ssl::vit {

using torch::Tensor;

/// 1-D sin-cos embedding of `pos` (`[M]`, float64) into `dim` channels: `[M, dim]` laid out as
/// `[sin(pos*w_0..w_{dim/2-1}), cos(...)]` with `w_i = 10000^(-2i/dim)` (MAE / Hugging Face).
inline Tensor sincos_1d(int64_t dim, const Tensor& pos) {
  TORCH_CHECK(dim % 2 == 0, "sincos_1d: embedding dim must be even, got ", dim);
  auto omega = torch::arange(dim / 2, torch::kFloat64) / (dim / 2.0);
  omega = 1.0 / torch::pow(10000.0, omega);
  auto out = torch::outer(pos.reshape({-1}).to(torch::kFloat64), omega);
  return torch::cat({torch::sin(out), torch::cos(out)}, 1);
}

/// Fixed 2-D sin-cos position embedding for a `grid x grid` patch grid, `[1, (cls) + grid^2, dim]`
/// in float32: the first half of the channels encodes the column, the second half the row,
/// patches in row-major order, a zero row first when `cls` (as MAE and Hugging Face ViTMAE).
inline Tensor sincos_2d(int64_t dim, int64_t grid, bool cls = true) {
  TORCH_CHECK(dim % 4 == 0, "sincos_2d: embedding dim must be a multiple of 4, got ", dim);
  auto idx = torch::arange(grid, torch::kFloat64);
  auto rows = idx.view({grid, 1}).expand({grid, grid}).reshape({-1});
  auto cols = idx.view({1, grid}).expand({grid, grid}).reshape({-1});
  auto emb = torch::cat({sincos_1d(dim / 2, cols), sincos_1d(dim / 2, rows)}, 1);
  if (cls) emb = torch::cat({torch::zeros({1, dim}, torch::kFloat64), emb}, 0);
  return emb.to(torch::kFloat32).unsqueeze(0);
}

/// `[B,C,H,W]` -> `[B, (H/p)(W/p), p*p*C]`, each patch flattened row by row with the channel
/// last (the layout of MAE's and Hugging Face's `patchify`).
inline Tensor patchify(const Tensor& x, int64_t p) {
  ssl::detail::check_dim(x, 4, "patchify", "[B,C,H,W]");
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(H % p == 0 && W % p == 0, "patchify: image ", H, "x", W,
              " is not divisible by the patch size ", p);
  return x.reshape({B, C, H / p, p, W / p, p})
      .permute({0, 2, 4, 3, 5, 1})
      .reshape({B, (H / p) * (W / p), p * p * C});
}

/// Inverse of `patchify` for a square grid: `[B, N, p*p*C]` -> `[B,C,H,W]`.
inline Tensor unpatchify(const Tensor& x, int64_t p, int64_t channels) {
  ssl::detail::check_dim(x, 3, "unpatchify", "[B,N,p*p*C]");
  const auto B = x.size(0), N = x.size(1);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(double(N))));
  TORCH_CHECK(g * g == N, "unpatchify: expected a square number of patches, got ", N);
  TORCH_CHECK(x.size(2) == p * p * channels, "unpatchify: expected ", p * p * channels,
              " values per patch (p=", p, ", C=", channels, "), got ", x.size(2));
  return x.reshape({B, g, g, p, p, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({B, channels, g * p, g * p});
}

/// ViT options. `image` and `channels` describe the data and have no default (0 = unset: the
/// encoder and the recipes refuse it). Example: `vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4)`
/// (28 x 28 grayscale images).
struct Options {
  /// Patches per image side: image / patch.
  [[nodiscard]] int64_t grid() const { return image_ / patch_; }
  /// Patches per image: grid^2.
  [[nodiscard]] int64_t num_patches() const { return grid() * grid(); }
  /// The MLP hidden width in effect: `mlp_hidden`, or 4 x dim when 0.
  [[nodiscard]] int64_t hidden() const { return mlp_hidden_ > 0 ? mlp_hidden_ : 4 * dim_; }

  /// Input side in pixels (square images). Required.
  TORCH_ARG(int64_t, image) = 0;
  TORCH_ARG(int64_t, patch) = 4;  ///< patch side in pixels (must divide image)
  /// Input channels (1 grayscale, 3 RGB). Required.
  TORCH_ARG(int64_t, channels) = 0;
  TORCH_ARG(int64_t, dim) = 192;  ///< width of the tokens
  TORCH_ARG(int64_t, depth) = 12;  ///< Transformer blocks
  TORCH_ARG(int64_t, heads) = 3;  ///< attention heads (must divide dim)
  /// MLP hidden width; 0 = 4 x dim.
  TORCH_ARG(int64_t, mlp_hidden) = 0;
  TORCH_ARG(double, eps) = 1e-6;  ///< LayerNorm epsilon
  TORCH_ARG(bool, qkv_bias) = true;  ///< bias in the fused q, k, v projection
  /// Fixed 2-D sin-cos position embedding (MAE) when false; a learned one (ViT, DINO) when true.
  TORCH_ARG(bool, learned_pos) = false;
  /// `Features::pooled`: the CLS token when false, the mean of the patch tokens when true.
  TORCH_ARG(bool, mean_pool) = false;
  /// A learned `[MASK]` embedding (BEiT, iBOT): a `Masked::mask` without `ids_keep` replaces
  /// the hidden patches' embeddings by it (before the position embedding is added).
  TORCH_ARG(std::optional<bool>, mask_token);
  /// Activation checkpointing of the blocks in training (`nn::StackOptions::checkpoint`).
  TORCH_ARG(bool, checkpoint) = false;
  /// `Features::layers`: every block's MLP output before its residual (data2vec's teacher sets it
  /// on its copy; `forward` then runs without checkpointing).
  TORCH_ARG(bool, layer_outputs) = false;
};

/// Checks that `o` describes its input: `image` and `channels` set (they have no default), the
/// image a positive multiple of the patch; and that the architecture can be built: dim > 0,
/// heads > 0 dividing it, depth >= 0, mlp_hidden >= 0. `who` names the caller in the message.
inline void check_options(const Options& o, const char* who) {
  TORCH_CHECK(o.image() > 0, who, ": vit::Options: image (the input side in pixels) is required, ",
              "e.g. vit::Options{}.image(224), got ", o.image());
  TORCH_CHECK(o.channels() > 0, who, ": vit::Options: channels (of the input images: 1 grayscale, 3 RGB) is required, ",
              "e.g. vit::Options{}.channels(3), got ", o.channels());
  TORCH_CHECK(o.patch() > 0 && o.image() % o.patch() == 0, who, ": image size ", o.image(),
              " must be a positive multiple of the patch size ", o.patch());
  TORCH_CHECK(o.dim() > 0, who, ": vit::Options: dim (the token width) must be positive, got ", o.dim());
  TORCH_CHECK(o.heads() > 0, who, ": vit::Options: heads (attention heads) must be positive, got ", o.heads());
  TORCH_CHECK(o.dim() % o.heads() == 0, who, ": vit::Options: dim (", o.dim(), ") must be divisible by heads (",
              o.heads(), ")");
  TORCH_CHECK(o.depth() >= 0, who, ": vit::Options: depth (Transformer blocks) must be >= 0, got ", o.depth());
  TORCH_CHECK(o.mlp_hidden() >= 0, who, ": vit::Options: mlp_hidden must be >= 0 (0 = 4 x dim), got ", o.mlp_hidden());
}

/// Presets (timm's sizes). Image, patch and channels are set by the caller.
inline Options tiny() { return Options{}.dim(192).depth(12).heads(3); }
/// ViT-S: 384-d, 12 blocks, 6 heads.
inline Options small() { return Options{}.dim(384).depth(12).heads(6); }
/// ViT-B: 768-d, 12 blocks, 12 heads.
inline Options base() { return Options{}.dim(768).depth(12).heads(12); }

/// Patch embedding: a `p x p` convolution with stride `p`, `[B,C,H,W]` -> `[B,N,D]`.
class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  /// Embeds `patch x patch` patches of `channels`-channel images into `dim` wide tokens.
  PatchEmbedImpl(int64_t channels, int64_t dim, int64_t patch)
      : channels(channels), dim(dim), patch(patch) {
    reset();
  }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    proj = register_module(
        "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, dim, patch).stride(patch)));
  }
  /// `x` `[B,C,H,W]` -> `[B, (H/patch)(W/patch), dim]`, patches row-major.
  Tensor forward(const Tensor& x) {
    ssl::detail::check_dim(x, 4, "ViT patch embedding", "[B,C,H,W]");
    TORCH_CHECK(x.size(1) == channels, "ViT patch embedding: expected ", channels,
                " channels, got an input of shape ", ssl::detail::shape_str(x));
    return proj(x).flatten(2).transpose(1, 2);
  }
  int64_t channels;  ///< input channels
  int64_t dim;       ///< token width
  int64_t patch;     ///< patch side in pixels
  torch::nn::Conv2d proj{nullptr};  ///< the `patch x patch`, stride-`patch` convolution
};
TORCH_MODULE(PatchEmbed);

/// The ViT encoder. `forward(Masked)` encodes the patches of `ids_keep` (all when undefined)
/// and returns `Features{tokens = [B,1+K,D] (CLS first, after the final norm), pooled = [B,D]}`.
class EncoderImpl : public torch::nn::Cloneable<EncoderImpl> {
 public:
  /// An encoder as `options` says (image and channels required), initialised as MAE's.
  explicit EncoderImpl(Options options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    check_options(o, "vit::Encoder");
    patch_embed = register_module("patch_embed", PatchEmbed(o.channels(), o.dim(), o.patch()));
    cls_token = register_parameter("cls_token", torch::zeros({1, 1, o.dim()}));
    if (o.mask_token().value_or(false)) mask_token = register_parameter("mask_token", torch::zeros({1, 1, o.dim()}));
    if (o.learned_pos()) {
      pos_embed = register_parameter("pos_embed", torch::zeros({1, 1 + o.num_patches(), o.dim()}));
    } else {
      pos_embed = register_buffer("pos_embed", sincos_2d(o.dim(), o.grid(), /*cls=*/true));
    }
    auto block = nn::BlockOptions(o.dim(), o.heads()).mlp_hidden(o.hidden()).eps(o.eps())
                     .qkv_bias(o.qkv_bias());
    blocks = register_module("blocks", nn::Stack(nn::StackOptions(o.dim(), o.depth(), o.heads())
                                                     .block(block)
                                                     .checkpoint(o.checkpoint())));
    norm = register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(o.eps())));
    initialize();
  }

  /// MAE/DINO initialisation: xavier linears, patch embedding as a linear layer,
  /// N(0, 0.02) CLS token (and learned position embedding).
  void initialize() {
    torch::NoGradGuard g;
    nn::init_vit_weights(*this);
    auto w = patch_embed->proj->weight;
    torch::nn::init::xavier_uniform_(w.view({w.size(0), -1}));
    patch_embed->proj->bias.zero_();
    torch::nn::init::normal_(cls_token, 0.0, 0.02);
    if (options.mask_token().value_or(false)) torch::nn::init::normal_(mask_token, 0.0, 0.02);
    if (options.learned_pos()) torch::nn::init::normal_(pos_embed, 0.0, 0.02);
  }

  /// Patch tokens with position embedding, before masking: `[B,N,D]`. A square image of
  /// another size (a multiple of the patch, e.g. DINO's local crops) gets the position
  /// embedding of its own grid: the sin-cos table computed for that grid, or the learned table
  /// resized bicubically (as DINO's `interpolate_pos_encoding`). With a `[B,N]` bool `mask`,
  /// the hidden patches get the mask token instead of their embedding (BEiT, iBOT).
  Tensor embed(const Tensor& x, const Tensor& mask = {}) {
    ssl::detail::check_dim(x, 4, "vit::Encoder", "[B,C,H,W]");
    const auto P = options.patch();
    TORCH_CHECK(x.size(2) == x.size(3) && x.size(2) % P == 0 && x.size(2) >= P, "vit::Encoder: expected a square image ",
                "whose side is a multiple of the patch size ", P, " (trained on ", options.image(), "x", options.image(),
                "), got shape ", ssl::detail::shape_str(x));
    auto t = patch_embed(x);
    if (mask.defined()) {
      TORCH_CHECK(mask_token.defined(), "vit::Encoder: got a patch mask without ids_keep, which needs a mask token: ",
                  "build the encoder with Options::mask_token(true) (BEiT, iBOT), or give ids_keep (MAE)");
      TORCH_CHECK(mask.dim() == 2 && mask.size(0) == t.size(0) && mask.size(1) == t.size(1) &&
                      mask.scalar_type() == torch::kBool,
                  "vit::Encoder: expected a bool mask of shape [", t.size(0), ", ", t.size(1), "] (one per patch), got ",
                  ssl::detail::shape_str(mask), " of type ", mask.scalar_type());
      t = torch::where(mask.unsqueeze(-1), mask_token.to(t.dtype()), t);
    }
    return t + patch_pos_embed(x.size(2) / P);
  }

  /// `[CLS + its position, tokens]`: the sequence the blocks see.
  Tensor with_cls(const Tensor& t) {
    auto cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand({t.size(0), -1, -1});
    return torch::cat({cls, t}, 1);
  }

  /// The position embedding of the patch tokens of a `grid x grid` image: `[1, grid^2, D]`.
  Tensor patch_pos_embed(int64_t grid) {
    const int64_t g0 = options.grid();
    if (grid == g0) return pos_embed.narrow(1, 1, g0 * g0);
    if (!options.learned_pos())
      return sincos_2d(options.dim(), grid, /*cls=*/false).to(pos_embed.options());
    namespace F = torch::nn::functional;
    auto table = pos_embed.narrow(1, 1, g0 * g0).reshape({1, g0, g0, -1}).permute({0, 3, 1, 2});
    auto resized = F::interpolate(table, F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{grid, grid})
                                             .mode(torch::kBicubic)
                                             .align_corners(false));
    return resized.permute({0, 2, 3, 1}).reshape({1, grid * grid, -1});
  }

  /// The last block's attention probabilities of the un-masked image `x`: `[B, heads, 1+N, 1+N]`
  /// (row 0 = the CLS token's attention; DINO's attention maps are `[:, :, 0, 1:]`).
  Tensor last_attention(const Tensor& x) {
    auto h = with_cls(embed(x));
    const int64_t L = options.depth();
    TORCH_CHECK(L > 0, "vit::Encoder::last_attention: the encoder has no blocks");
    for (int64_t i = 0; i + 1 < L; ++i) h = blocks->block(i)->forward(h);
    auto& last = blocks->block(L - 1);
    return last->attn->weights(last->options.norm_first() ? last->norm1(h) : h);
  }

  /// The features of the patches `m.ids_keep` of `m.input` (all when undefined; with a mask token,
  /// `m.mask` without `ids_keep` replaces the hidden patches' embeddings): see the class comment.
  Features forward(const Masked& m) {
    auto t = embed(m.input, m.ids_keep.defined() ? Tensor() : m.mask);
    if (m.ids_keep.defined()) {
      TORCH_CHECK(m.ids_keep.dim() == 2 && m.ids_keep.size(0) == t.size(0),
                  "vit::Encoder: ids_keep must be [B,K] with B=", t.size(0), ", got ",
                  ssl::detail::shape_str(m.ids_keep));
      t = t.gather(1, m.ids_keep.unsqueeze(-1).expand({-1, -1, t.size(2)}));
    }
    Tensor tokens;
    std::vector<Tensor> layers;
    if (options.layer_outputs()) std::tie(tokens, layers) = blocks->forward_ffn(with_cls(t));
    else tokens = blocks(with_cls(t));
    tokens = norm(tokens);
    auto pooled = options.mean_pool() ? tokens.narrow(1, 1, tokens.size(1) - 1).mean(1)
                                      : tokens.select(1, 0);
    return {tokens, pooled, std::move(layers)};
  }
  /// The features of every patch of the images `x` `[B,C,H,W]`.
  Features forward(const Tensor& x) { return forward(Masked{.input = x}); }

  /// The token maps of the last `n` blocks of the un-masked image `x`, oldest first, each
  /// `[B,1+N,D]` after the final norm (DINO's `get_intermediate_layers`; its linear evaluation
  /// concatenates the last 4): frozen features from several depths. `n = depth` gives every
  /// block; the last entry equals `forward(x).tokens`. Runs the blocks one by one (no
  /// activation checkpointing): meant for evaluation.
  std::vector<Tensor> intermediate_layers(const Tensor& x, int64_t n) {
    const int64_t L = options.depth();
    TORCH_CHECK(n >= 1 && n <= L, "vit::Encoder::intermediate_layers: n must be in [1, ", L,
                "] (the encoder's depth), got ", n);
    auto h = with_cls(embed(x));
    std::vector<Tensor> out;
    for (int64_t i = 0; i < L; ++i) {
      h = blocks->block(i)->forward(h);
      if (i >= L - n) out.push_back(norm(h));
    }
    return out;
  }

  /// Width D of the features.
  [[nodiscard]] int64_t dim() const { return options.dim(); }

  Options options;  ///< what the encoder was built from
  PatchEmbed patch_embed{nullptr};  ///< the patch embedding
  Tensor cls_token;   ///< the learned CLS token `[1,1,D]`
  Tensor pos_embed;   ///< position embedding `[1,1+N,D]` (CLS first): sin-cos buffer or learned
  Tensor mask_token;  ///< the learned `[MASK]` embedding `[1,1,D]` (with `mask_token`)
  nn::Stack blocks{nullptr};  ///< the Transformer blocks (pre-norm)
  torch::nn::LayerNorm norm{nullptr};  ///< final LayerNorm
};
TORCH_MODULE(Encoder);

}  // namespace ssl::vit
