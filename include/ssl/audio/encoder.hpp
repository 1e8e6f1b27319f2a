#pragma once
/// \file audio/encoder.hpp
/// `audio::Encoder`: wav2vec 2.0's model of raw audio (Baevski et al., 2020), as a `Backbone`. A
/// stack of strided 1-D convolutions turns the waveform into local features (one frame per 20 ms
/// at 16 kHz with the paper's stack); they are layer-normed, projected to the Transformer's width,
/// replaced by a learnt mask embedding at the frames a masker hides, given relative positions by a
/// grouped convolution, and contextualised by a post-norm Transformer. Layout, initialisation and
/// defaults follow Hugging Face's `Wav2Vec2Model` (`feat_extract_norm="group"`,
/// `do_stable_layer_norm=False`), which equals fairseq's base model.
///
/// `Features::tokens` `[B, F, D]` are the context vectors, `Features::local` `[B, F, C]` the
/// layer-normed convolutional features of the unmasked input (the quantiser's input,
/// heads/quantizer.hpp), `Features::pooled` the mean of the context vectors over frames.
///
/// Not here (the references have them): LayerDrop (fairseq base: 0.05), the feature penalty
/// (fairseq: an L2 term on the convolutional features), the pre-norm "stable layer norm" variant
/// of the large models, attention masks for padded batches (clips are cut to one length).
#include <ssl/core/types.hpp>
#include <ssl/nn/transformer.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ssl::audio {

/// Options of `audio::Encoder`. The defaults are the paper's base model (95 M parameters);
/// `audio::small()` is a CPU-sized one. Example:
/// `audio::Options{}.conv_dim({128, 128, 128, 128, 128, 128, 128}).dim(128).depth(4).heads(4).mlp_hidden(512)`.
struct Options {
  /// The feature encoder's channels, one per convolution (all layers' count must agree).
  TORCH_ARG(std::vector<int64_t>, conv_dim) = std::vector<int64_t>(7, 512);
  /// Its kernel widths (the paper: 10, 3, 3, 3, 3, 2, 2: a receptive field of 400 samples).
  TORCH_ARG(std::vector<int64_t>, conv_kernel) = std::vector<int64_t>{10, 3, 3, 3, 3, 2, 2};
  /// Its strides (the paper: 5, 2, 2, 2, 2, 2, 2: one frame per 320 samples).
  TORCH_ARG(std::vector<int64_t>, conv_stride) = std::vector<int64_t>{5, 2, 2, 2, 2, 2, 2};
  TORCH_ARG(bool, conv_bias) = false;  ///< biases in the convolutions (the base model: none)
  TORCH_ARG(int64_t, dim) = 768;          ///< the Transformer's width
  TORCH_ARG(int64_t, depth) = 12;         ///< its blocks
  TORCH_ARG(int64_t, heads) = 12;         ///< its attention heads
  TORCH_ARG(int64_t, mlp_hidden) = 3072;  ///< its MLP width
  /// The relative-position convolution's width (the paper: 128 frames) and groups (16).
  TORCH_ARG(int64_t, pos_conv_kernel) = 128;
  TORCH_ARG(int64_t, pos_conv_groups) = 16;  ///< the relative-position convolution's groups
  TORCH_ARG(double, eps) = 1e-5;             ///< every LayerNorm's epsilon
  /// Scale of the gradient that reaches the convolutions (fairseq's `feature_grad_mult`: 0.1 for
  /// the base model; Hugging Face's model has none, i.e. 1). The forward pass is unchanged.
  TORCH_ARG(double, feature_grad_mult) = 0.1;
  TORCH_ARG(double, input_dropout) = 0.1;  ///< dropout on the projected features (`feat_proj_dropout`, `dropout_input`)
  TORCH_ARG(double, dropout) = 0.1;        ///< dropout in the Transformer (`hidden_dropout`)
  TORCH_ARG(double, attn_dropout) = 0.1;   ///< dropout on the attention probabilities

