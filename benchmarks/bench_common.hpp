// Shared by the Google Benchmark binaries: the environment knobs (SSL_BENCH_THREADS,
// SSL_BENCH_WARMUP, SSL_BENCH_ITERS) and whether --benchmark_min_time was given.
#pragma once
#include <algorithm>
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
}  // namespace bench
