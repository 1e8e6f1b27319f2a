// Device-agnostic code on CUDA: the same MAE step on the GPU gives the CPU's loss and gradients.
// Skips (exit code 77, reported by CTest as skipped) only when no GPU is present.
#include <doctest/doctest.h>
#include <ssl/dino.hpp>
#include <ssl/simclr.hpp>
#include <ssl/ssl.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_cuda {

namespace {
/// Ends the process with CTest's skip code (77) where no CUDA device is present: a GPU test skips
/// only then, never because of anything else.
void skip_without_cuda() {
  if (torch::cuda::is_available()) return;
  MESSAGE("no CUDA device: skipped");
  std::exit(77);
}
}  // namespace

TEST_SUITE("cuda") {
TEST_CASE("an MAE training step on CUDA matches the CPU step") {
  skip_without_cuda();
  torch::manual_seed(0);
  ssl::mae::Options o;
  o.encoder = ssl::vit::Options{}.image(16).patch(4).channels(3).dim(32).depth(2).heads(4);
  o.decoder_dim = 16;
  o.decoder_heads = 2;
  auto cpu = ssl::mae::recipe(o);
  auto gpu = ssl::mae::recipe(o);
  {
    torch::NoGradGuard g;
    auto src = cpu->named_parameters();
    for (auto& p : gpu->named_parameters()) p.value().copy_(src[p.key()]);
  }
  gpu->to(torch::kCUDA);
  auto x = torch::randn({4, 3, 16, 16});
  auto noise = torch::rand({4, 16});
  auto step = [&](ssl::mae::Recipe& r, torch::Device d) {
    auto xd = x.to(d);
    auto m = r->masker().with_noise(xd, noise.to(d));
    ssl::Prediction pr{.views = {r->head()->forward(r->backbone()->forward(m), m)}, .masked = {m}};
    auto out = r->loss()(pr, r->target()(ssl::Views{.global = {xd}}, pr));
    out.loss.backward();
    return out.loss.cpu();
  };
  CHECK(torch::allclose(step(cpu, torch::kCPU), step(gpu, torch::kCUDA), 1e-4, 1e-5));
  auto gp = gpu->named_parameters();
  for (const auto& p : cpu->named_parameters())
    CHECK_MESSAGE(torch::allclose(p.value().grad(), gp[p.key()].grad().cpu(), 1e-3, 1e-5), p.key());
  // The trainer runs a CUDA batch, bf16 autocast included.
  ssl::data::Loader loader(torch::randint(0, 255, {64, 3, 16, 16}, torch::kUInt8), {}, ssl::data::normalize(0.5, 0.25),
                           {.batch_size = 16, .device = torch::kCUDA});
  ssl::Trainer t(gpu, ssl::optim::AdamWOptions{.lr = 1e-3});
  CHECK(std::isfinite(t.fit(loader, {.epochs = 1, .bf16 = true, .progress = 0})));
}

TEST_CASE("BEiT and iBOT steps on CUDA: BEiT's loss equals the CPU's, iBOT trains") {
  skip_without_cuda();
  torch::manual_seed(0);
  auto x = torch::rand({8, 1, 28, 28});
  auto km = ssl::tokenizer::fit_kmeans(x, {.patch = 4, .codes = 16, .iterations = 3, .max_patches = 392});
  const auto arch = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(32).depth(2).heads(4);
  auto cpu = ssl::beit::recipe(km, {.encoder = arch});
  auto gpu = ssl::beit::recipe(ssl::tokenizer::KMeans(std::dynamic_pointer_cast<ssl::tokenizer::KMeansImpl>(km->clone())),
                               {.encoder = arch});
  {
    torch::NoGradGuard g;
    auto src = cpu->named_parameters();
    for (auto& p : gpu->named_parameters()) p.value().copy_(src[p.key()]);
  }
  gpu->to(torch::kCUDA);
  torch::manual_seed(1);  // the blockwise masks come from the CPU generator on either device
  auto lc = cpu->forward(ssl::Batch{x, {}}).loss;
  torch::manual_seed(1);
  auto lg = gpu->forward(ssl::Batch{x.to(torch::kCUDA), {}}).loss;
  CHECK(torch::allclose(lc, lg.cpu(), 1e-4, 1e-5));
  ssl::ibot::Options o;
  o.encoder = ssl::vit::Options(arch).learned_pos(true);
  o.augment = ssl::augment::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1});
  o.head = ssl::heads::DINOHeadOptions().hidden_dim(32).bottleneck_dim(8).output_dim(48);
  auto ibot = ssl::ibot::recipe(o);
  ibot->to(torch::kCUDA);
  ssl::data::Loader loader(x, {}, nullptr, {.batch_size = 4, .device = torch::kCUDA});
  ssl::Trainer t(ibot, ssl::optim::AdamWOptions{.lr = 1e-3});
  CHECK(std::isfinite(t.fit(loader, {.epochs = 1, .progress = 0})));
}
}

