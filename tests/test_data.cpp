// The data path: Loader over any dataset — worker threads, resume mid-epoch, shards.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

#include <atomic>
#include <set>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_data {

namespace {
/// A SampleDataset whose sample i is the tensor {i, i, i} (labelled i % 3), counting its calls.
struct Ramp {
  int64_t n = 40;
  std::shared_ptr<std::atomic<int64_t>> calls = std::make_shared<std::atomic<int64_t>>(0);
  [[nodiscard]] int64_t size() const { return n; }
  [[nodiscard]] ssl::data::Sample get(int64_t i) const {
    ++*calls;
    return {torch::full({3}, double(i)), i % 3};
  }
};
static_assert(ssl::data::SampleDataset<Ramp>);
static_assert(!ssl::data::BatchDataset<Ramp>);
static_assert(ssl::data::BatchDataset<ssl::data::TensorDataset>);
static_assert(ssl::DataSource<ssl::data::Loader<Ramp>>);
static_assert(ssl::DataSource<ssl::data::Loader<ssl::data::TensorDataset>>);
static_assert(!ssl::DataSource<Ramp>, "a dataset is not a source of batches: a Loader makes one");

std::vector<torch::Tensor> epoch_inputs(const ssl::data::Loader<Ramp>& l, int64_t epoch, int64_t start = 0) {
  std::vector<torch::Tensor> out;
  l.run(epoch, start, [&](const ssl::Batch& b, int64_t i) {
    CHECK(i == start + int64_t(out.size()));
    out.push_back(b.input);
    return true;
  });
  return out;
}
}  // namespace

TEST_SUITE("data") {
TEST_CASE("Loader<SampleDataset>: stacked samples, labels, and the same batches for any worker count") {
  const auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
  };
  ssl::data::Loader inline_(Ramp{}, nullptr, {.batch_size = 8, .seed = 3, .prefetch = 0});
  CHECK(inline_.batches_per_epoch() == 5);
  const auto ref = epoch_inputs(inline_, 0);
  CHECK(ref[0].sizes() == torch::IntArrayRef{8, 3});
  std::set<int64_t> seen;
  for (const auto& b : ref)
    for (int64_t i = 0; i < b.size(0); ++i) {
      CHECK(b[i].eq(b[i][0]).all().item<bool>());
      seen.insert(b[i][0].item<int64_t>());
    }
  CHECK(seen.size() == 40);  // a permutation of the dataset
  for (int64_t workers : {1, 2, 3, 5}) {
    for (int64_t prefetch : {1, 2, 7}) {
      CAPTURE(workers);
      CAPTURE(prefetch);
      ssl::data::Loader l(Ramp{}, nullptr, {.batch_size = 8, .seed = 3, .prefetch = prefetch, .workers = workers});
      same(epoch_inputs(l, 0), ref);
    }
  }
  // Labels stack into a [B] int64 target; the transform sees the stacked batch.
  ssl::data::Loader labelled(Ramp{}, [](const torch::Tensor& x) { return x * 2; }, {.batch_size = 4, .shuffle = false});
  labelled.run(0, 0, [&](const ssl::Batch& b, int64_t) {
    CHECK(torch::equal(b.target, torch::tensor({0, 1, 2, 0}, torch::kInt64)));
    CHECK(torch::equal(b.input.select(1, 0), torch::tensor({0., 2., 4., 6.})));
    return false;
  });
  // Each epoch reshuffles; the same epoch again gives the same order.
  CHECK_FALSE(torch::equal(inline_.order(0), inline_.order(1)));
  CHECK(torch::equal(inline_.order(4), inline_.order(4)));
}

TEST_CASE("Loader: a run started at batch b of an epoch sees exactly the batches b.. of an uninterrupted one") {
  Ramp ramp;
  ssl::data::Loader l(ramp, nullptr, {.batch_size = 6, .seed = 11, .prefetch = 3, .workers = 2});
  const auto full = epoch_inputs(l, 2);
  for (int64_t start : {1, 3, 5}) {
    const auto rest = epoch_inputs(l, 2, start);
    REQUIRE(rest.size() == full.size() - size_t(start));
    for (size_t i = 0; i < rest.size(); ++i) CHECK(torch::equal(rest[i], full[size_t(start) + i]));
  }
  // Stopping early does not make the batches that were never asked for, beyond the prefetch depth.
  ramp.calls->store(0);
  l.run(0, 0, [](const ssl::Batch&, int64_t) { return false; });
  CHECK(ramp.calls->load() <= 6 * 3 + 6);  // depth 3 (+ the one taken) batches of 6 at most
}