 public:
  /// Frames the feature encoder makes of `samples` samples (0 when too short for its kernels).
  [[nodiscard]] int64_t frames(int64_t samples) const {
    for (size_t i = 0; i < conv_kernel_.size() && i < conv_stride_.size(); ++i) {
      if (samples < conv_kernel_[i]) return 0;
      samples = (samples - conv_kernel_[i]) / conv_stride_[i] + 1;
    }
    return samples;
  }
};

/// A CPU-sized wav2vec 2.0 (~1.1 M parameters): the paper's seven convolutions with 128 channels,
/// a 4-block Transformer of width 128 (4 heads, MLP 512), relative positions over 32 frames in 8
/// groups. One second at 16 kHz gives 49 frames.
inline Options small() {
  return Options{}.conv_dim(std::vector<int64_t>(7, 128)).dim(128).depth(4).heads(4).mlp_hidden(512).pos_conv_kernel(32).pos_conv_groups(8);
}

/// Throws, naming `who` and the option, unless `o` describes a model that can be built.
inline void check_options(const Options& o, const char* who) {
  const auto n = o.conv_dim().size();
  TORCH_CHECK(n > 0 && o.conv_kernel().size() == n && o.conv_stride().size() == n, who,
              ": audio::Options conv_dim, conv_kernel and conv_stride must have one entry per convolution, got ",
              o.conv_dim().size(), ", ", o.conv_kernel().size(), " and ", o.conv_stride().size());
  for (size_t i = 0; i < n; ++i)
    TORCH_CHECK(o.conv_dim()[i] > 0 && o.conv_kernel()[i] > 0 && o.conv_stride()[i] > 0, who,
                ": audio::Options convolution ", i, " must have positive channels, kernel and stride, got ",
                o.conv_dim()[i], ", ", o.conv_kernel()[i], ", ", o.conv_stride()[i]);
  TORCH_CHECK(o.pos_conv_kernel() > 0 && o.pos_conv_groups() > 0 && o.dim() % o.pos_conv_groups() == 0, who,
              ": audio::Options pos_conv_kernel must be positive and pos_conv_groups must divide dim (", o.dim(),
              "), got ", o.pos_conv_kernel(), " and ", o.pos_conv_groups());
  TORCH_CHECK(o.feature_grad_mult() >= 0 && o.feature_grad_mult() <= 1, who,
              ": audio::Options feature_grad_mult must be in [0, 1], got ", o.feature_grad_mult());
  for (auto [name, p] : {std::pair{"input_dropout", o.input_dropout()}, {"dropout", o.dropout()}, {"attn_dropout", o.attn_dropout()}})
    TORCH_CHECK(p >= 0 && p < 1, who, ": audio::Options ", name, " must be in [0, 1), got ", p);
  nn::check_block_options(nn::BlockOptions(o.dim(), o.heads()).mlp_hidden(o.mlp_hidden()), who);
}

namespace detail {
/// Identity forward; the gradient scaled by `mult` backward (fairseq's `GradMultiply`).
struct GradScale : torch::autograd::Function<GradScale> {
  /// `x` unchanged.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double mult) {
    ctx->saved_data["mult"] = mult;
    return x.view_as(x);
  }
  /// The incoming gradient times `mult`.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list g) {
    return {g[0] * ctx->saved_data["mult"].toDouble(), torch::Tensor()};
  }
};
}  // namespace detail

