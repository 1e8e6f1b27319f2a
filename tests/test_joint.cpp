// Joint-embedding plumbing: the momentum teacher (a copy, no gradient, outside the optimizer,
// moved only by the EMA), the step hook, the other-view targets, the ViT at other image sizes
// and its attention weights. The recipes' learning outcome is in test_learning.cpp.
#include <doctest/doctest.h>
#include <ssl/barlow_twins.hpp>
#include <ssl/byol.hpp>
#include <ssl/dino.hpp>
#include <ssl/mocov3.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/simclr.hpp>
#include <ssl/simsiam.hpp>
#include <ssl/ssl.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/target/views.hpp>
#include <ssl/vicreg.hpp>

#include <filesystem>
#include <tuple>
#include <vector>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_joint {

namespace {
using torch::Tensor;

/// The smallest head: a linear map of the pooled features.
struct LinHeadImpl : torch::nn::Cloneable<LinHeadImpl> {
  LinHeadImpl(int64_t in, int64_t out) : in(in), out(out) { reset(); }
  void reset() override { fc = register_module("fc", torch::nn::Linear(in, out)); }
  Tensor forward(const ssl::Features& f, const ssl::Masked&) { return fc(f.pooled); }
  int64_t in, out;
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(LinHead);

/// Two "views": the batch and its mirror image.
struct Mirror {
  ssl::Views operator()(const Tensor& x) const { return {.global = {x, x.flip({3})}, .local = {}}; }
};

ssl::vit::Options tiny_vit() { return ssl::vit::Options{}.image(8).patch(4).channels(1).dim(16).depth(2).heads(2); }

using TeacherRecipe = ssl::Compose<ssl::vit::Encoder, ssl::masker::None, Mirror, ssl::target::CrossTeacher<ssl::vit::Encoder, LinHead>,
                                   ssl::loss::NegCosine, ssl::teacher::Ema, LinHead>;

TeacherRecipe make_teacher_recipe(double momentum) {
  ssl::vit::Encoder enc(tiny_vit());
  LinHead head(16, 8);
  return TeacherRecipe({.backbone = enc,
                        .target = ssl::target::CrossTeacher<ssl::vit::Encoder, LinHead>(enc, head),
                        .teacher_update = {.base = momentum, .final = momentum},
                        .head = head});
}

std::vector<Tensor> snapshot(const std::vector<Tensor>& v) {
  std::vector<Tensor> out;
  for (const auto& t : v) out.push_back(t.detach().clone());
  return out;
}
}  // namespace

static_assert(ssl::Target<ssl::target::OtherView> && ssl::Target<ssl::target::StopGradient> &&
              ssl::Target<ssl::target::Teacher<ssl::vit::Encoder, LinHead>> &&
              ssl::OwnsTeacher<ssl::target::CrossTeacher<ssl::vit::Encoder, LinHead>>);
static_assert(std::same_as<ssl::target_output_t<ssl::target::CrossTeacher<ssl::vit::Encoder, LinHead>>, ssl::PairedEmbeddings> &&
              std::same_as<ssl::target_output_t<ssl::target::Teacher<ssl::vit::Encoder, LinHead>>, ssl::TeacherOutputs> &&
              ssl::LossAccepts<ssl::loss::NegCosine, ssl::target::CrossTeacher<ssl::vit::Encoder, LinHead>> &&
              !ssl::LossAccepts<ssl::loss::DINOLoss, ssl::target::CrossTeacher<ssl::vit::Encoder, LinHead>>);

TEST_SUITE("joint") {
TEST_CASE("momentum teacher: a copy of the student, no gradient, outside the optimizer, moved only by the EMA") {
  torch::manual_seed(0);
  auto r = make_teacher_recipe(0.9);
  auto& t = r->target();
  const auto s0 = snapshot(t->student_parameters()), t0 = snapshot(t->teacher_parameters());
  REQUIRE(s0.size() == t0.size());
  REQUIRE(s0.size() == r->student_parameters().size());  // backbone + whole head here
  for (size_t i = 0; i < s0.size(); ++i) CHECK(torch::equal(s0[i], t0[i]));
  for (const auto& p : t->teacher_parameters()) CHECK_FALSE(p.requires_grad());
  // The teacher is registered (checkpoints carry it) but its tensors are distinct from the student's.
  CHECK(t->teacher_parameters()[0].data_ptr() != t->student_parameters()[0].data_ptr());
  size_t named = 0;
  for (const auto& p : r->named_parameters()) named += p.key().rfind("target.", 0) == 0;
  CHECK(named == t0.size());

  ssl::Trainer trainer(r, ssl::optim::AdamWOptions{.lr = 1e-2});
  size_t n_opt = trainer.optimizer().parameters().size();
  CHECK(n_opt == s0.size());  // the teacher's tensors are not optimised

  auto x = torch::rand({4, 1, 8, 8});
  ssl::data::Loader loader(x, {}, nullptr, {.batch_size = 4, .shuffle = false});
  trainer.fit(loader, {.epochs = 1, .progress = 0});
  const auto s1 = snapshot(t->student_parameters()), t1 = snapshot(t->teacher_parameters());
  bool student_moved = false;
  for (size_t i = 0; i < s1.size(); ++i) {
    student_moved |= !torch::equal(s1[i], s0[i]);
    // teacher <- 0.9 teacher + 0.1 student (after the optimizer step)
    CHECK(torch::allclose(t1[i], 0.9 * t0[i] + 0.1 * s1[i], 1e-5, 1e-7));
  }
  CHECK(student_moved);
}

TEST_CASE("teacher targets: cross pairing swaps the global views, carries no gradient") {
  torch::manual_seed(1);
  auto r = make_teacher_recipe(0.99);
  auto x = torch::rand({3, 1, 8, 8});
  ssl::Views v = Mirror{}(x);
  auto tgt = r->target()(v, {}).views;
  REQUIRE(tgt.size() == 2);
  CHECK_FALSE(tgt[0].requires_grad());
  auto direct = r->target()->encode(v.global[1]);
  CHECK(torch::allclose(tgt[0], direct));
  auto loss = r->forward(ssl::Batch{x, {}}).loss;
  loss.backward();
  for (const auto& p : r->target()->teacher_parameters()) CHECK_FALSE(p.grad().defined());
  CHECK(r->backbone()->parameters()[0].grad().defined());
  // Cross pairing with local views is refused with a message.
  ssl::Views bad{.global = {x, x}, .local = {x}};
  CHECK_THROWS_WITH_AS(r->target()(bad, {}), doctest::Contains("cross pairing expects exactly two"), c10::Error);
}

TEST_CASE("other-view targets: OtherView keeps the gradient, StopGradient detaches the projections") {
  auto a = torch::randn({4, 3}, torch::requires_grad()), b = torch::randn({4, 3}, torch::requires_grad());
  ssl::Prediction p{.views = {a, b}, .masked = {}, .extra = {{.projection = a * 2}, {.projection = b * 2}}};
  auto o = ssl::target::OtherView{}({}, p).views;
  CHECK(o[0].is_same(b));
  CHECK(o[1].is_same(a));
  auto s = ssl::target::StopGradient{}({}, p).views;
  CHECK_FALSE(s[0].requires_grad());
  CHECK(torch::equal(s[0], b * 2));
  CHECK(torch::equal(s[1], a * 2));
  ssl::Prediction one{.views = {a}, .masked = {}, .extra = {{}}};
  CHECK_THROWS_WITH_AS(ssl::target::OtherView{}({}, one), doctest::Contains("exactly two student views"), c10::Error);
  ssl::Prediction no_projection{.views = {a, b}, .masked = {}, .extra = {{}, {}}};
  CHECK_THROWS_WITH_AS(ssl::target::StopGradient{}({}, no_projection), doctest::Contains("HeadOutput::projection"), c10::Error);
}

TEST_CASE("the trainer's step hook reaches the parts (DINO's epoch)") {
  ssl::loss::DINOLoss loss(ssl::loss::DINOLossOptions(4).warmup_teacher_temp(0.02).teacher_temp(0.06)
                               .warmup_teacher_temp_epochs(3));
  static_assert(ssl::StepAware<ssl::loss::DINOLoss> && ssl::StepAware<ssl::heads::DINOHead> &&
                !ssl::StepAware<ssl::loss::NTXent>);
  CHECK_FALSE(loss->epoch().has_value());
  loss->set_step(ssl::StepInfo{.step = 7, .total_steps = 100, .epoch = 2});
  REQUIRE(loss->epoch().has_value());
  CHECK(*loss->epoch() == 2);
  CHECK(loss->teacher_temp_at(loss->epoch()) == doctest::Approx(0.06));
}

TEST_CASE("ViT at other image sizes: the position embedding of the new grid") {
  torch::manual_seed(2);
  auto o = tiny_vit().image(16);  // grid 4
  ssl::vit::Encoder fixed(o);
  CHECK(torch::equal(fixed->patch_pos_embed(2), ssl::vit::sincos_2d(16, 2, false)));
  CHECK(fixed->forward(torch::rand({2, 1, 8, 8})).tokens.sizes() == torch::IntArrayRef({2, 5, 16}));
  ssl::vit::Encoder learned(o.learned_pos(true));
  CHECK(torch::equal(learned->patch_pos_embed(4), learned->pos_embed.narrow(1, 1, 16)));
  // A table that is affine in the row and column is kept affine by bicubic resizing with
  // align_corners = false only up to edge effects; check the centre of a 2x upsampling instead:
  // resizing to the same grid is the identity and to grid 2 averages neighbourhoods (finite, right shape).
  auto p2 = learned->patch_pos_embed(2);
  CHECK(p2.sizes() == torch::IntArrayRef({1, 4, 16}));
  CHECK(torch::isfinite(p2).all().item<bool>());
  CHECK_THROWS_WITH_AS(learned->forward(torch::rand({1, 1, 10, 10})), doctest::Contains("multiple of the patch size"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(learned->forward(torch::rand({1, 1, 8, 12})), doctest::Contains("square image"), c10::Error);
}

TEST_CASE("attention weights: weights(x) @ v through the output projection == the block's attention") {
  torch::manual_seed(3);
  ssl::nn::Attention attn(ssl::nn::BlockOptions(16, 4));
  auto x = torch::randn({2, 5, 16});
  auto w = attn->weights(x);  // [B,H,N,N]
  CHECK(w.sizes() == torch::IntArrayRef({2, 4, 5, 5}));
  CHECK(torch::allclose(w.sum(-1), torch::ones({2, 4, 5}), 1e-5, 1e-6));
  auto v = attn->qkv(x).view({2, 5, 3, 4, 4}).permute({2, 0, 3, 1, 4})[2];
  auto manual = attn->proj(w.matmul(v).transpose(1, 2).reshape({2, 5, 16}));
  CHECK(torch::allclose(manual, attn->forward(x), 1e-5, 1e-6));
  // The encoder's last_attention is the last block's, on the normed tokens.
  ssl::vit::Encoder enc(tiny_vit());
  auto a = enc->last_attention(torch::rand({2, 1, 8, 8}));
  CHECK(a.sizes() == torch::IntArrayRef({2, 2, 5, 5}));
}
}

// ---- The seven recipes: one composition each, trained by the one Trainer --------------------

namespace {
ssl::resnet::Encoder tiny_resnet() { return ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(4)); }
ssl::vit::Encoder tiny_vit28() {
  return ssl::vit::Encoder(ssl::vit::Options{}.image(28).patch(7).channels(1).dim(16).depth(1).heads(2).learned_pos(true));
}

/// Two steps on random images: finite losses, every student parameter with a gradient moved,
/// and the teacher (if any) outside the optimizer.
template <class R>
void steps_train(R r, const std::string& name) {
  CAPTURE(name);
  auto x = torch::rand({16, 1, 28, 28});
  ssl::data::Loader loader(x, {}, nullptr, {.batch_size = 8, .shuffle = false, .prefetch = 0});
  const auto before = snapshot(r->student_parameters());
  ssl::Trainer trainer(r, ssl::optim::AdamWOptions{.lr = 1e-3});
  size_t trainable = 0;  // DINO's weight-norm scale is fixed (requires no gradient)
  for (const auto& p : r->student_parameters()) trainable += p.requires_grad();
  CHECK(trainer.optimizer().parameters().size() == trainable);
  const double loss = trainer.fit(loader, {.epochs = 1, .progress = 0});
  CHECK(std::isfinite(loss));
  const auto after = r->student_parameters();
  size_t moved = 0;
  for (size_t i = 0; i < after.size(); ++i) moved += !torch::equal(after[i], before[i]);
  CHECK(moved > after.size() / 2);
  auto f = r->encode(torch::rand({2, 1, 28, 28}));
  CHECK(f.pooled.size(1) == r->backbone()->dim());
}
}  // namespace

TEST_SUITE("joint") {
TEST_CASE("every recipe trains with a ResNet and with a ViT") {
  torch::manual_seed(4);
  using namespace ssl;
  auto small2 = [](auto o) { o.augment = augment::TwoViews::simclr(28, 1); return o; };
  steps_train(simclr::recipe(tiny_resnet(), small2(simclr::Options{.hidden = 32, .out = 16})), "simclr resnet");
  steps_train(simclr::recipe(tiny_vit28(), small2(simclr::Options{.hidden = 32, .out = 16})), "simclr vit");
  steps_train(barlow_twins::recipe(tiny_resnet(), {.augment = augment::TwoViews::barlow_twins(28, 1), .hidden = 32, .out = 32}), "barlow resnet");
  steps_train(vicreg::recipe(tiny_vit28(), {.augment = augment::TwoViews::vicreg(28, 1), .hidden = 32, .out = 32}), "vicreg vit");
  steps_train(simsiam::recipe(tiny_resnet(), {.augment = augment::TwoViews::simsiam(28, 1), .proj_hidden = 32, .out = 32, .pred_hidden = 8}), "simsiam resnet");
  steps_train(byol::recipe(tiny_resnet(), {.augment = augment::TwoViews::byol(28, 1), .hidden = 32, .out = 16}), "byol resnet");
  steps_train(byol::recipe(tiny_vit28(), {.augment = augment::TwoViews::byol(28, 1), .hidden = 32, .out = 16}), "byol vit");
  steps_train(mocov3::recipe(tiny_resnet(), {.augment = augment::TwoViews::mocov3(28, 1), .hidden = 32, .out = 16}), "mocov3 resnet");
  dino::Options o;
  o.augment = augment::MultiCrop::dino({.global_size = 28, .local_size = 14, .n_local = 2, .channels = 1});
  o.head = heads::DINOHeadOptions().hidden_dim(32).bottleneck_dim(8).output_dim(64).freeze_last_layer(1);
  steps_train(dino::recipe(tiny_vit28(), o), "dino vit");
  steps_train(dino::recipe(tiny_resnet(), o), "dino resnet");
}

TEST_CASE("the joint-embedding recipes require their augmentations: no default views") {
  using namespace ssl;
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(simclr::recipe(tiny_resnet(), {.hidden = 32, .out = 16}),
                       Contains("simclr::recipe: Options::augment is required (the views of your images), "
                                "e.g. augment::TwoViews::simclr(image_size, channels)"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(byol::recipe(tiny_resnet(), {.hidden = 32, .out = 16}),
                       Contains("byol::recipe: Options::augment is required"), c10::Error);
  CHECK_THROWS_WITH_AS(barlow_twins::recipe(tiny_resnet(), {.hidden = 32, .out = 32}),
                       Contains("barlow_twins::recipe: Options::augment is required"), c10::Error);
  CHECK_THROWS_WITH_AS(vicreg::recipe(tiny_resnet(), {.hidden = 32, .out = 32}),
                       Contains("vicreg::recipe: Options::augment is required"), c10::Error);
  CHECK_THROWS_WITH_AS(mocov3::recipe(tiny_resnet(), {.hidden = 32, .out = 16}),
                       Contains("mocov3::recipe: Options::augment is required"), c10::Error);
  CHECK_THROWS_WITH_AS(simsiam::recipe(tiny_resnet(), {.proj_hidden = 32, .out = 32, .pred_hidden = 8}),
                       Contains("simsiam::recipe: Options::augment is required"), c10::Error);
  CHECK_THROWS_WITH_AS(dino::recipe(tiny_vit28(), dino::Options{}),
                       Contains("dino::recipe: Options::augment is required (the views of your images), "
                                "e.g. augment::MultiCrop::dino("),
                       c10::Error);
  CHECK(augment::TwoViews{}.empty());
  CHECK_FALSE(augment::TwoViews::simclr(28, 1).empty());
  CHECK(augment::MultiCrop{}.empty());
}

TEST_CASE("DINO: the first epoch leaves the last layer alone; checkpoint + resume continues exactly (teacher, centre)") {
  using namespace ssl;
  auto make = [] {
    torch::manual_seed(5);
    dino::Options o;
    o.augment = augment::MultiCrop::dino({.global_size = 28, .local_size = 14, .n_local = 2, .channels = 1});
    o.head = heads::DINOHeadOptions().hidden_dim(32).bottleneck_dim(8).output_dim(64).freeze_last_layer(1);
    return dino::recipe(tiny_vit28(), o);
  };
  auto x = torch::rand({16, 1, 28, 28});
  const auto dir = std::filesystem::temp_directory_path() / "ssl_joint_dino";
  std::filesystem::create_directories(dir);
  const auto ck = (dir / "dino.ckpt").string();
  ssl::data::Loader loader(x, {}, nullptr, {.batch_size = 8, .prefetch = 0});

  // Uninterrupted: 3 epochs of 2 steps.
  auto a = make();
  Trainer ta(a, optim::AdamWOptions{.lr = 1e-3});
  const auto last0 = snapshot(a->head()->last_layer->parameters());
  ta.fit(loader, {.epochs = 3, .max_steps = 2, .progress = 0});
  const auto last1 = snapshot(a->head()->last_layer->parameters());
  for (size_t i = 0; i < last0.size(); ++i) CHECK(torch::equal(last0[i], last1[i]));  // frozen in epoch 0
  ta.fit(loader, {.epochs = 3, .progress = 0});
  bool moved = false;
  for (size_t i = 0; i < last0.size(); ++i) moved |= !torch::equal(last0[i], a->head()->last_layer->parameters()[i]);
  CHECK(moved);

  // Interrupted after 3 steps, resumed in a fresh recipe.
  auto b = make();
  {
    Trainer tb(b, optim::AdamWOptions{.lr = 1e-3});
    tb.fit(loader, {.epochs = 3, .max_steps = 3, .checkpoint_path = ck, .progress = 0});
  }
  auto c = make();
  Trainer tc(c, optim::AdamWOptions{.lr = 1e-3});
  tc.load(ck);
  tc.fit(loader, {.epochs = 3, .progress = 0});
  auto pa = a->named_parameters(), pc = c->named_parameters();
  for (const auto& p : pa) CHECK_MESSAGE(torch::equal(p.value(), pc[p.key()]), p.key());
  CHECK(torch::equal(a->loss()->center, c->loss()->center));
  std::filesystem::remove_all(dir);
}

// DINO's multi-crop wrapper: MultiCrop's views of one size go through the backbone as one batch
// (core/view_batches.hpp). The reference is one forward per view (`batch_same_size` off) on the
// same views and weights: the same predictions, teacher targets, loss and gradients.
TEST_CASE("DINO: same-size crops share one backbone forward, the same predictions, targets and gradients as one per view") {
  using namespace ssl;
  torch::manual_seed(7);
  dino::Options o;
  o.augment = augment::MultiCrop::dino({.global_size = 28, .local_size = 14, .n_local = 3, .channels = 1});
  o.head = heads::DINOHeadOptions().hidden_dim(32).bottleneck_dim(8).output_dim(64);
  auto r = dino::recipe(tiny_vit28(), o);
  const auto views = r->augment()(torch::rand({6, 1, 28, 28}));
  REQUIRE(views.batch_same_size);
  REQUIRE(views.local.size() == 3);
  CHECK(views.local[0].sizes() == torch::IntArrayRef({6, 1, 14, 14}));
  CHECK_FALSE(torch::equal(views.local[0], views.local[1]));  // each copy draws its own crops
  auto per_view = views;
  per_view.batch_same_size = false;
  auto run = [&](const Views& v) {
    r->zero_grad();
    auto pred = r->predict(v);
    auto targets = r->target()(v, pred);
    auto loss = r->loss()(pred, targets).loss;
    loss.backward();
    std::vector<Tensor> grads;
    for (const auto& p : r->student_parameters())
      if (p.grad().defined()) grads.push_back(p.grad().clone());
    return std::tuple{pred.views, targets.global, loss.detach(), grads};
  };
  const auto center = r->loss()->center.clone();
  const auto [pa, ta, la, ga] = run(views);
  r->loss()->center.copy_(center);  // the loss call moved the centre
  const auto [pb, tb, lb, gb] = run(per_view);
  REQUIRE(pa.size() == 5);
  for (size_t i = 0; i < pa.size(); ++i) CHECK_MESSAGE(torch::allclose(pa[i], pb[i], 1e-5, 1e-6), "view ", i);
  REQUIRE(ta.size() == 2);
  for (size_t i = 0; i < ta.size(); ++i) CHECK_MESSAGE(torch::allclose(ta[i], tb[i], 1e-5, 1e-6), "target ", i);
  CHECK(la.item<double>() == doctest::Approx(lb.item<double>()).epsilon(1e-6));
  REQUIRE(ga.size() == gb.size());
  REQUIRE(ga.size() > 0);
  for (size_t i = 0; i < ga.size(); ++i) CHECK_MESSAGE(torch::allclose(ga[i], gb[i], 1e-4, 1e-6), "gradient ", i);
}
}

TEST_SUITE("joint") {
TEST_CASE("resnet::Encoder in channels-last memory computes the same function") {
  torch::manual_seed(6);
  auto o = ssl::resnet::resnet18().channels(1).width(8);
  ssl::resnet::Encoder a(o), b(o.channels_last(true));
  ssl::io::load_into(*b, [&] {
    std::map<std::string, torch::Tensor> m;
    for (const auto& p : a->named_parameters()) m[p.key()] = p.value().detach();
    for (const auto& p : a->named_buffers()) m[p.key()] = p.value().detach();
    return m;
  }());
  CHECK(b->conv1->weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
  auto x = torch::rand({4, 1, 28, 28});
  auto fa = a->forward(x), fb = b->forward(x);
  // The two layouts sum in different orders (oneDNN picks other kernels): equal up to float32
  // rounding, relative to each output's scale (as the parity tests). Elementwise allclose with
  // 1e-5 absolute failed on an AVX2-only host for near-zero tokens (3.9e-5 off on a scale of 5.6).
  for (const auto& [name, u, v] : {std::tuple{"pooled", fa.pooled, fb.pooled}, std::tuple{"tokens", fa.tokens, fb.tokens}}) {
    const double err = (u - v).abs().max().item<double>(), scale = u.abs().max().item<double>();
    MESSAGE(std::string(name), ": max |contiguous - channels-last| ", err, " on a scale of ", scale);
    CHECK(err <= 1e-5 * scale);
  }
}
}

}  // namespace test_joint
