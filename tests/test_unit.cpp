// Unit tests of the pieces against closed forms.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

#include <cmath>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_unit {

using torch::Tensor;

namespace {
void copy_params(torch::nn::Module& dst, torch::nn::Module& src) {
  torch::NoGradGuard g;
  auto s = src.named_parameters();
  for (auto& p : dst.named_parameters()) p.value().copy_(s[p.key()]);
}
}  // namespace

// ---- the concepts: models satisfy them, non-models do not ----------------------------------
static_assert(ssl::Backbone<ssl::vit::Encoder>);
static_assert(ssl::Masker<ssl::masker::RandomPatches> && ssl::Masker<ssl::masker::None>);
static_assert(ssl::Augmenter<ssl::augment::Identity>);
static_assert(ssl::Target<ssl::target::Pixels>);
static_assert(ssl::Loss<ssl::loss::MaskedMSE>);
static_assert(ssl::TeacherUpdate<ssl::teacher::None> && ssl::TeacherUpdate<ssl::teacher::Ema>);
static_assert(ssl::Head<ssl::heads::MaeDecoder>);
static_assert(ssl::Trainable<ssl::mae::Recipe>);
static_assert(!ssl::Backbone<ssl::heads::MaeDecoder> && !ssl::Loss<ssl::target::Pixels> && !ssl::Masker<int>);

TEST_SUITE("unit") {
TEST_CASE("2-D sin-cos position embedding matches its closed form") {
  const int64_t D = 16, g = 3;
  auto e = ssl::vit::sincos_2d(D, g, /*cls=*/true);
  REQUIRE(e.sizes() == torch::IntArrayRef({1, 1 + g * g, D}));
  CHECK(e[0][0].abs().max().item<float>() == 0.0f);
  const int64_t q = D / 4;
  for (int64_t r = 0; r < g; ++r)
    for (int64_t c = 0; c < g; ++c)
      for (int64_t k = 0; k < q; ++k) {
        const double w = std::pow(10000.0, -double(k) / double(q));
        auto row = e[0][1 + r * g + c];
        CHECK(row[k].item<float>() == doctest::Approx(std::sin(c * w)).epsilon(1e-6));
        CHECK(row[q + k].item<float>() == doctest::Approx(std::cos(c * w)).epsilon(1e-6));
        CHECK(row[2 * q + k].item<float>() == doctest::Approx(std::sin(r * w)).epsilon(1e-6));
        CHECK(row[3 * q + k].item<float>() == doctest::Approx(std::cos(r * w)).epsilon(1e-6));
      }
  CHECK_THROWS_WITH_AS(ssl::vit::sincos_2d(6, 2), doctest::Contains("multiple of 4"), c10::Error);
}

TEST_CASE("patchify puts pixel (c, y, x) at patch (y/p, x/p), offset ((y%p)*p + x%p)*C + c") {
  const int64_t B = 2, C = 3, H = 8, p = 4, g = H / p;
  auto x = torch::arange(B * C * H * H, torch::kFloat32).view({B, C, H, H});
  auto t = ssl::vit::patchify(x, p);
  REQUIRE(t.sizes() == torch::IntArrayRef({B, g * g, p * p * C}));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < H; ++xx)
          REQUIRE(t[b][(y / p) * g + xx / p][((y % p) * p + xx % p) * C + c].item<float>() ==
                  x[b][c][y][xx].item<float>());
  CHECK(torch::equal(ssl::vit::unpatchify(t, p, C), x));
  CHECK_THROWS_WITH_AS(ssl::vit::patchify(torch::zeros({1, 1, 6, 8}), 4), doctest::Contains("not divisible"),
                       c10::Error);
}

