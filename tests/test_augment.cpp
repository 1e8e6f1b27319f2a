// Batched image augmentations (include/ssl/augment): closed forms, per-image randomness and
// reproducibility, RandomResizedCrop's box statistics, boundary errors (suite `augment`), and
// parity of every deterministic op with torchvision.transforms.v2.functional applied image by
// image with the same parameters (suite `augment_parity`; references from
// tests/python/make_augment_references.py, CTest fixture `aug_refs`).
#include <doctest/doctest.h>
#include <ssl/augment/views.hpp>
#include <ssl/concepts.hpp>

#include "parity.hpp"

#include <cmath>
#include <set>
#include <string>
#include <tuple>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_augment {

static_assert(ssl::Augmenter<ssl::augment::TwoViews> && ssl::Augmenter<ssl::augment::MultiCrop>);

namespace {
namespace A = ssl::augment;
using torch::Tensor;

Tensor longs(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong); }
Tensor reals(std::vector<float> v) { return torch::tensor(v, torch::kFloat); }
Tensor bools(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong).to(torch::kBool); }
Tensor full(int64_t b, double v) { return torch::full({b}, v); }

/// Random images `[b,c,h,w]`, uniform in [0,1].
Tensor images(int64_t b, int64_t c = 1, int64_t h = 28, int64_t w = 28) { return torch::rand({b, c, h, w}); }

/// Fraction of the images (dim 0) that `changed` says are different.
double fraction(const Tensor& changed) { return changed.to(torch::kDouble).mean().item<double>(); }
Tensor differs(const Tensor& a, const Tensor& b) { return (a - b).abs().flatten(1).amax(1) > 1e-6; }
}  // namespace

