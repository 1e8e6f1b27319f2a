#pragma once
/// \file heads/mae_decoder.hpp
/// MAE's light decoder: embed the encoded visible tokens, append one shared mask token per
/// hidden patch, unshuffle with `ids_restore`, add fixed sin-cos positions, a few Transformer
/// blocks, and predict the `p*p*C` pixel values of every patch (`[B,N,p*p*C]`, CLS dropped).
#include <ssl/nn/transformer.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/core/types.hpp>

namespace ssl::heads {

/// Example: `MaeDecoderOptions(encoder_opts).dim(64).depth(2).heads(4)`.
struct MaeDecoderOptions {
  /// A decoder for the ViT encoder `encoder` (its width, patch grid, patch size x channels and epsilon).
  explicit MaeDecoderOptions(const vit::Options& encoder)
      : encoder_dim_((vit::check_options(encoder, "heads::MaeDecoderOptions"), encoder.dim())), grid_(encoder.grid()),
        patch_dim_(encoder.patch() * encoder.patch() * encoder.channels()), eps_(encoder.eps()) {}
  TORCH_ARG(int64_t, encoder_dim);  ///< width of the encoder's tokens
  TORCH_ARG(int64_t, grid);  ///< patches per image side
  TORCH_ARG(int64_t, patch_dim);  ///< values predicted per patch: patch^2 x channels
  TORCH_ARG(double, eps);  ///< LayerNorm epsilon
  TORCH_ARG(int64_t, dim) = 128;  ///< decoder width
  TORCH_ARG(int64_t, depth) = 2;  ///< decoder blocks
  TORCH_ARG(int64_t, heads) = 4;  ///< decoder attention heads
  /// 0 = 4 x dim.
  TORCH_ARG(int64_t, mlp_hidden) = 0;
};

/// MAE's decoder: embeds the visible tokens, fills the hidden positions with a learned mask token,
/// adds sin-cos positions, runs pre-norm blocks and predicts each patch's pixels `[B,N,patch_dim]`.
class MaeDecoderImpl : public torch::nn::Cloneable<MaeDecoderImpl> {
 public:
  /// A decoder as `options` says, initialised as MAE's.
  explicit MaeDecoderImpl(MaeDecoderOptions options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    const auto hidden = o.mlp_hidden() > 0 ? o.mlp_hidden() : 4 * o.dim();
    embed = register_module("embed", torch::nn::Linear(o.encoder_dim(), o.dim()));
    mask_token = register_parameter("mask_token", torch::zeros({1, 1, o.dim()}));
    pos_embed = register_buffer("pos_embed", vit::sincos_2d(o.dim(), o.grid(), /*cls=*/true));
    blocks = register_module(
        "blocks", nn::Stack(nn::StackOptions(o.dim(), o.depth(), o.heads())
                                .block(nn::BlockOptions(o.dim(), o.heads())
                                           .mlp_hidden(hidden).eps(o.eps()))));
    norm = register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(o.eps())));
    pred = register_module("pred", torch::nn::Linear(o.dim(), o.patch_dim()));
    torch::NoGradGuard g;
    nn::init_vit_weights(*this);
    torch::nn::init::normal_(mask_token, 0.0, 0.02);
  }

  /// `f.tokens`: `[B,1+K,E]` (CLS first); `m.ids_restore`: `[B,N]` (undefined: nothing hidden).
  torch::Tensor forward(const Features& f, const Masked& m) {
    auto x = embed(f.tokens);
    if (m.ids_restore.defined()) {
      const auto B = x.size(0), N = m.ids_restore.size(1), K = x.size(1) - 1;
      TORCH_CHECK(N + 1 == pos_embed.size(1), "heads::MaeDecoder: built for ",
                  pos_embed.size(1) - 1, " patches, ids_restore has ", N);
      auto masks = mask_token.expand({B, N - K, -1});
      auto seq = torch::cat({x.narrow(1, 1, K), masks}, 1);
      seq = seq.gather(1, m.ids_restore.unsqueeze(-1).expand({-1, -1, x.size(2)}));
      x = torch::cat({x.narrow(1, 0, 1), seq}, 1);
    }
    x = norm(blocks(x + pos_embed));
    return pred(x).narrow(1, 1, x.size(1) - 1);
  }

  MaeDecoderOptions options;  ///< what the decoder was built from
  torch::nn::Linear embed{nullptr};    ///< encoder width -> decoder width
  torch::nn::Linear pred{nullptr};     ///< decoder width -> patch_dim
  torch::Tensor mask_token;            ///< the learned token of hidden patches `[1,1,dim]`
  torch::Tensor pos_embed;             ///< fixed sin-cos positions `[1,1+N,dim]` (buffer)
  nn::Stack blocks{nullptr};           ///< the Transformer blocks
  torch::nn::LayerNorm norm{nullptr};  ///< final LayerNorm
};
TORCH_MODULE(MaeDecoder);

}  // namespace ssl::heads