TEST_CASE("RandomPatches hides the same number of patches per sample, as the reference") {
  torch::manual_seed(1);
  for (double ratio : {0.75, 0.5, 0.9, 0.3}) {
    ssl::masker::RandomPatches m{.patch = 4, .ratio = ratio};
    auto x = torch::zeros({16, 1, 28, 28});
    auto r = m(x);
    const int64_t N = 49, keep = int64_t(N * (1.0 - ratio));
    REQUIRE(r.mask.sizes() == torch::IntArrayRef({16, N}));
    CHECK(torch::all(r.mask.logical_not().sum(1) == keep).item<bool>());
    // ids_restore inverts the shuffle; the kept ids are exactly the unmasked positions.
    auto kept = torch::zeros({16, N}, torch::kBool).scatter_(1, r.ids_keep, true);
    CHECK(torch::equal(kept, r.mask.logical_not()));
    auto ids_shuffle = r.ids_restore.argsort(int64_t{1}, false);
    CHECK(torch::equal(ids_shuffle.narrow(1, 0, keep), r.ids_keep));
  }
  // Noise decides: the smallest noise values are kept.
  ssl::masker::RandomPatches m{.patch = 2, .ratio = 0.5};
  auto noise = torch::tensor({{0.9f, 0.1f, 0.5f, 0.2f}});
  auto r = m.with_noise(torch::zeros({1, 1, 4, 4}), noise);
  CHECK(torch::equal(r.mask, torch::tensor({{true, false, true, false}})));
  CHECK(torch::equal(r.ids_keep, torch::tensor({{1, 3}}, torch::kInt64)));
  CHECK_THROWS_WITH_AS((ssl::masker::RandomPatches{.patch = 4, .ratio = 1.0}(torch::zeros({1, 1, 8, 8}))),
                       doctest::Contains("ratio must be in (0,1)"), c10::Error);
  CHECK_THROWS_WITH_AS(m.with_noise(torch::zeros({1, 1, 4, 4}), torch::rand({1, 5})),
                       doctest::Contains("expected noise of shape [1, 4]"), c10::Error);
}

TEST_CASE("MaskedMSE averages the per-patch MSE over masked patches only") {
  auto pred = torch::tensor({{{1.f, 1.f}, {0.f, 0.f}, {3.f, 1.f}}});
  auto target = torch::zeros({1, 3, 2});
  auto mask = torch::tensor({{true, false, true}});
  // per patch: 1, 0, 5 -> masked mean (1 + 5) / 2 = 3; unmasked mean 2.
  CHECK(ssl::loss::MaskedMSE::of(pred, target, mask).item<float>() == doctest::Approx(3.0));
  CHECK(ssl::loss::MaskedMSE::of(pred, target, {}).item<float>() == doctest::Approx(2.0));
  CHECK_THROWS_WITH_AS(ssl::loss::MaskedMSE::of(pred, torch::zeros({1, 3, 3}), mask), doctest::Contains("same shape"),
                       c10::Error);
}

TEST_CASE("Pixels with norm_pix normalises every patch (unbiased variance + 1e-6)") {
  torch::manual_seed(0);
  auto x = torch::randn({2, 3, 8, 8}) * 3 + 1;
  auto t = ssl::target::Pixels{.patch = 4, .norm_pix = true}.of(x);
  auto raw = ssl::vit::patchify(x, 4);
  auto expect = (raw - raw.mean(-1, true)) / (raw.var(-1, true, true) + 1e-6).sqrt();
  CHECK(torch::allclose(t, expect));
  CHECK(t.mean(-1).abs().max().item<float>() < 1e-5);
  CHECK(torch::equal(ssl::target::Pixels{.patch = 4, .norm_pix = false}.of(x), raw));
}

