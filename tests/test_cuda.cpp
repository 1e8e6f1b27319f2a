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
}