TEST_SUITE("cuda") {
TEST_CASE("speed features on CUDA: fused AdamW = CPU, checkpointed blocks replay CUDA dropout, bf16 autocast step") {
  skip_without_cuda();
  // Fused AdamW on CUDA tensors equals the CPU step.
  torch::manual_seed(0);
  auto w = torch::randn({64, 32}), g = torch::randn({64, 32});
  auto step = [&](torch::Device d) {
    auto p = w.clone().to(d).set_requires_grad(true);  // w.to(kCPU) would be w itself, stepped in place
    ssl::optim::AdamW opt({{"layer.weight", p}}, {.lr = 1e-2, .weight_decay = 0.05});
    opt.set_lr_factor(1.0);
    for (int k = 0; k < 3; ++k) {
      p.mutable_grad() = g.to(d) * double(k + 1);
      opt.step();
    }
    return p.detach().cpu();
  };
  // Closed form (Loshchilov & Hutter; torch.optim.AdamW): decoupled decay, bias-corrected moments.
  auto ref = w.to(torch::kFloat64).clone(), m = torch::zeros_like(ref), v = torch::zeros_like(ref);
  for (int k = 1; k <= 3; ++k) {
    const auto gk = g.to(torch::kFloat64) * double(k);
    ref.mul_(1 - 1e-2 * 0.05);
    m = 0.9 * m + 0.1 * gk;
    v = 0.999 * v + 0.001 * gk * gk;
    ref -= 1e-2 * (m / (1 - std::pow(0.9, k))) / ((v / (1 - std::pow(0.999, k))).sqrt() + 1e-8);
  }
  const auto on_cpu = step(torch::kCPU), on_gpu = step(torch::kCUDA);
  const double e_cpu = (on_cpu.to(torch::kFloat64) - ref).abs().max().item<double>();
  const double e_gpu = (on_gpu.to(torch::kFloat64) - ref).abs().max().item<double>();
  MESSAGE("AdamW vs closed form: CPU ", e_cpu, ", CUDA ", e_gpu);
  CHECK(e_cpu <= 1e-5);
  CHECK(e_gpu <= 1e-5);
  // Activation checkpointing with dropout on the GPU: same gradients as storing.
  auto o = ssl::text::EncoderOptions(50, 32, 2, 4).mlp_hidden(64).max_len(12).dropout(0.1).attn_dropout(0.1);
  ssl::text::Encoder enc(o);
  enc->to(torch::kCUDA);
  enc->train();
  auto ids = torch::randint(5, 50, {3, 12}, torch::kInt64).to(torch::kCUDA);
  auto readout = torch::randn({3, 12, 32}, torch::kCUDA);
  auto grads = [&](bool ckpt) {
    enc->blocks->options.checkpoint(ckpt);
    enc->zero_grad();
    torch::manual_seed(3);
    (enc->forward(ssl::Masked{.input = ids}).tokens * readout).sum().backward();
    std::vector<torch::Tensor> out;
    for (const auto& p : enc->parameters())
      if (p.grad().defined()) out.push_back(p.grad().cpu().clone());
    return out;
  };
  const auto a = grads(false), b = grads(true);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK((a[i] - b[i]).abs().max().item<double>() <= 1e-5);
  // bf16 autocast through the trainer: a finite loss and moved parameters.
  ssl::mae::Options mo;
  mo.encoder = ssl::vit::Options{}.image(16).patch(4).channels(3).dim(32).depth(2).heads(4);
  mo.decoder_dim = 16;
  mo.decoder_depth = 1;
  auto mae = ssl::mae::recipe(mo);
  mae->to(torch::kCUDA);
  const auto before = mae->backbone()->patch_embed->proj->weight.detach().cpu().clone();
  ssl::data::Loader loader(torch::randn({32, 3, 16, 16}), {}, nullptr, {.batch_size = 16, .device = torch::kCUDA});
  ssl::Trainer t(mae, ssl::optim::AdamWOptions{.lr = 1e-3});
  const double loss = t.fit(loader, {.epochs = 1, .bf16 = true, .progress = 0});
  CHECK(std::isfinite(loss));
  CHECK(!torch::equal(before, mae->backbone()->patch_embed->proj->weight.detach().cpu()));
}
}

