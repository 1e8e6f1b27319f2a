// Issue 6's Google Benchmarks: the optimizer step (ATen's fused AdamW, the `_foreach_*` chain,
// LibTorch's own per-parameter torch::optim::AdamW; LARS) and the EMA update (one
// `_foreach_lerp_` against the per-tensor loop a teacher would otherwise run), and the MAE training step with and without
// activation checkpointing, with its model FLOPs and MFU against the matmul peak of this run.
//
//   SSL_BENCH_THREADS=2 ./build/benchmarks/bench_scale
//
// Parameters: a ViT-tiny encoder (192-d x 12 blocks, 152 tensors, 5.5 M values) with random
// gradients. Times are wall clock per call (manual timing).
#include "bench_common.hpp"

#include <benchmark/benchmark.h>
#include <ssl/mae.hpp>
#include <ssl/ssl.hpp>
#include <torch/torch.h>

#include <chrono>
#include <vector>

namespace {

ssl::vit::Encoder vit_tiny() {
  return ssl::vit::Encoder(ssl::vit::Options{}.image(224).patch(16).channels(3).dim(192).depth(12).heads(3));
}

/// Times `f()` per iteration; `setup()` once before.
template <class F>
void timed(benchmark::State& state, F f) {
  for (int i = 0; i < bench::warmup(); ++i) f();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

std::vector<std::pair<std::string, torch::Tensor>> with_grads(ssl::vit::Encoder& enc) {
  auto named = enc->named_parameters().pairs();
  for (auto& [n, p] : named) p.mutable_grad() = torch::randn_like(p) * 1e-3;
  return named;
}

void counters(benchmark::State& state, const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  int64_t n = 0;
  for (const auto& [k, p] : named) n += p.numel();
  state.counters["tensors"] = double(named.size());
  state.counters["values"] = double(n);
  state.counters["torch_threads"] = double(at::get_num_threads());
}

void BM_AdamW(benchmark::State& state, bool fused) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = vit_tiny();
  auto named = with_grads(enc);
  ssl::optim::AdamW opt(named, {.lr = 1e-4, .weight_decay = 0.05});
  opt.use_fused(fused);
  opt.set_lr_factor(1.0);
  timed(state, [&] { opt.step(); });
  counters(state, named);
  state.counters["fused"] = double(opt.fused());
}
void BM_AdamW_libtorch_loop(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = vit_tiny();
  auto named = with_grads(enc);
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : named) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-4).weight_decay(0.05));
  timed(state, [&] { opt.step(); });
  counters(state, named);
}
void BM_Lars_foreach(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = vit_tiny();
  auto named = with_grads(enc);
  ssl::optim::Lars opt(named, {.lr = 0.3, .weight_decay = 1e-6});
  timed(state, [&] { opt.step(); });
  counters(state, named);
}
void BM_Ema_foreach(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto student = vit_tiny(), teacher = vit_tiny();
  const auto s = student->parameters(), t = teacher->parameters();
  const ssl::teacher::Ema ema{.base = 0.996};
  int64_t step = 0;
  timed(state, [&] { ema(s, t, {.step = step++, .total_steps = 1000000}); });
  counters(state, student->named_parameters().pairs());
}
void BM_Ema_loop(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto student = vit_tiny(), teacher = vit_tiny();
  const auto s = student->parameters(), t = teacher->parameters();
  timed(state, [&] {
    torch::NoGradGuard g;
    for (size_t i = 0; i < s.size(); ++i) t[i].mul_(0.996).add_(s[i].detach(), 0.004);
  });
  counters(state, student->named_parameters().pairs());
}

/// The example's MAE step (28^2, patch 4, 128 x 4, decoder 64 x 2, batch 256), activations stored
/// or recomputed in backward.
void BM_MaeStep(benchmark::State& state, bool checkpoint) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  ssl::mae::Options o;
  o.encoder = o.encoder.checkpoint(checkpoint);
  auto mae = ssl::mae::recipe(o);
  mae->train(true);
  ssl::optim::AdamW opt(mae->named_parameters().pairs(), {.lr = 1.5e-4, .weight_decay = 0.05, .beta2 = 0.95});
  opt.set_lr_factor(1.0);
  const ssl::Batch batch{torch::randn({bench::env_int("SSL_BENCH_BATCH", 256), 1, 28, 28}), {}};
  auto step = [&] {
    auto out = mae->forward(batch);
    (void)out.loss.item<double>();
    opt.zero_grad();
    out.loss.backward();
    opt.step();
  };
  std::vector<double> ms;
  for (int i = 0; i < bench::warmup(); ++i) step();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    ms.push_back(dt);
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.empty() ? 0 : ms[ms.size() / 2];
  // Model FLOPs (MFU's numerator) exclude the recomputation: counted on a step that stores.
  double flops = 0;
  {
    mae->backbone()->blocks->options.checkpoint(false);
    bench::FlopCounter count;
    step();
    flops = count.flops();
    mae->backbone()->blocks->options.checkpoint(checkpoint);
  }
  static const double peak = bench::matmul_peak();
  state.counters["gflop_per_step"] = flops / 1e9;
  state.counters["peak_gflops"] = peak / 1e9;
  state.counters["mfu"] = median > 0 ? flops / median / peak : 0.0;
  state.SetItemsProcessed(state.iterations() * batch.input.size(0));
}
}  // namespace

int main(int argc, char** argv) {
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 10);
  auto reg = [&](const char* name, auto fn, int n) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseManualTime();
    if (!min_time_flag) b->Iterations(n);
  };
  reg("BM_OptimizerStep/adamw_fused", [](benchmark::State& s) { BM_AdamW(s, true); }, 5 * iters);
  reg("BM_OptimizerStep/adamw_foreach", [](benchmark::State& s) { BM_AdamW(s, false); }, 5 * iters);
  reg("BM_OptimizerStep/adamw_libtorch_loop", BM_AdamW_libtorch_loop, 5 * iters);
  reg("BM_OptimizerStep/lars_foreach", BM_Lars_foreach, 5 * iters);
  reg("BM_EmaUpdate/foreach", BM_Ema_foreach, 5 * iters);
  reg("BM_EmaUpdate/loop", BM_Ema_loop, 5 * iters);
  reg("BM_MaeStep/stored", [](benchmark::State& s) { BM_MaeStep(s, false); }, iters);
  reg("BM_MaeStep/checkpointed", [](benchmark::State& s) { BM_MaeStep(s, true); }, iters);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
