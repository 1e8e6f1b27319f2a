#pragma once
/// \file augment/ops.hpp
/// Deterministic image operations on a batch `[B,C,H,W]` (floating point, values in [0,1]) with
/// PER-SAMPLE parameters given as `[B]` tensors on the batch's device: one call gives every image
/// its own crop box, factor or sigma, without a loop over images. Each op computes what
/// `torchvision.transforms.v2.functional` computes on one float image with that image's
/// parameters (suite `augment_parity`, tests/test_augment.cpp).
///
/// The public functions check their inputs, parameter values included (which reads them back
/// from the device: one synchronisation on a GPU). The random transforms (random.hpp) make valid
/// parameters by construction and call the `detail::` kernels, which do not read anything back.
#include <ssl/core/check.hpp>

#include <torch/torch.h>

#include <cmath>
#include <string>

namespace ssl::augment {

using torch::Tensor;

namespace detail {

/// `x` is a `[B,C,H,W]` floating-point batch.
inline void check_images(const Tensor& x, const char* op) {
  ssl::detail::check_dim(x, 4, op, "[B,C,H,W]");
  TORCH_CHECK(x.is_floating_point(), op, ": expected a floating-point image batch with values in [0,1], got dtype ",
              x.scalar_type());
}
/// ... with 1 (grayscale) or 3 (RGB) channels, as torchvision's colour ops require.
inline void check_color(const Tensor& x, const char* op) {
  check_images(x, op);
  TORCH_CHECK(x.size(1) == 1 || x.size(1) == 3, op, ": expected 1 or 3 channels, got ", x.size(1), " (shape ",
              ssl::detail::shape_str(x), ")");
}

/// What a per-sample parameter holds: real factors (any floating dtype; cast to the batch's),
/// int64 pixel coordinates, or bool masks.
enum class Param { Real, Long, Bool };

/// Checks that `p` is a `[B]` tensor of kind `kind` on `x`'s device; returns it (cast to `x`'s
/// dtype for reals) shaped `[B,1,1,1]` so that it broadcasts over `[B,C,H,W]`.
inline Tensor param(const Tensor& p, const Tensor& x, const char* op, const char* name, Param kind) {
  const int64_t b = x.size(0);
  TORCH_CHECK(p.defined(), op, ": expected ", name, " as a [", b, "] tensor (one per image), got an undefined tensor");
  TORCH_CHECK(p.dim() == 1 && p.size(0) == b, op, ": expected ", name, " of shape [", b,
              "] (one per image of the batch ", ssl::detail::shape_str(x), "), got ", ssl::detail::shape_str(p));
  TORCH_CHECK(p.device() == x.device(), op, ": expected ", name, " on the batch's device ", x.device(), ", got ",
              p.device());
  switch (kind) {
    case Param::Real:
      TORCH_CHECK(p.is_floating_point(), op, ": expected ", name, " as floating point, got ", p.scalar_type());
      return p.to(x.scalar_type()).view({b, 1, 1, 1});
    case Param::Long:
      TORCH_CHECK(p.scalar_type() == torch::kLong, op, ": expected ", name, " as int64, got ", p.scalar_type());
      break;
    case Param::Bool:
      TORCH_CHECK(p.scalar_type() == torch::kBool, op, ": expected ", name, " as bool, got ", p.scalar_type());
      break;
  }
  return p.view({b, 1, 1, 1});
}

/// Every element of `ok` is true, else an error naming the op and the rule (reads from the device).
template <class... Msg>
void check_values(const Tensor& ok, const char* op, const Msg&... msg) {
  TORCH_CHECK(ok.all().item<bool>(), op, ": ", msg...);
}

/// Per-sample 1-D interpolation weights `[B,out,in]`: row `i` of sample `b` holds the weights
/// with which output pixel `i` reads the input pixels when the span `[start, start+len)` is
/// resized to `out` pixels (bilinear, align_corners=false), zero outside the span.
/// ATen's antialiased bilinear weights (UpSampleKernel.cpp, `_compute_weights_aa`, interp_size 2):
/// scale = len/out, support = scale >= 1 ? scale : 1, invscale = scale >= 1 ? 1/scale : 1,
/// center = scale*(i+0.5), xmin = max(int(center - support + 0.5), 0),
/// xmax = min(int(center + support + 0.5), len), w_j = max(0, 1 - |(j - center + 0.5)*invscale|)
/// for j in [xmin, xmax), normalised to sum 1. Without antialiasing support = invscale = 1, which
/// is plain bilinear interpolation with the edges clamped. Computed in the images' precision
/// (float for half types), as ATen does.
inline Tensor interp_weights(const Tensor& start, const Tensor& len, int64_t in, int64_t out, bool antialias,
                             c10::ScalarType dtype) {
  const auto ct = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const auto opt = start.options().dtype(ct);
  const Tensor n = len.to(ct).view({-1, 1, 1});                                    // [B,1,1]
  const Tensor scale = n / double(out);                                           // [B,1,1]
  const Tensor center = scale * (torch::arange(out, opt).view({1, out, 1}) + 0.5);  // [B,out,1]
  Tensor support = torch::ones_like(scale), invscale = torch::ones_like(scale);
  if (antialias) {
    support = torch::where(scale >= 1.0, scale, 1.0);
    invscale = torch::where(scale >= 1.0, 1.0 / scale, 1.0);
  }
  const Tensor xmin = (center - support + 0.5).trunc().clamp_min(0.0);
  const Tensor xmax = torch::minimum((center + support + 0.5).trunc(), n);
  // positions of the image's pixels relative to the span: [B,1,in]
  const Tensor j = torch::arange(in, opt).view({1, 1, in}) - start.to(ct).view({-1, 1, 1});
  Tensor w = j - center;  // [B,out,in], then in place (the one full-size buffer)
  w.add_(0.5).mul_(invscale).abs_().neg_().add_(1.0).clamp_min_(0.0);
  w.masked_fill_((j < xmin).logical_or_(j >= xmax), 0.0);
  // The pixel under the centre is always in the window with weight >= 0.5: the sum is positive.
  return w.div_(w.sum(-1, /*keepdim=*/true)).to(dtype);
}

inline Tensor resized_crop(const Tensor& x, const Tensor& top, const Tensor& left, const Tensor& height,
                           const Tensor& width, int64_t out_h, int64_t out_w, bool antialias) {
  const Tensor wy = interp_weights(top, height, x.size(2), out_h, antialias, x.scalar_type());  // [B,out_h,H]
  const Tensor wx = interp_weights(left, width, x.size(3), out_w, antialias, x.scalar_type());  // [B,out_w,W]
  // Separable: Wy @ x @ Wx^T per sample, every channel at once.
  return torch::matmul(torch::matmul(wy.unsqueeze(1), x), wx.transpose(1, 2).unsqueeze(1));
}

inline Tensor hflip(const Tensor& x, const Tensor& flip /*[B,1,1,1] bool*/) {
  return torch::where(flip, x.flip(-1), x);
}

/// torchvision's `_blend`: `x*f + y*(1-f)` clamped to [0,1].
inline Tensor blend(const Tensor& x, const Tensor& y, const Tensor& f) {
  return (x * f + y * (1.0 - f)).clamp_(0.0, 1.0);
}

/// ITU-R 601-2 luma of an RGB batch, `[B,1,H,W]` (torchvision's `_rgb_to_grayscale_image`).
inline Tensor luma(const Tensor& x) {
  return x.select(1, 0).mul(0.2989).add_(x.select(1, 1), 0.587).add_(x.select(1, 2), 0.114).unsqueeze(1);
}

inline Tensor brightness(const Tensor& x, const Tensor& f) { return (x * f).clamp_(0.0, 1.0); }

inline Tensor contrast(const Tensor& x, const Tensor& f) {
  const Tensor gray = x.size(1) == 3 ? luma(x) : x;
  return blend(x, gray.mean({1, 2, 3}, /*keepdim=*/true), f);
}

inline Tensor saturation(const Tensor& x, const Tensor& f) { return x.size(1) == 1 ? x : blend(x, luma(x), f); }

/// torchvision's `_rgb_to_hsv` on `[B,3,H,W]`.
inline Tensor rgb_to_hsv(const Tensor& x) {
  const Tensor r = x.select(1, 0), g = x.select(1, 1);
  const auto [minc, maxc] = torch::aminmax(x, 1);
  const Tensor eqc = maxc == minc;
  const Tensor range = maxc - minc;
  const Tensor ones = torch::ones_like(maxc);
  const Tensor s = range / torch::where(eqc, ones, maxc);
  const auto c = ((maxc.unsqueeze(1) - x) / torch::where(eqc, ones, range).unsqueeze(1)).unbind(1);  // rc, gc, bc
  const Tensor maxc_neq_r = maxc != r, maxc_eq_g = maxc == g;
  const Tensor hg = (c[0] + 2.0 - c[2]) * (maxc_eq_g & maxc_neq_r);
  const Tensor hr = (c[2] - c[1]) * maxc_neq_r.logical_not();
  const Tensor hb = (c[1] + 4.0 - c[0]) * (maxc_neq_r & maxc_eq_g.logical_not());
  const Tensor h = ((hr + hg + hb) * (1.0 / 6.0) + 1.0).fmod_(1.0);
  return torch::stack({h, s, maxc}, 1);
}

/// torchvision's `_hsv_to_rgb` on `[B,3,H,W]`.
inline Tensor hsv_to_rgb(const Tensor& hsv) {
  const Tensor h = hsv.select(1, 0), s = hsv.select(1, 1), v = hsv.select(1, 2);
  const Tensor h6 = h * 6.0;
  const Tensor i = h6.floor();
  const Tensor f = h6 - i;
  const Tensor sxf = s * f, one_minus_s = 1.0 - s;
  const Tensor q = ((1.0 - sxf) * v).clamp_(0.0, 1.0);
  const Tensor t = ((sxf + one_minus_s) * v).clamp_(0.0, 1.0);
  const Tensor p = (one_minus_s * v).clamp_(0.0, 1.0);
  const Tensor vpqt = torch::stack({v, p, q, t}, 1);  // [B,4,H,W]
  // which of v, p, q, t each of r, g, b takes, by sector i = floor(6h) mod 6
  const Tensor table = torch::tensor({0, 2, 1, 1, 3, 0, 3, 0, 0, 2, 1, 1, 1, 1, 3, 0, 0, 2}, torch::kLong)
                           .view({3, 6})
                           .to(hsv.device());
  const Tensor select = table.index({torch::indexing::Slice(), i.to(torch::kLong).remainder(6)}).movedim(0, 1);
  return vpqt.gather(1, select);
}

inline Tensor hue(const Tensor& x, const Tensor& f /*[B,1,1,1]*/) {
  if (x.size(1) == 1) return x;
  Tensor hsv = rgb_to_hsv(x);
  const Tensor h = (hsv.select(1, 0) + f.squeeze(1)).remainder(1.0);
  return hsv_to_rgb(torch::stack({h, hsv.select(1, 1), hsv.select(1, 2)}, 1));
}

/// torchvision's 1-D Gaussian kernel for each sigma: `[B,k]`, softmax(-(t/sigma)^2) over
/// t = linspace(-(k-1)/(2 sqrt 2), (k-1)/(2 sqrt 2), k).
inline Tensor gaussian_kernels(int64_t k, const Tensor& sigma /*[B]*/) {
  const double lim = double(k - 1) / (2.0 * std::sqrt(2.0));
  const Tensor t = torch::linspace(-lim, lim, k, sigma.options());
  return torch::softmax((t / sigma.view({-1, 1})).pow(2).neg(), 1);
}

/// Separable Gaussian blur with reflect padding (torchvision's), one sigma per image: the batch
/// is folded into the channels and convolved with a grouped (depthwise) convolution.
inline Tensor blur(const Tensor& x, int64_t k, const Tensor& sigma /*[B]*/) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), pad = k / 2;
  const Tensor kern = gaussian_kernels(k, sigma.to(x.scalar_type())).repeat_interleave(c, 0);  // [B*C,k]
  Tensor y = torch::reflection_pad2d(x, {pad, pad, pad, pad}).reshape({1, b * c, h + 2 * pad, w + 2 * pad});
  const auto grouped = torch::nn::functional::Conv2dFuncOptions().groups(b * c);
  y = torch::nn::functional::conv2d(y, kern.view({b * c, 1, 1, k}), grouped);  // along W
  y = torch::nn::functional::conv2d(y, kern.view({b * c, 1, k, 1}), grouped);  // along H
  return y.view({b, c, h, w});
}