TEST_SUITE("cuda") {
TEST_CASE("joint-embedding on CUDA: augmentation ops = CPU, the batched pipelines stay on the GPU, SimCLR and DINO steps = CPU") {
  skip_without_cuda();
  namespace A = ssl::augment;
  const torch::Device gpu = torch::kCUDA, cpu = torch::kCPU;
  torch::manual_seed(0);
  const auto x = torch::rand({4, 3, 16, 16});
  const auto i64 = [](std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); };
  const auto f32 = [](std::vector<float> v) { return torch::tensor(v); };
  const auto top = i64({0, 2, 5, 1}), left = i64({3, 0, 4, 2}), h = i64({16, 9, 7, 12}), w = i64({13, 16, 8, 10});
  const auto flip = torch::tensor({true, false, true, false}), sol = torch::tensor({false, true, true, false});
  const auto fac = f32({0.6f, 1.0f, 1.4f, 0.9f}), hue = f32({-0.3f, 0.1f, 0.0f, 0.45f}), sig = f32({0.3f, 1.0f, 1.7f, 0.8f});
  // Each op with the same parameters on both devices (parameters live on the image's device).
  const std::vector<std::pair<const char*, std::function<torch::Tensor(const torch::Tensor&, torch::Device)>>> ops = {
      {"resized_crop", [&](const auto& im, auto d) { return A::resized_crop(im, top.to(d), left.to(d), h.to(d), w.to(d), 12, 12); }},
      {"hflip", [&](const auto& im, auto d) { return A::hflip(im, flip.to(d)); }},
      {"brightness", [&](const auto& im, auto d) { return A::adjust_brightness(im, fac.to(d)); }},
      {"contrast", [&](const auto& im, auto d) { return A::adjust_contrast(im, fac.to(d)); }},
      {"saturation", [&](const auto& im, auto d) { return A::adjust_saturation(im, fac.to(d)); }},
      {"hue", [&](const auto& im, auto d) { return A::adjust_hue(im, hue.to(d)); }},
      {"grayscale", [&](const auto& im, auto) { return A::rgb_to_grayscale(im, 3); }},
      {"gaussian_blur", [&](const auto& im, auto d) { return A::gaussian_blur(im, 5, sig.to(d)); }},
      {"solarize", [&](const auto& im, auto d) { return A::solarize(im, 0.5, sol.to(d)); }},
  };
  for (const auto& [name_, op] : ops) {
    const auto& name = name_;  // a structured binding is not capturable before clang 16 (the macros' lambdas)
    const auto c = op(x, cpu), g = op(x.to(gpu), gpu);
    CHECK_MESSAGE(g.device().is_cuda(), name);
    CHECK_MESSAGE((c - g.cpu()).abs().max().item<double>() <= 1e-5, name);
  }
  // The random pipelines draw their parameters and run on the batch's device.
  const auto g1 = torch::rand({8, 1, 28, 28}, gpu);
  const ssl::Views two = A::TwoViews::simclr(28, 1)(g1);
  CHECK(two.global.size() == 2);
  CHECK(two.global[0].device().is_cuda());
  CHECK(two.global[1].sizes() == torch::IntArrayRef{8, 1, 28, 28});
  CHECK(torch::isfinite(two.global[1]).all().item<bool>());
  // One step of SimCLR (ResNet-18, BatchNorm) and of DINO (ViT, EMA teacher, centring, local
  // crops) on the same weights and views: the GPU's loss and gradients equal the CPU's.
  // cuDNN convolutions run in TF32 on Ampere and later unless told otherwise (PyTorch's default):
  // fp32 for the comparison.
  const bool tf32 = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(false);
  const auto compare = [&](auto make, bool local_crop) {
    const auto views = [&](torch::Device d) {
      torch::manual_seed(1);
      auto g = torch::rand({6, 1, 16, 16}), l = torch::rand({6, 1, 8, 8});
      ssl::Views v{.global = {g.to(d), g.flip({3}).to(d)}, .local = {}};
      if (local_crop) v.local.push_back(l.to(d));
      return v;
    };
    torch::manual_seed(2);
    auto rc = make();
    torch::manual_seed(2);
    auto rg = make();
    rg->to(gpu);
    std::vector<double> losses;
    for (auto* r : {&rc, &rg}) {
      const auto d = r == &rc ? cpu : gpu;
      auto v = views(d);
      auto pred = (*r)->predict(v);
      auto out = (*r)->loss()(pred, (*r)->target()(v, pred));
      out.loss.backward();
      losses.push_back(out.loss.template item<double>());
    }
    CHECK(losses[0] == doctest::Approx(losses[1]).epsilon(1e-5));
    auto gp = rg->named_parameters();
    size_t compared = 0;
    for (const auto& p : rc->named_parameters()) {
      if (!p.value().grad().defined()) continue;
      ++compared;
      const auto gg = gp[p.key()].grad().cpu();
      const double err = (p.value().grad() - gg).abs().max().template item<double>();
      const double scale = p.value().grad().abs().max().template item<double>();
      CHECK_MESSAGE(err <= 1e-4 * (1 + scale), p.key());
    }
    CHECK(compared > 10);
  };
  compare([] {
    return ssl::simclr::recipe(ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(8).small_stem(true)),
                               {.augment = A::TwoViews::simclr(16, 1), .hidden = 64, .out = 32, .temperature = 0.2});
  }, false);
  compare([] {
    ssl::dino::Options o;
    o.augment = A::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1});  // unused: the views are given
    o.head = ssl::heads::DINOHeadOptions().hidden_dim(64).bottleneck_dim(32).output_dim(128);
    o.loss = ssl::loss::DINOLossOptions(128).warmup_teacher_temp(0.04).teacher_temp(0.04).warmup_teacher_temp_epochs(0);
    return ssl::dino::recipe(
        ssl::vit::Encoder(ssl::vit::Options{}.image(16).channels(1).dim(32).depth(2).heads(4).patch(4).learned_pos(true)), o);
  }, true);
  at::globalContext().setAllowTF32CuDNN(tf32);
  // DINO's attention maps come out of a CUDA model.
  auto r = ssl::dino::recipe(ssl::vit::Encoder(ssl::vit::Options{}.image(16).channels(1).dim(32).depth(2).heads(4).patch(4)),
                             {.augment = A::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1})});
  r->to(gpu);
  const auto maps = ssl::dino::attention_maps(r, torch::rand({3, 1, 16, 16}, gpu));
  CHECK(maps.device().is_cuda());
  CHECK(maps.sizes() == torch::IntArrayRef{3, 4, 4, 4});
}

