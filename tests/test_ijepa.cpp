// I-JEPA (include/ssl/ijepa.hpp). Suites: `ijepa` (the masker's invariants, its refusals, the
// recipe's plumbing: one training step, the teacher following by EMA), `ijepa_parity` (the
// multi-block masks draw for draw, the predictor, the teacher's target and the loss with their
// gradients, against the official code written out in tests/python/make_ijepa_references.py),
// `learning_ijepa` (a reduced run learns the objective without collapse).
#include <doctest/doctest.h>
#include "datasets.hpp"
#include "parity.hpp"
#include "teacher_step.hpp"
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/ijepa.hpp>
#include <ssl/monitor/stats.hpp>
#include <ssl/monitor/watch.hpp>

#include <map>
#include <set>
#include <string>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_ijepa {

namespace {
using torch::Tensor;

ssl::vit::Options tiny_vit28() { return ssl::vit::Options{}.image(28).patch(4).channels(1).dim(32).depth(2).heads(2); }

/// The patches of `[rows, cols]` row-major indices `idx` as a set.
std::set<int64_t> as_set(const Tensor& idx) {
  std::set<int64_t> s;
  auto c = idx.to(torch::kCPU).contiguous();
  for (int64_t i = 0; i < c.numel(); ++i) s.insert(c.data_ptr<int64_t>()[i]);
  return s;
}

Tensor expected(const std::string& k) { return parity::expected_in("ijepa.safetensors", k); }
}  // namespace

