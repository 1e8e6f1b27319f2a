#pragma once
/// \file heads/data2vec.hpp
/// data2vec 2.0's two heads (Baevski et al., 2022; fairseq's `examples/data2vec/models/
/// data2vec2.py` and `modalities/modules.py`):
/// - `LayerAverage`, the teacher's head: the average of the teacher's top-K block outputs, each
///   taken at the output of the block's feed-forward network before its residual (the
///   reference's `ffn_targets`), instance-normalised over the positions of each sample, channel
///   by channel (`F.instance_norm` of `[B, D, T]`), then layer-normed (the image config's
///   `layer_norm_targets`; the text config leaves it out). A ViT's CLS token is dropped first
///   (`prefix_tokens`). `make_targets` of the reference. On padded text the statistics include
///   the padding positions, as the reference's would (its text has none: 512-token blocks).
/// - `ConvDecoder`, the student's head: the light convolutional decoder (`Decoder2d` on images,
///   `Decoder1d` on text). The encoded visible positions are put back in place, each hidden one
///   filled with Gaussian noise of std `noise_std` (the reference's `decoder_input`); then
///   `layers` blocks of a grouped convolution (`kernel x kernel` on the patch grid, `kernel`
///   along a sequence when `grid` is 0), a LayerNorm over the channels without affine
///   parameters and a GELU, each added to its input (`residual`) when the widths agree; then
///   `projections` linear layers back to the encoder's width (2: widen by `projection_ratio`,
///   GELU, project: the text config's). Output: a prediction for every position, `[R, L, E]`
///   (R = samples x masks per sample); the loss reads it at the hidden ones.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/heads/jepa.hpp>

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ssl::heads {

/// data2vec 2.0's targets (see the file comment): no parameters. Give it to the teacher
/// (`target::Teacher<vit::Encoder, heads::LayerAverage>`), whose encoder must fill
/// `Features::layers` (`vit::Options::layer_outputs`; `data2vec2::recipe` sets it).
class LayerAverageImpl : public torch::nn::Cloneable<LayerAverageImpl> {
 public:
  /// `top_k`: the last blocks averaged (0 = all, the reference's image setting: all 10 of its
  /// main blocks); `prefix_tokens`: leading tokens that are not patches (vit::Encoder's CLS: 1; text: 0);
  /// `instance_norm_layers`, `layer_norm_targets`: the reference's two switches (text: true, false).
  explicit LayerAverageImpl(int64_t top_k = 0, int64_t prefix_tokens = 1, bool instance_norm_layers = true,
                            bool layer_norm_targets = true)
      : top_k(top_k), prefix_tokens(prefix_tokens), instance_norm_layers(instance_norm_layers),
        layer_norm_targets(layer_norm_targets) {
    TORCH_CHECK(top_k >= 0, "heads::LayerAverage: top_k must be >= 0 (0 = every block), got ", top_k);
    TORCH_CHECK(prefix_tokens >= 0, "heads::LayerAverage: prefix_tokens must be >= 0, got ", prefix_tokens);
  }
  /// Nothing to build (no parameters).
  void reset() override {}

  /// The targets of the teacher's features `f` of `B` images: `[B, L, E]` (float32). When the
  /// student's masking `m.mask` has `B x c` rows (c masks per image, masker::InverseBlock's
  /// `clones`), each image's targets are repeated c times in a row, `[B*c, L, E]`.
  torch::Tensor forward(const Features& f, const Masked& m) {
    const auto n = static_cast<int64_t>(f.layers.size());
    TORCH_CHECK(n > 0, "heads::LayerAverage: the teacher's encoder gave no block outputs (Features::layers): build it with "
                       "vit::Options::layer_outputs(true) (data2vec2::recipe does)");
    const int64_t k = top_k > 0 ? top_k : n;
    TORCH_CHECK(k <= n, "heads::LayerAverage: top_k ", k, " is more than the encoder's ", n, " blocks");
    torch::Tensor y;
    for (int64_t i = n - k; i < n; ++i) {
      auto t = detail::patch_tokens(Features{.tokens = f.layers[size_t(i)]}, prefix_tokens, "heads::LayerAverage")
                   .to(torch::kFloat32);
      if (instance_norm_layers)
        t = torch::instance_norm(t.transpose(1, 2), {}, {}, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, false).transpose(1, 2);
      y = y.defined() ? y + t : t;
    }
    y = y / double(k);
    if (layer_norm_targets) y = torch::layer_norm(y, {y.size(-1)});
    if (m.mask.defined()) {
      const auto B = y.size(0), rows = m.mask.size(0);
      TORCH_CHECK(m.mask.dim() == 2 && rows % B == 0 && m.mask.size(1) == y.size(1), "heads::LayerAverage: expected the ",
                  "student's mask as [", B, " x clones, ", y.size(1), "] for ", B, " images of ", y.size(1), " patches, got ",
                  ssl::detail::shape_str(m.mask));
      if (rows > B) y = y.repeat_interleave(rows / B, 0);
    }
    return y;
  }

  int64_t top_k;              ///< the last blocks averaged (0 = all)
  int64_t prefix_tokens;      ///< leading tokens dropped
  bool instance_norm_layers;  ///< instance-normalise each block's output (`instance_norm_target_layer`)
  bool layer_norm_targets;    ///< layer-norm the average (`layer_norm_targets`)
};
TORCH_MODULE(LayerAverage);

/// Example: `ConvDecoderOptions(128, 7).dim(128).layers(6)` (images, a 7 x 7 patch grid);
/// `ConvDecoderOptions(128, 0).layers(5).kernel(9).groups(1).residual(false).projections(2)` (text).
struct ConvDecoderOptions {
  /// A decoder for an encoder of width `encoder_dim` on a `grid x grid` patch grid (0: a sequence).
  ConvDecoderOptions(int64_t encoder_dim, int64_t grid) : encoder_dim_(encoder_dim), grid_(grid) {}
  TORCH_ARG(int64_t, encoder_dim);        ///< width of the encoder's tokens (in and out)
  TORCH_ARG(int64_t, grid);               ///< patches per image side; 0: a sequence of any length (1-D)
  TORCH_ARG(int64_t, dim) = 0;            ///< the decoder's width (`decoder_dim`; 0 = the encoder's)
  TORCH_ARG(int64_t, layers) = 6;         ///< convolution blocks (`decoder_layers`, images: 6, text: 5)
  TORCH_ARG(int64_t, kernel) = 3;         ///< odd kernel side (`decoder_kernel`, images: 3, text: 9)
  TORCH_ARG(int64_t, groups) = 16;        ///< convolution groups (`decoder_groups`, images: 16, text: 1)
  TORCH_ARG(double, noise_std) = 0.01;    ///< std of the hidden positions' input (`mask_noise_std`)
  TORCH_ARG(bool, residual) = true;       ///< add each block's input (`decoder_residual`; text: false)
  TORCH_ARG(int64_t, projections) = 1;    ///< linear layers at the end, 1 or 2 (`projection_layers`; text: 2)
  TORCH_ARG(double, projection_ratio) = 2.0;  ///< the first one's widening, with 2 (`projection_ratio`)
  TORCH_ARG(double, input_dropout) = 0.0;     ///< dropout on the encoded tokens in training (`input_dropout`; text: 0.1)
  TORCH_ARG(int64_t, prefix_tokens) = 1;  ///< leading encoder tokens that are not positions (ViT's CLS; text: 0)
};

/// data2vec 2.0's decoder (see the file comment). Parameter names: `blocks.<i>` (the
/// convolutions: the reference's `blocks.<i>.0`), `proj` (with 2 projections: `proj_hidden`
/// then `proj`, the reference's `proj.0` and `proj.2`). PyTorch's default initialisation (the
/// reference's `reset_parameters`).
class ConvDecoderImpl : public torch::nn::Cloneable<ConvDecoderImpl> {
 public:
  /// A decoder as `options` says.
  explicit ConvDecoderImpl(ConvDecoderOptions options) : options(std::move(options)) { reset(); }

  /// Builds the convolutions and the projections (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    const int64_t d = width();
    TORCH_CHECK(o.encoder_dim() > 0 && o.grid() >= 0 && d > 0 && o.layers() >= 1,
                "heads::ConvDecoder: expected positive widths, a grid >= 0 (0: a sequence) and at least one layer, got ",
                "encoder_dim ", o.encoder_dim(), ", grid ", o.grid(), ", dim ", d, ", layers ", o.layers());
    TORCH_CHECK(o.kernel() >= 1 && o.kernel() % 2 == 1, "heads::ConvDecoder: kernel must be odd, got ", o.kernel());
    TORCH_CHECK(o.groups() >= 1 && o.encoder_dim() % o.groups() == 0 && d % o.groups() == 0, "heads::ConvDecoder: groups (",
                o.groups(), ") must divide the encoder's width (", o.encoder_dim(), ") and the decoder's (", d, ")");
    TORCH_CHECK(o.noise_std() >= 0, "heads::ConvDecoder: noise_std must be >= 0, got ", o.noise_std());
    TORCH_CHECK(o.projections() == 1 || o.projections() == 2, "heads::ConvDecoder: projections must be 1 or 2, got ",
                o.projections());
    TORCH_CHECK(o.projections() == 1 || int64_t(double(d) * o.projection_ratio()) >= 1,
                "heads::ConvDecoder: projection_ratio must leave a positive width, got ", o.projection_ratio());
    TORCH_CHECK(o.input_dropout() >= 0 && o.input_dropout() < 1, "heads::ConvDecoder: input_dropout must be in [0, 1), got ",
                o.input_dropout());
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.layers(); ++i) {
      const auto in = i == 0 ? o.encoder_dim() : d;
      if (o.grid() > 0)
        blocks->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, d, o.kernel()).padding(o.kernel() / 2).groups(o.groups())));
      else
        blocks->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(in, d, o.kernel()).padding(o.kernel() / 2).groups(o.groups())));
    }
    int64_t p = d;
    if (o.projections() == 2) {
      p = int64_t(double(d) * o.projection_ratio());
      proj_hidden = register_module("proj_hidden", torch::nn::Linear(d, p));
    }
    proj = register_module("proj", torch::nn::Linear(p, o.encoder_dim()));
  }

  /// The decoder's width in effect.
  [[nodiscard]] int64_t width() const { return options.dim() > 0 ? options.dim() : options.encoder_dim(); }

  /// `f.tokens` `[R, prefix + K, E]`: the encoded visible positions `m.ids_keep`; `m.ids_restore`
  /// `[R, L]` (L: the grid's patches, or the sequence's length). Returns `[R, L, E]`. The hidden
  /// positions' noise (and the input dropout) is drawn here.
  torch::Tensor forward(const Features& f, const Masked& m) {
    auto x = detail::patch_tokens(f, options.prefix_tokens(), "heads::ConvDecoder");
    const auto L = options.grid() > 0 ? options.grid() * options.grid() : m.ids_restore.defined() ? m.ids_restore.size(-1) : 0;
    TORCH_CHECK(m.ids_restore.defined() && m.ids_restore.dim() == 2 && m.ids_restore.size(0) == x.size(0) &&
                    m.ids_restore.size(1) == L && x.size(1) <= L,
                "heads::ConvDecoder: expected Masked::ids_restore as [", x.size(0), ", ", options.grid() > 0 ? std::to_string(L) : "L",
                "] for ", x.size(1), " encoded positions (masker::InverseBlock, masker::RandomTokens), got ",
                m.ids_restore.defined() ? ssl::detail::shape_str(m.ids_restore) : std::string("none"));
    if (options.input_dropout() > 0) x = torch::dropout(x, options.input_dropout(), is_training());
    auto noise = torch::randn({x.size(0), L - x.size(1), x.size(2)}, x.options()) * options.noise_std();
    return with_fill(x, noise, m.ids_restore);
  }

  /// The decoder on given hidden-position inputs `fill` `[R, L - K, E]` (exposed so that tests
  /// can give the reference's): `visible` `[R, K, E]`, `ids_restore` `[R, L]`. No input dropout.
  torch::Tensor with_fill(const torch::Tensor& visible, const torch::Tensor& fill, const torch::Tensor& ids_restore) {
    const auto B = visible.size(0), E = visible.size(2), g = options.grid(), L = ids_restore.size(1);
    auto x = torch::cat({visible, fill}, 1).gather(1, ids_restore.unsqueeze(-1).expand({-1, -1, E}));
    auto h = g > 0 ? x.transpose(1, 2).reshape({B, E, g, g}) : x.transpose(1, 2);  // channels first
    for (const auto& m : *blocks) {
      auto y = g > 0 ? m->as<torch::nn::Conv2d>()->forward(h) : m->as<torch::nn::Conv1d>()->forward(h);
      y = torch::gelu(torch::layer_norm(y.movedim(1, -1), {y.size(1)}).movedim(-1, 1));
      h = options.residual() && y.size(1) == h.size(1) ? y + h : y;
    }
    auto t = h.reshape({B, h.size(1), L}).transpose(1, 2);
    if (proj_hidden) t = torch::gelu(proj_hidden(t));
    return proj(t);
  }

  ConvDecoderOptions options;              ///< what it was built from
  torch::nn::ModuleList blocks{nullptr};   ///< the convolutions, in order
  torch::nn::Linear proj_hidden{nullptr};  ///< the widening projection (with 2 projections)
  torch::nn::Linear proj{nullptr};         ///< to the encoder's width
};
TORCH_MODULE(ConvDecoder);

}  // namespace ssl::heads
