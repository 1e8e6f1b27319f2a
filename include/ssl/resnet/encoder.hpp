#pragma once
/// \file resnet/encoder.hpp
/// ResNet (He et al., 2016) as a joint-embedding backbone: torchvision's architecture (v1.5:
/// the stride of a bottleneck sits on its 3x3 convolution) without the classifier, with a choice
/// of stem (torchvision's 7x7/2 convolution + 3x3/2 max-pool, or the 3x3/1 convolution without
/// pooling that SimCLR & co. use on 28-32 px images), any input channel count and base width.
///
/// Parameter and buffer names are torchvision's (`conv1`, `bn1`, `layer1.0.conv1`,
/// `layer1.0.downsample.0`, ..., no `fc`), so a torchvision state dict (with `fc` removed) loads
/// by name with `ssl::io::load_into`. Models `ssl::Backbone`: `tokens` is the final feature map
/// as `[B, H'*W', D]` (row-major positions), `pooled` its global average `[B, D]`.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/nn/batch_norm.hpp>

#include <torch/torch.h>

#include <array>
#include <string>

namespace ssl::resnet {

using torch::Tensor;

/// ResNet options. `channels` describes the data and has no default (0 = unset: the encoder
/// refuses it). Example: `resnet::resnet18().channels(3).small_stem(false)`.
struct Options {
  /// Blocks per stage for `depth` (torchvision's table).
  [[nodiscard]] std::array<int64_t, 4> blocks() const {
    switch (depth_) {
      case 18: return {2, 2, 2, 2};
      case 34: return {3, 4, 6, 3};
      case 50: return {3, 4, 6, 3};
      case 101: return {3, 4, 23, 3};
      case 152: return {3, 8, 36, 3};
      default: break;
    }
    TORCH_CHECK(false, "resnet::Options: depth must be 18, 34, 50, 101 or 152, got ", depth_);
    return {};
  }
  /// Bottleneck blocks (1x1, 3x3, 1x1, expansion 4) for depth >= 50, basic blocks below.
  [[nodiscard]] bool bottleneck() const { return depth_ >= 50; }
  /// Output channels of a block relative to its planes: 4 for bottlenecks, 1 for basic blocks.
  [[nodiscard]] int64_t expansion() const { return bottleneck() ? 4 : 1; }
  /// Feature dimension: `8 * width` (basic blocks) or `32 * width` (bottlenecks).
  [[nodiscard]] int64_t dim() const { return 8 * width_ * expansion(); }

  /// 18 or 34 (basic blocks), 50 (bottlenecks); 101 and 152 work too.
  TORCH_ARG(int64_t, depth) = 18;
  /// Input channels (1 grayscale, 3 RGB). Required.
  TORCH_ARG(int64_t, channels) = 0;
  /// Base width: the stem gives `width` channels, the stages work at `width, 2w, 4w, 8w` planes
  /// (torchvision: 64).
  TORCH_ARG(int64_t, width) = 64;
  /// `true`: 3x3 stride-1 stem convolution and no max-pool (for 28-32 px images; the feature map
  /// is 1/8 of the input). `false`: torchvision's 7x7 stride-2 convolution + 3x3 stride-2
  /// max-pool (1/32).
  TORCH_ARG(bool, small_stem) = true;
  /// Zero the last BatchNorm weight of every residual branch, so each block starts as the
  /// identity (torchvision's `zero_init_residual`).
  TORCH_ARG(bool, zero_init_residual) = false;
  /// Convolution weights and activations in channels-last (NHWC) memory: the same model, faster
  /// training on CPU (oneDNN) for small widths (docs/benchmarks.md); off by default so results are
  /// bit-comparable with torchvision's default (NCHW) layout.
  TORCH_ARG(bool, channels_last) = false;
};

/// Presets (torchvision's depths and width). Channels and stem are set by the caller.
inline Options resnet18() { return Options{}.depth(18); }
/// ResNet-34: basic blocks 3, 4, 6, 3.
inline Options resnet34() { return Options{}.depth(34); }
/// ResNet-50: bottleneck blocks 3, 4, 6, 3.
inline Options resnet50() { return Options{}.depth(50); }

namespace detail {
inline torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}
/// torchvision's shortcut projection: 1x1 convolution with the block's stride, then BatchNorm.
inline torch::nn::Sequential downsample(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Sequential(conv(in, out, 1, stride, 0), ssl::nn::BatchNorm2d(out));
}
}  // namespace detail