/// The feature encoder: strided convolutions, GroupNorm with one group per channel after the
/// first, GELU after each. `[B, T]` samples -> `[B, C, F]`.
class FeatureEncoderImpl : public torch::nn::Cloneable<FeatureEncoderImpl> {
 public:
  /// The feature encoder of `options`.
  explicit FeatureEncoderImpl(Options options) : options(std::move(options)) { reset(); }
  /// Builds the convolutions (`clone()` calls it too); initialised as Hugging Face's (Kaiming normal).
  void reset() override {
    check_options(options, "audio::FeatureEncoder");
    convs = register_module("convs", torch::nn::ModuleList());
    int64_t in = 1;
    for (size_t i = 0; i < options.conv_dim().size(); ++i) {
      auto c = torch::nn::Conv1d(torch::nn::Conv1dOptions(in, options.conv_dim()[i], options.conv_kernel()[i])
                                     .stride(options.conv_stride()[i])
                                     .bias(options.conv_bias()));
      torch::NoGradGuard g;
      torch::nn::init::kaiming_normal_(c->weight);
      convs->push_back(c);
      in = options.conv_dim()[i];
    }
    const auto c0 = options.conv_dim()[0];
    norm = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(c0, c0).affine(true)));
  }
  /// `x` `[B, T]` float -> `[B, C, F]`.
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = x.unsqueeze(1);
    for (size_t i = 0; i < convs->size(); ++i) {
      h = convs->at<torch::nn::Conv1dImpl>(i).forward(h);
      if (i == 0) h = norm(h);
      h = torch::gelu(h);
    }
    return h;
  }
  Options options;                          ///< what it was built from
  torch::nn::ModuleList convs{nullptr};     ///< the convolutions, in order
  torch::nn::GroupNorm norm{nullptr};       ///< after the first convolution, one group per channel
};
TORCH_MODULE(FeatureEncoder);

/// Relative positions: a grouped convolution over frames, weight-normalised over its kernel axis
/// (`weight = g * v / |v|`, the norm over the channel axes), "same" padding, GELU. `[B, F, D]` ->
/// `[B, F, D]`, added to its input by the encoder.
class PositionalConvImpl : public torch::nn::Cloneable<PositionalConvImpl> {
 public:
  /// A convolution of width `kernel` in `groups` groups over `dim` channels.
  PositionalConvImpl(int64_t dim, int64_t kernel, int64_t groups) : dim(dim), kernel(kernel), groups(groups) { reset(); }
  /// Builds `weight_g`, `weight_v` and `bias` (`clone()` calls it too); initialised as Hugging
  /// Face's: v normal with std 2 / sqrt(kernel x dim), g = |v|, bias 0.
  void reset() override {
    weight_v = register_parameter("weight_v", torch::randn({dim, dim / groups, kernel}) * (2.0 / std::sqrt(double(kernel * dim))));
    weight_g = register_parameter("weight_g", torch::norm_except_dim(weight_v.detach(), 2, 2).clone());
    bias = register_parameter("bias", torch::zeros({dim}));
  }
  /// `x` `[B, F, D]` -> GELU(conv(x)) `[B, F, D]`.
  torch::Tensor forward(const torch::Tensor& x) {
    auto w = torch::_weight_norm(weight_v, weight_g, 2);
    auto y = torch::conv1d(x.transpose(1, 2), w, bias, 1, kernel / 2, 1, groups);
    if (kernel % 2 == 0) y = y.narrow(2, 0, y.size(2) - 1);
    return torch::gelu(y).transpose(1, 2);
  }
  int64_t dim;     ///< channels
  int64_t kernel;  ///< width in frames
  int64_t groups;  ///< convolution groups
  torch::Tensor weight_g;  ///< `[1, 1, kernel]` the weight's norm per kernel position
  torch::Tensor weight_v;  ///< `[dim, dim / groups, kernel]` the weight's direction
  torch::Tensor bias;      ///< `[dim]`
};
TORCH_MODULE(PositionalConv);

/// wav2vec 2.0's encoder of raw audio (`ssl::Backbone`). Input `Masked::input` `[B, T]` float
/// samples (normalised per clip, as `data::AudioFolder` gives them); `Masked::mask` `[B, F]` bool
/// over frames (`masker::Spans`), undefined for none.
class EncoderImpl : public torch::nn::Cloneable<EncoderImpl> {
 public:
  /// An encoder of `options`.
  explicit EncoderImpl(Options options) : options(std::move(options)) { reset(); }

