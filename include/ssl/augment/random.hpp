#pragma once
/// \file augment/random.hpp
/// Random image transforms on a batch `[B,C,H,W]` in [0,1]: each draws its parameters PER IMAGE
/// (one crop box, flip, factor, sigma per image) with torch ops on the batch's device, from that
/// device's default generator (so `torch::manual_seed` replays them), and applies the batched ops
/// of ops.hpp. The parameters follow torchvision's v2 transforms of the same name; a `Pipeline`
/// chains them.
///
///     ssl::augment::Pipeline view{ssl::augment::RandomResizedCrop{.size = 28},
///                                 ssl::augment::RandomHorizontalFlip{},
///                                 ssl::augment::ColorJitter{.brightness = 0.4, .contrast = 0.4, .p = 0.8}};
///     torch::Tensor v = view(batch);
#include <ssl/augment/ops.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <utility>
#include <vector>

namespace ssl::augment {

/// One stage of a pipeline: a batch in, a batch out.
using Transform = std::function<Tensor(const Tensor&)>;

namespace detail {
/// `[B]` draws, uniform in [lo, hi), on `x`'s device in `x`'s dtype.
inline Tensor uniform(const Tensor& x, double lo, double hi) {
  return dist::rand({x.size(0)}, x.options()) * (hi - lo) + lo;
}
/// `[B,1,1,1]` bool, true with probability `p` (torchvision: `torch.rand(1) < p` applies).
inline Tensor chance(const Tensor& x, double p) {
  return (dist::rand({x.size(0)}, x.options()) < p).view({-1, 1, 1, 1});
}
inline void check_probability(double p, const char* op) {
  TORCH_CHECK(p >= 0.0 && p <= 1.0, op, ": expected a probability p in [0,1], got ", p);
}
inline void check_range(const std::array<double, 2>& r, double min, const char* op, const char* name) {
  TORCH_CHECK(r[0] >= min && r[0] <= r[1], op, ": expected ", name, " = {lo, hi} with ", min, " <= lo <= hi, got {",
              r[0], ", ", r[1], "}");
}
}  // namespace detail

/// Crops a random box of each image and resizes it to `size x size` (torchvision's
/// RandomResizedCrop, bilinear): area fraction ~ U(scale), log aspect ratio (w/h) ~
/// U(log ratio), w = round(sqrt(area*ratio)), h = round(sqrt(area/ratio)); the first of 10 tries
/// that fits the image is kept (all 10 are drawn at once for the whole batch), else the centre
/// crop clamped to the ratio range; the position is uniform among those that fit.
struct RandomResizedCrop {
  int64_t size = 0;                          ///< output side in pixels
  std::array<double, 2> scale{0.08, 1.0};    ///< area fraction range (torchvision's default)
  std::array<double, 2> ratio{3.0 / 4.0, 4.0 / 3.0};  ///< aspect ratio (w/h) range
  bool antialias = true;                     ///< torchvision's default since 0.17

  /// The boxes of one call: `[B]` int64 each.
  struct Boxes {
    Tensor top;     ///< top row of each image's box
    Tensor left;    ///< left column
    Tensor height;  ///< height in pixels
    Tensor width;   ///< width in pixels
  };

  /// Draws one box per image of `x` (what `operator()` crops).
  [[nodiscard]] Boxes boxes(const Tensor& x) const {
    detail::check_images(x, "RandomResizedCrop");
    detail::check_range(scale, 0.0, "RandomResizedCrop", "scale");
    TORCH_CHECK(scale[1] > 0.0, "RandomResizedCrop: expected scale hi > 0, got ", scale[1]);
    detail::check_range(ratio, 1e-12, "RandomResizedCrop", "ratio");
    constexpr int64_t tries = 10;
    const int64_t b = x.size(0), h_img = x.size(2), w_img = x.size(3);
    const auto opt = x.options().dtype(torch::kFloat32);  // float32: every backend has it
    const Tensor area = (dist::rand({b, tries}, opt) * (scale[1] - scale[0]) + scale[0]) * double(h_img * w_img);
    const double lr0 = std::log(ratio[0]), lr1 = std::log(ratio[1]);
    const Tensor r = (dist::rand({b, tries}, opt) * (lr1 - lr0) + lr0).exp();
    const Tensor w = (area * r).sqrt().round(), h = (area / r).sqrt().round();  // round half to even, as Python
    const Tensor fits = (w > 0) & (w <= w_img) & (h > 0) & (h <= h_img);      // [B,tries]
    const Tensor first = fits.to(torch::kInt).argmax(1, /*keepdim=*/true);    // first try that fits
    const Tensor any = fits.any(1);
    // Fallback: the whole image, or its centre clamped to the ratio range.
    const double in_ratio = double(w_img) / double(h_img);
    double fw = double(w_img), fh = double(h_img);
    if (in_ratio < ratio[0]) fh = std::nearbyint(fw / ratio[0]);
    else if (in_ratio > ratio[1]) fw = std::nearbyint(fh * ratio[1]);
    const Tensor hh = torch::where(any, h.gather(1, first).squeeze(1), fh);
    const Tensor ww = torch::where(any, w.gather(1, first).squeeze(1), fw);
    // Position: uniform in [0, H-h] (centre for the fallback).
    auto position = [&](const Tensor& len, int64_t n) {
      const Tensor u = (dist::rand({b}, opt) * (n - len + 1)).floor().clamp_max(n - len);
      return torch::where(any, u, ((n - len) / 2).floor()).to(torch::kLong);
    };
    Tensor top = position(hh, h_img);
    Tensor left = position(ww, w_img);
    return {std::move(top), std::move(left), hh.to(torch::kLong), ww.to(torch::kLong)};
  }

