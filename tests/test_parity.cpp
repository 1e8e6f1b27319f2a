// Parity with Hugging Face transformers (ViTMAEForPreTraining, ViTModel) on the same weights,
// inputs and masking noise: forward outputs and every gradient. References are made by
// tests/python/make_vit_references.py (CTest fixture `refs`) into $SSL_REFS.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

#include "parity.hpp"

#include <cstdlib>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_parity {

namespace {
using parity::check_close;
using parity::check_grads;
using parity::Dict;
using parity::load;

/// Reference gradients ("grad.<hf name>") mapped through the same name mapping as the weights.
Dict hf_grads(const Dict& io, const Dict& weights) {
  Dict g;
  for (const auto& [k, v] : weights) {
    auto it = io.find("grad." + k);
    g[k] = it != io.end() ? it->second : torch::zeros_like(v);  // frozen tables have no grad
  }
  return g;
}

void mae_case(const std::string& c, bool norm_pix) {
  auto W = load(c + ".weights.safetensors");
  auto io = load(c + ".io.safetensors");
  ssl::mae::Options o;
  o.encoder = ssl::vit::Options{}.image(16).patch(4).channels(3).dim(32).depth(2).heads(4).mlp_hidden(64).eps(1e-12);
  o.decoder_dim = 24;
  o.decoder_depth = 2;
  o.decoder_heads = 4;
  o.decoder_mlp_hidden = 48;
  o.mask_ratio = 0.75;
  o.norm_pix = norm_pix;
  auto mae = ssl::mae::recipe(o);
  // Our fixed sin-cos tables against the reference's, before loading overwrites them.
  check_close(mae->backbone()->pos_embed, io.at("position_embeddings"), "encoder sin-cos", 1e-6);
  check_close(mae->head()->pos_embed, io.at("decoder_pos_embed"), "decoder sin-cos", 1e-6);
  ssl::io::load_into(*mae, ssl::io::hf::vit_mae_to_ssl(W, 2, 2), /*strict=*/true, c);

  const auto x = io.at("pixel_values");
  auto m = mae->masker().with_noise(x, io.at("noise"));
  CHECK(torch::equal(m.ids_restore, io.at("ids_restore")));
  CHECK(torch::equal(m.mask, io.at("mask").to(torch::kBool)));
  auto f = mae->backbone()->forward(m);
  check_close(f.tokens, io.at("encoder_last_hidden_state"), c + " encoder output");
  auto pred = mae->head()->forward(f, m);
  check_close(pred, io.at("logits"), c + " logits");
  ssl::Views views{.global = {x}};
  ssl::Prediction pr{.views = {pred}, .masked = {m}};
  auto out = mae->loss()(pr, mae->target()(views, pr));
  check_close(out.loss.reshape({1}), io.at("loss"), c + " loss");
  out.loss.backward();
  check_grads(*mae, ssl::io::hf::vit_mae_to_ssl(hf_grads(io, W), 2, 2));
}
}  // namespace

TEST_SUITE("parity") {
TEST_CASE("MAE (norm_pix) == Hugging Face ViTMAEForPreTraining: mask, outputs, loss, gradients") {
  mae_case("vitmae_normpix", true);
}
TEST_CASE("MAE (plain pixels) == Hugging Face ViTMAEForPreTraining") { mae_case("vitmae_plain", false); }

/// The encoder of the "vit" fixture (Hugging Face ViTModel, 2 blocks) with its weights.
static ssl::vit::Encoder fixture_vit(const Dict& W) {
  ssl::vit::Encoder enc(
      ssl::vit::Options{}.image(16).patch(4).channels(3).dim(32).depth(2).heads(4).mlp_hidden(64).eps(1e-12).learned_pos(true));
  ssl::io::load_into(*enc, ssl::io::hf::vit_to_ssl(W, 2), true, "vit");
  return enc;
}

TEST_CASE("ViT encoder == Hugging Face ViTModel: output and gradients (weights and input)") {
  auto W = load("vit.weights.safetensors");
  auto io = load("vit.io.safetensors");
  auto enc = fixture_vit(W);
  auto x = io.at("pixel_values").clone().requires_grad_(true);
  auto tokens = enc->forward(x).tokens;
  check_close(tokens, io.at("last_hidden_state"), "last_hidden_state");
  auto scalar = (tokens * io.at("R")).sum();
  check_close(scalar.reshape({1}), io.at("scalar"), "scalar");
  scalar.backward();
  check_close(x.grad(), io.at("grad.pixel_values"), "grad pixel_values");
  check_grads(*enc, ssl::io::hf::vit_to_ssl(hf_grads(io, W), 2));
}

TEST_CASE("ViT intermediate_layers == Hugging Face ViTModel's hidden states through its final layernorm") {
  auto io = load("vit.io.safetensors");
  auto enc = fixture_vit(load("vit.weights.safetensors"));
  torch::NoGradGuard g;
  const auto x = io.at("pixel_values");
  const auto both = enc->intermediate_layers(x, 2);
  REQUIRE(both.size() == 2);
  check_close(both[0], io.at("intermediate.0"), "intermediate.0 (block 0, normed)");
  check_close(both[1], io.at("intermediate.1"), "intermediate.1 (block 1, normed)");
  check_close(both[1], io.at("last_hidden_state"), "the last entry is the output tokens");
  const auto last = enc->intermediate_layers(x, 1);
  REQUIRE(last.size() == 1);
  check_close(last[0], io.at("intermediate.1"), "n = 1: the last block only");
  CHECK_THROWS_WITH_AS(enc->intermediate_layers(x, 3), doctest::Contains("n must be in [1, 2]"), c10::Error);
  CHECK_THROWS_WITH_AS(enc->intermediate_layers(x, 0), doctest::Contains("got 0"), c10::Error);
}
}

}  // namespace test_parity