TEST_CASE("vit::Options: image and channels describe the data and are required") {
  using doctest::Contains;
  const auto arch = ssl::vit::Options{}.patch(4).dim(16).depth(1).heads(2);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(arch).channels(1)),
                       Contains("vit::Encoder: vit::Options: image (the input side in pixels) is required, "
                                "e.g. vit::Options{}.image(224), got 0"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(arch).image(8)),
                       Contains("vit::Encoder: vit::Options: channels (of the input images: 1 grayscale, 3 RGB) is "
                                "required, e.g. vit::Options{}.channels(3), got 0"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(arch).image(10).channels(1)),
                       Contains("vit::Encoder: image size 10 must be a positive multiple of the patch size 4"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::heads::MaeDecoderOptions(ssl::vit::Options(arch).channels(3)),
                       Contains("heads::MaeDecoderOptions: vit::Options: image (the input side in pixels) is required"),
                       c10::Error);
  // The recipes keep an architecture but not the data's shape: they name the option.
  CHECK_THROWS_WITH_AS(ssl::mae::recipe(ssl::mae::Options{}),
                       Contains("mae::recipe: vit::Options: image (the input side in pixels) is required"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::mae::recipe({.encoder = ssl::mae::Options{}.encoder.image(28)}),
                       Contains("mae::recipe: vit::Options: channels (of the input images: 1 grayscale, 3 RGB) is required"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::ibot::recipe(ssl::ibot::Options{}),
                       Contains("ibot::recipe: vit::Options: image (the input side in pixels) is required"), c10::Error);
  ssl::ibot::Options io;
  io.encoder.image(28).channels(1);
  CHECK_THROWS_WITH_AS(ssl::ibot::recipe(io),
                       Contains("ibot::recipe: Options::augment is required (the views of your images), "
                                "e.g. augment::MultiCrop::dino("),
                       c10::Error);
}

TEST_CASE("heads = 0, dim = 0, depth < 0: an error naming the option, checked before any division") {
  using doctest::Contains;
  using ssl::nn::BlockOptions;
  CHECK_THROWS_WITH_AS(ssl::nn::Block(BlockOptions(8, 0)),
                       Contains("nn::Block: BlockOptions::heads (attention heads) must be positive, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::nn::Attention(BlockOptions(8, -2)),
                       Contains("nn::Attention: BlockOptions::heads (attention heads) must be positive, got -2"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::nn::Block(BlockOptions(0, 2)),
                       Contains("nn::Block: BlockOptions::dim (the token width) must be positive, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::nn::Block(BlockOptions(8, 3)),
                       Contains("nn::Block: BlockOptions::dim (8) must be divisible by BlockOptions::heads (3)"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::nn::Block(BlockOptions(8, 2).mlp_hidden(0)),
                       Contains("nn::Block: BlockOptions::mlp_hidden (the MLP's hidden width) must be positive, got 0"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::nn::Stack(ssl::nn::StackOptions(8, -1, 2)),
                       Contains("nn::Stack: StackOptions::depth (the number of blocks) must be >= 0, got -1"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::nn::Stack(ssl::nn::StackOptions(8, 0, 0)),
                       Contains("nn::Stack: BlockOptions::heads (attention heads) must be positive, got 0"), c10::Error);
  const auto vit = ssl::vit::Options{}.image(8).patch(4).channels(1).dim(16).depth(1).heads(2);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(vit).heads(0)),
                       Contains("vit::Encoder: vit::Options: heads (attention heads) must be positive, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(vit).dim(0)),
                       Contains("vit::Encoder: vit::Options: dim (the token width) must be positive, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(vit).heads(3)),
                       Contains("vit::Encoder: vit::Options: dim (16) must be divisible by heads (3)"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::vit::Encoder(ssl::vit::Options(vit).depth(-1)),
                       Contains("vit::Encoder: vit::Options: depth (Transformer blocks) must be >= 0, got -1"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::mae::recipe({.encoder = ssl::vit::Options(vit).heads(0)}),
                       Contains("mae::recipe: vit::Options: heads (attention heads) must be positive, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::mae::recipe({.encoder = ssl::vit::Options(vit), .decoder_heads = 0}),
                       Contains("nn::Stack: BlockOptions::heads (attention heads) must be positive, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::text::Encoder(ssl::text::EncoderOptions(50, 16, 1, 0)),
                       Contains("text::Encoder: EncoderOptions::heads (attention heads) must be positive, got 0"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::text::Encoder(ssl::text::EncoderOptions(50, 16, 1, 5)),
                       Contains("text::Encoder: EncoderOptions::dim (16) must be divisible by EncoderOptions::heads (5)"),
                       c10::Error);
  // A valid configuration still builds.
  CHECK_NOTHROW(ssl::vit::Encoder(ssl::vit::Options(vit)));
  CHECK_NOTHROW(ssl::nn::Stack(ssl::nn::StackOptions(8, 0, 2)));
}

TEST_CASE("the ViT encodes only the kept patches, and all of them without a mask") {
  torch::manual_seed(0);
  auto opts = ssl::vit::Options{}.image(8).patch(4).channels(2).dim(16).depth(2).heads(2);
  ssl::vit::Encoder enc(opts);
  auto x = torch::randn({3, 2, 8, 8});
  auto full = enc->forward(x);
  CHECK(full.tokens.sizes() == torch::IntArrayRef({3, 5, 16}));
  CHECK(full.pooled.sizes() == torch::IntArrayRef({3, 16}));
  auto m = ssl::masker::RandomPatches{.patch = 4, .ratio = 0.5}(x);
  auto part = enc->forward(m);
  CHECK(part.tokens.sizes() == torch::IntArrayRef({3, 3, 16}));
  // Keeping every patch in identity order is the unmasked encoding.
  auto all = ssl::Masked{.input = x, .ids_keep = torch::arange(4).expand({3, 4}).contiguous()};
  CHECK(torch::allclose(enc->forward(all).tokens, full.tokens, 1e-5, 1e-6));
  CHECK_THROWS_WITH_AS(enc->forward(torch::randn({1, 3, 8, 8})), doctest::Contains("expected 2 channels"), c10::Error);
}

TEST_CASE("the Transformer block: pre-norm and post-norm closed forms, causal mask") {
  torch::manual_seed(0);
  auto x = torch::randn({2, 5, 8});
  ssl::nn::Block pre(ssl::nn::BlockOptions(8, 2).mlp_hidden(16));
  ssl::nn::Block post(ssl::nn::BlockOptions(8, 2).mlp_hidden(16).norm_first(false));
  copy_params(*post, *pre);  // same weights
  auto attn_ref = [](ssl::nn::AttentionImpl& a, const Tensor& h, bool causal) {
    const auto B = h.size(0), N = h.size(1), D = h.size(2), H = a.options.heads(), hd = D / H;
    auto qkv = a.qkv(h).view({B, N, 3, H, hd}).permute({2, 0, 3, 1, 4});
    auto s = qkv[0].matmul(qkv[1].transpose(-1, -2)) / std::sqrt(double(hd));
    if (causal) s = s.masked_fill(torch::ones({N, N}, torch::kBool).triu(1), -INFINITY);
    auto o = s.softmax(-1).matmul(qkv[2]).transpose(1, 2).reshape({B, N, D});
    return a.proj(o);
  };
  auto& b = *pre;
  auto h = x + attn_ref(*b.attn, b.norm1(x), false);
  auto expect_pre = h + b.mlp(b.norm2(h));
  CHECK(torch::allclose(pre(x), expect_pre, 1e-5, 1e-6));
  auto& c = *post;
  auto h2 = c.norm1(x + attn_ref(*c.attn, x, false));
  CHECK(torch::allclose(post(x), c.norm2(h2 + c.mlp(h2)), 1e-5, 1e-6));
  ssl::nn::Block causal(ssl::nn::BlockOptions(8, 2).mlp_hidden(16).causal(true));
  copy_params(*causal, *pre);
  auto& d = *causal;
  auto h3 = x + attn_ref(*d.attn, d.norm1(x), true);
  CHECK(torch::allclose(causal(x), h3 + d.mlp(d.norm2(h3)), 1e-5, 1e-6));
}

TEST_CASE("EMA teacher: cosine momentum schedule and the update, in closed form") {
  ssl::teacher::Ema ema{.base = 0.99, .final = 1.0};
  CHECK(ema.momentum({.step = 0, .total_steps = 100}) == doctest::Approx(0.99));
  CHECK(ema.momentum({.step = 50, .total_steps = 100}) == doctest::Approx(0.995));
  CHECK(ema.momentum({.step = 100, .total_steps = 100}) == doctest::Approx(1.0));
  auto s = torch::ones({2, 3}, torch::requires_grad()), t = torch::zeros({2, 3});
  auto sb = torch::full({3}, 2.0), tb = torch::full({3}, 1.0);
  ema({s, sb}, {t, tb}, {.step = 0, .total_steps = 100});
  CHECK(torch::allclose(t, torch::full({2, 3}, 0.01)));
  CHECK(torch::allclose(tb, torch::full({3}, 1.01)));
  CHECK_FALSE(t.requires_grad());
  ema({s, sb}, {t, tb}, {.step = 100, .total_steps = 100});  // momentum 1: the teacher stays
  CHECK(torch::allclose(t, torch::full({2, 3}, 0.01)));
  CHECK_THROWS_WITH_AS(ema({s}, {t, tb}, {}), doctest::Contains("the student has 1 parameter tensors, the teacher 2"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ema({s}, {tb}, {}), doctest::Contains("in the teacher"), c10::Error);
}

TEST_CASE("cosine schedule with linear warmup") {
  ssl::schedule::CosineWarmup s{.warmup_epochs = 2, .final_factor = 0.1};
  auto at = [&](int64_t step) { return s({.step = step, .total_steps = 100, .steps_per_epoch = 10}); };
  CHECK(at(0) == doctest::Approx(0.0));
  CHECK(at(10) == doctest::Approx(0.5));
  CHECK(at(20) == doctest::Approx(1.0));
  CHECK(at(60) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.5))));
  CHECK(at(100) == doctest::Approx(0.1));
}

TEST_CASE("AdamW: no weight decay on norms, biases, tokens; layer-wise lr decay") {
  CHECK(ssl::optim::decays("blocks.0.attn.qkv.weight", torch::zeros({3, 3})));
  CHECK_FALSE(ssl::optim::decays("blocks.0.norm1.weight", torch::zeros({3})));
  CHECK_FALSE(ssl::optim::decays("blocks.0.attn.qkv.bias", torch::zeros({3})));
  CHECK_FALSE(ssl::optim::decays("backbone.cls_token", torch::zeros({1, 1, 3})));
  CHECK_FALSE(ssl::optim::decays("head.mask_token", torch::zeros({1, 1, 3})));
  CHECK_FALSE(ssl::optim::decays("backbone.pos_embed", torch::zeros({1, 5, 3})));
  CHECK(ssl::optim::vit_layer_of("backbone.blocks.3.mlp.fc1.weight", 4) == 4);
  CHECK(ssl::optim::vit_layer_of("backbone.patch_embed.proj.weight", 4) == 0);
  CHECK(ssl::optim::vit_layer_of("head.weight", 4) == 5);
  // Decoupled decay, closed form: with a zero gradient, Adam's update is 0 and the weight shrinks
  // by exactly lr * wd; the no-decay parameter does not move.
  auto w = torch::ones({2, 2}, torch::requires_grad()), b = torch::ones({2}, torch::requires_grad());
  ssl::optim::AdamW opt({{"w", w}, {"b", b}}, {.lr = 0.1, .weight_decay = 0.5});
  opt.set_lr_factor(1.0);
  (w.sum() * 0 + b.sum() * 0).backward();
  opt.step();
  CHECK(w[0][0].item<float>() == doctest::Approx(1.0 - 0.1 * 0.5));
  CHECK(b[0].item<float>() == doctest::Approx(1.0));
}

TEST_CASE("the foreach AdamW follows torch::optim::AdamW step for step") {
  torch::manual_seed(0);
  auto w = torch::randn({4, 3}), b = torch::randn({3});
  auto w1 = w.clone().requires_grad_(true), b1 = b.clone().requires_grad_(true);
  auto w2 = w.clone().requires_grad_(true), b2 = b.clone().requires_grad_(true);
  ssl::optim::AdamW ours({{"fc.weight", w1}, {"fc.bias", b1}}, {.lr = 0.01, .weight_decay = 0.1, .beta2 = 0.95});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{w2},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.1)));
  groups.emplace_back(std::vector<torch::Tensor>{b2},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.0)));
  torch::optim::AdamW ref(std::move(groups), torch::optim::AdamWOptions(0.01));
  for (int s = 0; s < 6; ++s) {
    auto x = torch::randn({5, 4});
    ours.zero_grad();
    ref.zero_grad();
    (x.matmul(w1) + b1).pow(2).sum().backward();
    (x.matmul(w2) + b2).pow(2).sum().backward();
    ours.step();
    ref.step();
  }
  CHECK(torch::allclose(w1, w2, 1e-6, 1e-7));
  CHECK(torch::allclose(b1, b2, 1e-6, 1e-7));
  CHECK_FALSE(torch::allclose(w1, w, 1e-3, 1e-3));
}

TEST_CASE("weighted k-NN and linear probe on separable data") {
  torch::manual_seed(0);
  auto centers = torch::eye(3) * 5;
  auto ytr = torch::arange(3).repeat_interleave(20), yte = torch::arange(3).repeat_interleave(5);
  auto ftr = centers.index_select(0, ytr) + torch::randn({60, 3}) * 0.3;
  auto fte = centers.index_select(0, yte) + torch::randn({15, 3}) * 0.3;
  CHECK(ssl::eval::knn_top1(ftr, ytr, fte, yte, {.k = 5}) == doctest::Approx(1.0));
  CHECK(ssl::eval::linear_probe(ftr, ytr, fte, yte, {.epochs = 50, .batch = 16, .lr = 1e-2}) == doctest::Approx(1.0));
  CHECK_THROWS_WITH_AS(ssl::eval::linear_probe(ftr, ytr, fte, yte, {.batch = 0}),
                       doctest::Contains("linear_probe: LinearProbeOptions: expected batch >= 1 and epochs >= 0, got batch 0"),
                       c10::Error);
  // Flipped test labels give zero accuracy: the metric is not constant.
  CHECK(ssl::eval::knn_top1(ftr, ytr, fte, (yte + 1) % 3, {.k = 5}) == doctest::Approx(0.0));
  CHECK_THROWS_WITH_AS(ssl::eval::knn_top1(ftr, ytr, fte.narrow(1, 0, 2), yte), doctest::Contains("expected [N,D]"),
                       c10::Error);
}

TEST_CASE("frozen features of a backbone: pooled, tokens, a ViT's last blocks") {
  using namespace ssl::eval;
  CHECK(feature_kind("pooled") == FeatureKind::pooled);
  CHECK(feature_kind("tokens") == FeatureKind::tokens);
  CHECK(feature_kind("blocks") == FeatureKind::blocks);
  CHECK_THROWS_WITH_AS(feature_kind("cls"), doctest::Contains("expected pooled, tokens or blocks, got 'cls'"), c10::Error);
  auto tokens = torch::arange(2 * 3 * 2, torch::kFloat32).view({2, 3, 2});  // [B, 1 + N, D]
  CHECK(torch::equal(cls_mean_patch(tokens), torch::tensor({{0.f, 1.f, 3.f, 4.f}, {6.f, 7.f, 9.f, 10.f}})));
  CHECK(torch::equal(token_features(tokens, FeatureKind::pooled), cls_mean_patch(tokens)));
  CHECK(torch::equal(token_features(tokens, FeatureKind::tokens), tokens.flatten(1)));
  CHECK_THROWS_WITH_AS(token_features(tokens, FeatureKind::blocks), doctest::Contains("frozen_features"), c10::Error);

  torch::manual_seed(0);
  ssl::vit::Encoder vit(ssl::vit::Options{}.image(8).patch(4).channels(1).dim(8).depth(2).heads(2));
  vit->eval();
  torch::NoGradGuard g;
  const auto x = torch::randn({3, 1, 8, 8});
  const auto f = vit->forward(ssl::Masked{.input = x});
  CHECK(torch::equal(frozen_features(vit, x, FeatureKind::tokens), f.tokens.flatten(1)));
  CHECK(torch::equal(frozen_features(vit, x, FeatureKind::pooled), f.pooled));
  CHECK(torch::equal(frozen_features(vit, x, FeatureKind::pooled, [](const ssl::Features& y) { return cls_mean_patch(y.tokens); }),
                     cls_mean_patch(f.tokens)));
  // blocks: every block of this 2-block ViT (the last 4 of a deeper one), each [B, 1 + N, D].
  const auto maps = vit->intermediate_layers(x, 2);
  const auto blocks = frozen_features(vit, x, FeatureKind::blocks);
  CHECK(blocks.size(0) == 3);
  CHECK(blocks.size(1) == 2 * 5 * 8);
  CHECK(torch::equal(blocks, torch::cat({maps[0].flatten(1), maps[1].flatten(1)}, 1)));
  CHECK(torch::equal(block_features(vit, x, 1), maps[1].flatten(1)));
  ssl::resnet::Encoder resnet(ssl::resnet::resnet18().channels(1).width(4).small_stem(true));
  CHECK_THROWS_WITH_AS(frozen_features(resnet, x, FeatureKind::blocks), doctest::Contains("no intermediate_layers"),
                       c10::Error);
}

// Three classes of 2 x 2 uint8 images, a bright pixel per class plus noise, the classes
// interleaved (0, 1, 2, 0, ...: the first N images hold every class).
ssl::data::ImageSet three_class_images(int64_t per_class) {
  auto y = torch::arange(3).repeat(per_class);
  auto im = (torch::eye(4).narrow(0, 0, 3).index_select(0, y) * 150 + torch::rand({3 * per_class, 4}) * 100);
  return ssl::data::ImageSet{im.to(torch::kUInt8).view({-1, 1, 2, 2}), y};
}

TEST_CASE("frozen_eval = feature extraction, k-NN and linear probe on a split; raw-pixel floors = the pixels'") {
  using namespace ssl::eval;
  torch::manual_seed(0);
  const auto train = three_class_images(20), test = three_class_images(5);
  const auto unit = [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); };
  const auto encode = [](const torch::Tensor& x) { return x.flatten(1) * 2 + 1; };
  torch::manual_seed(1);
  const auto s = frozen_eval(encode, train, test, unit, {.probe = {.epochs = 20, .batch = 16}, .batch = 7});
  const auto ftr = extract(encode, train.images, unit), fte = extract(encode, test.images, unit);
  torch::manual_seed(1);  // the probe's initial weights
  CHECK(s.dim == 4);
  CHECK(s.knn == knn_top1(ftr, train.labels, fte, test.labels));
  CHECK(s.linear == linear_probe(ftr, train.labels, fte, test.labels, {.epochs = 20, .batch = 16}));
  CHECK(s.knn == doctest::Approx(1.0));
  CHECK(s.seconds >= 0);
  torch::manual_seed(2);
  const auto raw = raw_pixel_floors(train, test, {.probe = {.epochs = 20, .batch = 16}});
  torch::manual_seed(2);
  const auto pixels = frozen_eval([](const torch::Tensor& x) { return x.flatten(1); }, train, test, unit,
                                  {.probe = {.epochs = 20, .batch = 16}});
  CHECK(raw.dim == 4);
  CHECK(raw.knn == pixels.knn);
  CHECK(raw.linear == pixels.linear);
}

TEST_CASE("frozen_eval at label budgets: the k-NN and the probe on the first N training features, from one extraction") {
  using namespace ssl::eval;
  torch::manual_seed(0);
  const auto train = three_class_images(20), test = three_class_images(5);
  const auto unit = [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); };
  int64_t calls = 0;
  const auto encode = [&calls](const torch::Tensor& x) { ++calls; return x.flatten(1) * 2 + 1; };
  const FrozenEvalOptions o{.probe = {.epochs = 2, .batch = 4}, .label_budgets = {6, 60, 1000}, .budget_min_steps = 10};
  torch::manual_seed(1);
  const auto s = frozen_eval(encode, train, test, unit, o);
  REQUIRE(s.budgets.size() == 3);
  // The same classifiers by hand, in the same order (each probe's initial weights come from the
  // global generator).
  const auto ftr = extract(encode, train.images, unit), fte = extract(encode, test.images, unit);
  const auto f6 = ftr.narrow(0, 0, 6), y6 = train.labels.narrow(0, 0, 6);
  torch::manual_seed(1);
  const double full = linear_probe(ftr, train.labels, fte, test.labels, {.epochs = 2, .batch = 4});
  const double six = linear_probe(f6, y6, fte, test.labels, {.epochs = 5, .batch = 4});
  CHECK(s.linear == full);
  CHECK(s.budgets[0].labels == 6);
  CHECK(s.budgets[0].probe_epochs == 5);  // 2 steps of 4 per epoch: 5 epochs for 10 steps
  CHECK(s.budgets[0].knn == knn_top1(f6, y6, fte, test.labels, {.k = 6}));  // k at most the budget
  CHECK(s.budgets[0].linear == six);
  for (const auto& b : {s.budgets[1], s.budgets[2]}) {  // every label (1000: all 60), 15 steps per epoch
    CHECK(b.labels == 60);
    CHECK(b.probe_epochs == 2);
    CHECK(b.knn == s.knn);
    CHECK(b.linear == s.linear);
  }
  // A budget of 0 is refused before any feature is extracted.
  calls = 0;
  CHECK_THROWS_WITH_AS(frozen_eval(encode, train, test, unit, {.label_budgets = {100, 0}}),
                       doctest::Contains("label_budgets must be >= 1, got 0"), c10::Error);
  CHECK(calls == 0);
  // The epochs of a budget, in closed form.
  CHECK(epochs_for_steps(1, 5, 195) == 195);
  CHECK(epochs_for_steps(7, 5, 195) == 28);
  CHECK(epochs_for_steps(39, 5, 195) == 5);
  CHECK(epochs_for_steps(3, 0, 0) == 0);
  CHECK_THROWS_WITH_AS(epochs_for_steps(0, 5, 10), doctest::Contains("steps_per_epoch >= 1"), c10::Error);
}

TEST_CASE("finetune_vs_scratch: the same budget for a pretrained ViT and the same architecture from scratch") {
  const auto arch = ssl::vit::Options{}.image(8).patch(4).channels(1).dim(8).depth(1).heads(2);
  auto y = torch::arange(2).repeat(20);
  auto images = (y.view({-1, 1, 1, 1}).expand({40, 1, 8, 8}) * 200 + torch::randint(0, 50, {40, 1, 8, 8})).to(torch::kUInt8);
  const ssl::data::ImageSet train{images, y}, test{images.narrow(0, 0, 10), y.narrow(0, 0, 10)};
  const auto unit = [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); };
  auto scores = [&](uint64_t seed) {
    torch::manual_seed(7);
    ssl::vit::Encoder pretrained(arch);
    const auto f = ssl::eval::finetune_vs_scratch(pretrained, arch, train, test, unit,
                                                  {.labels = 1000, .epochs = 1, .lr = 1e-3, .seed = seed});
    CHECK(pretrained->options.mean_pool());  // fine-tuned in place, on its mean patch token
    return f;
  };
  const auto a = scores(3), b = scores(3);
  CHECK(a.labels == 40);  // all of them when fewer than asked
  CHECK(a.epochs == 1);   // no min_steps: the epochs asked
  CHECK(a.pretrained >= 0);
  CHECK(a.pretrained <= 1);
  CHECK(a.scratch >= 0);
  CHECK(a.scratch <= 1);
  CHECK(a.pretrained == b.pretrained);  // deterministic given the seed
  CHECK(a.scratch == b.scratch);
  // Whatever drew from the global generator before (a probe's head, another budget) does not
  // change either arm: each starts from seed_everything(seed + 2).
  auto after_draws = [&](uint64_t noise, int64_t epochs) {
    torch::manual_seed(7);
    ssl::vit::Encoder pretrained(arch);
    torch::manual_seed(noise);
    const auto f = ssl::eval::finetune_vs_scratch(pretrained, arch, train, test, unit,
                                                  {.labels = 1000, .epochs = epochs, .lr = 1e-3, .seed = 3});
    return std::pair{f, pretrained};
  };
  const auto [c, c_enc] = after_draws(1, 1);
  const auto [d, d_enc] = after_draws(12345, 1);
  CHECK(c.pretrained == a.pretrained);
  CHECK(d.pretrained == a.pretrained);
  CHECK(d.scratch == a.scratch);
  // Over 3 epochs (the first step's lr is 0 by the warm-up), the pretrained encoder, fine-tuned in
  // place, moves from its initial weights and ends with the same weights whatever was drawn before.
  const auto [e, e_enc] = after_draws(1, 3);
  const auto [g, g_enc] = after_draws(12345, 3);
  CHECK(e.pretrained == g.pretrained);
  CHECK(e.scratch == g.scratch);
  torch::manual_seed(7);
  ssl::vit::Encoder initial(arch);
  auto gp = g_enc->named_parameters(), ip = initial->named_parameters();
  bool moved = false;
  for (const auto& p : e_enc->named_parameters()) {
    CHECK_MESSAGE(torch::equal(p.value(), gp[p.key()]), p.key());
    moved |= !torch::equal(p.value(), ip[p.key()]);
  }
  CHECK(moved);
}

TEST_CASE("finetune_epochs_for: a small label budget trains at least min_steps optimizer steps") {
  using ssl::eval::finetune_epochs_for;
  CHECK(finetune_epochs_for(5000, 5, 0) == 5);        // 39 steps of 128 per epoch
  CHECK(finetune_epochs_for(5000, 5, 195) == 5);      // 5 x 39 = 195 already
  CHECK(finetune_epochs_for(1000, 5, 195) == 28);     // 7 steps per epoch: 28 x 7 = 196 >= 195
  CHECK(finetune_epochs_for(100, 5, 195) == 195);     // one batch of 100 per epoch
  CHECK(finetune_epochs_for(60000, 5, 195) == 5);     // 468 steps per epoch
  CHECK(finetune_epochs_for(300, 2, 10, 100) == 4);   // batch 100: 3 steps per epoch, ceil(10 / 3)
  CHECK_THROWS_WITH_AS(finetune_epochs_for(0, 5, 10), doctest::Contains("labels"), c10::Error);
}

TEST_CASE("finetune_sweep: a ResNet at two label budgets, each from the same pretrained weights") {
  const auto arch = ssl::resnet::resnet18().channels(1).width(2).small_stem(true);
  auto y = torch::arange(2).repeat(20);
  auto images = (y.view({-1, 1, 1, 1}).expand({40, 1, 8, 8}) * 200 + torch::randint(0, 50, {40, 1, 8, 8})).to(torch::kUInt8);
  const ssl::data::ImageSet train{images, y}, test{images.narrow(0, 0, 10), y.narrow(0, 0, 10)};
  const auto unit = [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); };
  torch::manual_seed(7);
  ssl::resnet::Encoder pretrained(arch);
  const auto before = pretrained->named_parameters()[0].value().clone();
  const auto scratch = [&] { return ssl::resnet::Encoder(arch); };
  const ssl::eval::FinetuneVsScratchOptions o{.epochs = 1, .min_steps = 30, .lr = 1e-2, .layer_decay = 1.0, .seed = 3};
  const auto s = ssl::eval::finetune_sweep(pretrained, scratch, {10, 40}, train, test, unit, o);
  REQUIRE(s.size() == 2);
  CHECK(s[0].labels == 10);
  CHECK(s[0].epochs == 30);  // one batch of 10 per epoch: 30 epochs for 30 steps
  CHECK(s[1].labels == 40);
  CHECK(s[1].epochs == 30);
  CHECK(torch::equal(pretrained->named_parameters()[0].value(), before));  // each budget fine-tuned a copy
  // Bright against dark images: both encoders learn them in 30 steps (chance: 0.5).
  CHECK(s[1].pretrained >= 0.9);
  CHECK(s[1].scratch >= 0.9);
  // The sweep's budget equals one finetune_vs_scratch of a copy at that budget.
  auto copy = ssl::resnet::Encoder(std::dynamic_pointer_cast<ssl::resnet::EncoderImpl>(pretrained->clone()));
  auto one = o;
  one.labels = 40;
  const auto f = ssl::eval::finetune_vs_scratch(copy, scratch, train, test, unit, one);
  CHECK(f.pretrained == s[1].pretrained);
  CHECK(f.scratch == s[1].scratch);
  // Layer-wise decay is by ViT block: a ResNet with it is an error, not a decay silently ignored.
  one.layer_decay = 0.75;
  CHECK_THROWS_WITH_AS(ssl::eval::finetune_vs_scratch(copy, scratch, train, test, unit, one),
                       doctest::Contains("layer_decay 0.75"), c10::Error);
}
}

}  // namespace test_unit
