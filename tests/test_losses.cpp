// Joint-embedding losses: parity with the `lightly` package (value and input gradients, fp32),
// closed forms, and boundary errors. References are made by tests/python/make_loss_references.py
// (CTest fixture `loss_refs`) into $SSL_REFS/losses.safetensors.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_losses {

static_assert(ssl::Loss<ssl::loss::NTXent> && ssl::Loss<ssl::loss::NegCosine> &&
              ssl::Loss<ssl::loss::BarlowTwins> && ssl::Loss<ssl::loss::VICReg> && ssl::Loss<ssl::loss::DINOLoss> &&
              ssl::Loss<ssl::loss::MoCoV3>);

namespace {
using Dict = std::map<std::string, torch::Tensor>;
using torch::Tensor;

const Dict& refs() {
  static const Dict d = [] {
    const char* dir = std::getenv("SSL_REFS");
    REQUIRE_MESSAGE(dir != nullptr, "SSL_REFS is not set: run the losses suite through ctest");
    return ssl::io::load_safetensors(std::string(dir) + "/losses.safetensors");
  }();
  return d;
}
Tensor expected(const std::string& k) {
  auto it = refs().find(k);
  REQUIRE_MESSAGE(it != refs().end(), "no reference tensor ", k);
  return it->second;
}
/// A fresh leaf copy of a reference input.
Tensor input(const std::string& k) { return expected(k).clone().requires_grad_(true); }

/// max |a - b| <= tol * max|ref| + 1e-8 (as the parity suite).
void check_close(const Tensor& a, const Tensor& b, const std::string& what, double tol = 1e-5) {
  REQUIRE_MESSAGE(a.sizes() == b.sizes(), what, ": shape ", a.sizes(), " vs reference ", b.sizes());
  const double err = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  const double scale = b.abs().max().item<double>();
  if (std::getenv("SSL_PARITY_VERBOSE")) MESSAGE(what, ": max abs error ", err, ", max |ref| ", scale);
  CHECK_MESSAGE(err <= tol * scale + 1e-8, what, ": max abs error ", err, " > ", tol * scale + 1e-8);
}

/// Runs `loss` on the case's inputs (leaves), checks the value and every input gradient.
template <class Fn>
void parity(const std::string& c, const std::vector<std::string>& names, Fn loss) {
  std::map<std::string, Tensor> x;
  for (const auto& n : names) x[n] = input(c + "." + n);
  Tensor l = loss(x);
  REQUIRE(l.dim() == 0);
  check_close(l.detach().reshape({1}), expected(c + ".loss"), c + " loss");
  l.backward();
  for (const auto& n : names) {
    REQUIRE_MESSAGE(x[n].grad().defined(), c, ": no gradient for ", n);
    check_close(x[n].grad(), expected(c + ".grad." + n), c + " grad " + n);
  }
}

ssl::Prediction views(std::vector<Tensor> v) { return {.views = std::move(v), .masked = {}}; }
}  // namespace