inline Tensor solarize(const Tensor& x, double threshold, const Tensor& mask /*[B,1,1,1] bool*/) {
  return torch::where(mask & (x >= threshold), 1.0 - x, x);
}

}  // namespace detail

/// Crops the box `[top, top+height) x [left, left+width)` of each image and resizes it to
/// `out_h x out_w`: `torchvision.transforms.v2.functional.resized_crop` (bilinear,
/// align_corners=false, antialiased when `antialias`) per image. `top`, `left`, `height`, `width`
/// are `[B]` int64 on the batch's device; boxes must lie inside the image and be non-empty.
/// A box of the output's size gives the crop itself, as torchvision does.
inline Tensor resized_crop(const Tensor& x, const Tensor& top, const Tensor& left, const Tensor& height,
                           const Tensor& width, int64_t out_h, int64_t out_w, bool antialias = true) {
  constexpr const char* op = "resized_crop";
  detail::check_images(x, op);
  TORCH_CHECK(out_h > 0 && out_w > 0, op, ": expected a positive output size, got ", out_h, "x", out_w);
  using detail::Param;
  const Tensor t = detail::param(top, x, op, "top", Param::Long), l = detail::param(left, x, op, "left", Param::Long);
  const Tensor h = detail::param(height, x, op, "height", Param::Long);
  const Tensor w = detail::param(width, x, op, "width", Param::Long);
  detail::check_values((t >= 0) & (l >= 0) & (h > 0) & (w > 0) & (t + h <= x.size(2)) & (l + w <= x.size(3)), op,
                       "expected non-empty boxes inside the ", x.size(2), "x", x.size(3),
                       " images (0 <= top, 0 <= left, 0 < height, 0 < width, top+height <= H, left+width <= W)");
  return detail::resized_crop(x, top, left, height, width, out_h, out_w, antialias);
}

