// Parity of the joint-embedding vision models with their Python references on the same weights
// and inputs: resnet::Encoder against torchvision's ResNet (train and eval mode: pooled output,
// feature map, every gradient, running statistics), the heads::Mlp presets and
// heads::ProjectPredict against lightly's heads (and moco-v3's _build_mlp), heads::DINOHead
// against lightly's DINOProjectionHead including the frozen last layer. References are made by
// tests/python/make_vision_references.py (CTest fixture `vision_refs`) into $SSL_REFS.
#include <doctest/doctest.h>
#include <ssl/resnet/encoder.hpp>
#include <ssl/concepts.hpp>
#include <ssl/heads/dino_head.hpp>
#include <ssl/heads/projection.hpp>
#include <ssl/io/safetensors.hpp>

#include "parity.hpp"

#include <string>
#include <vector>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_vision_models {

namespace {
using parity::check_close;
using parity::Dict;
using torch::Tensor;

static_assert(ssl::Backbone<ssl::resnet::Encoder>);
static_assert(ssl::Head<ssl::heads::Mlp>);
static_assert(ssl::Head<ssl::heads::ProjectPredict>);
static_assert(ssl::Head<ssl::heads::DINOHead>);

/// vision.safetensors, loaded once for all cases.
const Dict& refs() {
  static const Dict d = parity::load("vision.safetensors");
  return d;
}
const Tensor& reference(const std::string& key) {
  auto it = refs().find(key);
  REQUIRE_MESSAGE(it != refs().end(), "vision.safetensors has no tensor '", key, "'");
  return it->second;
}
/// The tensors under `prefix`, with the prefix removed.
Dict sub(const std::string& prefix) {
  Dict out;
  for (auto it = refs().lower_bound(prefix); it != refs().end() && it->first.starts_with(prefix); ++it) {
    out[it->first.substr(prefix.size())] = it->second;
  }
  REQUIRE_MESSAGE(!out.empty(), "vision.safetensors has no tensor starting with '", prefix, "'");
  return out;
}

/// Every parameter has a gradient exactly where the reference has one, and those are close;
/// every reference gradient belongs to a parameter.
void check_grads_where(torch::nn::Module& m, const Dict& expected, const std::string& what) {
  size_t matched = 0;
  for (const auto& p : m.named_parameters()) {
    auto it = expected.find(p.key());
    const bool has = p.value().grad().defined(), want = it != expected.end();
    CHECK_MESSAGE(has == want, what, ": ", p.key(), " has ", has ? "a" : "no", " gradient, the reference ",
                  want ? "has one" : "has none");
    if (has && want) {
      check_close(p.value().grad(), it->second, what + " grad " + p.key());
      ++matched;
    }
  }
  CHECK_MESSAGE(matched == expected.size(), what, ": ", expected.size() - matched,
                " reference gradients not matched by a parameter");
}

void check_buffers(torch::nn::Module& m, const Dict& expected, const std::string& what) {
  size_t n = 0;
  for (const auto& b : m.named_buffers()) {
    auto it = expected.find(b.key());
    REQUIRE_MESSAGE(it != expected.end(), what, ": no reference for buffer ", b.key());
    check_close(b.value(), it->second, what + " buffer " + b.key());
    ++n;
  }
  CHECK(n == expected.size());
}

/// Runs the scope on one intra-op thread, as the Python side does (`torch.set_num_threads(1)`).
/// Needed for ResNet-50: its train-mode float32 gradients are chaotic in the rounding (one ReLU
/// or max-pool decision flipped by a 1e-7 difference changes a whole BatchNorm channel's
/// gradient; float32 against float64 in PyTorch itself differs by 3-30 %), so they agree only
/// where the arithmetic is the same, and the CPU convolutions split their sums by thread count.
struct SingleThread {
  int previous = at::get_num_threads();
  SingleThread() { at::set_num_threads(1); }
  ~SingleThread() { at::set_num_threads(previous); }
  SingleThread(const SingleThread&) = delete;
  SingleThread& operator=(const SingleThread&) = delete;
};

void resnet_case(const std::string& c, const ssl::resnet::Options& o) {
  INFO("case ", c);
  SingleThread one;
  ssl::resnet::Encoder enc(o);
  ssl::io::load_into(*enc, sub(c + ".w."), /*strict=*/true, c);
  const auto& x = reference(c + ".x");
  for (const std::string mode : {"train", "eval"}) {
    const auto w = c + "." + mode;
    enc->train(mode == "train");
    enc->zero_grad();
    auto xi = x.clone().requires_grad_(true);
    auto f = enc->forward(xi);
    CHECK(f.pooled.size(1) == enc->dim());
    check_close(f.pooled, reference(w + ".pooled"), w + " pooled");
    check_close(f.tokens, reference(w + ".tokens"), w + " tokens");
    auto scalar = (f.pooled * reference(c + ".R_pooled")).sum() + (f.tokens * reference(c + ".R_tokens")).sum();
    check_close(scalar.reshape({1}), reference(w + ".scalar"), w + " scalar");
    scalar.backward();
    check_close(xi.grad(), reference(w + ".grad.x"), w + " grad x");
    auto grads = sub(w + ".grad.");
    grads.erase("x");
    parity::check_grads(*enc, grads);
    check_buffers(*enc, sub(w + ".buf."), w);
  }
}

void head_case(const std::string& c, const ssl::heads::MlpOptions& o) {
  INFO("case ", c);
  ssl::heads::Mlp head(o);
  ssl::io::load_into(*head, sub(c + ".w."), /*strict=*/true, c);
  head->train();
  auto out = head->forward(ssl::Features{.pooled = reference(c + ".x")}, ssl::Masked{});
  check_close(out, reference(c + ".out"), c + " out");
  (out * reference(c + ".R")).sum().backward();
  check_grads_where(*head, sub(c + ".grad."), c);
  const bool has_bn = ssl::heads::detail::has_batch_norm(o);
  if (has_bn) check_buffers(*head, sub(c + ".buf."), c);
}

ssl::heads::DINOHeadOptions dino_options() {
  return ssl::heads::DINOHeadOptions(32).hidden_dim(64).bottleneck_dim(16).output_dim(48);
}
}  // namespace

