// Shared by the Google Benchmark binaries that time training steps (bench_joint, bench_scale):
// the timed loop and the MFU counters. Separate from bench_common.hpp, which bench_dist (not a
// Google Benchmark binary) also includes.
#pragma once
#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace bench {
/// `warmup()` untimed calls of `f`, then one timed call per benchmark iteration (wall clock,
/// manual time: LibTorch's threads do the work). Returns the median seconds per call.
template <class F>
double timed(benchmark::State& state, F&& f) {
  for (int i = 0; i < warmup(); ++i) f();
  std::vector<double> s;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    s.push_back(dt);
  }
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  return n == 0 ? 0.0 : (n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]));
}

/// The matmul peak of this run, measured once per binary (at the first call's thread count).
inline double run_peak() {
  static const double peak = matmul_peak();
  return peak;
}

/// Model FLOPs of one more (untimed) call of `step` and the MFU of a step taking `median_s`:
/// counters gflop_per_step, peak_gflops, mfu.
template <class F>
void report_mfu(benchmark::State& state, double median_s, F&& step) {
  double flops = 0;
  {
    FlopCounter count;
    step();
    flops = count.flops();
  }
  const double peak = run_peak();
  state.counters["gflop_per_step"] = flops / 1e9;
  state.counters["peak_gflops"] = peak / 1e9;
  state.counters["mfu"] = median_s > 0 ? flops / median_s / peak : 0.0;
}
}  // namespace bench