/// Mirrors the images whose `flip` (`[B]` bool) is true, left to right.
inline Tensor hflip(const Tensor& x, const Tensor& flip) {
  detail::check_images(x, "hflip");
  return detail::hflip(x, detail::param(flip, x, "hflip", "flip", detail::Param::Bool));
}

/// `x * factor` clamped to [0,1], one factor (>= 0) per image (torchvision's adjust_brightness).
inline Tensor adjust_brightness(const Tensor& x, const Tensor& factor) {
  detail::check_color(x, "adjust_brightness");
  const Tensor f = detail::param(factor, x, "adjust_brightness", "factor", detail::Param::Real);
  detail::check_values(f >= 0, "adjust_brightness", "expected factors >= 0");
  return detail::brightness(x, f);
}

/// Blends each image with the mean of its grayscale version (the image's mean for 1 channel),
/// `factor` (>= 0) per image (torchvision's adjust_contrast).
inline Tensor adjust_contrast(const Tensor& x, const Tensor& factor) {
  detail::check_color(x, "adjust_contrast");
  const Tensor f = detail::param(factor, x, "adjust_contrast", "factor", detail::Param::Real);
  detail::check_values(f >= 0, "adjust_contrast", "expected factors >= 0");
  return detail::contrast(x, f);
}