TEST_CASE("a nan loss on CUDA stops the run at the next check, naming its step, and no checkpoint is written after it") {
  skip_without_cuda();
  namespace fs = std::filesystem;
  const auto d = fs::temp_directory_path() / ("ssl_test_cuda_nan_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  const auto ckpt = (d / "ckpt.pt").string();
  auto make = [] {
    torch::manual_seed(0);
    ssl::mae::Options o;
    o.encoder = ssl::vit::Options{}.image(8).patch(2).channels(1).dim(16).depth(2).heads(2);
    o.decoder_dim = 8;
    o.decoder_depth = 1;
    o.decoder_heads = 2;
    auto r = ssl::mae::recipe(o);
    r->to(torch::kCUDA);
    return r;
  };
  int calls = 0;  // the third batch (step 2) is nan; the loss is flagged on the GPU, read at step 4's checkpoint
  ssl::data::Loader l(torch::full({48, 1, 8, 8}, 100, torch::kUInt8), {},
                      [&calls](const torch::Tensor& x) { return x.to(torch::kFloat32) / 255.0 * (calls++ == 2 ? NAN : 1.0); },
                      {.batch_size = 8, .prefetch = 0, .device = torch::kCUDA});
  ssl::Trainer t(make(), ssl::optim::AdamWOptions{.lr = 1e-3});
  CHECK_THROWS_WITH_AS(t.fit(l, {.epochs = 1, .log_every = 0, .checkpoint_path = ckpt, .checkpoint_every = 2,
                                 .check_finite_every = 0, .progress = 0}),
                       doctest::Contains("the loss is not finite (nan or inf) at step 2"), c10::Error);
  ssl::Trainer u(make(), ssl::optim::AdamWOptions{.lr = 1e-3});
  u.load(ckpt);
  CHECK(u.step() == 2);  // the checkpoint on disk is the one before the nan step
  for (const auto& p : u.recipe()->parameters()) CHECK(torch::isfinite(p).all().item<bool>());
  fs::remove_all(d);
}
}

}  // namespace test_cuda
