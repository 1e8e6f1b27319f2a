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

TEST_SUITE("cuda") {
TEST_CASE("issue 6 on CUDA: fused AdamW = CPU, checkpointed blocks replay CUDA dropout, bf16 autocast step") {
  if (!torch::cuda::is_available()) {
    MESSAGE("no CUDA device: skipped");
    std::exit(77);
  }
  // Fused AdamW on CUDA tensors equals the CPU step.
  torch::manual_seed(0);
  auto w = torch::randn({64, 32}), g = torch::randn({64, 32});
  auto step = [&](torch::Device d) {
    auto p = w.to(d).set_requires_grad(true);
    ssl::optim::AdamW opt({{"layer.weight", p}}, {.lr = 1e-2, .weight_decay = 0.05});
    opt.set_lr_factor(1.0);
    for (int k = 0; k < 3; ++k) {
      p.mutable_grad() = g.to(d) * double(k + 1);
      opt.step();
    }
    return p.detach().cpu();
  };
  CHECK((step(torch::kCUDA) - step(torch::kCPU)).abs().max().item<double>() <= 1e-5);
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