  /// The crops of `x` `[B,C,H,W]`, each resized to `size x size`: `[B,C,size,size]`.
  Tensor operator()(const Tensor& x) const {
    TORCH_CHECK(size > 0, "RandomResizedCrop: expected a positive size, got ", size);
    const Boxes bx = boxes(x);
    return detail::resized_crop(x, bx.top, bx.left, bx.height, bx.width, size, size, antialias);
  }
};

/// Mirrors each image left to right with probability `p`.
struct RandomHorizontalFlip {
  double p = 0.5;  ///< probability of flipping an image
  /// `x` `[B,C,H,W]` with the drawn images mirrored.
  Tensor operator()(const Tensor& x) const {
    detail::check_images(x, "RandomHorizontalFlip");
    detail::check_probability(p, "RandomHorizontalFlip");
    return p > 0.0 ? detail::hflip(x, detail::chance(x, p)) : x;
  }
};

/// Colour jitter (torchvision's ColorJitter), applied to each image with probability `p`
/// (lightly's `RandomApply([ColorJitter], p)`). Factors per image: brightness, contrast and
/// saturation ~ U[max(0, 1-s), 1+s], hue ~ U[-h, h] (h <= 0.5); the four ops run in a random
/// order drawn per image (torchvision draws one order per call). An op whose strength is 0 is
/// skipped, and so are saturation and hue on 1-channel images (they are the identity there).
struct ColorJitter {
  double brightness = 0.0;  ///< strength s of the brightness factor ~ U[max(0, 1-s), 1+s] (0: off)
  double contrast = 0.0;  ///< strength of the contrast factor (0: off)
  double saturation = 0.0;  ///< strength of the saturation factor (0: off)
  double hue = 0.0;  ///< hue shift ~ U[-hue, hue], at most 0.5 (0: off)
  double p = 1.0;  ///< probability of jittering an image

  /// `x` `[B,C,H,W]` (values in [0,1]) with the drawn images jittered.
  Tensor operator()(const Tensor& x) const {
    detail::check_color(x, "ColorJitter");
    detail::check_probability(p, "ColorJitter");
    TORCH_CHECK(brightness >= 0 && contrast >= 0 && saturation >= 0 && hue >= 0 && hue <= 0.5,
                "ColorJitter: expected brightness, contrast, saturation >= 0 and hue in [0, 0.5], got ", brightness,
                ", ", contrast, ", ", saturation, ", ", hue);
    const bool rgb = x.size(1) == 3;
    const std::array<bool, 4> on{brightness > 0, contrast > 0, rgb && saturation > 0, rgb && hue > 0};
    if (p == 0.0 || std::none_of(on.begin(), on.end(), [](bool o) { return o; })) return x;
    auto factor = [&](double s) { return detail::uniform(x, std::max(0.0, 1.0 - s), 1.0 + s).view({-1, 1, 1, 1}); };
    const std::array<Tensor, 4> f{on[0] ? factor(brightness) : Tensor(), on[1] ? factor(contrast) : Tensor(),
                                  on[2] ? factor(saturation) : Tensor(),
                                  on[3] ? detail::uniform(x, -hue, hue).view({-1, 1, 1, 1}) : Tensor()};
    const Tensor order = dist::rand({x.size(0), 4}, x.options()).argsort(int64_t{1});  // a permutation per image
    const Tensor apply = detail::chance(x, p).view({-1});
    Tensor y = x;
    for (int64_t step = 0; step < 4; ++step) {
      for (int64_t o = 0; o < 4; ++o) {
        if (!on[o]) continue;
        const Tensor sel = ((order.select(1, step) == o) & apply).view({-1, 1, 1, 1});
        const Tensor out = o == 0   ? detail::brightness(y, f[0])
                           : o == 1 ? detail::contrast(y, f[1])
                           : o == 2 ? detail::saturation(y, f[2])
                                    : detail::hue(y, f[3]);
        y = torch::where(sel, out, y);
      }
    }
    return y;
  }
};

/// Turns each RGB image to grayscale (luma in all 3 channels) with probability `p`; the identity
/// on 1-channel images.
struct RandomGrayscale {
  double p = 0.1;  ///< torchvision's default (lightly's recipes: 0.2)
  /// `x` `[B,C,H,W]` with the drawn RGB images turned to grayscale.
  Tensor operator()(const Tensor& x) const {
    detail::check_color(x, "RandomGrayscale");
    detail::check_probability(p, "RandomGrayscale");
    if (x.size(1) == 1 || p == 0.0) return x;
    return torch::where(detail::chance(x, p), detail::luma(x).expand_as(x), x);
  }
};

/// Gaussian blur of each image with probability `p`, sigma ~ U(sigma) per image (torchvision's
/// GaussianBlur in lightly's `GaussianBlur(prob, sigmas)`). `kernel_size` 0 picks
/// 2*floor(side/20)+1, the odd size within one pixel of 10% of the image side (SimCLR's kernel:
/// 23 at 224 px; 3 at 28 px, 7 at 64 px).
struct GaussianBlur {
  int64_t kernel_size = 0;  ///< odd kernel side; 0: from the image side (see above)
  std::array<double, 2> sigma{0.1, 2.0};  ///< range of the blur's standard deviation in pixels
  double p = 1.0;  ///< probability of blurring an image

