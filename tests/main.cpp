#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  // 2 intra-op threads (the machine's cores) unless SSL_TEST_THREADS says otherwise: CTest gives
  // the long learning entries 1 thread each and runs two of them side by side (tests/CMakeLists.txt).
  const char* threads = std::getenv("SSL_TEST_THREADS");
  at::set_num_threads(threads && *threads ? std::stoi(threads) : 2);
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