  /// Builds the parts (`clone()` calls it too). Initialisation: Hugging Face's
  /// (`Wav2Vec2PreTrainedModel._init_weights`): linear weights normal(0, 0.02) with zero biases,
  /// the projection uniform(+-1/sqrt(C)), the mask embedding uniform(0, 1).
  void reset() override {
    check_options(options, "audio::Encoder");
    const auto C = options.conv_dim().back(), D = options.dim();
    features = register_module("features", FeatureEncoder(options));
    feature_norm = register_module("feature_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(options.eps())));
    projection = register_module("projection", torch::nn::Linear(C, D));
    mask_embed = register_parameter("mask_embed", torch::rand({D}));
    positions = register_module("positions", PositionalConv(D, options.pos_conv_kernel(), options.pos_conv_groups()));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(options.eps())));
    blocks = register_module("blocks", nn::Stack(nn::StackOptions(D, options.depth(), options.heads())
                                                     .block(nn::BlockOptions(D, options.heads())
                                                                .mlp_hidden(options.mlp_hidden())
                                                                .norm_first(false)
                                                                .eps(options.eps())
                                                                .dropout(options.dropout())
                                                                .attn_dropout(options.attn_dropout()))));
    torch::NoGradGuard g;
    const double k = 1.0 / std::sqrt(double(C));
    projection->weight.uniform_(-k, k);
    projection->bias.uniform_(-k, k);
    for (auto& p : blocks->named_parameters()) {
      if (p.key().find("norm") != std::string::npos) continue;  // LayerNorms: 1 and 0 already
      if (p.key().ends_with("weight")) p.value().normal_(0.0, 0.02);
      else p.value().zero_();
    }
  }

  /// Encodes `m.input` `[B, T]`, with the mask embedding at the frames `m.mask` `[B, F]` hides.
  Features forward(const Masked& m) {
    const auto& x = m.input;
    TORCH_CHECK(x.dim() == 2 && x.is_floating_point(), "audio::Encoder: expected samples [B, T] of a floating type, got ",
                x.sizes(), " ", x.dtype());
    const int64_t F = options.frames(x.size(1));
    TORCH_CHECK(F > 0, "audio::Encoder: ", x.size(1), " samples are too short for the feature encoder (its kernels and strides)");
    auto f = features(x).transpose(1, 2);  // [B, F, C]
    const double mult = options.feature_grad_mult();
    if (mult < 1 && f.requires_grad()) f = mult == 0 ? f.detach() : detail::GradScale::apply(f, mult);
    auto local = feature_norm(f);
    auto h = drop(projection(local), options.input_dropout());
    if (m.mask.defined()) {
      TORCH_CHECK(m.mask.dim() == 2 && m.mask.size(0) == x.size(0) && m.mask.size(1) == F &&
                      m.mask.scalar_type() == torch::kBool,
                  "audio::Encoder: expected a bool mask [", x.size(0), ", ", F, "] over the frames of ", x.size(1),
                  " samples, got ", m.mask.sizes(), " ", m.mask.dtype());
      h = torch::where(m.mask.unsqueeze(-1), mask_embed.to(h.dtype()), h);
    }
    h = drop(norm(h + positions(h)), options.dropout());
    h = blocks(h);
    return {.tokens = h, .pooled = h.mean(1), .layers = {}, .local = local};
  }

  /// The context vectors' width.
  [[nodiscard]] int64_t dim() const { return options.dim(); }
  /// Frames of a clip of `samples` samples.
  [[nodiscard]] int64_t frames(int64_t samples) const { return options.frames(samples); }

  Options options;                              ///< what it was built from
  FeatureEncoder features{nullptr};             ///< waveform -> local features
  torch::nn::LayerNorm feature_norm{nullptr};   ///< on the local features
  torch::nn::Linear projection{nullptr};        ///< local features -> the Transformer's width
  torch::Tensor mask_embed;                     ///< `[D]` replaces the hidden frames
  PositionalConv positions{nullptr};            ///< relative positions
  torch::nn::LayerNorm norm{nullptr};           ///< after adding the positions
  nn::Stack blocks{nullptr};                    ///< the post-norm Transformer

 private:
  torch::Tensor drop(const torch::Tensor& x, double p) { return p > 0 ? torch::dropout(x, p, is_training()) : x; }
};
TORCH_MODULE(Encoder);

}  // namespace ssl::audio
