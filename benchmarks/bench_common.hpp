// Shared by the Google Benchmark binaries: the environment knobs (SSL_BENCH_THREADS,
// SSL_BENCH_WARMUP, SSL_BENCH_ITERS) and whether --benchmark_min_time was given.
#pragma once
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>

namespace bench {
/// A positive integer from the environment, or `fallback`.
inline int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  const int n = s != nullptr ? std::atoi(s) : 0;
  return n > 0 ? n : fallback;
}
inline int threads() { return env_int("SSL_BENCH_THREADS", 2); }
/// Untimed steps before the timed ones (allocator, AdamW state, caches), as the Python side's warmup.
inline int warmup() {
  const char* s = std::getenv("SSL_BENCH_WARMUP");
  return s != nullptr ? std::max(0, std::atoi(s)) : 3;
}
/// `--benchmark_min_time=...` on the command line replaces the fixed iteration counts.
inline bool min_time_given(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--benchmark_min_time", 0) == 0) return true;
  return false;
}

/// Model FLOPs of what runs while it is alive: matmuls (mm, addmm, bmm, baddbmm: 2mkn),
/// scaled-dot-product attention (forward 4BHNMd, backward 8BHNMd) and convolutions (forward
/// 2 * outputs * Cin/groups * kernel, backward twice that), counted at ATen's dispatcher with a
/// RecordFunction callback: the conventions of PyTorch's `torch.utils.flop_counter`, so the MFU
/// of a C++ step and of the Python reference count the same work. Element-wise ops, norms and
/// softmax count 0 (as there).
class FlopCounter {
 public:
  FlopCounter() {
    total() = 0;
    handle_ = at::addGlobalCallback(
        at::RecordFunctionCallback(
            [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
              total() += flops_of(fn);
              return nullptr;
            })
            .needsInputs(true)
            .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  }
  ~FlopCounter() { at::removeCallback(handle_); }
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;
  [[nodiscard]] double flops() const { return total().load(); }

 private:
  static std::atomic<double>& total() {
    static std::atomic<double> t{0};
    return t;
  }
  static double numel(const c10::IValue& v) { return v.isTensor() ? double(v.toTensor().numel()) : 0.0; }
  static double flops_of(const at::RecordFunction& fn) {
    const std::string name = fn.name();
    const auto in = fn.inputs();
    auto sizes = [&](size_t i) { return in.size() > i && in[i].isTensor() ? in[i].toTensor().sizes().vec() : std::vector<int64_t>{}; };
    if (name == "aten::mm" || name == "aten::addmm" || name == "aten::bmm" || name == "aten::baddbmm") {
      const size_t a = (name == "aten::addmm" || name == "aten::baddbmm") ? 1 : 0;
      const auto x = sizes(a), y = sizes(a + 1);
      if (x.size() < 2 || y.size() < 2) return 0;
      double batch = x.size() == 3 ? double(x[0]) : 1.0;
      return 2.0 * batch * double(x[x.size() - 2]) * double(x.back()) * double(y.back());
    }
    if (name.rfind("aten::_scaled_dot_product", 0) == 0 || name == "aten::scaled_dot_product_attention") {
      const bool backward = name.find("backward") != std::string::npos;
      if (!backward && name == "aten::scaled_dot_product_attention") return 0;  // counted in its kernel
      const size_t qi = backward ? 1 : 0;
      const auto q = sizes(qi), k = sizes(qi + 1);
      if (q.size() != 4 || k.size() != 4) return 0;
      const double f = 2.0 * double(q[0]) * double(q[1]) * double(q[2]) * double(k[2]) * double(q[3]);
      return backward ? 4.0 * f : 2.0 * f;
    }
    if (name == "aten::convolution" || name == "aten::convolution_backward") {
      const bool backward = name == "aten::convolution_backward";
      const auto w = sizes(backward ? 2 : 1);
      if (w.size() < 3) return 0;
      double per_out = double(w[1]);  // Cin / groups
      for (size_t d = 2; d < w.size(); ++d) per_out *= double(w[d]);
      if (backward) return 2.0 * 2.0 * numel(in[0]) * per_out;  // grad_output's numel = outputs
      // Forward: output numel = N * Cout * spatial, spatial from input, stride, padding, dilation.
      const auto x = sizes(0);
      const auto stride = in[3].toIntVector(), pad = in[4].toIntVector(), dil = in[5].toIntVector();
      double outputs = double(x[0]) * double(w[0]);
      for (size_t d = 2; d < x.size(); ++d) {
        const size_t j = d - 2;
        const int64_t s = stride.size() > j ? stride[j] : stride[0], p = pad.size() > j ? pad[j] : pad[0],
                      dl = dil.size() > j ? dil[j] : dil[0];
        outputs *= double((x[d] + 2 * p - dl * (w[d] - 1) - 1) / s + 1);
      }
      return 2.0 * outputs * per_out;
    }
    return 0;
  }
  at::CallbackHandle handle_;
};

/// The machine's dense fp32 matmul peak (FLOP/s): best of `reps` 2048^3 `at::mm` at the current
/// thread count (the denominator of MFU, measured in the same run as the step).
inline double matmul_peak(int reps = 5) {
  const int64_t n = 2048;
  auto a = torch::randn({n, n}), b = torch::randn({n, n});
  (void)torch::mm(a, b);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = torch::mm(a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * double(n) * double(n) * double(n) / best;
}
}  // namespace bench