/// Blends each RGB image with its grayscale version, `factor` (>= 0) per image; the identity on
/// 1-channel images (torchvision's adjust_saturation).
inline Tensor adjust_saturation(const Tensor& x, const Tensor& factor) {
  detail::check_color(x, "adjust_saturation");
  const Tensor f = detail::param(factor, x, "adjust_saturation", "factor", detail::Param::Real);
  detail::check_values(f >= 0, "adjust_saturation", "expected factors >= 0");
  return detail::saturation(x, f);
}

/// Shifts the hue of each RGB image by `factor` in [-0.5, 0.5] (a fraction of the hue circle),
/// through torchvision's RGB <-> HSV; the identity on 1-channel images (torchvision's adjust_hue).
inline Tensor adjust_hue(const Tensor& x, const Tensor& factor) {
  detail::check_color(x, "adjust_hue");
  const Tensor f = detail::param(factor, x, "adjust_hue", "factor", detail::Param::Real);
  detail::check_values((f >= -0.5) & (f <= 0.5), "adjust_hue", "expected factors in [-0.5, 0.5]");
  return detail::hue(x, f);
}

/// ITU-R 601-2 luma (0.2989 R + 0.587 G + 0.114 B) with 1 or 3 (repeated) output channels;
/// a 1-channel input is copied or repeated (torchvision's rgb_to_grayscale).
inline Tensor rgb_to_grayscale(const Tensor& x, int64_t num_output_channels = 1) {
  detail::check_color(x, "rgb_to_grayscale");
  TORCH_CHECK(num_output_channels == 1 || num_output_channels == 3,
              "rgb_to_grayscale: expected num_output_channels 1 or 3, got ", num_output_channels);
  const Tensor g = x.size(1) == 3 ? detail::luma(x) : x.clone();
  return num_output_channels == 1 ? g : g.expand({-1, 3, -1, -1}).contiguous();
}