TEST_SUITE("vision_parity") {
TEST_CASE("resnet::Encoder (ResNet-18, width 64) == torchvision.models.resnet18: train and eval") {
  resnet_case("resnet18_small_c1", ssl::resnet::resnet18().channels(1).small_stem(true));
}

TEST_CASE("resnet::Encoder (ResNet-18, width 16) == torchvision's ResNet with scaled planes") {
  resnet_case("resnet18_small_c3_w16", ssl::resnet::resnet18().channels(3).width(16).small_stem(true));
  resnet_case("resnet18_std_c1_w16", ssl::resnet::resnet18().channels(1).width(16).small_stem(false));
}

TEST_CASE("resnet::Encoder (ResNet-34 width 8, ResNet-50 width 16) == torchvision's ResNet") {
  resnet_case("resnet34_small_c3_w8", ssl::resnet::resnet34().channels(3).width(8));
  resnet_case("resnet50_small_c3_w16", ssl::resnet::resnet50().channels(3).width(16).small_stem(true));
  resnet_case("resnet50_std_c1_w16", ssl::resnet::resnet50().channels(1).width(16).small_stem(false));
}

TEST_CASE("heads::Mlp presets == lightly's heads (and moco-v3's _build_mlp): output, gradients, running stats") {
  namespace h = ssl::heads;
  const std::vector<std::pair<std::string, h::MlpOptions>> cases{
      {"simclr", h::simclr(32, 64, 16)},
      {"simclr_v2_nobn", h::simclr(32, 64, 16, 3, false)},
      {"byol_projection", h::byol_projection(32, 64, 16)},
      {"byol_prediction", h::byol_prediction(16, 64, 16)},
      {"barlow_twins", h::barlow_twins(32, 64, 48)},
      {"vicreg", h::vicreg(32, 64, 48)},
      {"vicreg_4", h::vicreg(32, 64, 48, 4)},
      {"simsiam_projection", h::simsiam_projection(32, 64, 48)},
      {"simsiam_prediction", h::simsiam_prediction(48, 16, 48)},
      {"moco_projection", h::moco_projection(32, 64, 16)},
      {"moco_projection_bn3", h::moco_projection(32, 64, 16, 3, true)},
      {"mocov3_projection", h::mocov3_projection(32, 64, 16)},
      {"mocov3_projection_2", h::mocov3_projection(32, 64, 16, 2)},
      {"mocov3_prediction", h::mocov3_prediction(16, 64, 16)},
      {"mocov3_prediction_nolastbn", h::mocov3_prediction(16, 64, 16, false)},
  };
  for (const auto& [c, o] : cases) head_case(c, o);
}

TEST_CASE("heads::ProjectPredict == lightly BYOLProjectionHead -> BYOLPredictionHead") {
  namespace h = ssl::heads;
  h::ProjectPredict head(h::byol_projection(32, 64, 16), h::byol_prediction(16, 64, 16));
  ssl::io::load_into(*head, sub("byol_pair.w."), true, "byol_pair");
  auto out = head->forward(ssl::Features{.pooled = reference("byol_pair.x")}, ssl::Masked{});
  REQUIRE(out.projection.defined());
  check_close(out.projection, reference("byol_pair.z"), "z");
  check_close(out.out, reference("byol_pair.p"), "p");
  ((out.out * reference("byol_pair.Rp")).sum() + (out.projection * reference("byol_pair.Rz")).sum()).backward();
  check_grads_where(*head, sub("byol_pair.grad."), "byol_pair");
  // A target network copies the projector alone.
  auto copy = std::dynamic_pointer_cast<h::MlpImpl>(head->projector->clone());
  REQUIRE(copy);
  copy->eval();
  head->projector->eval();
  torch::NoGradGuard g;
  CHECK(torch::equal(copy->forward(reference("byol_pair.x")), head->projector->forward(reference("byol_pair.x"))));
  CHECK(copy->layers->parameters()[0].data_ptr() != head->projector->layers->parameters()[0].data_ptr());
}

TEST_CASE("heads::DINOHead == lightly DINOProjectionHead: output and gradients") {
  for (const bool bn : {false, true}) {
    const std::string c = bn ? "dino_bn_g" : "dino";
    INFO("case ", c);
    ssl::heads::DINOHead head(dino_options().batch_norm(bn).norm_last_layer(!bn));
    CHECK(head->last_layer->weight_g.requires_grad() == bn);
    ssl::io::load_into(*head, sub(c + ".w."), true, c);
    head->train();
    auto out = head->forward(ssl::Features{.pooled = reference(c + ".x")}, ssl::Masked{});
    check_close(out, reference(c + ".out"), c + " out");
    (out * reference(c + ".R")).sum().backward();
    check_grads_where(*head, sub(c + ".grad."), c);  // weight_g: a gradient only when trained
  }
}

TEST_CASE("heads::DINOHead: the last layer gets no gradient while epoch < freeze_last_layer (lightly)") {
  ssl::heads::DINOHead head(dino_options().freeze_last_layer(2));
  ssl::io::load_into(*head, sub("dino_frozen.w."), true, "dino_frozen");
  const auto& x = reference("dino_frozen.x");
  for (int64_t epoch : {0, 1, 2, 3}) {
    INFO("epoch ", epoch);
    head->set_step(ssl::StepInfo{.step = 10 * epoch, .total_steps = 40, .epoch = epoch, .steps_per_epoch = 10});
    CHECK(head->last_layer_frozen() == (epoch < 2));
    head->zero_grad();
    auto out = head->forward(x);
    check_close(out, reference("dino_frozen.out"), "out");  // freezing does not change the output
    (out * reference("dino_frozen.R")).sum().backward();
    check_grads_where(*head, sub(epoch < 2 ? "dino_frozen.grad." : "dino_frozen.e2.grad."), "dino_frozen");
    CHECK(head->last_layer->weight_v.grad().defined() == (epoch >= 2));
  }
}

TEST_CASE("resnet::Encoder: dims, shapes, zero_init_residual, clone, clear errors") {
  using ssl::resnet::Encoder;
  namespace r = ssl::resnet;
  CHECK(Encoder(r::resnet18().channels(1))->dim() == 512);
  CHECK(Encoder(r::resnet34().channels(1).width(8))->dim() == 64);
  CHECK(Encoder(r::resnet50().channels(1).width(16))->dim() == 512);
  CHECK(r::resnet50().dim() == 2048);

  Encoder small(r::resnet18().width(8).channels(1));
  torch::NoGradGuard g;
  small->eval();
  auto f = small->forward(torch::randn({2, 1, 28, 28}));
  CHECK(f.tokens.sizes() == torch::IntArrayRef{2, 16, 64});  // 28 -> 28, 14, 7, 4
  CHECK(f.pooled.sizes() == torch::IntArrayRef{2, 64});
  Encoder std_stem(r::resnet18().width(8).channels(3).small_stem(false));
  std_stem->eval();
  CHECK(std_stem->forward(torch::randn({2, 3, 64, 64})).tokens.sizes() == torch::IntArrayRef{2, 4, 64});

  Encoder zi(r::resnet50().channels(1).width(4).zero_init_residual(true));
  size_t zeroed = 0;
  for (const auto& p : zi->named_parameters()) {
    if (p.key().ends_with("bn3.weight")) {
      CHECK(p.value().abs().max().item<float>() == 0.0f);
      ++zeroed;
    }
  }
  CHECK(zeroed == 16);
  Encoder zb(r::resnet18().channels(1).width(4).zero_init_residual(true));
  CHECK(zb->layer1->children().size() == 2);
  CHECK(zb->named_parameters()["layer4.1.bn2.weight"].abs().max().item<float>() == 0.0f);
  CHECK(zb->named_parameters()["layer4.1.bn1.weight"].min().item<float>() == 1.0f);

  auto copy = std::dynamic_pointer_cast<r::EncoderImpl>(small->clone());
  REQUIRE(copy);
  copy->eval();
  const auto x = torch::randn({2, 1, 28, 28});
  CHECK(torch::equal(copy->forward(x).pooled, small->forward(x).pooled));
  CHECK(copy->conv1->weight.data_ptr() != small->conv1->weight.data_ptr());

  CHECK_THROWS_WITH_AS(small->forward(torch::zeros({2, 3, 28, 28})),
                       doctest::Contains("expected 1 input channels, got an input of shape [2, 3, 28, 28]"), c10::Error);
  CHECK_THROWS_WITH_AS(small->forward(torch::zeros({1, 28, 28})),
                       doctest::Contains("expected 4-D tensor [B,C,H,W], got shape [1, 28, 28]"), c10::Error);
  CHECK_THROWS_WITH_AS(small->forward(ssl::Masked{.input = x, .ids_keep = torch::zeros({2, 4}, torch::kInt64)}),
                       doctest::Contains("ids_keep must be undefined"), c10::Error);
  CHECK_THROWS_WITH_AS(Encoder(r::Options{}.channels(1).depth(20)),
                       doctest::Contains("depth must be 18, 34, 50, 101 or 152, got 20"), c10::Error);
  // The input channels describe the data: no default.
  CHECK_THROWS_WITH_AS(Encoder(r::resnet18().width(8)),
                       doctest::Contains("resnet::Encoder: resnet::Options: channels (of the input images: 1 grayscale, "
                                         "3 RGB) is required, e.g. resnet::resnet18().channels(3), got 0"),
                       c10::Error);
}

TEST_CASE("heads: layer layout, bias rule, dims, clear errors") {
  namespace h = ssl::heads;
  // lightly's names and bias rule: no bias before a BatchNorm, none on a BN without affine.
  h::Mlp s(h::simsiam_projection(8, 16, 4));
  auto params = s->named_parameters();
  CHECK(params.contains("layers.0.weight"));
  CHECK_FALSE(params.contains("layers.0.bias"));
  CHECK(params.contains("layers.1.weight"));
  CHECK_FALSE(params.contains("layers.7.weight"));
  CHECK(s->named_buffers().contains("layers.7.running_var"));
  CHECK(s->in_dim() == 8);
  CHECK(s->out_dim() == 4);
  h::Mlp v3(h::mocov3_prediction(4, 8, 4, false));
  CHECK_FALSE(v3->named_parameters().contains("layers.3.bias"));  // moco-v3: no bias anywhere

  CHECK_THROWS_WITH_AS(h::Mlp(h::MlpOptions({{8, 16}, {12, 4}})), doctest::Contains("layer 1 expects 12 inputs but layer 0 gives 16"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(h::Mlp(h::MlpOptions{}), doctest::Contains("at least one layer"), c10::Error);
  CHECK_THROWS_WITH_AS(s->forward(torch::zeros({2, 9})), doctest::Contains("expected [B,8]"), c10::Error);
  CHECK_THROWS_WITH_AS(h::ProjectPredict(h::byol_projection(8, 16, 4), h::byol_prediction(8, 16, 8)),
                       doctest::Contains("the predictor expects 8 inputs but the projector gives 4"), c10::Error);
  // Without BatchNorm any leading dimensions work (per token).
  h::Mlp plain(h::moco_projection(8, 16, 4));
  CHECK(plain->forward(torch::zeros({2, 3, 8})).sizes() == torch::IntArrayRef{2, 3, 4});

  // DINO head: trunc-normal(0.02) MLP, zero biases, unit fixed g.
  h::DINOHead d(h::DINOHeadOptions(64).hidden_dim(256).bottleneck_dim(32).output_dim(128));
  auto w0 = d->named_parameters()["layers.0.weight"];
  CHECK(w0.std().item<double>() == doctest::Approx(0.02).epsilon(0.05));
  CHECK(d->named_parameters()["layers.0.bias"].abs().max().item<float>() == 0.0f);
  CHECK(torch::equal(d->last_layer->weight_g, torch::ones({128, 1})));
  CHECK_FALSE(d->last_layer->weight_g.requires_grad());
  CHECK_FALSE(d->last_layer_frozen());  // freeze_last_layer = -1: never
  auto y = d->forward(torch::randn({3, 64}));
  CHECK(y.sizes() == torch::IntArrayRef{3, 128});
  // Rows of the effective last-layer weight have norm g = 1.
  CHECK(torch::allclose(d->last_layer->weight().norm(2, 1), torch::ones({128}), 1e-5, 1e-6));
  CHECK_THROWS_WITH_AS(d->forward(torch::zeros({3, 63})), doctest::Contains("expected [...,64]"), c10::Error);
}
}

}  // namespace test_vision_models
