// Device-agnostic code on CUDA: the same MAE step on the GPU gives the CPU's loss and gradients.
// Skips (exit code 77, reported by CTest as skipped) only when no GPU is present.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

TEST_SUITE("cuda") {
TEST_CASE("an MAE training step on CUDA matches the CPU step") {
  if (!torch::cuda::is_available()) {
    MESSAGE("no CUDA device: skipped");
    std::exit(77);
  }
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
    auto& p = r->p;
    auto xd = x.to(d);
    auto m = p.masker.with_noise(xd, noise.to(d));
    ssl::Prediction pr{.views = {p.head->forward(p.backbone->forward(m), m)}, .masked = {m}};
    auto out = p.loss(pr, p.target(ssl::Views{.global = {xd}}, pr));
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
  if (!torch::cuda::is_available()) {
    MESSAGE("no CUDA device: skipped");
    std::exit(77);
  }
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
  o.head = ssl::heads::DINOHeadOptions(0).hidden_dim(32).bottleneck_dim(8).output_dim(48);
  auto ibot = ssl::ibot::recipe(o);
  ibot->to(torch::kCUDA);
  ssl::data::Loader loader(x, {}, nullptr, {.batch_size = 4, .device = torch::kCUDA});
  ssl::Trainer t(ibot, ssl::optim::AdamWOptions{.lr = 1e-3});
  CHECK(std::isfinite(t.fit(loader, {.epochs = 1, .progress = 0})));
}
}