/// Gaussian blur with an odd `kernel_size` and one `sigma` (> 0, `[B]`) per image, the same in
/// both directions, reflect padding (torchvision's gaussian_blur; computed separably).
inline Tensor gaussian_blur(const Tensor& x, int64_t kernel_size, const Tensor& sigma) {
  constexpr const char* op = "gaussian_blur";
  detail::check_images(x, op);
  TORCH_CHECK(kernel_size > 0 && kernel_size % 2 == 1, op, ": expected an odd positive kernel_size, got ", kernel_size);
  TORCH_CHECK(kernel_size / 2 < std::min(x.size(2), x.size(3)), op, ": kernel_size ", kernel_size,
              " needs reflect padding of ", kernel_size / 2, ", which must be smaller than the image (",
              x.size(2), "x", x.size(3), ")");
  const Tensor s = detail::param(sigma, x, op, "sigma", detail::Param::Real);
  detail::check_values(s > 0, op, "expected sigma > 0");
  return detail::blur(x, kernel_size, sigma);
}

/// Inverts (`1 - x`) the pixels >= `threshold` of the images whose `mask` (`[B]` bool) is true
/// (torchvision's solarize on the masked images).
inline Tensor solarize(const Tensor& x, double threshold, const Tensor& mask) {
  detail::check_images(x, "solarize");
  TORCH_CHECK(threshold <= 1.0, "solarize: expected threshold <= 1 (images are in [0,1]), got ", threshold);
  return detail::solarize(x, threshold, detail::param(mask, x, "solarize", "mask", detail::Param::Bool));
}

/// `(x - mean[c]) / std[c]` per channel; `mean` and `std` have C values (or one for all).
inline Tensor normalize(const Tensor& x, c10::ArrayRef<double> mean, c10::ArrayRef<double> std) {
  detail::check_images(x, "normalize");
  const auto c = static_cast<size_t>(x.size(1));
  TORCH_CHECK((mean.size() == c || mean.size() == 1) && (std.size() == c || std.size() == 1),
              "normalize: expected mean and std with ", c, " values (one per channel) or one, got ", mean.size(),
              " and ", std.size());
  for (double s : std) TORCH_CHECK(s != 0.0, "normalize: expected non-zero std, got ", std);
  const auto opt = x.options();
  return (x - torch::tensor(mean.vec(), opt).view({1, -1, 1, 1})) / torch::tensor(std.vec(), opt).view({1, -1, 1, 1});
}

}  // namespace ssl::augment
