#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  // 2 intra-op threads (the machine's cores) unless SSL_TEST_THREADS says otherwise: CTest gives
  // the long learning entries 1 thread each and runs two of them side by side (tests/CMakeLists.txt).
  int threads = 2;
  if (const char* env = std::getenv("SSL_TEST_THREADS"); env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024) {
      std::fprintf(stderr, "SSL_TEST_THREADS: expected a thread count from 1 to 1024, got '%s'\n", env);
      return 2;
    }
    threads = int(n);
  }
  at::set_num_threads(threads);
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
