// Masked image modelling with discrete and self-distilled targets: the blockwise
// masker, the ViT's mask token, the visual tokenizers (k-means, VQ-VAE), the visual-token
// target, the patch heads, the teacher's patch targets and the iBOT loss; BEiT and iBOT
// recipes. Suites: `mim` (closed forms and plumbing), `mim_parity` (the iBOT loss against
// lightly, the masker's statistics against the reference algorithm in Python).
#include <doctest/doctest.h>
#include "parity.hpp"
#include <ssl/beit.hpp>
#include <ssl/ibot.hpp>
#include <ssl/ssl.hpp>

#include <filesystem>
#include <map>
#include <queue>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_mim {

namespace {
using torch::Tensor;

ssl::vit::Options tiny_vit28() { return ssl::vit::Options{}.image(28).patch(4).channels(1).dim(16).depth(2).heads(2); }

/// A small iBOT: the tiny ViT with learned positions, 2 global + 2 local (12 px) crops, a small head.
ssl::ibot::Options tiny_ibot() {
  ssl::ibot::Options o;
  o.encoder = tiny_vit28().learned_pos(true);
  o.augment = ssl::augment::MultiCrop::dino({.global_size = 28, .local_size = 12, .n_local = 2, .channels = 1});
  o.head = ssl::heads::DINOHeadOptions().hidden_dim(32).bottleneck_dim(8).output_dim(48);
  return o;
}

/// Number of 4-connected hidden regions of a `[rows, cols]` mask.
int components(const Tensor& m2d) {
  const auto R = m2d.size(0), C = m2d.size(1);
  auto a = m2d.to(torch::kBool).contiguous();
  const bool* p = a.data_ptr<bool>();
  std::vector<char> seen(size_t(R * C), 0);
  int n = 0;
  for (int64_t s = 0; s < R * C; ++s) {
    if (!p[s] || seen[size_t(s)]) continue;
    ++n;
    std::vector<int64_t> stack{s};
    seen[size_t(s)] = 1;
    while (!stack.empty()) {
      const auto q = stack.back();
      stack.pop_back();
      const int64_t i = q / C, j = q % C;
      const int64_t nb[4][2] = {{i + 1, j}, {i - 1, j}, {i, j + 1}, {i, j - 1}};
      for (const auto& v : nb) {
        if (v[0] < 0 || v[0] >= R || v[1] < 0 || v[1] >= C) continue;
        const auto k = v[0] * C + v[1];
        if (p[k] && !seen[size_t(k)]) {
          seen[size_t(k)] = 1;
          stack.push_back(k);
        }
      }
    }
  }
  return n;
}

}  // namespace

static_assert(ssl::Masker<ssl::masker::Blockwise>);
static_assert(ssl::VisualTokenizer<ssl::tokenizer::KMeans> && ssl::VisualTokenizer<ssl::tokenizer::VQVAE>);
static_assert(ssl::Target<ssl::target::VisualTokens<ssl::tokenizer::KMeans>>);
static_assert(ssl::Loss<ssl::loss::IBOTLoss> && ssl::Head<ssl::heads::IBOTHead> && ssl::Head<ssl::heads::PatchLogits>);