TEST_CASE("Loader: two processes take disjoint shards that together cover the epoch") {
  ssl::data::Loader one(Ramp{}, nullptr, {.batch_size = 8, .seed = 5, .prefetch = 0});
  ssl::data::Loader half(Ramp{}, nullptr, {.batch_size = 4, .seed = 5, .prefetch = 0});
  for (int64_t e = 0; e < 2; ++e) {
    const auto ord = one.order(e);
    std::set<int64_t> covered;
    for (int64_t b = 0; b < one.batches_per_epoch(); ++b) {
      auto r0 = half.make(ord, b, 2, 0).input.select(1, 0), r1 = half.make(ord, b, 2, 1).input.select(1, 0);
      CHECK(torch::equal(torch::cat({r0, r1}), one.make(ord, b, 1, 0).input.select(1, 0)));
      for (const auto& r : {r0, r1})
        for (int64_t i = 0; i < r.size(0); ++i) CHECK(covered.insert(r[i].item<int64_t>()).second);  // disjoint
    }
    CHECK(covered.size() == 40);  // together: the whole epoch (40 = 5 global batches of 8)
  }
}

TEST_CASE("Loader: errors name the option or the sample; a worker's error reaches the caller") {
  CHECK_THROWS_WITH_AS(ssl::data::Loader(Ramp{}, nullptr, {.batch_size = 8, .workers = 0}),
                       doctest::Contains("workers must be >= 1, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::Loader(Ramp{}, nullptr, {.batch_size = 8, .prefetch = -1}),
                       doctest::Contains("prefetch must be >= 0, got -1"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::Loader(Ramp{.n = 0}, nullptr, {.batch_size = 8}),
                       doctest::Contains("the dataset is empty"), c10::Error);
  struct Ragged {
    int64_t size() const { return 8; }
    ssl::data::Sample get(int64_t i) const { return {torch::zeros({i == 5 ? 2 : 3}), -1}; }
  };
  ssl::data::Loader ragged(Ragged{}, nullptr, {.batch_size = 8, .shuffle = false, .prefetch = 2, .workers = 2});
  CHECK_THROWS_WITH_AS(ragged.run(0, 0, [](const ssl::Batch&, int64_t) { return true; }),
                       doctest::Contains("sample 5 has shape [2]"), c10::Error);
  struct HalfLabelled {
    int64_t size() const { return 4; }
    ssl::data::Sample get(int64_t i) const { return {torch::zeros({1}), i < 2 ? 0 : -1}; }
  };
  ssl::data::Loader half(HalfLabelled{}, nullptr, {.batch_size = 4, .shuffle = false, .prefetch = 0});
  CHECK_THROWS_WITH_AS(half.run(0, 0, [](const ssl::Batch&, int64_t) { return true; }),
                       doctest::Contains("sample 2 has no label"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::normalize(std::vector<double>{0.5, 0.5}, std::vector<double>{0.2}), doctest::Contains("one per channel"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::normalize(std::vector<double>{0.5}, std::vector<double>{0.2})(torch::zeros({2, 3, 4, 4}, torch::kUInt8)),
                       doctest::Contains("made for 1 channels"), c10::Error);
}

TEST_CASE("data::normalize per channel") {
  auto x = torch::stack({torch::full({2, 2}, 51), torch::full({2, 2}, 204)}).to(torch::kUInt8).unsqueeze(0);
  auto y = ssl::data::normalize({0.2, 0.4}, {0.5, 0.2})(x);
  CHECK(y[0][0][0][0].item<double>() == doctest::Approx(0.0));
  CHECK(y[0][1][0][0].item<double>() == doctest::Approx((0.8 - 0.4) / 0.2));
}
}

}  // namespace test_data