TEST_SUITE("augment") {
TEST_CASE("hflip: twice is the identity, flips exactly the masked images") {
  const Tensor x = images(6, 3, 8, 10);
  const Tensor m = bools({1, 0, 1, 1, 0, 0});
  const Tensor y = A::hflip(x, m);
  CHECK(torch::equal(A::hflip(y, m), x));
  for (int64_t b = 0; b < 6; ++b) CHECK(torch::equal(y[b], m[b].item<bool>() ? x[b].flip(-1) : x[b]));
}

TEST_CASE("resized_crop: the full box at the same size and a same-size box are the crop itself") {
  const Tensor x = images(4, 3, 12, 16);
  for (bool aa : {true, false}) {
    CAPTURE(aa);
    CHECK(torch::equal(A::resized_crop(x, longs({0, 0, 0, 0}), longs({0, 0, 0, 0}), longs({12, 12, 12, 12}),
                                       longs({16, 16, 16, 16}), 12, 16, aa),
                       x));
    // boxes of the output's size: the plain crop, each image at its own place
    const Tensor y = A::resized_crop(x, longs({0, 2, 4, 5}), longs({0, 7, 3, 9}), longs({7, 7, 7, 7}),
                                     longs({6, 6, 6, 6}), 7, 6, aa);
    const std::vector<std::pair<int64_t, int64_t>> at{{0, 0}, {2, 7}, {4, 3}, {5, 9}};
    for (int64_t b = 0; b < 4; ++b) {
      using torch::indexing::Slice;
      auto [t, l] = at[size_t(b)];
      CHECK(torch::equal(y[b], x[b].index({Slice(), Slice(t, t + 7), Slice(l, l + 6)})));
    }
  }
  // a constant image stays constant at any scale (the weights sum to 1)
  const Tensor c = torch::full({2, 1, 20, 20}, 0.3);
  const Tensor z = A::resized_crop(c, longs({1, 5}), longs({2, 0}), longs({17, 3}), longs({4, 20}), 9, 31);
  CHECK(torch::allclose(z, torch::full_like(z, 0.3), 0, 1e-6));
}

TEST_CASE("colour ops: closed forms and identities") {
  const Tensor x = images(5, 3, 6, 7), g = images(5, 1, 6, 7);
  const Tensor one = full(5, 1.0);
  CHECK(torch::equal(A::adjust_brightness(x, one), x));
  CHECK(torch::equal(A::adjust_contrast(x, one), x));
  CHECK(torch::equal(A::adjust_contrast(g, one), g));
  CHECK(torch::equal(A::adjust_saturation(x, one), x));
  CHECK(torch::allclose(A::adjust_hue(x, full(5, 0.0)), x, 0, 1e-6));
  // brightness: x * f clamped; contrast 0 gives the mean everywhere; saturation 0 the luma
  const Tensor f = reals({0.0f, 0.5f, 1.5f, 2.0f, 3.0f});
  CHECK(torch::allclose(A::adjust_brightness(x, f), (x * f.view({5, 1, 1, 1})).clamp(0, 1)));
  CHECK(torch::allclose(A::adjust_contrast(g, full(5, 0.0)), g.mean({1, 2, 3}, true).expand_as(g)));
  CHECK(torch::allclose(A::adjust_saturation(x, full(5, 0.0)), A::rgb_to_grayscale(x, 3)));
  // the identity on one channel, and a grayscale image is its own luma
  CHECK(torch::equal(A::adjust_saturation(g, f), g));
  CHECK(torch::equal(A::adjust_hue(g, full(5, 0.3)), g));
  CHECK(torch::equal(A::rgb_to_grayscale(g, 1), g));
  CHECK(torch::equal(A::rgb_to_grayscale(g, 3), g.expand({-1, 3, -1, -1})));
  CHECK(torch::allclose(A::rgb_to_grayscale(g.expand({-1, 3, -1, -1}), 1), g * 0.9999, 0, 1e-6));  // weights sum to 0.9999
  // hue: +0.5 twice is a full turn
  const Tensor h = A::adjust_hue(A::adjust_hue(x, full(5, 0.5)), full(5, 0.5));
  CHECK(torch::allclose(h, x, 0, 1e-5));
}

TEST_CASE("solarize, blur and normalize: closed forms") {
  const Tensor x = images(4, 3, 9, 9);
  CHECK(torch::equal(A::solarize(x, 0.5, bools({1, 1, 1, 1})), torch::where(x >= 0.5, 1 - x, x)));
  CHECK(torch::equal(A::solarize(x, 0.5, bools({0, 0, 0, 0})), x));
  // blur keeps constants (the kernel sums to 1) and a tiny sigma is the identity
  const Tensor c = torch::full({2, 3, 9, 9}, 0.7);
  CHECK(torch::allclose(A::gaussian_blur(c, 5, reals({0.5f, 2.0f})), c, 0, 1e-6));
  CHECK(torch::allclose(A::gaussian_blur(x, 3, full(4, 0.05)), x, 0, 1e-6));
  // a larger sigma smooths more
  auto roughness = [](const Tensor& y) { return (y.diff(1, -1)).abs().mean().item<double>(); };
  const Tensor y = A::gaussian_blur(x, 7, reals({0.3f, 0.8f, 1.5f, 3.0f}));
  CHECK(roughness(y[0].unsqueeze(0)) > roughness(y[3].unsqueeze(0)));
  CHECK(torch::allclose(A::normalize(x, {0.1, 0.2, 0.3}, {0.5, 0.25, 2.0}),
                        (x - torch::tensor({0.1, 0.2, 0.3}).view({1, 3, 1, 1}).to(torch::kFloat)) /
                            torch::tensor({0.5, 0.25, 2.0}).view({1, 3, 1, 1}).to(torch::kFloat)));
}

TEST_CASE("RandomResizedCrop: boxes fit, area and aspect ratio in range, positions spread") {
  torch::manual_seed(0);
  const int64_t n = 4000, side = 224;
  const A::RandomResizedCrop rrc{.size = 32};
  const auto bx = rrc.boxes(torch::zeros({1, 1, side, side}).expand({n, 1, side, side}));
  const Tensor t = bx.top.to(torch::kDouble), l = bx.left.to(torch::kDouble);
  const Tensor h = bx.height.to(torch::kDouble), w = bx.width.to(torch::kDouble);
  CHECK((bx.top.scalar_type() == torch::kLong));
  CHECK(((t >= 0) & (l >= 0) & (h >= 1) & (w >= 1) & (t + h <= side) & (l + w <= side)).all().item<bool>());
  // w = round(sqrt(a r)), h = round(sqrt(a / r)): the unrounded box is within half a pixel
  const double a = double(side * side);
  CHECK((((w + 0.5) * (h + 0.5) >= 0.08 * a) & ((w - 0.5) * (h - 0.5) <= a)).all().item<bool>());
  CHECK((((w + 0.5) / (h - 0.5) >= 0.75) & ((w - 0.5) / (h + 0.5) <= 4.0 / 3.0)).all().item<bool>());
  // the ranges are covered, not just respected
  const Tensor frac = w * h / a, ratio = w / h;
  CHECK(frac.min().item<double>() < 0.1);
  CHECK(frac.max().item<double>() > 0.9);
  CHECK(ratio.min().item<double>() < 0.78);
  CHECK(ratio.max().item<double>() > 1.28);
  // positions uniform over the free range: mean of top/(H-h) ~ 0.5
  const Tensor free = (side - h) > 0;
  const double pos = (t / (side - h)).masked_select(free).mean().item<double>();
  CHECK(pos == doctest::Approx(0.5).epsilon(0.05));
  // different images get different boxes
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> distinct;
  for (int64_t i = 0; i < 200; ++i)
    distinct.insert({bx.top[i].item<int64_t>(), bx.left[i].item<int64_t>(), bx.height[i].item<int64_t>(),
                     bx.width[i].item<int64_t>()});
  CHECK(distinct.size() > 190);
  // the fallback: no try can fit (ratio 2..3 at full area), so the centre crop at ratio 2
  const auto fb = A::RandomResizedCrop{.size = 8, .scale = {1.0, 1.0}, .ratio = {2.0, 3.0}}.boxes(images(5, 1, 28, 28));
  CHECK(torch::equal(fb.width, torch::full({5}, 28, torch::kLong)));
  CHECK(torch::equal(fb.height, torch::full({5}, 14, torch::kLong)));
  CHECK(torch::equal(fb.top, torch::full({5}, 7, torch::kLong)));
  CHECK(torch::equal(fb.left, torch::zeros({5}, torch::kLong)));
  // the transform: [B,C,size,size], values still in [0,1]
  const Tensor y = A::RandomResizedCrop{.size = 12}(images(8, 3));
  CHECK(y.sizes() == torch::IntArrayRef{8, 3, 12, 12});
  CHECK(y.min().item<double>() >= -1e-6);  // convex combinations, up to rounding
  CHECK(y.max().item<double>() <= 1.0 + 1e-6);
}

TEST_CASE("random transforms: per-image parameters with the asked probabilities") {
  torch::manual_seed(1);
  const int64_t n = 2000;
  const Tensor x = images(n, 3, 6, 6);
  CHECK(fraction(differs(A::RandomHorizontalFlip{.p = 0.5}(x), x)) == doctest::Approx(0.5).epsilon(0.1));
  CHECK(fraction(differs(A::RandomHorizontalFlip{.p = 0.0}(x), x)) == 0.0);
  CHECK(fraction(differs(A::RandomSolarize{.threshold = 0.0, .p = 0.3}(x), x)) == doctest::Approx(0.3).epsilon(0.1));
  CHECK(fraction(differs(A::GaussianBlur{.kernel_size = 3, .p = 0.25}(x), x)) == doctest::Approx(0.25).epsilon(0.1));
  const Tensor gray = A::RandomGrayscale{.p = 0.2}(x);
  CHECK(fraction(differs(gray, x)) == doctest::Approx(0.2).epsilon(0.1));
  CHECK(fraction((gray.select(1, 0) == gray.select(1, 1)).flatten(1).all(1)) == doctest::Approx(0.2).epsilon(0.1));
  // jitter: applied with probability p, one factor per image (brightness 0.4: [0.6, 1.4])
  const Tensor c = torch::full({n, 1, 4, 4}, 0.5);
  const Tensor j = A::ColorJitter{.brightness = 0.4, .p = 0.8}(c);
  const Tensor factor = j.flatten(1).select(1, 0) / 0.5;
  CHECK(torch::equal(j, factor.view({n, 1, 1, 1}).expand_as(j) * 0.5));  // one factor per image
  CHECK(fraction(factor != 1.0) == doctest::Approx(0.8).epsilon(0.05));
  CHECK(factor.min().item<double>() >= 0.6);
  CHECK(factor.max().item<double>() <= 1.4);
  CHECK(std::get<0>(torch::_unique(factor)).numel() > n / 2);  // no two images share a draw
  // every op on: values stay in [0,1], shapes kept; strength 0 is skipped; 1-channel: b/c only
  const Tensor all = A::ColorJitter{.brightness = 0.8, .contrast = 0.8, .saturation = 0.8, .hue = 0.2}(x);
  CHECK(all.sizes() == x.sizes());
  CHECK((all.min().item<double>() >= 0.0 && all.max().item<double>() <= 1.0));
  CHECK(torch::equal(A::ColorJitter{}(x), x));
  CHECK(torch::equal(A::ColorJitter{.saturation = 0.8, .hue = 0.3}(c), c));
}

TEST_CASE("ColorJitter == the four ops image by image, in each image's drawn order") {
  // Replays ColorJitter's draws (in its order: brightness, contrast, saturation, hue factors, the
  // per-image order, whether to apply) and applies the public ops one image at a time.
  const int64_t n = 64;
  const Tensor x = images(n, 3, 5, 5);
  torch::manual_seed(2);
  const Tensor y = A::ColorJitter{.brightness = 0.8, .contrast = 0.7, .saturation = 0.6, .hue = 0.2, .p = 0.8}(x);
  torch::manual_seed(2);
  const Tensor fb = torch::rand({n}) * 1.6 + 0.2, fc = torch::rand({n}) * 1.4 + 0.3;
  const Tensor fs = torch::rand({n}) * 1.2 + 0.4, fh = torch::rand({n}) * 0.4 - 0.2;
  const Tensor order = torch::rand({n, 4}).argsort(int64_t{1});
  const Tensor apply = torch::rand({n}) < 0.8;
  std::set<std::vector<int64_t>> orders;
  for (int64_t i = 0; i < n; ++i) {
    const auto at = torch::indexing::Slice(i, i + 1);
    Tensor z = x.index({at});
    if (apply[i].item<bool>()) {
      std::vector<int64_t> o;
      for (int64_t k = 0; k < 4; ++k) {
        o.push_back(order[i][k].item<int64_t>());
        switch (o.back()) {
          case 0: z = A::adjust_brightness(z, fb.index({at})); break;
          case 1: z = A::adjust_contrast(z, fc.index({at})); break;
          case 2: z = A::adjust_saturation(z, fs.index({at})); break;
          default: z = A::adjust_hue(z, fh.index({at})); break;
        }
      }
      orders.insert(o);
    }
    CAPTURE(i);
    CHECK(torch::allclose(y.index({at}), z, 0, 1e-5));
  }
  CHECK(orders.size() > 10);  // many of the 24 orders occur in one call
}

TEST_CASE("TwoViews and MultiCrop: shapes, device, [0,1], reproducible from manual_seed") {
  const Tensor x = images(8, 1);
  for (const auto& aug : {A::TwoViews::simclr(28, 1), A::TwoViews::byol(28, 1), A::TwoViews::barlow_twins(28, 1),
                          A::TwoViews::vicreg(28, 1), A::TwoViews::mocov3(28, 1), A::TwoViews::simsiam(28, 1)}) {
    torch::manual_seed(5);
    const ssl::Views v = aug(x);
    REQUIRE(v.global.size() == 2);
    CHECK(v.local.empty());
    for (const auto& g : v.global) {
      CHECK(g.sizes() == x.sizes());
      CHECK((g.scalar_type() == torch::kFloat));
      CHECK(g.min().item<double>() >= -1e-6);  // convex combinations of [0,1] values, up to rounding
      CHECK(g.max().item<double>() <= 1.0 + 1e-6);
    }
    CHECK_FALSE(torch::equal(v.global[0], v.global[1]));  // independent views
    torch::manual_seed(5);
    const ssl::Views again = aug(x);
    CHECK(torch::equal(again.global[0], v.global[0]));
    CHECK(torch::equal(again.global[1], v.global[1]));
  }
  // RGB presets at another size
  const Tensor rgb = images(4, 3, 32, 32);
  const ssl::Views v = A::TwoViews::simclr(16, 3)(rgb);
  CHECK(v.global[1].sizes() == torch::IntArrayRef{4, 3, 16, 16});
  // DINO: 2 globals at 28, 6 locals at 12 (96/224 of 28, derived)
  torch::manual_seed(6);
  const A::MultiCrop dino = A::MultiCrop::dino({.global_size = 28, .channels = 1});
  const ssl::Views m = dino(x);
  REQUIRE(m.global.size() == 2);
  REQUIRE(m.local.size() == 6);
  CHECK(m.global[0].sizes() == torch::IntArrayRef{8, 1, 28, 28});
  CHECK(m.local[5].sizes() == torch::IntArrayRef{8, 1, 12, 12});
  CHECK(m.all().size() == 8);
  // A crop scale range given upside down is refused when the views are made, before any batch.
  CHECK_THROWS_WITH_AS(A::MultiCrop::dino({.global_size = 28, .global_scale = {0.9, 0.4}, .channels = 1}),
                       doctest::Contains("view_pipeline: expected ViewOptions::scale = {lo, hi} with 0 <= lo <= hi, got {0.9, 0.4}"),
                       c10::Error);
  CHECK_FALSE(torch::equal(m.local[0], m.local[1]));
  torch::manual_seed(6);
  CHECK(torch::equal(dino(x).local[3], m.local[3]));
  const ssl::Views m3 =
      A::MultiCrop::dino({.global_size = 24, .local_size = 10, .n_local = 2, .channels = 3, .mean = {0.5}, .std = {0.5}})(rgb);
  CHECK(m3.local.size() == 2);
  CHECK(m3.global[1].sizes() == torch::IntArrayRef{4, 3, 24, 24});
  CHECK(m3.local[1].min().item<double>() >= -1.0);
  if (torch::cuda::is_available()) {
    const ssl::Views g = A::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1})(x.cuda());
    CHECK(g.local[0].device().is_cuda());
    CHECK(g.global[1].device().is_cuda());
  }
}