/// torchvision's `BasicBlock`: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both 3x3,
/// the stride on `conv1`; `downsample` (1x1 conv + BN) when the stride or the width changes.
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  /// Output channels per `planes`: 1.
  static constexpr int64_t expansion = 1;
  /// A block from `in` to `planes` channels, `stride` on `conv1`.
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride) : in(in), planes(planes), stride(stride) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    conv1 = register_module("conv1", detail::conv(in, planes, 3, stride, 1));
    bn1 = register_module("bn1", ssl::nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", detail::conv(planes, planes, 3, 1, 1));
    bn2 = register_module("bn2", ssl::nn::BatchNorm2d(planes));
    if (stride != 1 || in != planes * expansion) {
      downsample = register_module("downsample", detail::downsample(in, planes * expansion, stride));
    } else {
      downsample = nullptr;
    }
  }

  /// `x` `[B,in,H,W]` -> `[B,planes,H/stride,W/stride]`.
  Tensor forward(const Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    return torch::relu(out + (downsample ? downsample->forward(x) : x));
  }

  /// The BatchNorm that closes the residual branch (zeroed by `zero_init_residual`).
  ssl::nn::BatchNorm2d& last_bn() { return bn2; }

  int64_t in;      ///< input channels
  int64_t planes;  ///< the block's width (output channels: planes x expansion)
  int64_t stride;  ///< spatial stride of the block
  torch::nn::Conv2d conv1{nullptr};          ///< first 3x3 convolution (with the stride)
  torch::nn::Conv2d conv2{nullptr};          ///< second 3x3 convolution
  ssl::nn::BatchNorm2d bn1{nullptr};       ///< after conv1
  ssl::nn::BatchNorm2d bn2{nullptr};       ///< after conv2
  torch::nn::Sequential downsample{nullptr};  ///< the shortcut's projection, or none (identity)
};
TORCH_MODULE(BasicBlock);

/// torchvision's `Bottleneck` (ResNet v1.5): 1x1 (planes) -> 3x3 with the stride (planes) ->
/// 1x1 (4 x planes), BN after each, ReLU after the first two and after the sum with the shortcut.
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  /// Output channels per `planes`: 4.
  static constexpr int64_t expansion = 4;
  /// A block from `in` to `4 x planes` channels, `stride` on `conv2`.
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride) : in(in), planes(planes), stride(stride) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    conv1 = register_module("conv1", detail::conv(in, planes, 1, 1, 0));
    bn1 = register_module("bn1", ssl::nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", detail::conv(planes, planes, 3, stride, 1));
    bn2 = register_module("bn2", ssl::nn::BatchNorm2d(planes));
    conv3 = register_module("conv3", detail::conv(planes, planes * expansion, 1, 1, 0));
    bn3 = register_module("bn3", ssl::nn::BatchNorm2d(planes * expansion));
    if (stride != 1 || in != planes * expansion) {
      downsample = register_module("downsample", detail::downsample(in, planes * expansion, stride));
    } else {
      downsample = nullptr;
    }
  }

  /// `x` `[B,in,H,W]` -> `[B,4 planes,H/stride,W/stride]`.
  Tensor forward(const Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = torch::relu(bn2(conv2(out)));
    out = bn3(conv3(out));
    return torch::relu(out + (downsample ? downsample->forward(x) : x));
  }

  /// The BatchNorm that closes the residual branch (zeroed by `zero_init_residual`).
  ssl::nn::BatchNorm2d& last_bn() { return bn3; }

  int64_t in;      ///< input channels
  int64_t planes;  ///< the block's width (output channels: planes x expansion)
  int64_t stride;  ///< spatial stride of the block
  torch::nn::Conv2d conv1{nullptr};          ///< 1x1 convolution to planes
  torch::nn::Conv2d conv2{nullptr};          ///< 3x3 convolution (with the stride)
  torch::nn::Conv2d conv3{nullptr};          ///< 1x1 convolution to 4 x planes
  ssl::nn::BatchNorm2d bn1{nullptr};       ///< after conv1
  ssl::nn::BatchNorm2d bn2{nullptr};       ///< after conv2
  ssl::nn::BatchNorm2d bn3{nullptr};       ///< after conv3
  torch::nn::Sequential downsample{nullptr};  ///< the shortcut's projection, or none (identity)
};
TORCH_MODULE(Bottleneck);

