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
  auto params = [&](torch::Dtype dtype) {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& n : names) named.emplace_back(n, ref.at("w." + n).to(dtype).clone().set_requires_grad(true));
    return named;
  };
  // Each step is compared twice: the parameters after it, and its change (after - before) against
  // the reference's change. A step moves a weight by ~1e-3 of its size (LARS) and weight decay is
  // ~1e-4 of that step, so the parameters alone could not see a dropped or 10x weight decay, nor
  // a slightly wrong trust ratio; the deltas, at `delta_tol` of their own size, see both.
  auto run = [&](auto opt, const std::vector<std::pair<std::string, torch::Tensor>>& named, const std::string& prefix,
                 double delta_tol, double delta_floor) {
    opt.set_lr_factor(1.0);
    for (int k = 0; k < 4; ++k) {
      const auto step = prefix + " step " + std::to_string(k) + " ";
      std::map<std::string, torch::Tensor> before;
      for (const auto& [n, p] : named) {
        before[n] = p.detach().clone();
        p.mutable_grad() = ref.at("g" + std::to_string(k) + "." + n).to(p.scalar_type()).clone();
      }
      opt.step();
      for (const auto& [n, p] : named) {
        const auto& ref_after = ref.at(prefix + std::to_string(k) + "." + n);
        const auto& ref_before = k == 0 ? ref.at("w." + n) : ref.at(prefix + std::to_string(k - 1) + "." + n);
        parity::check_close(p.detach(), ref_after, step + n);
        const auto delta = (p.detach() - before[n]).to(torch::kFloat64);
        const auto ref_delta = ref_after.to(torch::kFloat64) - ref_before.to(torch::kFloat64);
        REQUIRE(ref_delta.abs().max().item().toDouble() > 0);  // every parameter moves at every step
        parity::check_close(delta, ref_delta, step + n + " delta", delta_tol, delta_floor);
      }
    }
  };
  // LARS in float64 on both sides (the references are float64): deltas agree to ~1e-12 of their
  // size; 1e-7 leaves room and is ~1000x below weight decay's share of a step.
  REQUIRE((ref.at("lars0.weight").scalar_type() == torch::kFloat64));
  auto lars_params = params(torch::kFloat64);
  run(ssl::optim::Lars(lars_params, {.lr = 0.3, .momentum = 0.9, .weight_decay = 1e-4, .trust = 0.001, .eps = 1e-8}),
      lars_params, "lars", 1e-7, 1e-15);
  for (bool fused : {true, false}) {  // ATen's fused kernel (where LibTorch has it) and the _foreach chain
    CAPTURE(fused);
    auto adam_params = params(torch::kFloat32);
    ssl::optim::AdamW adam(adam_params, {.lr = 1e-2, .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
    adam.use_fused(fused);
    // float32: a step of ~1e-2 on weights of ~1 is known to ~1e-5 of itself; weight decay is ~5 % of it.
    run(std::move(adam), adam_params, "adamw", 1e-3, 1e-8);
  }
}
}

}  // namespace test_scale