TEST_SUITE("losses") {
TEST_CASE("collectives are the identity on one process") {
  CHECK(ssl::dist::world_size() == 1);
  CHECK(ssl::dist::rank() == 0);
  auto x = torch::randn({3, 4}, torch::requires_grad());
  CHECK(ssl::dist::all_gather_with_grad(x).is_same(x));
  CHECK(ssl::dist::all_reduce_sum(x).is_same(x));
  CHECK(ssl::dist::all_reduce_mean(x).is_same(x));
}

TEST_CASE("NT-Xent == lightly NTXentLoss (temperatures 0.5, 0.1): value and gradients") {
  for (auto [c_, t_] : {std::pair{"ntxent_t05", 0.5}, std::pair{"ntxent_t01", 0.1}}) {
    const auto c = c_;  // not structured bindings: the lambdas capture them (clang < 16)
    const auto t = t_;
    CAPTURE(c);
    parity(c, {"z0", "z1"}, [&](auto& x) {
      // SimCLR's convention: targets are the other view's projections.
      return ssl::loss::NTXent{.temperature = t}(views({x["z0"], x["z1"]}), {{x["z1"], x["z0"]}}).loss;
    });
  }
  CHECK(ssl::loss::NTXent{}.temperature == 0.5);  // lightly's default
}

TEST_CASE("Negative cosine (BYOL/SimSiam, symmetrised) == 0.5*(f(p0,z1)+f(p1,z0)) with lightly's f") {
  parity("negcos", {"p0", "p1", "z0", "z1"}, [](auto& x) {
    return ssl::loss::NegCosine{}(views({x["p0"], x["p1"]}), {{x["z1"], x["z0"]}}).loss;
  });
}

TEST_CASE("MoCo v3 == the official contrastive_loss, summed over both orderings (temperatures 1.0, 0.2)") {
  for (auto [c, t] : {std::pair{"mocov3_t1", 1.0}, std::pair{"mocov3_t02", 0.2}}) {
    const std::string cs = c;
    const double temp = t;
    parity(cs, {"q1", "q2"}, [&](auto& x) {
      return ssl::loss::MoCoV3{.temperature = temp}(views({x["q1"], x["q2"]}),
                                                    {{expected(cs + ".k2"), expected(cs + ".k1")}}).loss;
    });
  }
}

TEST_CASE("Barlow Twins == lightly BarlowTwinsLoss: value and gradients") {
  parity("barlow", {"za", "zb"}, [](auto& x) {
    auto out = ssl::loss::BarlowTwins{}(views({x["za"], x["zb"]}), {{x["zb"], x["za"]}});
    REQUIRE(out.parts.size() == 3);
    return out.loss;
  });
  // The reusable function on one ordering gives the same value.
  auto l = ssl::loss::BarlowTwins::of(expected("barlow.za"), expected("barlow.zb"));
  check_close(l.reshape({1}), expected("barlow.loss"), "BarlowTwins::of");
}

TEST_CASE("VICReg == lightly VICRegLoss ([B,D] and [B,N,D]): value and gradients") {
  for (const char* c : {"vicreg", "vicreg3d"}) {
    CAPTURE(c);
    parity(c, {"za", "zb"}, [](auto& x) {
      return ssl::loss::VICReg{}(views({x["za"], x["zb"]}), {{x["zb"], x["za"]}}).loss;
    });
    auto l = ssl::loss::VICReg::of(expected(std::string(c) + ".za"), expected(std::string(c) + ".zb"));
    check_close(l.reshape({1}), expected(std::string(c) + ".loss"), std::string(c) + " VICReg::of");
  }
}

TEST_CASE("DINO == lightly DINOLoss: three calls (epochs 0, 1, 4), gradients, centre after each") {
  ssl::loss::DINOLoss dino(ssl::loss::DINOLossOptions(32).warmup_teacher_temp(0.04).teacher_temp(0.07).warmup_teacher_temp_epochs(3));
  CHECK(torch::equal(dino->center, torch::zeros({32})));
  for (int k = 0; k < 3; ++k) {
    const std::string c = "dino.c" + std::to_string(k);
    CAPTURE(c);
    dino->set_epoch(int64_t(expected(c + ".epoch").item<float>()));
    parity(c, {"t0", "t1", "s0", "s1", "s2", "s3"}, [&](auto& x) {
      // students: 2 globals then 2 locals; targets: the teacher outputs of the 2 globals
      return dino(views({x["s0"], x["s1"], x["s2"], x["s3"]}), ssl::TeacherOutputs{{x["t0"], x["t1"]}}).loss;
    });
    check_close(dino->center, expected(c + ".center"), c + " center");
  }
  // The teacher temperature schedule.
  auto temps = expected("dino.temps");
  for (int64_t e = 0; e < temps.size(0); ++e)
    check_close(torch::tensor({dino->teacher_temp_at(e)}, torch::kFloat32), temps.narrow(0, e, 1),
                "teacher temp at epoch " + std::to_string(e));
  check_close(torch::tensor({dino->teacher_temp_at(std::nullopt)}, torch::kFloat32), expected("dino.temp_none"),
              "teacher temp without epoch");
  // The centre is a buffer: it travels with the module's state.
  bool found = false;
  for (const auto& b : dino->named_buffers()) found = found || b.key() == "center";
  CHECK(found);
}

TEST_CASE("DINO: centre update timing, schedule edge cases") {
  ssl::loss::DINOLoss dino(ssl::loss::DINOLossOptions(4).center_momentum(0.5));
  auto t = ssl::TeacherOutputs{{torch::ones({2, 4}), 3 * torch::ones({2, 4})}};
  auto s = views({torch::zeros({2, 4}), torch::zeros({2, 4})});
  auto out = dino(s, t);
  // Uniform student: the loss is log(D) whatever the teacher, and the centre used was zero;
  // the centre then moves half-way to the teacher mean (2).
  CHECK(out.loss.item<double>() == doctest::Approx(std::log(4.0)).epsilon(1e-6));
  CHECK(torch::allclose(dino->center, torch::full({4}, 1.0)));
  dino(s, t);
  CHECK(torch::allclose(dino->center, torch::full({4}, 1.5)));
  // Gradient-free contexts still update the centre (as lightly).
  {
    torch::NoGradGuard g;
    dino(s, t);
  }
  CHECK(torch::allclose(dino->center, torch::full({4}, 1.75)));
  // Defaults (lightly): 0.04 -> 0.04 over 30 epochs, student 0.1, momentum 0.9.
  ssl::loss::DINOLoss d(ssl::loss::DINOLossOptions(8));
  CHECK(d->teacher_temp_at(0) == 0.04);
  CHECK(d->teacher_temp_at(std::nullopt) == 0.04);
  ssl::loss::DINOLoss w(ssl::loss::DINOLossOptions(8).warmup_teacher_temp(0.02).teacher_temp(0.06).warmup_teacher_temp_epochs(5));
  CHECK(w->teacher_temp_at(0) == doctest::Approx(0.02));
  CHECK(w->teacher_temp_at(2) == doctest::Approx(0.04));
  CHECK(w->teacher_temp_at(4) == doctest::Approx(0.06));  // the last warm-up epoch is at the target
  CHECK(w->teacher_temp_at(100) == doctest::Approx(0.06));
  ssl::loss::DINOLoss one(ssl::loss::DINOLossOptions(8).warmup_teacher_temp(0.02).teacher_temp(0.06).warmup_teacher_temp_epochs(1));
  CHECK(one->teacher_temp_at(0) == doctest::Approx(0.02));
  CHECK(one->teacher_temp_at(1) == doctest::Approx(0.06));
}

TEST_CASE("closed forms") {
  const int64_t n = 6;
  const double T = 0.5;
  // NT-Xent, aligned views of orthonormal samples: positive logit 1/T, the 2(n-1) others 0.
  auto e = torch::eye(n, 16);
  auto aligned = ssl::loss::NTXent::of(e, 3.0 * e, T).item<double>();
  CHECK(aligned == doctest::Approx(-std::log(std::exp(1 / T) / (std::exp(1 / T) + 2.0 * (n - 1)))).epsilon(1e-6));
  // NT-Xent, collapsed batch: 2n-1 equal logits.
  auto same = torch::ones({n, 16});
  CHECK(ssl::loss::NTXent::of(same, same, T).item<double>() == doctest::Approx(std::log(2.0 * n - 1)).epsilon(1e-6));
  // NT-Xent, all 2n vectors orthogonal: 2n-1 zero logits.
  auto orth = ssl::loss::NTXent::of(e, torch::eye(16).narrow(0, n, n), T).item<double>();
  CHECK(orth == doctest::Approx(std::log(2.0 * n - 1)).epsilon(1e-6));
  // NT-Xent, opposite views: positive logit -1/T, the others 0.
  auto opp = ssl::loss::NTXent::of(e, -e, T).item<double>();
  CHECK(opp == doctest::Approx(-std::log(std::exp(-1 / T) / (std::exp(-1 / T) + 2.0 * (n - 1)))).epsilon(1e-6));

  // Negative cosine: identical directions -> -1, opposite -> +1, orthogonal -> 0.
  auto p = torch::randn({n, 16});
  CHECK(ssl::loss::NegCosine::of(p, 2 * p).item<double>() == doctest::Approx(-1.0).epsilon(1e-6));
  CHECK(ssl::loss::NegCosine::of(p, -p).item<double>() == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(ssl::loss::NegCosine::of(torch::eye(4, 8), torch::eye(4, 8).roll(1, 1)).item<double>() == doctest::Approx(0.0));

  // Barlow Twins, identical views: C_ii = var/(var+eps) ~ 1, so the on-diagonal term ~ 0.
  auto z = torch::randn({32, 8});
  auto bt = ssl::loss::BarlowTwins::terms(z, z);
  CHECK(bt.on_diag.item<double>() < 1e-6);
  // ... and standardisation: any affine map per dimension leaves the loss unchanged.
  auto l0 = ssl::loss::BarlowTwins::of(z, z.flip(0));
  auto l1 = ssl::loss::BarlowTwins::of(3 * z + 1, z.flip(0) * 2 - 2);
  CHECK(l1.item<double>() == doctest::Approx(l0.item<double>()).epsilon(1e-4));

  // VICReg: identical views with std > 1 and no correlation -> only the covariance term.
  auto u = torch::tensor({{1.0, 1.0}, {1.0, -1.0}, {-1.0, 1.0}, {-1.0, -1.0}}) * 2;
  auto v = ssl::loss::VICReg::terms(u, u);
  CHECK(v.invariance.item<double>() == 0.0);
  CHECK(v.variance.item<double>() == 0.0);
  CHECK(v.covariance.item<double>() == doctest::Approx(0.0));
  // collapsed: every std 0 -> variance term relu(1 - sqrt(eps)) per embedding.
  auto c = ssl::loss::VICReg::terms(torch::ones({4, 3}), torch::ones({4, 3}));
  CHECK(c.variance.item<double>() == doctest::Approx(1.0 - std::sqrt(1e-4)).epsilon(1e-6));
}

TEST_CASE("the Loss call averages the criterion over (view, target) pairs") {
  auto a = torch::randn({8, 16}), b = torch::randn({8, 16}), c = torch::randn({8, 16});
  auto out = ssl::loss::NegCosine{}(views({a, b, c}), {{b, c, a}});
  auto expect = (ssl::loss::NegCosine::of(a, b) + ssl::loss::NegCosine::of(b, c) + ssl::loss::NegCosine::of(c, a)) / 3;
  CHECK(out.loss.item<double>() == doctest::Approx(expect.item<double>()).epsilon(1e-6));
  REQUIRE(out.parts.size() == 1);
  CHECK(out.parts[0].first == "neg_cosine");
  CHECK(!out.parts[0].second.requires_grad());
}

TEST_CASE("clear errors: what was expected and what came") {
  using doctest::Contains;
  auto a = torch::randn({8, 16});
  CHECK_THROWS_WITH_AS(ssl::loss::NTXent::of(a, torch::randn({8, 12})),
                       Contains("same shape, got [8, 16] and [8, 12]"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::NTXent::of(torch::randn({8, 2, 16}), torch::randn({8, 2, 16})),
                       Contains("expected the first embedding of shape [B, D], got [8, 2, 16]"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::NTXent::of(a, a, 0.0), Contains("temperature > 0, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::NTXent{}(views({a, a}), {{a}}), Contains("got 2 predictions and 1 targets"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::NegCosine::of(a, torch::randn({7, 16})), Contains("[8, 16] and [7, 16]"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::BarlowTwins::of(torch::randn({1, 16}), torch::randn({1, 16})),
                       Contains("at least 2 samples"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::VICReg::of(torch::randn({1, 16}), torch::randn({1, 16})),
                       Contains("at least 2 samples"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::loss::VICReg::of(a, torch::randn({8, 15})), Contains("[8, 16] and [8, 15]"),
                       c10::Error);
  ssl::loss::DINOLoss dino(ssl::loss::DINOLossOptions(16));
  CHECK_THROWS_WITH_AS(dino(views({a}), ssl::TeacherOutputs{{a}}), Contains("at least two views in total"), c10::Error);
  CHECK_THROWS_WITH_AS(dino(views({a, a}), ssl::TeacherOutputs{{a, a, a}}),
                       Contains("1 to (number of student views) teacher views, got 3 teacher and 2 student"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(dino(views({a, torch::randn({4, 16})}), ssl::TeacherOutputs{{a}}),
                       Contains("got a student view of shape [4, 16]"), c10::Error);
  CHECK_THROWS_WITH_AS(dino(views({torch::randn({8, 32}), torch::randn({8, 32})}), ssl::TeacherOutputs{{torch::randn({8, 32})}}),
                       Contains("center of 32 values, got [16]"), c10::Error);
  CHECK_THROWS_WITH_AS((void)dino->teacher_temp_at(-1), Contains("epoch >= 0, got -1"), c10::Error);
  // A failed call leaves the centre untouched.
  CHECK(torch::equal(dino->center, torch::zeros({16})));
}

TEST_CASE("NT-Xent across processes: each process's rows pick their positive among everyone's samples") {
  // A stand-in transport for two processes that hold the same batch: on either rank, the loss
  // equals the one-process loss of the batch duplicated (its rows are those of one copy).
  struct Twin : ssl::dist::Backend {
    int64_t r;
    explicit Twin(int64_t r) : r(r) {}
    int64_t world_size() const override { return 2; }
    int64_t rank() const override { return r; }
    Tensor all_gather(const Tensor& t) override { return torch::cat({t, t}, 0); }
    Tensor all_reduce_sum(const Tensor& t) override { return 2 * t; }
  };
  auto a = torch::randn({5, 16}), b = a + 0.3 * torch::randn({5, 16});
  const double one = ssl::loss::NTXent::of(torch::cat({a, a}), torch::cat({b, b}), 0.2).item<double>();
  for (int64_t r : {0, 1}) {
    ssl::dist::set_backend(std::make_shared<Twin>(r));
    auto x = a.clone().requires_grad_(true);
    auto l = ssl::loss::NTXent::of(x, b, 0.2);
    l.backward();
    CHECK(ssl::dist::all_reduce_mean(torch::ones({2})).equal(torch::ones({2})));
    CHECK(ssl::dist::all_reduce_sum(torch::ones({2})).equal(2 * torch::ones({2})));
    ssl::dist::set_backend(nullptr);
    CHECK(l.item<double>() == doctest::Approx(one).epsilon(1e-5));
    REQUIRE(x.grad().defined());
    CHECK(x.grad().sizes() == a.sizes());
  }
  CHECK(ssl::dist::world_size() == 1);
}
}

}  // namespace test_losses
