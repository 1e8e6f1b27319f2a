// Google Benchmark of the batched augmentation pipelines (include/ssl/augment/views.hpp) on a
// batch of 256 Fashion-MNIST-sized images (28x28, 1 channel, uniform in [0,1]), on the CPU.
//
//   SSL_BENCH_THREADS=2 build/benchmarks/bench_augment [--benchmark_format=json]
//
// Cases (items = source images; each makes `views` views):
//   BM_TwoViews/simclr:      TwoViews::simclr(28, 1): 2 views (crop, flip, jitter, blur p 0.5)
//   BM_TwoViews/byol:        TwoViews::byol(28, 1): 2 views (blur 1.0 / 0.1, solarize 0 / 0.2)
//   BM_MultiCrop/dino:       MultiCrop::dino({.global_size = 28, .channels = 1}): 2 global views at 28 + 6 local
//                            views at 12
//   BM_TwoViews/simclr_rgb32: TwoViews::simclr(32, 3) on 3x32x32 images (the colour path:
//                            saturation, hue, grayscale; CIFAR-sized)
//   BM_Stage/<name>:         one random transform alone on the 28x28 batch (crop to 28 and to 12,
//                            flip, jitter (brightness+contrast, p 0.8), blur p 1 and 0.5, solarize)
// benchmarks/augment_side_by_side.py runs the first three against torchvision's per-image
// transforms in a DataLoader.
#include <benchmark/benchmark.h>
#include <ssl/augment/views.hpp>
#include <torch/torch.h>

#include "bench_common.hpp"

#include <functional>

namespace {
constexpr int64_t kBatch = 256;

template <class Aug>
void run(benchmark::State& state, const Aug& aug, int64_t channels, int64_t side) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  const torch::Tensor x = torch::rand({kBatch, channels, side, side});
  torch::NoGradGuard g;
  size_t views = 0;
  for (int i = 0; i < bench::warmup(); ++i) views = aug(x).all().size();
  for (auto _ : state) {
    ssl::Views v = aug(x);
    views = v.all().size();
    benchmark::DoNotOptimize(v.global[0].data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["batch"] = double(kBatch);
  state.counters["views"] = double(views);
  state.counters["torch_threads"] = double(at::get_num_threads());
}
}  // namespace

// Each case runs `SSL_BENCH_WARMUP` (3) untimed calls, then `SSL_BENCH_ITERS` (default 50) timed
// ones; `--benchmark_min_time=<s>` replaces the fixed count. Times are wall clock.
int main(int argc, char** argv) {
  namespace A = ssl::augment;
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 50);
  auto reg = [&](const char* name, std::function<void(benchmark::State&)> fn) {
    auto* b = benchmark::RegisterBenchmark(name, [fn](benchmark::State& s) { fn(s); });
    b->Unit(benchmark::kMillisecond)->UseRealTime();
    if (!min_time_flag) b->Iterations(iters);
  };
  reg("BM_TwoViews/simclr", [](auto& s) { run(s, A::TwoViews::simclr(28, 1), 1, 28); });
  reg("BM_TwoViews/byol", [](auto& s) { run(s, A::TwoViews::byol(28, 1), 1, 28); });
  reg("BM_MultiCrop/dino",
      [](auto& s) { run(s, A::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1}), 1, 28); });
  auto stage = [&](const char* name, A::Transform t) {
    reg(name, [t](auto& s) {
      struct One { A::Transform t; ssl::Views operator()(const torch::Tensor& x) const { return {{t(x)}, {}}; } };
      run(s, One{t}, 1, 28);
    });
  };
  stage("BM_Stage/crop", A::RandomResizedCrop{.size = 28});
  stage("BM_Stage/crop12", A::RandomResizedCrop{.size = 12});
  stage("BM_Stage/flip", A::RandomHorizontalFlip{});
  stage("BM_Stage/jitter", A::ColorJitter{.brightness = 0.8, .contrast = 0.8, .p = 0.8});
  stage("BM_Stage/blur", A::GaussianBlur{.p = 1.0});
  stage("BM_Stage/blur05", A::GaussianBlur{.p = 0.5});
  stage("BM_Stage/solarize", A::RandomSolarize{.p = 0.2});
  reg("BM_TwoViews/simclr_rgb32", [](auto& s) { run(s, A::TwoViews::simclr(32, 3), 3, 32); });

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