  /// The kernel size used on `side`-pixel images.
  [[nodiscard]] int64_t kernel_for(int64_t side) const {
    return kernel_size > 0 ? kernel_size : std::max<int64_t>(3, 2 * (side / 20) + 1);
  }
  /// `x` `[B,C,H,W]` with the drawn images blurred.
  Tensor operator()(const Tensor& x) const {
    detail::check_images(x, "GaussianBlur");
    detail::check_probability(p, "GaussianBlur");
    detail::check_range(sigma, 1e-12, "GaussianBlur", "sigma");
    if (p == 0.0) return x;
    const int64_t k = kernel_for(std::min(x.size(2), x.size(3)));
    TORCH_CHECK(k % 2 == 1 && k / 2 < std::min(x.size(2), x.size(3)), "GaussianBlur: expected an odd kernel_size ",
                "smaller than twice the image side, got ", k, " for ", x.size(2), "x", x.size(3), " images");
    const Tensor s = detail::uniform(x, sigma[0], sigma[1]);
    const Tensor blurred = detail::blur(x, k, s);
    return p == 1.0 ? blurred : torch::where(detail::chance(x, p), blurred, x);
  }
};

/// Inverts the pixels >= `threshold` of each image with probability `p` (torchvision's
/// RandomSolarize; lightly's RandomSolarization uses PIL's threshold 128/255).
struct RandomSolarize {
  double threshold = 0.5;  ///< pixels at or above it are inverted (x -> 1 - x)
  double p = 0.5;  ///< probability of solarising an image
  /// `x` `[B,C,H,W]` with the drawn images solarised.
  Tensor operator()(const Tensor& x) const {
    detail::check_images(x, "RandomSolarize");
    detail::check_probability(p, "RandomSolarize");
    return p > 0.0 ? detail::solarize(x, threshold, detail::chance(x, p)) : x;
  }
};

/// `(x - mean[c]) / std[c]` (not random; here to sit in a pipeline).
struct Normalize {
  std::vector<double> mean{};  ///< per-channel mean (one value: every channel)
  std::vector<double> std{};  ///< per-channel standard deviation
  /// `(x - mean[c]) / std[c]` per channel.
  Tensor operator()(const Tensor& x) const { return normalize(x, mean, std); }
};

/// Transforms applied one after the other.
struct Pipeline {
  std::vector<Transform> stages;  ///< the transforms, in order

  /// No stage: the identity.
  Pipeline() = default;
  /// The stages `s`, in order.
  Pipeline(std::initializer_list<Transform> s) : stages(s) {}

  /// No stage (a default-constructed pipeline: the identity).
  [[nodiscard]] bool empty() const { return stages.empty(); }

  /// Appends a stage.
  Pipeline& then(Transform t) {
    stages.push_back(std::move(t));
    return *this;
  }
  /// The stages applied to `x` one after the other.
  Tensor operator()(const Tensor& x) const {
    Tensor y = x;
    for (const auto& s : stages) y = s(y);
    return y;
  }
};

}  // namespace ssl::augment