TEST_CASE("errors say what was expected and what came") {
  using c10::Error;
  using doctest::Contains;
  const Tensor x = images(4, 3, 8, 8);
  const Tensor z4 = longs({0, 0, 0, 0}), s4 = longs({4, 4, 4, 4});
  CHECK_THROWS_WITH_AS(A::resized_crop(x[0], z4, z4, s4, s4, 4, 4), Contains("expected 4-D tensor [B,C,H,W]"), Error);
  CHECK_THROWS_WITH_AS(A::resized_crop(x, z4.to(torch::kInt), z4, s4, s4, 4, 4), Contains("top as int64"), Error);
  CHECK_THROWS_WITH_AS(A::resized_crop(x, longs({0, 0}), z4, s4, s4, 4, 4), Contains("top of shape [4]"), Error);
  CHECK_THROWS_WITH_AS(A::resized_crop(x, longs({0, 5, 0, 0}), z4, s4, s4, 4, 4), Contains("inside the 8x8"), Error);
  CHECK_THROWS_WITH_AS(A::resized_crop(x, z4, z4, longs({0, 4, 4, 4}), s4, 4, 4), Contains("non-empty boxes"), Error);
  CHECK_THROWS_WITH_AS(A::resized_crop(x, z4, z4, s4, s4, 0, 4), Contains("positive output size"), Error);
  CHECK_THROWS_WITH_AS(A::hflip(x, full(4, 1.0)), Contains("flip as bool"), Error);
  CHECK_THROWS_WITH_AS(A::adjust_brightness(x.to(torch::kUInt8), full(4, 1.0)), Contains("floating-point"), Error);
  CHECK_THROWS_WITH_AS(A::adjust_brightness(x, full(4, -1.0)), Contains("factors >= 0"), Error);
  CHECK_THROWS_WITH_AS(A::adjust_contrast(images(4, 2, 8, 8), full(4, 1.0)), Contains("1 or 3 channels, got 2"), Error);
  CHECK_THROWS_WITH_AS(A::adjust_saturation(x, longs({1, 1, 1, 1})), Contains("factor as floating point"), Error);
  CHECK_THROWS_WITH_AS(A::adjust_hue(x, full(4, 0.7)), Contains("[-0.5, 0.5]"), Error);
  CHECK_THROWS_WITH_AS(A::rgb_to_grayscale(x, 2), Contains("num_output_channels 1 or 3, got 2"), Error);
  CHECK_THROWS_WITH_AS(A::gaussian_blur(x, 4, full(4, 1.0)), Contains("odd positive kernel_size, got 4"), Error);
  CHECK_THROWS_WITH_AS(A::gaussian_blur(x, 17, full(4, 1.0)), Contains("smaller than the image"), Error);
  CHECK_THROWS_WITH_AS(A::gaussian_blur(x, 3, full(4, 0.0)), Contains("sigma > 0"), Error);
  CHECK_THROWS_WITH_AS(A::solarize(x, 1.5, bools({1, 1, 1, 1})), Contains("threshold <= 1"), Error);
  CHECK_THROWS_WITH_AS(A::normalize(x, {0.5, 0.5}, {1.0}), Contains("one per channel"), Error);
  CHECK_THROWS_WITH_AS(A::normalize(x, {0.5}, {0.0}), Contains("non-zero std"), Error);
  CHECK_THROWS_WITH_AS((A::RandomResizedCrop{.size = 4, .scale = {0.5, 0.1}}(x)), Contains("scale = {lo, hi}"), Error);
  CHECK_THROWS_WITH_AS((A::RandomHorizontalFlip{.p = 1.5}(x)), Contains("probability p in [0,1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS((A::ColorJitter{.hue = 0.6}(x)), Contains("hue in [0, 0.5]"), Error);
  CHECK_THROWS_WITH_AS(A::TwoViews::simclr(28, 1)(x), Contains("made for 1-channel images"), Error);
  CHECK_THROWS(A::TwoViews::simclr(28, 2));
  // The views' size and the images' channels have no default.
  CHECK_THROWS_WITH_AS(A::view_pipeline({.channels = 1}),
                       Contains("view_pipeline: ViewOptions::size (the output side in pixels) is required"), Error);
  CHECK_THROWS_WITH_AS(A::view_pipeline({.size = 28}),
                       Contains("view_pipeline: ViewOptions::channels (of the images) is required, expected channels 1 or 3, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(A::TwoViews::simclr(0, 1), Contains("ViewOptions::size (the output side in pixels) is required"),
                       Error);
  CHECK_THROWS_WITH_AS(A::MultiCrop::dino({.channels = 1}),
                       Contains("MultiCrop::dino: MultiCropOptions::global_size (the global crops' side in pixels) is required"),
                       Error);
  CHECK_THROWS_WITH_AS(A::MultiCrop::dino({.global_size = 28}),
                       Contains("MultiCrop::dino: MultiCropOptions::channels (of the images) is required, expected 1 or 3, got 0"),
                       Error);
  // The local crops' side is 96/224 of the global one unless given.
  CHECK(A::MultiCropOptions{.global_size = 28}.local_side() == 12);
  CHECK(A::MultiCropOptions{.global_size = 224}.local_side() == 96);
  CHECK(A::MultiCropOptions{.global_size = 28, .local_size = 14}.local_side() == 14);
}
}  // TEST_SUITE("augment")

TEST_SUITE("augment_parity") {
namespace {
Tensor expected(const std::string& k) { return parity::expected_in("augment.safetensors", k); }
}  // namespace

TEST_CASE("resized_crop == torchvision resized_crop (down, up, mixed; antialias on and off; 1 and 3 channels)") {
  const std::vector<std::tuple<std::string, int64_t, int64_t>> cases{
      {"rc3", 16, 12}, {"rc3", 48, 56}, {"rc3", 20, 20}, {"rc1", 28, 28}, {"rc1", 12, 12}};
  for (const auto& [c, oh, ow] : cases) {
    for (int aa : {1, 0}) {
      const std::string k = c + ".out." + std::to_string(oh) + "x" + std::to_string(ow) + ".aa" + std::to_string(aa);
      CAPTURE(k);
      parity::check_close(A::resized_crop(expected(c + ".x"), expected(c + ".top"), expected(c + ".left"), expected(c + ".height"),
                                          expected(c + ".width"), oh, ow, aa == 1),
                          expected(k), k);
    }
  }
}

TEST_CASE("hflip, solarize, normalize, rgb_to_grayscale == torchvision") {
  parity::check_close(A::hflip(expected("hflip.x"), expected("hflip.mask")), expected("hflip.out"), "hflip");
  parity::check_close(A::solarize(expected("solarize.x"), 0.5, expected("solarize.mask")), expected("solarize.t050.out"), "solarize 0.5");
  parity::check_close(A::solarize(expected("solarize.x"), 0.3, expected("solarize.mask")), expected("solarize.t030.out"), "solarize 0.3");
  parity::check_close(A::normalize(expected("normalize.x"), {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}),
                      expected("normalize.out"), "normalize");
  parity::check_close(A::rgb_to_grayscale(expected("color.x3"), 1), expected("gray.out1"), "rgb_to_grayscale 1");
  parity::check_close(A::rgb_to_grayscale(expected("color.x3"), 3), expected("gray.out3"), "rgb_to_grayscale 3");
}

TEST_CASE("adjust_brightness / contrast / saturation / hue == torchvision, one factor per image") {
  const Tensor x3 = expected("color.x3"), x1 = expected("color.x1");
  parity::check_close(A::adjust_brightness(x3, expected("brightness.factor")), expected("brightness.out"), "brightness");
  parity::check_close(A::adjust_contrast(x3, expected("contrast.factor")), expected("contrast.out3"), "contrast RGB");
  parity::check_close(A::adjust_contrast(x1, expected("contrast.factor")), expected("contrast.out1"), "contrast gray");
  parity::check_close(A::adjust_saturation(x3, expected("saturation.factor")), expected("saturation.out"), "saturation");
  parity::check_close(A::adjust_hue(x3, expected("hue.factor")), expected("hue.out"), "hue");
}

TEST_CASE("gaussian_blur == torchvision gaussian_blur (kernels 3, 5, 23 on 64 px; one sigma per image)") {
  for (int64_t k : {3, 5, 23}) {
    const std::string key = "blur.k" + std::to_string(k) + ".out";
    parity::check_close(A::gaussian_blur(expected("blur.x"), k, expected("blur.sigma")), expected(key), key);
  }
  parity::check_close(A::gaussian_blur(expected("blur.x1"), 5, expected("blur.sigma")), expected("blur.k5.out1"), "blur 1 channel");
}
}  // TEST_SUITE("augment_parity")

}  // namespace test_augment