/// The ResNet encoder (no classifier). `forward(Masked)` encodes the whole image
/// (`Masked::ids_keep` must be undefined: a ResNet cannot drop patches) and returns
/// `Features{tokens = [B, H'*W', dim()], pooled = [B, dim()]}`.
class EncoderImpl : public torch::nn::Cloneable<EncoderImpl> {
 public:
  /// An encoder as `options` says (channels required), initialised as torchvision's.
  explicit EncoderImpl(Options options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    TORCH_CHECK(o.channels() > 0, "resnet::Encoder: resnet::Options: channels (of the input images: 1 grayscale, 3 RGB) ",
                "is required, e.g. resnet::resnet18().channels(3), got ", o.channels());
    TORCH_CHECK(o.width() > 0, "resnet::Encoder: expected width > 0, got ", o.width());
    const auto blocks = o.blocks();  // checks the depth
    conv1 = register_module("conv1", o.small_stem() ? detail::conv(o.channels(), o.width(), 3, 1, 1)
                                                    : detail::conv(o.channels(), o.width(), 7, 2, 3));
    bn1 = register_module("bn1", ssl::nn::BatchNorm2d(o.width()));
    int64_t in = o.width();
    std::array<torch::nn::Sequential*, 4> stages{&layer1, &layer2, &layer3, &layer4};
    for (size_t s = 0; s < 4; ++s) {
      const int64_t planes = o.width() << s;
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < blocks[s]; ++b) {
        const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        if (o.bottleneck()) {
          stage->push_back(Bottleneck(in, planes, stride));
        } else {
          stage->push_back(BasicBlock(in, planes, stride));
        }
        in = planes * o.expansion();
      }
      *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
    }
    initialize();
  }

  /// torchvision's initialisation: convolutions kaiming-normal (fan-out, ReLU gain), BatchNorm
  /// weight 1 and bias 0; with `zero_init_residual`, the last BN weight of every block 0.
  void initialize() {
    torch::NoGradGuard g;
    for (auto& mod : modules(/*include_self=*/false)) {
      if (auto* c = mod->as<torch::nn::Conv2dImpl>()) {
        torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = mod->as<ssl::nn::BatchNorm2dImpl>()) {
        bn->weight.fill_(1.0);
        bn->bias.zero_();
      }
    }
    if (options.zero_init_residual()) {
      for (auto& mod : modules(/*include_self=*/false)) {
        if (auto* b = mod->as<BasicBlockImpl>()) b->last_bn()->weight.zero_();
        if (auto* b = mod->as<BottleneckImpl>()) b->last_bn()->weight.zero_();
      }
    }
    if (options.channels_last()) {
      for (auto& mod : modules(/*include_self=*/false))
        if (auto* c = mod->as<torch::nn::Conv2dImpl>())
          c->weight.set_data(c->weight.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }

  /// The final feature map `[B, dim(), H', W']` (H' = H/8 with the small stem, H/32 without).
  Tensor feature_map(const Tensor& x) {
    ssl::detail::check_dim(x, 4, "resnet::Encoder", "[B,C,H,W]");
    TORCH_CHECK(x.size(1) == options.channels(), "resnet::Encoder: expected ", options.channels(),
                " input channels, got an input of shape ", ssl::detail::shape_str(x));
    auto h = torch::relu(bn1(conv1(options.channels_last() ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x)));
    if (!options.small_stem()) {
      h = torch::max_pool2d(h, /*kernel_size=*/{3, 3}, /*stride=*/{2, 2}, /*padding=*/{1, 1});
    }
    return layer4->forward(layer3->forward(layer2->forward(layer1->forward(h))));
  }

  /// The features of the whole images `m.input` `[B,C,H,W]` (see the class comment).
  Features forward(const Masked& m) {
    TORCH_CHECK(!m.ids_keep.defined(), "resnet::Encoder: Masked::ids_keep must be undefined (a ResNet ",
                "encodes the whole image and cannot drop patches), got ids_keep of shape ",
                ssl::detail::shape_str(m.ids_keep), "; use a masker that hides nothing (masker::None)");
    auto map = feature_map(m.input);
    auto pooled = torch::adaptive_avg_pool2d(map, {1, 1}).flatten(1);
    return {map.flatten(2).transpose(1, 2), pooled};
  }
  /// The features of the images `x` `[B,C,H,W]`.
  Features forward(const Tensor& x) { return forward(Masked{.input = x}); }

  /// Feature dimension: `8 * width` (depth 18/34) or `32 * width` (depth >= 50).
  [[nodiscard]] int64_t dim() const { return options.dim(); }

  Options options;  ///< what the encoder was built from
  torch::nn::Conv2d conv1{nullptr};  ///< the stem's convolution (3x3 stride 1 small, else 7x7 stride 2)
  ssl::nn::BatchNorm2d bn1{nullptr};  ///< the stem's BatchNorm
  torch::nn::Sequential layer1{nullptr};  ///< stage 1: planes = width, stride 1
  torch::nn::Sequential layer2{nullptr};  ///< stage 2: planes = 2 x width, stride 2
  torch::nn::Sequential layer3{nullptr};  ///< stage 3: planes = 4 x width, stride 2
  torch::nn::Sequential layer4{nullptr};  ///< stage 4: planes = 8 x width, stride 2
};
TORCH_MODULE(Encoder);

}  // namespace ssl::resnet