TEST_SUITE("mim") {
TEST_CASE("blockwise masker: exact target counts, never more, reproducible, iBOT's probability and global-only") {
  ssl::masker::Blockwise bw{.patch = 4, .ratio = {0.4, 0.4}, .min_patches = 4};
  torch::manual_seed(3);
  auto x = torch::rand({512, 1, 28, 28});
  auto m = bw(x);
  REQUIRE(m.mask.sizes() == torch::IntArrayRef({512, 49}));
  CHECK((m.mask.scalar_type() == torch::kBool));
  CHECK_FALSE(m.ids_keep.defined());
  auto counts = m.mask.sum(1);
  CHECK(counts.max().item<int64_t>() == 20);  // round(0.4 * 49), never exceeded
  CHECK(counts.to(torch::kFloat64).mean().item<double>() > 19.5);
  // The same seed replays the same masks (the CPU generator).
  torch::manual_seed(3);
  torch::rand({512, 1, 28, 28});
  CHECK(torch::equal(bw(x).mask, m.mask));
  // Blocks: far more adjacent hidden pairs than independent patches would give (0.4^2 = 0.16).
  auto g = m.mask.view({512, 7, 7}).to(torch::kFloat32);
  const double h_adj = (g.narrow(2, 1, 6) * g.narrow(2, 0, 6)).mean().item<double>();
  CHECK(h_adj > 0.28);
  // iBOT: about half the images masked, ratios spread over [0.1, 0.5].
  ssl::masker::Blockwise ib{.patch = 4, .ratio = {0.1, 0.5}, .prob = 0.5, .min_patches = 4, .global_only = true};
  auto mi = ib(x).mask.sum(1);
  const double frac_masked = (mi > 0).to(torch::kFloat64).mean().item<double>();
  CHECK(frac_masked == doctest::Approx(0.5).epsilon(0.15));
  CHECK(mi.max().item<int64_t>() <= 25);  // round(0.5 * 49)
  CHECK_FALSE(ib(torch::rand({2, 1, 12, 12}), /*global=*/false).mask.defined());
  CHECK(ib(torch::rand({2, 1, 12, 12}), /*global=*/true).mask.defined());
  // Errors say what was expected.
  CHECK_THROWS_WITH_AS(bw(torch::rand({2, 1, 30, 30})), doctest::Contains("not divisible by the patch size 4"), c10::Error);
  ssl::masker::Blockwise bad{.patch = 4, .ratio = {0.5, 0.2}};
  CHECK_THROWS_WITH_AS(bad(x), doctest::Contains("ratio[0] <= ratio[1]"), c10::Error);
  ssl::masker::Blockwise bad2{.patch = 4, .prob = 1.5};
  CHECK_THROWS_WITH_AS(bad2(x), doctest::Contains("masking probability in [0, 1]"), c10::Error);
}

TEST_CASE("ViT mask token: hidden patches get the learned embedding; a mask without one is an error") {
  torch::manual_seed(0);
  ssl::vit::Encoder enc(tiny_vit28().mask_token(true));
  enc->eval();
  auto x = torch::rand({3, 1, 28, 28});
  auto mask = torch::zeros({3, 49}, torch::kBool);
  mask.index_put_({0, torch::indexing::Slice(0, 10)}, true);
  mask.index_put_({2, 48}, true);
  auto out = enc->forward(ssl::Masked{.input = x, .mask = mask});
  // By hand: patch embeddings, mask token where hidden, positions, CLS, blocks, norm.
  auto t = enc->patch_embed(x);
  t = torch::where(mask.unsqueeze(-1), enc->mask_token.expand_as(t), t) + enc->pos_embed.narrow(1, 1, 49);
  auto cls = (enc->cls_token + enc->pos_embed.narrow(1, 0, 1)).expand({3, -1, -1});
  auto ref = enc->norm(enc->blocks(torch::cat({cls, t}, 1)));
  CHECK(torch::allclose(out.tokens, ref, 1e-6, 1e-6));
  // Image 1 has nothing hidden: it equals the unmasked encoding.
  auto whole = enc->forward(ssl::Masked{.input = x});
  CHECK(torch::allclose(out.tokens[1], whole.tokens[1], 1e-6, 1e-6));
  CHECK_FALSE(torch::allclose(out.tokens[0], whole.tokens[0], 1e-4, 1e-4));
  // The mask token is a parameter that learns.
  out.tokens.sum().backward();
  CHECK(enc->mask_token.grad().abs().sum().item<double>() > 0);
  ssl::vit::Encoder plain(tiny_vit28());
  CHECK_THROWS_WITH_AS(plain->forward(ssl::Masked{.input = x, .mask = mask}), doctest::Contains("mask_token(true)"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(enc->forward(ssl::Masked{.input = x, .mask = torch::zeros({3, 48}, torch::kBool)}),
                       doctest::Contains("bool mask of shape [3, 49]"), c10::Error);
}

TEST_CASE("k-means tokenizer: recovers planted patch clusters; save / load round trip") {
  torch::manual_seed(1);
  // Images made of 2x2 patches drawn from 4 distinct patterns (+ small noise).
  auto patterns = torch::tensor({{1.f, 0.f, 0.f, 0.f}, {0.f, 1.f, 1.f, 0.f}, {1.f, 1.f, 0.f, 1.f}, {0.f, 0.f, 1.f, 0.f}});
  auto which = torch::randint(4, {200, 16}, torch::kLong);  // 200 images, 4x4 patches of 2x2 px
  auto p = patterns.index_select(0, which.reshape({-1})).reshape({200, 4, 4, 2, 2});
  auto images = p.permute({0, 1, 3, 2, 4}).reshape({200, 1, 8, 8}) + 0.01 * torch::randn({200, 1, 8, 8});
  auto km = ssl::tokenizer::fit_kmeans(images, {.patch = 2, .codes = 4, .iterations = 10, .max_patches = 3200});
  auto tokens = km->encode(images);
  REQUIRE(tokens.sizes() == torch::IntArrayRef({200, 16}));
  // The codes are the patterns up to a relabelling: a one-to-one map between them.
  for (int64_t k = 0; k < 4; ++k) {
    auto codes = tokens.index({which == k});
    CHECK(std::get<0>(torch::unique_consecutive(std::get<0>(codes.sort()))).numel() == 1);
  }
  CHECK(std::get<0>(torch::unique_consecutive(std::get<0>(tokens.reshape({-1}).sort()))).numel() == 4);
  auto usage = ssl::tokenizer::codebook_usage(tokens, 4);
  CHECK(usage.used == 1.0);
  CHECK(usage.perplexity == doctest::Approx(4.0).epsilon(0.02));
  const auto dir = std::filesystem::temp_directory_path() / "ssl_mim_kmeans";
  std::filesystem::create_directories(dir);
  km->save_safetensors((dir / "km.safetensors").string());
  ssl::tokenizer::KMeans loaded(ssl::tokenizer::KMeansOptions{.patch = 2, .codes = 4});
  CHECK_THROWS_WITH_AS(loaded->encode(images), doctest::Contains("codebook is empty"), c10::Error);
  loaded->load_safetensors((dir / "km.safetensors").string());
  CHECK(torch::equal(loaded->encode(images), tokens));
  ssl::tokenizer::KMeans wrong(ssl::tokenizer::KMeansOptions{.patch = 2, .codes = 8});
  CHECK_THROWS_WITH_AS(wrong->load_safetensors((dir / "km.safetensors").string()), doctest::Contains("expected 8 codes"), c10::Error);
  std::filesystem::remove_all(dir);
  // Closed form of the usage: one code only -> perplexity 1, 1/K used.
  auto one = ssl::tokenizer::codebook_usage(torch::zeros({10}, torch::kLong), 5);
  CHECK(one.perplexity == doctest::Approx(1.0));
  CHECK(one.used == doctest::Approx(0.2));
}

TEST_CASE("VQ-VAE tokenizer: straight-through gradients, codebook from the data, trains with ssl::Trainer, save / load") {
  torch::manual_seed(2);
  ssl::tokenizer::VQVAE vq(ssl::tokenizer::VQVAEOptions{.channels = 1, .patch = 4, .codes = 32, .dim = 8, .hidden = 16});
  auto x = torch::rand({64, 1, 28, 28});
  auto out = vq->forward(ssl::Batch{x, {}});
  CHECK(vq->initialized.item<float>() == 1);
  out.loss.backward();
  // Straight-through: the encoder gets the reconstruction's gradient through the quantiser.
  auto& first = vq->encoder->ptr(0)->as<torch::nn::Conv2dImpl>()->weight;
  CHECK(first.grad().abs().sum().item<double>() > 0);
  CHECK(vq->codebook.grad().abs().sum().item<double>() > 0);
  // Each code starts at an encoder output of the first batch: every code is used by some patch of it.
  std::map<std::string, double> parts;
  for (const auto& [k, v] : out.parts) parts[k] = v.item<double>();
  CHECK(parts.count("perplexity") == 1);
  CHECK(parts["used"] > 0.3);
  // Trains with the library's trainer: the reconstruction improves.
  const double recon0 = parts["recon"];
  ssl::data::Loader loader(x, {}, nullptr, {.batch_size = 32, .prefetch = 0});
  ssl::Trainer t(vq, ssl::optim::AdamWOptions{.lr = 3e-3});
  t.fit(loader, {.epochs = 30, .progress = 0});
  vq->eval();
  double recon1 = 0;
  for (const auto& [k, v] : vq->forward(ssl::Batch{x, {}}).parts) if (k == "recon") recon1 = v.item<double>();
  CHECK(recon1 < 0.7 * recon0);
  auto tokens = vq->encode(x);
  CHECK(tokens.sizes() == torch::IntArrayRef({64, 49}));
  CHECK(vq->decode(tokens).sizes() == x.sizes());
  const auto dir = std::filesystem::temp_directory_path() / "ssl_mim_vq";
  std::filesystem::create_directories(dir);
  vq->save_safetensors((dir / "vq.safetensors").string());
  ssl::tokenizer::VQVAE other(ssl::tokenizer::VQVAEOptions{.channels = 1, .patch = 4, .codes = 32, .dim = 8, .hidden = 16});
  other->load_safetensors((dir / "vq.safetensors").string());
  CHECK(torch::equal(other->encode(x), tokens));
  // Dead-code restart: a code no patch can choose is moved onto an encoder output at the end of
  // its window (here every step).
  ssl::tokenizer::VQVAE r(ssl::tokenizer::VQVAEOptions{.channels = 1, .patch = 4, .codes = 8, .dim = 4, .hidden = 8,
                                                       .restart_every = 1});
  r->forward(ssl::Batch{x, {}});  // initialises the codebook from the batch
  {
    torch::NoGradGuard ng;
    r->codebook[0].fill_(1e3);
  }
  r->forward(ssl::Batch{x, {}});  // step 1: code 0 unused
  r->forward(ssl::Batch{x, {}});  // start of step 2: restarted
  auto z = r->encode_vectors(x).reshape({-1, 4});
  CHECK((z - r->codebook[0].detach()).abs().amax(1).min().item<double>() < 1e-5);
  ssl::tokenizer::VQVAE wrong(ssl::tokenizer::VQVAEOptions{.channels = 1, .patch = 4, .codes = 16, .dim = 8, .hidden = 16});
  CHECK_THROWS_WITH_AS(wrong->load_safetensors((dir / "vq.safetensors").string()), doctest::Contains("has shape"), c10::Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("BEiT: tokens at the hidden patches only, frozen tokenizer, loss = masked cross-entropy") {
  torch::manual_seed(4);
  // Each image repeats one of 8 random 4x4 patterns over its 7x7 patches (+ noise): a hidden
  // patch's token is predictable from the visible ones.
  auto patterns = torch::rand({8, 4, 4});
  auto which = torch::randint(8, {32}, torch::kLong);
  auto images = patterns.index_select(0, which).repeat({1, 7, 7}).unsqueeze(1) + 0.02 * torch::randn({32, 1, 28, 28});
  auto km = ssl::tokenizer::fit_kmeans(images, {.patch = 4, .codes = 16, .iterations = 5, .max_patches = 1568});
  auto beit = ssl::beit::recipe(km, {.encoder = tiny_vit28()});
  ssl::Views v{.global = {images}};
  auto pred = beit->predict(v);
  auto labels = beit->target()(v, pred).tokens;
  const auto& mask = pred.masked[0].mask;
  CHECK(torch::equal(labels != -100, mask));
  CHECK(torch::equal(labels.index({mask}), km->encode(images).index({mask})));
  CHECK(pred.views[0].sizes() == torch::IntArrayRef({mask.sum().item<int64_t>(), 16}));
  // The loss is the cross-entropy at the hidden patches (closed form from the logits).
  auto out = beit->loss()(pred, {labels, {}});
  auto ref = torch::nn::functional::cross_entropy(pred.views[0], labels.index({mask}));
  CHECK(out.loss.item<double>() == doctest::Approx(ref.item<double>()).epsilon(1e-6));
  // The tokenizer is carried (checkpoints) but frozen, and not what the optimizer trains.
  bool carried = false;
  for (const auto& b : beit->named_buffers()) carried |= b.key() == "target.tokenizer.codebook";
  CHECK(carried);
  auto vq = ssl::tokenizer::VQVAE(ssl::tokenizer::VQVAEOptions{.channels = 1, .patch = 4, .codes = 16, .dim = 8, .hidden = 8});
  auto beit_vq = ssl::beit::recipe(vq, {.encoder = tiny_vit28()});
  for (const auto& p : beit_vq->target()->tokenizer->parameters()) CHECK_FALSE(p.requires_grad());
  CHECK_THROWS_WITH_AS(ssl::beit::recipe(km, {.encoder = tiny_vit28().patch(7)}), doctest::Contains("one token per patch"),
                       c10::Error);
  // The default encoder is an architecture only: the images' size and channels are required.
  CHECK_THROWS_WITH_AS(ssl::beit::recipe(km, ssl::beit::Options{}),
                       doctest::Contains("beit::recipe: vit::Options: image (the input side in pixels) is required"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::tokenizer::VQVAE(ssl::tokenizer::VQVAEOptions{.patch = 4}),
                       doctest::Contains("tokenizer::VQVAE: VQVAEOptions::channels (of the images: 1 grayscale, 3 RGB) is required"),
                       c10::Error);
  // A few steps lower the loss on a fixed batch.
  ssl::data::Loader loader(images, {}, nullptr, {.batch_size = 32, .prefetch = 0});
  ssl::Trainer t(beit, ssl::optim::AdamWOptions{.lr = 3e-3});
  torch::manual_seed(9);
  const double l0 = beit->forward(ssl::Batch{images, {}}).loss.item<double>();
  t.fit(loader, {.epochs = 40, .progress = 0});
  torch::manual_seed(9);
  const double l1 = beit->forward(ssl::Batch{images, {}}).loss.item<double>();
  CHECK_MESSAGE(l1 < l0 - 0.3, "loss ", l0, " -> ", l1);
}

TEST_CASE("iBOT: masked global crops, whole local crops, teacher patch targets at the student's hidden positions") {
  torch::manual_seed(6);
  auto o = tiny_ibot();
  o.masker.prob = 1.0;  // every global crop masked here
  auto r = ssl::ibot::recipe(o);
  auto x = torch::rand({8, 1, 28, 28});
  auto views = r->augment()(x);
  auto pred = r->predict(views);
  REQUIRE(pred.masked.size() == 4);
  CHECK(pred.masked[0].mask.defined());
  CHECK(pred.masked[1].mask.defined());
  CHECK_FALSE(pred.masked[2].mask.defined());  // local crops whole
  CHECK_FALSE(pred.extra[2].patches.defined());
  const auto M0 = pred.masked[0].mask.sum().item<int64_t>();
  CHECK(pred.extra[0].patches.sizes() == torch::IntArrayRef({M0, 48}));
  auto targets = r->target()(views, pred);
  REQUIRE(targets.global.size() == 2);
  REQUIRE(targets.patches.size() == 2);
  CHECK(targets.global[0].sizes() == torch::IntArrayRef({8, 48}));
  CHECK(targets.patches[0].sizes() == torch::IntArrayRef({M0, 48}));
  CHECK_FALSE(targets.patches[0].requires_grad());
  // The teacher's patch targets: its head on its own (unmasked) tokens at the hidden positions.
  auto& te = r->target();
  auto tf = te->backbone->forward(ssl::Masked{.input = views.global[0]});
  auto expect = te->head->patch_head()->forward(tf.tokens.narrow(1, 1, 49).index({pred.masked[0].mask}));
  CHECK(torch::allclose(targets.patches[0], expect, 1e-5, 1e-6));
  // Shared head: one set of parameters; separate: two.
  ssl::heads::IBOTHead shared(ssl::heads::DINOHeadOptions(16).hidden_dim(8).bottleneck_dim(4).output_dim(12), true);
  ssl::heads::IBOTHead two(ssl::heads::DINOHeadOptions(16).hidden_dim(8).bottleneck_dim(4).output_dim(12), false);
  CHECK(two->parameters().size() == 2 * shared->parameters().size());
  // Trains; checkpoint + resume continues exactly (student, teacher, both centres).
  auto make = [&] {
    torch::manual_seed(5);
    return ssl::ibot::recipe(o);
  };
  const auto dir = std::filesystem::temp_directory_path() / "ssl_mim_ibot";
  std::filesystem::create_directories(dir);
  const auto ck = (dir / "ibot.ckpt").string();
  ssl::data::Loader loader(torch::rand({16, 1, 28, 28}), {}, nullptr, {.batch_size = 8, .prefetch = 0});
  auto a = make();
  ssl::Trainer ta(a, ssl::optim::AdamWOptions{.lr = 1e-3});
  ta.fit(loader, {.epochs = 3, .progress = 0});
  auto b = make();
  {
    ssl::Trainer tb(b, ssl::optim::AdamWOptions{.lr = 1e-3});
    tb.fit(loader, {.epochs = 3, .max_steps = 3, .checkpoint_path = ck, .progress = 0});
  }
  auto c = make();
  ssl::Trainer tc(c, ssl::optim::AdamWOptions{.lr = 1e-3});
  tc.load(ck);
  tc.fit(loader, {.epochs = 3, .progress = 0});
  auto pa = a->named_parameters(), pc = c->named_parameters();
  for (const auto& p : pa) CHECK_MESSAGE(torch::equal(p.value(), pc[p.key()]), p.key());
  CHECK(torch::equal(a->loss()->patch_center, c->loss()->patch_center));
  CHECK(torch::equal(a->loss()->cls->center, c->loss()->cls->center));
  CHECK(a->loss()->patch_center.abs().sum().item<double>() > 0);
  std::filesystem::remove_all(dir);
}

// The masked global crops share one student forward (their masks concatenated), the local crops
// another, the teacher's global crops a third (core/view_batches.hpp); the reference is one
// forward per view on the same views, masks and weights.
TEST_CASE("iBOT: same-size crops share one backbone forward (masked ones too), the same outputs as one per view") {
  torch::manual_seed(8);
  const auto o = tiny_ibot();
  auto r = ssl::ibot::recipe(o);
  const auto views = r->augment()(torch::rand({8, 1, 28, 28}));
  REQUIRE(views.batch_same_size);
  auto per_view = views;
  per_view.batch_same_size = false;
  auto run = [&](const ssl::Views& v) {
    torch::manual_seed(9);  // the same masks in both runs
    auto pred = r->predict(v);
    auto t = r->target()(v, pred);
    auto all = t.global;
    all.insert(all.end(), t.patches.begin(), t.patches.end());
    return std::pair{pred, all};
  };
  const auto [pa, ta] = run(views);
  const auto [pb, tb] = run(per_view);
  REQUIRE(pa.views.size() == 4);
  REQUIRE(pa.masked[0].mask.defined());
  CHECK(pa.masked[0].mask.any().item<bool>());
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(torch::equal(pa.masked[i].input, pb.masked[i].input));
    CHECK(pa.masked[i].mask.defined() == pb.masked[i].mask.defined());
    if (pa.masked[i].mask.defined()) CHECK(torch::equal(pa.masked[i].mask, pb.masked[i].mask));
    CHECK(torch::allclose(pa.views[i], pb.views[i], 1e-5, 1e-6));
    REQUIRE(pa.extra[i].patches.defined() == pb.extra[i].patches.defined());
    if (pa.extra[i].patches.defined()) CHECK(torch::allclose(pa.extra[i].patches, pb.extra[i].patches, 1e-5, 1e-6));
  }
  REQUIRE(ta.size() == 4);
  REQUIRE(tb.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK_MESSAGE(torch::allclose(ta[i], tb[i], 1e-5, 1e-6), "target ", i);
}
}

// ---- Parity ---------------------------------------------------------------------------------
namespace {
Tensor expected(const std::string& k) {
  static const parity::Dict refs = parity::load("mim.safetensors");
  auto it = refs.find(k);
  REQUIRE_MESSAGE(it != refs.end(), "no reference tensor ", k);
  return it->second;
}
using parity::check_close;
}  // namespace

TEST_SUITE("mim_parity") {
TEST_CASE("iBOT loss == lightly DINOLoss + IBOTPatchLoss: three calls, gradients, both centres") {
  ssl::loss::IBOTLoss loss(ssl::loss::IBOTLossOptions(
      ssl::loss::DINOLossOptions(24).warmup_teacher_temp(0.04).teacher_temp(0.07).warmup_teacher_temp_epochs(3), 24));
  for (int k = 0; k < 3; ++k) {
    const std::string c = "ibot.c" + std::to_string(k);
    CAPTURE(c);
    loss->set_step(ssl::StepInfo{.epoch = int64_t(expected(c + ".epoch").item<float>())});
    std::map<std::string, Tensor> x;  // student outputs (leaves); teacher outputs without gradient
    for (const char* n : {"s0", "s1", "s2", "s3", "sp0", "sp1"}) x[n] = expected(c + "." + n).clone().requires_grad_(true);
    for (const char* n : {"t0", "t1", "tp0", "tp1"}) x[n] = expected(c + "." + n);
    ssl::Prediction pred;
    const Tensor masks[2] = {expected(c + ".m0").to(torch::kBool), expected(c + ".m1").to(torch::kBool)};
    for (int i = 0; i < 4; ++i) {
      pred.views.push_back(x["s" + std::to_string(i)]);
      pred.extra.push_back(ssl::HeadOutput{.patches = i < 2 ? x["sp" + std::to_string(i)] : Tensor()});
      pred.masked.push_back(ssl::Masked{.input = {}, .mask = i < 2 ? masks[i] : Tensor()});
    }
    auto out = loss(pred, ssl::TeacherTokenOutputs{{x["t0"], x["t1"]}, {x["tp0"], x["tp1"]}});
    check_close(out.loss.detach().reshape({1}), expected(c + ".loss"), c + " loss");
    check_close(out.parts[0].second.reshape({1}), expected(c + ".cls"), c + " cls part");
    check_close(out.parts[1].second.reshape({1}), expected(c + ".patch"), c + " patch part");
    out.loss.backward();
    for (auto& [n, t] : x)
      if (t.requires_grad()) check_close(t.grad(), expected(c + ".grad." + n), c + " grad " + n);
    check_close(loss->cls->center, expected(c + ".center"), c + " center");
    check_close(loss->patch_center, expected(c + ".patch_center"), c + " patch center");
  }
}

TEST_CASE("blockwise masker: the reference algorithm's statistics over 20000 draws") {
  struct Cfg {
    const char* name;
    int64_t grid;
    ssl::masker::Blockwise m;
  };
  const Cfg cfgs[] = {
      {"beit", 14, {.patch = 1, .ratio = {75.0 / 196, 75.0 / 196}, .min_patches = 16}},
      {"small", 7, {.patch = 1, .ratio = {0.4, 0.4}, .min_patches = 4}},
      {"ibot", 7, {.patch = 1, .ratio = {0.1, 0.5}, .prob = 0.5, .min_patches = 4}},
  };
  torch::manual_seed(0);
  constexpr int64_t draws = 20000;
  for (const auto& cfg : cfgs) {
    const std::string name = cfg.name, k = "bw_" + name;
    CAPTURE(name);
    const auto G = cfg.grid, N = G * G;
    auto mask = cfg.m.draw(draws, G, G);
    auto f = mask.to(torch::kFloat64);
    auto counts = mask.sum(1);
    auto hist = torch::bincount(counts, {}, N + 1).to(torch::kFloat64) / double(draws);
    auto g = f.view({draws, G, G});
    // Per-draw statistics; each is compared within 5 standard errors of a difference of two
    // independent 20000-draw means (the C++ draws' own spread stands for both).
    auto h_adj = (g.narrow(2, 1, G - 1) * g.narrow(2, 0, G - 1)).mean(torch::IntArrayRef{1, 2});
    auto v_adj = (g.narrow(1, 1, G - 1) * g.narrow(1, 0, G - 1)).mean(torch::IntArrayRef{1, 2});
    auto comp = torch::empty({draws}, torch::kFloat64);
    for (int64_t i = 0; i < draws; ++i) comp[i] = components(g[i]);
    auto compare = [&](const std::string& what, const Tensor& per_draw, const std::string& ref_key) {
      const double mean = per_draw.to(torch::kFloat64).mean().item<double>();
      const double ref = expected(k + "." + ref_key).item<double>();
      const double tol = 5 * std::sqrt(2.0) * per_draw.to(torch::kFloat64).std().item<double>() / std::sqrt(double(draws));
      MESSAGE(name, " ", what, ": ", mean, " (reference ", ref, ", tolerance ", tol, ")");
      CHECK_MESSAGE(std::abs(mean - ref) <= tol, name, " ", what, ": ", mean, " vs reference ", ref);
    };
    compare("mean hidden patches", counts, "count_mean");
    compare("hidden regions (4-connected)", comp, "components");
    compare("horizontal adjacency", h_adj, "h_adjacent");
    compare("vertical adjacency", v_adj, "v_adjacent");
    const double tv = 0.5 * (hist - expected(k + ".count_hist").to(torch::kFloat64)).abs().sum().item<double>();
    CHECK_MESSAGE(tv < 0.03, "total variation between the count histograms: ", tv);
    const double pos_err = (f.mean(0) - expected(k + ".position").to(torch::kFloat64)).abs().max().item<double>();
    CHECK_MESSAGE(pos_err < 0.025, "largest difference of a patch's masking frequency: ", pos_err);
  }
}
}

}  // namespace test_mim
