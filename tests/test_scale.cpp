// Speed features: activation checkpointing gives the same loss and gradients as the
// plain forward (dropout included), and the optimizers' multi-tensor steps equal the Python
// references (lightly's LARS, torch.optim.AdamW).
#include <doctest/doctest.h>

#include "parity.hpp"

#include <ssl/text/encoder.hpp>
#include <ssl/vit/encoder.hpp>
#include <ssl/train/optim.hpp>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_scale {

namespace {
/// Loss and every gradient of `m` for `loss(m)`, with the global RNG at `seed` first.
template <class M, class F>
std::pair<double, std::vector<torch::Tensor>> loss_and_grads(M& m, uint64_t seed, F loss) {
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  torch::manual_seed(seed);
  auto l = loss(m);
  l.backward();
  std::vector<torch::Tensor> g;
  for (const auto& p : m->parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  return {l.template item<double>(), g};
}

void check_same(const std::pair<double, std::vector<torch::Tensor>>& a,
                const std::pair<double, std::vector<torch::Tensor>>& b, double tol) {
  CHECK(a.first == doctest::Approx(b.first).epsilon(1e-6));
  REQUIRE(a.second.size() == b.second.size());
  size_t with_grad = 0;
  for (size_t i = 0; i < a.second.size(); ++i) {
    CAPTURE(i);
    REQUIRE(a.second[i].defined() == b.second[i].defined());
    if (!a.second[i].defined()) continue;
    ++with_grad;
    CHECK((a.second[i] - b.second[i]).abs().max().item<double>() <= tol);
  }
  CHECK(with_grad >= a.second.size() - 2);  // the text encoder's pooler (unused here) has none
}
}  // namespace

TEST_SUITE("scale") {
TEST_CASE("activation checkpointing: same loss and gradients as storing the activations") {
  SUBCASE("ViT") {
    torch::manual_seed(1);
    ssl::vit::Encoder enc(ssl::vit::Options{}.image(28).patch(7).channels(1).dim(32).depth(3).heads(4));
    enc->train();
    const auto x = torch::randn({4, 1, 28, 28});
    const auto w = torch::randn({4, 17, 32});  // a fixed random readout (LayerNorm'd tokens have mean square 1)
    auto loss = [&](auto& m) {
      auto f = m->forward(x);
      return (f.tokens * w).sum() + f.pooled.sin().sum();
    };
    const auto ref = loss_and_grads(enc, 0, loss);
    enc->blocks->options.checkpoint(true);
    const auto ck = loss_and_grads(enc, 0, loss);
    check_same(ref, ck, 1e-6);
    // In eval / no-grad the option changes nothing either.
    torch::NoGradGuard ng;
    CHECK(torch::equal(enc->forward(x).tokens, [&] {
      enc->blocks->options.checkpoint(false);
      return enc->forward(x).tokens;
    }()));
  }
  SUBCASE("text encoder with dropout 0.1: the recomputation replays the same dropout masks") {
    auto o = ssl::text::EncoderOptions(50, 32, 2, 4).mlp_hidden(64).max_len(12).dropout(0.1).attn_dropout(0.1);
    torch::manual_seed(2);
    ssl::text::Encoder enc(o);
    enc->train();
    auto ids = torch::randint(5, 50, {3, 12}, torch::kInt64);
    ids[0].narrow(0, 8, 4).fill_(0);  // padding: the key mask goes through the checkpoint too
    const auto w = torch::randn({3, 12, 32});
    auto loss = [&](auto& m) { return (m->forward(ssl::Masked{.input = ids}).tokens * w).sum(); };
    const auto ref = loss_and_grads(enc, 5, loss);
    enc->blocks->options.checkpoint(true);
    const auto ck = loss_and_grads(enc, 5, loss);
    check_same(ref, ck, 1e-6);
    // The generator continues exactly as without checkpointing (backward put it back).
    const auto after_ck = torch::rand({1}).item<double>();
    enc->blocks->options.checkpoint(false);
    (void)loss_and_grads(enc, 5, loss);
    CHECK(torch::rand({1}).item<double>() == after_ck);
    // And a different seed gives different dropout (the test can fail).
    const auto other = loss_and_grads(enc, 6, loss);
    CHECK(other.first != doctest::Approx(ref.first).epsilon(1e-6));
  }
}
}

TEST_SUITE("optim_parity") {
TEST_CASE("LARS = lightly's LARS, AdamW (fused and _foreach) = torch.optim.AdamW (4 steps, grouped decay, a zero-norm weight)") {
  const auto ref = parity::load("optim.safetensors");
  const std::vector<std::string> names = {"weight", "bias", "zero"};
  auto params = [&] {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& n : names) named.emplace_back(n, ref.at("w." + n).clone().set_requires_grad(true));
    return named;
  };
  auto run = [&](auto opt, const std::vector<std::pair<std::string, torch::Tensor>>& named, const std::string& prefix) {
    opt.set_lr_factor(1.0);
    for (int k = 0; k < 4; ++k) {
      for (const auto& [n, p] : named) p.mutable_grad() = ref.at("g" + std::to_string(k) + "." + n).clone();
      opt.step();
      for (const auto& [n, p] : named)
        parity::check_close(p.detach(), ref.at(prefix + std::to_string(k) + "." + n), prefix + " step " + std::to_string(k) + " " + n);
    }
  };
  auto lars_params = params();
  run(ssl::optim::Lars(lars_params, {.lr = 0.3, .momentum = 0.9, .weight_decay = 1e-4, .trust = 0.001, .eps = 1e-8}),
      lars_params, "lars");
  for (bool fused : {true, false}) {  // ATen's fused kernel (where LibTorch has it) and the _foreach chain
    CAPTURE(fused);
    auto adam_params = params();
    ssl::optim::AdamW adam(adam_params, {.lr = 1e-2, .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
    adam.use_fused(fused);
    run(std::move(adam), adam_params, "adamw");
  }
}
}

}  // namespace test_scale
