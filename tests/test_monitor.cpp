// Monitors (include/ssl/monitor/): each statistic on a constructed collapsed input and on a
// healthy one against its closed form; the monitors through `monitor::watch` (every N steps,
// before / after the loss, the collapse flag); and a SimSiam recipe wrapped with them, trained
// by the Trainer, whose log carries the parts and whose constant backbone raises the flag.
#include <doctest/doctest.h>
#include <ssl/electra.hpp>
#include <ssl/heads/dino_head.hpp>
#include <ssl/loss/cross_entropy.hpp>
#include <ssl/loss/dino.hpp>
#include <ssl/loss/ibot.hpp>
#include <ssl/loss/neg_cosine.hpp>
#include <ssl/monitor/monitors.hpp>
#include <ssl/monitor/stats.hpp>
#include <ssl/monitor/watch.hpp>
#include <ssl/simsiam.hpp>
#include <ssl/target/teacher.hpp>
#include <ssl/target/views.hpp>
#include <ssl/train/metrics_log.hpp>
#include <ssl/train/trainer.hpp>

#include "util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace test_monitor {

namespace {
using torch::Tensor;
namespace mon = ssl::monitor;

/// A backbone of 1 x 16 x 16 images: a linear map of the pixels, or (`constant`) a learned
/// vector whatever the image, the forced collapse.
struct FlatImpl : torch::nn::Cloneable<FlatImpl> {
  explicit FlatImpl(bool constant = false) : constant(constant) { reset(); }
  void reset() override { fc = register_module("fc", torch::nn::Linear(256, 16)); }
  ssl::Features forward(const ssl::Masked& m) {
    auto x = m.input.flatten(1);
    auto pooled = constant ? fc->bias.unsqueeze(0).expand({x.size(0), 16}) + 0 * x.sum(1, true) : fc(x);
    return {pooled.unsqueeze(1), pooled};
  }
  [[nodiscard]] int64_t dim() const { return 16; }
  bool constant;
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Flat);

ssl::Prediction embeddings(const Tensor& z) { return {.views = {z}, .masked = {{}}, .extra = {{}}}; }

/// A value of `parts` by name (undefined when absent).
Tensor part(const ssl::LossOutput& out, const std::string& name) {
  for (const auto& [k, v] : out.parts)
    if (k == name) return v;
  return {};
}

/// What `f()` writes to stderr (file descriptor 2, redirected to a file meanwhile).
template <class F>
std::string stderr_of(const std::filesystem::path& file, F&& f) {
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE((saved >= 0 && fd >= 0));
  ::dup2(fd, 2);
  ::close(fd);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// `k` orthonormal, centred columns of length `n` (so a matrix built on them stays centred).
Tensor centred_orthonormal(int64_t n, int64_t k) {
  auto a = torch::randn({n, k}, torch::kFloat64);
  a = a - a.mean(0, true);
  return std::get<0>(torch::linalg_qr(a));
}
}  // namespace

// The wrapper scores what the wrapped loss scores: it pairs with the loss's Targets and no other,
// it is StepAware, and a wrapped recipe is the recipe with another loss type.
using WatchedCosine = mon::Monitored<ssl::loss::NegCosine, mon::EmbeddingStd, mon::EffectiveRank>;
using WatchedDino = mon::Monitored<ssl::loss::DINOLoss, mon::TeacherEntropy>;
static_assert(ssl::LossAccepts<WatchedCosine, ssl::target::StopGradient> &&
              ssl::LossAccepts<WatchedCosine, ssl::target::OtherView> &&
              !ssl::LossAccepts<WatchedCosine, ssl::target::Teacher<Flat, ssl::heads::DINOHead>>);
static_assert(ssl::LossAccepts<WatchedDino, ssl::target::Teacher<Flat, ssl::heads::DINOHead>> &&
              !ssl::LossAccepts<WatchedDino, ssl::target::OtherView>);
static_assert(ssl::detail::target_loss_agree<ssl::target::StopGradient, WatchedCosine>() &&
              std::same_as<ssl::loss_target_t<WatchedCosine>, ssl::loss_target_t<ssl::loss::NegCosine>>);
static_assert(ssl::StepAware<WatchedCosine> && ssl::StepAware<WatchedDino>);
static_assert(mon::Monitor<mon::TeacherEntropy, ssl::loss::IBOTLoss> && !mon::Monitor<int, ssl::loss::NegCosine>);
static_assert(std::same_as<decltype(mon::watched(std::declval<ssl::simsiam::Recipe<Flat>>(), 1)),
                           ssl::simsiam::Recipe<Flat>::with_loss<WatchedCosine>>);

TEST_SUITE("monitor") {
TEST_CASE("std of l2-normalised embeddings: 1/sqrt(D) for Gaussian rows, 0 for one direction") {
  torch::manual_seed(0);
  const int64_t B = 512, D = 64;
  const double healthy = mon::std_of_l2_normalized(torch::randn({B, D})).item<double>();
  CHECK(healthy == doctest::Approx(1.0 / std::sqrt(double(D))).epsilon(0.03));  // 0.125 +- 0.004
  // Every row the same direction, at different scales: 0 after normalisation.
  const auto dir = torch::randn({1, D});
  const double collapsed = mon::std_of_l2_normalized((torch::rand({B, 1}) * 3 + 0.1) * dir.expand({B, D})).item<double>();
  CHECK(collapsed < 1e-6);
  // Half the dimensions dead: the other half's rows are unit vectors of D/2 entries.
  auto half = torch::cat({torch::randn({B, D / 2}), torch::zeros({B, D / 2})}, 1);
  CHECK(mon::std_of_l2_normalized(half).item<double>() ==
        doctest::Approx(0.5 * std::sqrt(2.0 / double(D))).epsilon(0.03));  // mean of 1/sqrt(D/2) and 0
  CHECK_THROWS_WITH_AS(mon::std_of_l2_normalized(torch::randn({1, D})), doctest::Contains("B >= 2"), c10::Error);
}

TEST_CASE("effective rank: k for k equal singular values, exp(H) for others, 1 on a line, 0 for a constant batch") {
  torch::manual_seed(1);
  const int64_t B = 64, D = 32;
  for (int64_t k : {1, 5, 20}) {
    CAPTURE(k);
    const auto U = centred_orthonormal(B, k), V = std::get<0>(torch::linalg_qr(torch::randn({D, k}, torch::kFloat64)));
    const auto z = 2.5 * U.matmul(V.t());  // singular values all 2.5, already centred
    CHECK(mon::effective_rank(z.to(torch::kFloat32)).item<double>() == doctest::Approx(double(k)).epsilon(1e-4));
  }
  // Singular values (3, 1): p = (3/4, 1/4), exp(H) = exp(-(3/4 log 3/4 + 1/4 log 1/4)) = 1.7548.
  const auto U = centred_orthonormal(B, 2), V = std::get<0>(torch::linalg_qr(torch::randn({D, 2}, torch::kFloat64)));
  const auto z = U.matmul(torch::diag(torch::tensor({3.0, 1.0}, torch::kFloat64))).matmul(V.t());
  const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  CHECK(mon::effective_rank(z).item<double>() == doctest::Approx(std::exp(h)).epsilon(1e-5));
  // A constant batch (any offset) and a batch on a line.
  CHECK(mon::effective_rank(torch::randn({1, D}).expand({B, D}).contiguous()).item<double>() == 0.0);
  const auto line = torch::randn({B, 1}) * torch::randn({1, D}) + torch::randn({1, D});
  CHECK(mon::effective_rank(line).item<double>() == doctest::Approx(1.0).epsilon(1e-4));
  // Gaussian embeddings spread over most of the D directions.
  CHECK(mon::effective_rank(torch::randn({512, D})).item<double>() > 0.9 * double(D));
}

TEST_CASE("teacher entropy: log K for a uniform teacher, 0 for a one-hot one; the centre and temperature apply") {
  const int64_t B = 4, K = 10;
  const auto flat = torch::full({B, K}, 0.3);
  const auto none = torch::zeros({K});
  CHECK(mon::teacher_entropy({flat, flat}, none, 0.04).item<double>() == doctest::Approx(std::log(double(K))).epsilon(1e-6));
  auto peaked = torch::zeros({B, K});
  peaked.index_put_({torch::indexing::Slice(), 3}, 5.0);
  CHECK(mon::teacher_entropy({peaked}, none, 0.04).item<double>() < 1e-6);  // exp(-125): one-hot in float32
  // Centring on the teacher's own output makes it uniform; a high temperature flattens it too.
  CHECK(mon::teacher_entropy({peaked}, peaked[0], 0.04).item<double>() == doctest::Approx(std::log(double(K))).epsilon(1e-6));
  const double warm = mon::teacher_entropy({peaked}, none, 1e4).item<double>();
  CHECK(warm == doctest::Approx(std::log(double(K))).epsilon(1e-3));
}

TEST_CASE("teacher-student KL: 0 for identical distributions; DINO's loss = KL + teacher entropy") {
  torch::manual_seed(2);
  const int64_t B = 6, K = 12;
  const auto x = torch::randn({B, K});
  const auto none = torch::zeros({K});
  // Same temperature, no centre, every view the same: teacher == student distribution.
  CHECK(std::abs(mon::teacher_student_kl({x, x}, {x, x, x}, none, 0.1, 0.1).item<double>()) < 1e-6);
  // Random views: the KL is positive and completes the teacher entropy to DINO's cross-entropy.
  const std::vector<Tensor> t = {torch::randn({B, K}), torch::randn({B, K})};
  const std::vector<Tensor> s = {torch::randn({B, K}), torch::randn({B, K}), torch::randn({B, K})};
  const auto c = 0.1 * torch::randn({K});
  const double kl = mon::teacher_student_kl(t, s, c, 0.04, 0.1).item<double>();
  const double ent = mon::teacher_entropy(t, c, 0.04).item<double>();
  const double ce = ssl::loss::DINOLossImpl::of(t, s, c, 0.04, 0.1).item<double>();
  CHECK(kl > 0.1);
  CHECK(kl + ent == doctest::Approx(ce).epsilon(1e-5));
}

TEST_CASE("MLM accuracy on hand-built logits: masked positions only, both logit layouts") {
  // Labels [-100, 2, 0, 1] (3 scored); argmax per position [0, 2, 1, 1]: 2 of 3 right.
  auto logits = torch::tensor({1.0, 0.0, 0.0, /**/ 0.0, 0.0, 1.0, /**/ 0.0, 1.0, 0.0, /**/ 0.0, 1.0, 0.0}).reshape({1, 4, 3});
  const auto labels = torch::tensor({-100, 2, 0, 1}, torch::kInt64).reshape({1, 4});
  CHECK(mon::masked_accuracy(logits, labels).item<double>() == doctest::Approx(2.0 / 3.0));
  CHECK(mon::masked_accuracy(logits[0].narrow(0, 1, 3), labels).item<double>() == doctest::Approx(2.0 / 3.0));
  // Through the monitor: a model that always answers the first label is right where it is 0.
  auto w = mon::watch(ssl::loss::CrossEntropy{.name = "mlm"}, mon::MlmAccuracy{.every = 1});
  auto out = w(ssl::Prediction{.views = {logits}, .masked = {{}}, .extra = {{}}}, ssl::TokenLabels{.tokens = labels});
  CHECK(part(out, "mon_mlm_acc").item<double>() == doctest::Approx(2.0 / 3.0));
  CHECK(part(out, "mlm_acc").item<double>() == doctest::Approx(2.0 / 3.0));  // the loss's own part agrees
  const auto none = torch::full({1, 4}, -100, torch::kInt64);
  CHECK(mon::masked_accuracy(logits, none).item<double>() == 0.0);
}

TEST_CASE("ELECTRA: the discriminator's gain over the prior, from the loss's own parts") {
  // 8 tokens, 2 replaced (prior: 6/8 right by answering "original"), 2 masked for the generator.
  const auto replaced = torch::tensor({0., 1., 0., 0., 1., 0., 0., 0.}).reshape({1, 8});
  auto gen_labels = torch::full({1, 8}, -100, torch::kInt64);
  gen_labels.index_put_({0, 1}, 5);
  gen_labels.index_put_({0, 4}, 6);
  const ssl::ReplacedTokenLabels target{.generator = gen_labels, .replaced = replaced, .valid = torch::ones({1, 8}, torch::kBool)};
  auto pred = [](const Tensor& disc) {
    ssl::Masked m;
    m.proposal_logits = torch::zeros({2, 10});
    return ssl::Prediction{.views = {disc}, .masked = {m}, .extra = {{}}};
  };
  auto w = mon::watch(ssl::loss::ReplacedTokenDetection{}, 1);  // the standard set: DiscriminatorGain
  // Always "original" (collapsed onto the prior): no gain. Perfect: gain = the replaced fraction.
  CHECK(part(w(pred(torch::full({1, 8}, -5.0)), target), "mon_disc_gain").item<double>() == doctest::Approx(0.0));
  CHECK(part(w(pred(10 * replaced - 5), target), "mon_disc_gain").item<double>() == doctest::Approx(0.25));
  // A loss without the parts is refused by name.
  auto wrong = mon::watch(ssl::loss::NegCosine{}, mon::DiscriminatorGain{.every = 1});
  const auto z = torch::randn({4, 8});
  CHECK_THROWS_WITH_AS(wrong(embeddings(z), ssl::PairedEmbeddings{{z}}), doctest::Contains("disc_acc"), c10::Error);
}

TEST_CASE("watch: parts every N steps, after the loss's own; the collapse flag and its warning once") {
  torch::manual_seed(3);
  const int64_t D = 16;
  auto w = mon::watch(ssl::loss::NegCosine{}, mon::EmbeddingStd{.every = 3}, mon::EffectiveRank{.every = 2});
  const auto z = torch::randn({32, D}), other = torch::randn({32, D});
  std::vector<size_t> n_parts;
  for (int i = 0; i < 6; ++i) {  // alone (no set_step): the calls count the steps, from 0
    auto out = w(embeddings(z), ssl::PairedEmbeddings{{other}});
    CHECK(out.loss.item<double>() == doctest::Approx(ssl::loss::NegCosine{}(embeddings(z), ssl::PairedEmbeddings{{other}}).loss.item<double>()));
    n_parts.push_back(out.parts.size());
    if (i == 5) {
      CHECK(part(out, "mon_emb_std").item<double>() == doctest::Approx(mon::std_of_l2_normalized(z).item<double>()));
      CHECK(part(out, "alert_collapse").item<double>() == 0.0);
      CHECK(part(out, "mon_eff_rank").item<double>() > 10.0);
    }
  }
  const size_t base = ssl::loss::NegCosine{}(embeddings(z), ssl::PairedEmbeddings{{other}}).parts.size();
  // steps 0..5: std due at 2 and 5 (2 parts), rank at 1, 3, 5 (1 part).
  CHECK(n_parts == std::vector<size_t>{base, base + 1, base + 2, base + 1, base, base + 3});
  // The trainer's step wins over the call count.
  w->set_step({.step = 8});
  CHECK(part(w(embeddings(z), ssl::PairedEmbeddings{{other}}), "mon_emb_std").defined());
  // Collapsed: every row one direction; flagged, warned once.
  const auto c = torch::rand({32, 1}) * torch::randn({1, D});
  auto& std_mon = std::get<0>(w->monitors());
  CHECK_FALSE(std_mon.warned);
  w->set_step({.step = 11});
  auto out = w(embeddings(c), ssl::PairedEmbeddings{{other}});
  CHECK(part(out, "mon_emb_std").item<double>() < 0.2 / std::sqrt(double(D)));
  CHECK(part(out, "alert_collapse").item<double>() == 1.0);
  CHECK(std_mon.warned);
  // every = 0: never.
  auto off = mon::watch(ssl::loss::NegCosine{}, 0);
  for (int i = 0; i < 3; ++i) CHECK(off(embeddings(z), ssl::PairedEmbeddings{{other}}).parts.size() == base);
}

TEST_CASE("DINO: teacher entropy and KL with the centre the loss uses; the wrapped loss's tensors keep their names") {
  torch::manual_seed(4);
  const int64_t B = 8, K = 16;
  ssl::loss::DINOLoss plain(ssl::loss::DINOLossOptions(K).warmup_teacher_temp_epochs(0));
  auto w = mon::watch(ssl::loss::DINOLoss(ssl::loss::DINOLossOptions(K).warmup_teacher_temp_epochs(0)), 1);
  // Same tensors, same names: a checkpoint of the plain recipe loads with monitors on.
  CHECK(w->named_buffers().keys() == plain->named_buffers().keys());
  w->to(torch::kFloat64);
  CHECK((w->inner()->center.scalar_type() == torch::kFloat64));  // the inner loss's buffer moved with it
  w->to(torch::kFloat32);
  w->inner()->center.copy_(0.5 * torch::randn({K}));
  const ssl::TeacherOutputs t{{torch::randn({B, K}), torch::randn({B, K})}};
  const std::vector<Tensor> s = {torch::randn({B, K}), torch::randn({B, K}), torch::randn({B, K})};
  const auto center = w->inner()->center.clone();
  auto out = w(ssl::Prediction{.views = s, .masked = {{}, {}, {}}, .extra = {{}, {}, {}}}, t);
  CHECK_FALSE(torch::equal(center, w->inner()->center));  // the loss moved its centre, after the monitors
  const double ent = part(out, "mon_teacher_entropy").item<double>(), kl = part(out, "mon_kl").item<double>();
  CHECK(ent == doctest::Approx(mon::teacher_entropy(t.global, center, 0.04).item<double>()));
  CHECK(kl + ent == doctest::Approx(part(out, "dino").item<double>()).epsilon(1e-5));
  CHECK(part(out, "mon_emb_std").defined());
  CHECK(part(out, "mon_eff_rank").defined());
  // A collapsed teacher (one output everywhere, centred on it): uniform targets, log K.
  const auto same = torch::randn({1, K}).expand({B, K}).contiguous();
  w->inner()->center.copy_(same[0]);
  auto flat = w(ssl::Prediction{.views = s, .masked = {{}, {}, {}}, .extra = {{}, {}, {}}}, ssl::TeacherOutputs{{same, same}});
  CHECK(part(flat, "mon_teacher_entropy").item<double>() == doctest::Approx(std::log(double(K))).epsilon(1e-5));
}

TEST_CASE("a SimSiam recipe with monitors: the trainer logs them every step; a constant backbone raises the flag") {
  torch::manual_seed(5);
  ssl_test::TempDir dir("ssl_monitor");
  const auto images = torch::rand({16, 1, 16, 16});
  const ssl::simsiam::Options o{.augment = ssl::augment::TwoViews::simsiam(16, 1), .proj_hidden = 16, .out = 16, .pred_hidden = 8};
  auto run = [&](bool constant, const std::string& name) {
    auto r = ssl::monitor::watched(ssl::simsiam::recipe(Flat(constant), o), /*every=*/1);
    ssl::data::Loader loader(images, {}, nullptr, {.batch_size = 8, .shuffle = false, .prefetch = 0});
    ssl::Trainer trainer(r, ssl::optim::AdamWOptions{.lr = 1e-3});
    const auto log = dir.path / (name + ".jsonl");
    // The progress bar (forced on) and the monitor's warning go to stderr.
    const auto err = stderr_of(dir.path / (name + ".err"), [&] {
      trainer.fit(loader, {.epochs = 2, .log_every = 1, .metrics_path = log.string(), .progress = 1});
    });
    std::vector<ssl::train::Json> recs;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) recs.push_back(ssl::train::Json::parse(line));
    REQUIRE(recs.size() == 4);
    return std::tuple{recs, std::get<0>(r->loss()->monitors()).warned, err};
  };
  const double threshold = 0.2 / std::sqrt(16.0);
  const auto [healthy, healthy_warned, healthy_err] = run(false, "healthy");
  for (const auto& rec : healthy) {
    CAPTURE(rec.dump());
    REQUIRE((rec.contains("mon_emb_std") && rec.contains("mon_eff_rank") && rec.contains("alert_collapse")));
    CHECK(rec["mon_emb_std"].get<double>() > threshold);
    CHECK(rec["alert_collapse"].get<double>() == 0.0);
    CHECK(rec["mon_eff_rank"].get<double>() > 2.0);
  }
  CHECK_FALSE(healthy_warned);
  CHECK(healthy_err.find("loss") != std::string::npos);  // the bar was drawn ...
  CHECK(healthy_err.find("collapse") == std::string::npos);  // ... without the flag or the warning
  const auto [collapsed, collapsed_warned, collapsed_err] = run(true, "collapsed");
  for (const auto& rec : collapsed) {
    CAPTURE(rec.dump());
    REQUIRE(rec.contains("mon_emb_std"));
    CHECK(rec["mon_emb_std"].get<double>() < 1e-3);
    CHECK(rec["alert_collapse"].get<double>() == 1.0);
    CHECK(rec["mon_eff_rank"].get<double>() < 1.0 + 1e-3);
  }
  CHECK(collapsed_warned);
  // The progress line shows the flag (the trainer's generic alert_* channel), and the warning,
  // once, names the first step.
  CHECK(collapsed_err.find("!collapse") != std::string::npos);
  CHECK(collapsed_err.find("collapse at step 1:") != std::string::npos);
  CHECK(collapsed_err.find("collapse at step 2:") == std::string::npos);
}
}

}  // namespace test_monitor