TEST_SUITE("ijepa") {
TEST_CASE("MultiBlock: each target block is a rectangle, the context avoids them, and the union is the mask") {
  ssl::masker::MultiBlock mb{.patch = 4, .min_keep = 4};
  torch::manual_seed(3);
  const auto x = torch::randn({6, 1, 28, 28});
  for (int64_t step = 0; step < 20; ++step) {
    mb.set_step({.step = step});
    const auto m = mb(x);
    REQUIRE(m.blocks.dim() == 3);
    CHECK(m.blocks.size(0) == 6);
    CHECK(m.blocks.size(1) == 4);
    CHECK(m.ids_keep.size(0) == 6);
    CHECK(m.ids_keep.size(1) > 4);
    CHECK(m.blocks.size(2) > 4);
    CHECK(!m.ids_restore.defined());
    for (int64_t b = 0; b < 6; ++b) {
      std::set<int64_t> hidden;
      for (int64_t g = 0; g < 4; ++g) {
        auto blk = as_set(m.blocks[b][g]);
        CHECK(blk.size() == size_t(m.blocks.size(2)));  // no patch twice
        hidden.insert(blk.begin(), blk.end());
        // the M first patches (row-major) of an h x w rectangle: consecutive rows, consecutive columns
        const auto rows = as_set(m.blocks[b][g].div(7, "floor")), cols = as_set(m.blocks[b][g].remainder(7));
        CHECK(*rows.rbegin() - *rows.begin() + 1 == int64_t(rows.size()));
        CHECK(*cols.rbegin() - *cols.begin() + 1 == int64_t(cols.size()));
      }
      for (auto k : as_set(m.ids_keep[b])) CHECK_MESSAGE(!hidden.count(k), "context patch ", k, " is in a target block");
      CHECK(as_set(m.mask[b].nonzero().flatten()) == hidden);
    }
  }
}

TEST_CASE("MultiBlock: the same step and seed give the same masks; the step draws the block sizes") {
  ssl::masker::MultiBlock mb{.patch = 4, .min_keep = 4};
  const auto x = torch::zeros({4, 1, 28, 28});
  mb.set_step({.step = 5});
  torch::manual_seed(1);
  const auto a = mb(x);
  torch::manual_seed(1);
  const auto b = mb(x);
  CHECK(torch::equal(a.ids_keep, b.ids_keep));
  CHECK(torch::equal(a.blocks, b.blocks));
  // the sizes: a function of the step alone (the same sizes under another default seed)
  torch::manual_seed(2);
  const auto c = mb(x);
  const auto hw5 = ssl::masker::MultiBlock::block_size(
      torch::rand({1}, at::make_generator<at::CPUGeneratorImpl>(5)).item<float>(), 7, 7, mb.target_scale, mb.aspect);
  CHECK(c.blocks.size(2) <= hw5[0] * hw5[1]);
  CHECK(a.blocks.size(2) <= hw5[0] * hw5[1]);
}

TEST_CASE("MultiBlock refuses what it cannot place, before drawing, and names it") {
  const auto x = torch::zeros({2, 1, 28, 28});
  auto msg = [&](ssl::masker::MultiBlock mb) {
    try {
      mb(x);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg({}).find("patch is required") != std::string::npos);
  CHECK(msg({.patch = 5}).find("not divisible by the patch size 5") != std::string::npos);
  // the reference's sampler would loop for ever here: a 7 x 7 grid's target blocks hold 9 patches
  CHECK(msg({.patch = 4, .min_keep = 10}).find("not more than min_keep = 10") != std::string::npos);
  CHECK(msg({.patch = 4, .targets = 0}).find("targets") != std::string::npos);
  CHECK(msg({.patch = 4, .target_scale = {0.3, 0.2}}).find("target_scale") != std::string::npos);
  CHECK(msg({.patch = 4, .aspect = {0.0, 1.0}}).find("aspect") != std::string::npos);
  ssl::ijepa::Options o;
  o.encoder = tiny_vit28();
  o.masker.min_keep = 10;
  CHECK_THROWS_WITH_AS(ssl::ijepa::recipe(o), doctest::Contains("min_keep = 10"), c10::Error);
  o.masker = {.patch = 8};
  CHECK_THROWS_WITH_AS(ssl::ijepa::recipe(o), doctest::Contains("Options::masker.patch is 8"), c10::Error);
}

TEST_CASE("I-JEPA recipe: predictions and targets agree in shape, one step trains the student, the teacher follows by EMA") {
  torch::manual_seed(0);
  ssl::ijepa::Options o;
  o.encoder = tiny_vit28();
  o.predictor_dim = 16;
  o.predictor_heads = 2;
  auto r = ssl::ijepa::recipe(o);
  const auto x = torch::randn({4, 1, 28, 28});
  r->before_step({.step = 0, .total_steps = 10});
  auto views = r->augment()(x);
  auto pred = r->predict(views);
  REQUIRE(pred.views.size() == 1);
  const auto& m = pred.masked.front();
  const auto G = m.blocks.size(1), M = m.blocks.size(2);
  CHECK(pred.views[0].sizes() == std::vector<int64_t>({G * 4, M, 32}));
  const auto t = r->target()(views, pred);
  CHECK(t.global[0].sizes() == pred.views[0].sizes());
  // the target: the teacher's layer-normed tokens (mean 0, variance 1 over the features)
  CHECK(t.global[0].mean(-1).abs().max().item<double>() < 1e-5);
  CHECK(!t.global[0].requires_grad());
  // one step: the predictor and the student encoder learn, the teacher follows by EMA
  ssl_test::check_teacher_step(r, x, o.ema, r->head()->embed->weight);

  // the standard monitors watch the predicted tokens ([4B, M, D] -> one embedding per token)
  auto watched = ssl::monitor::watched(r, 1);
  const auto w = watched->forward(ssl::Batch{.input = x});
  std::map<std::string, double> parts;
  for (const auto& [name, v] : w.parts) parts[name] = v.item<double>();
  REQUIRE(parts.count("mon_emb_std"));
  REQUIRE(parts.count("mon_eff_rank"));
  CHECK(parts["mon_emb_std"] > 0.2 / std::sqrt(32.0));  // healthy at initialisation: no collapse flagged
  CHECK(parts["alert_collapse"] == 0.0);
  CHECK(parts["mon_eff_rank"] > 2.0);
}
}

TEST_SUITE("ijepa_parity") {
TEST_CASE("MultiBlock == the official MaskCollator, draw for draw (4 configurations, 70 batches)") {
  struct Cfg {
    const char* name;
    int64_t grid, batch, steps;
    ssl::masker::MultiBlock mb;
  };
  const Cfg cfgs[] = {
      {"small", 7, 8, 25, {.patch = 4, .min_keep = 4}},
      {"official", 16, 4, 10, {.patch = 4, .min_keep = 10}},
      {"overlap", 7, 4, 10, {.patch = 4, .min_keep = 4, .allow_overlap = true}},
      {"relax", 6, 8, 25, {.patch = 4, .target_scale = {0.3, 0.4}, .min_keep = 4}},
  };
  for (auto c : cfgs) {
    CAPTURE(c.name);
    const auto x = torch::zeros({c.batch, 1, 4 * c.grid, 4 * c.grid});
    for (int64_t s = 0; s < c.steps; ++s) {
      CAPTURE(s);
      torch::manual_seed(uint64_t(1000 + s));
      c.mb.set_step({.step = s});
      const auto m = c.mb(x);
      const std::string k = std::string("mb_") + c.name + ".s" + std::to_string(s);
      const auto enc = expected(k + ".enc").to(torch::kLong), pred = expected(k + ".pred").to(torch::kLong);
      REQUIRE(m.ids_keep.sizes() == enc.sizes());
      REQUIRE(m.blocks.sizes() == pred.sizes());
      CHECK(torch::equal(m.ids_keep, enc));
      CHECK(torch::equal(m.blocks, pred));
    }
  }
}

TEST_CASE("JepaPredictor, BlockTokens and SmoothL1 == the official predictor, target and loss, with gradients") {
  auto o = tiny_vit28();  // 7 x 7 patches, width 32
  ssl::heads::JepaPredictor p(ssl::heads::JepaPredictorOptions(o).dim(24).depth(2).heads(4));
  {
    torch::NoGradGuard g;
    for (auto& kv : p->named_parameters()) kv.value().copy_(expected("pred.w." + kv.key()));
  }
  parity::check_close(p->pos_embed, expected("pred.pos_embed"), "pos_embed");
  const auto x = expected("pred.x").clone().requires_grad_(true);
  const auto B = x.size(0);
  const ssl::Masked m{.ids_keep = expected("pred.enc").to(torch::kLong),
                      .blocks = expected("pred.pred_idx").to(torch::kLong)};
  // libssl's ViT puts a CLS token first: the heads skip it
  const auto cls = torch::full({B, 1, 32}, 7.0);
  const auto z = p->forward(ssl::Features{.tokens = torch::cat({cls, x}, 1)}, m);
  parity::check_close(z, expected("pred.z"), "predictions");
  ssl::heads::BlockTokens bt;
  const auto target = bt->forward(ssl::Features{.tokens = torch::cat({cls, expected("pred.h")}, 1)}, m);
  parity::check_close(target, expected("pred.target"), "targets");
  ssl::Prediction pr;
  pr.views = {z};
  const auto out = ssl::loss::SmoothL1{}(pr, ssl::TeacherOutputs{{target}});
  parity::check_close(out.loss.reshape({1}), expected("pred.loss"), "loss");
  out.loss.backward();
  parity::check_close(x.grad(), expected("pred.grad.x"), "grad x");
  parity::Dict grads;
  for (auto& kv : p->named_parameters()) grads[kv.key()] = expected("pred.grad." + kv.key());
  parity::check_grads(*p, grads, 20);
}
}

// A reduced run of example 06's I-JEPA (the MAE example's ViT, 128-d x 4, patch 4, on
// Fashion-MNIST; the recipe's defaults, EMA 0.996 -> 1) over 300 steps of 128 images. It must
// show the objective learnt from the image's context and without collapse, on held-out images:
// - the predictor beats the best context-blind guess, each target as the mean teacher token at
//   its position (at initialisation it is 6.6x worse; measured 0.60x after the run);
// - the teacher's layer-normed tokens do not concentrate: their spread (lightly's std of the
//   l2-normalised tokens) stays near its value at initialisation (measured 1.04x; 150 steps at
//   EMA 0.99 gave 0.36x, the collapse of docs/08).
// The same run at EMA 0.99 passes too (0.49x, 0.90x): at this budget the test does not tell the
// two momenta apart. Frozen-feature quality is not claimed: at the example's budget I-JEPA's
// features score below the same ViT's at initialisation (docs/08).
TEST_SUITE("learning_ijepa") {
namespace {
struct JepaHealth {
  double loss, mean_baseline, position_baseline, spread;
};
/// On images `x`: the predictor's smooth-L1; that of two context-blind guesses (every target as
/// the mean target, and each target as the mean teacher token at its position); and the spread
/// of the teacher's layer-normed patch tokens over the whole images.
JepaHealth jepa_health(ssl::ijepa::Recipe& r, const Tensor& x) {
  torch::NoGradGuard g;
  r->eval();
  r->before_step({.step = 0, .total_steps = 1});  // the same block sizes before and after training
  torch::manual_seed(7);                          // the same block corners
  auto views = r->augment()(x);
  auto pred = r->predict(views);
  const auto t = r->target()(views, pred).global[0];
  const auto mean = t.reshape({-1, t.size(-1)}).mean(0).expand_as(t);
  auto tok = r->target()->backbone->forward(ssl::Masked{.input = x}).tokens;
  tok = torch::layer_norm(tok.narrow(1, 1, tok.size(1) - 1), {tok.size(-1)});
  // each target as the mean over the images of the teacher's token at its position
  const auto at_position = tok.mean(0, true).expand_as(tok).contiguous();
  const auto by_position = ssl::heads::detail::gather_blocks(at_position, pred.masked[0].blocks, "jepa_health");
  r->train();
  return {torch::smooth_l1_loss(pred.views[0], t).item<double>(), torch::smooth_l1_loss(mean, t).item<double>(),
          torch::smooth_l1_loss(by_position, t).item<double>(),
          ssl::monitor::std_of_l2_normalized(tok.reshape({-1, tok.size(-1)})).item<double>()};
}
}  // namespace

TEST_CASE("I-JEPA learns its objective from the context without collapse, on held-out images (reduced run)") {
  torch::manual_seed(0);
  const auto train = ssl::data::fashion_mnist("train", test_data::fashion_mnist_dir());
  const auto test = ssl::data::fashion_mnist("test", test_data::fashion_mnist_dir());
  const auto norm = ssl::data::normalize(0.2860, 0.3530);
  ssl::ijepa::Options o;
  o.encoder = o.encoder.image(28).channels(1);
  auto r = ssl::ijepa::recipe(o);
  const auto held = norm(test.images.narrow(0, 0, 512));
  const auto before = jepa_health(r, held);
  ssl::data::Loader loader(train.images.narrow(0, 0, 300 * 128), {}, norm, {.batch_size = 128});
  ssl::Trainer trainer(r, ssl::optim::AdamWOptions{.lr = 1.5e-3, .weight_decay = 0.05}, ssl::schedule::cosine_warmup(0.1));
  trainer.fit(loader, {.epochs = 1, .clip_grad_norm = 3.0, .label = "I-JEPA (reduced)"});
  const auto after = jepa_health(r, held);
  MESSAGE("before: loss ", before.loss, ", mean target ", before.mean_baseline, ", by position ", before.position_baseline,
          ", teacher spread ", before.spread);
  MESSAGE("after:  loss ", after.loss, ", mean target ", after.mean_baseline, ", by position ", after.position_baseline,
          ", teacher spread ", after.spread);
  CHECK(before.loss > 2 * before.position_baseline);  // where the predictor starts
  CHECK(after.loss < 0.75 * after.position_baseline);
  CHECK(after.spread > 0.8 * before.spread);
}
}

}  // namespace test_ijepa
