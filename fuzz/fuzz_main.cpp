// libFuzzer entry of libssl's parser targets (fuzz/targets.hpp): one binary for every target, so
// that clang compiles LibTorch's headers once. The target is chosen by the environment:
//   SSL_FUZZ_TARGET=<name> ssl_fuzz [libFuzzer flags] [corpus folders]   fuzz one target
//   SSL_FUZZ_LIST=1 ssl_fuzz                                            print "name max_len" lines
//   SSL_FUZZ_MAKE_CORPUS=<folder> ssl_fuzz                              write the seed corpus
// Built and run by scripts/fuzz.sh (clang++, -fsanitize=fuzzer,address,undefined).
#include "targets.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

// LibTorch (the PyPI wheel's shared libraries) is not instrumented, so:
//  - detect_leaks=0: LibTorch's static state (operator registry, thread pools, allocator caches)
//    is never freed and LeakSanitizer would report it at every exit;
//  - detect_container_overflow=0: container annotations of code compiled with ASan disagree with
//    uninstrumented LibTorch code that grows / shrinks the same std::vector (false positives);
//  - alloc_dealloc_mismatch=0: LibTorch frees with free() some blocks allocated by new[] in its own
//    (uninstrumented) code paths, which ASan would see at the boundary only.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0:detect_container_overflow=0:alloc_dealloc_mismatch=0:abort_on_error=1:"
         "handle_abort=1";
}
// Undefined behaviour in our code is fatal (-fno-sanitize-recover in fuzz/CMakeLists.txt), with
// its stack.
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

namespace {
const ssl_fuzz::Target* chosen = nullptr;

void list_targets(std::FILE* out) {
  for (const auto& t : ssl_fuzz::targets()) std::fprintf(out, "%s %zu\n", t.name, t.max_len);
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  if (const char* dir = std::getenv("SSL_FUZZ_MAKE_CORPUS"); dir && *dir) {
    ssl_fuzz::write_seed_corpus(dir);
    std::exit(0);
  }
  if (const char* list = std::getenv("SSL_FUZZ_LIST"); list && *list) {
    list_targets(stdout);
    std::exit(0);
  }
  const char* name = std::getenv("SSL_FUZZ_TARGET");
  chosen = name ? ssl_fuzz::find_target(name) : nullptr;
  if (chosen == nullptr) {
    std::fprintf(stderr, "fuzz_main.cpp: expected SSL_FUZZ_TARGET to name a target, got '%s'; the targets:\n",
                 name ? name : "(unset)");
    list_targets(stderr);
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chosen->run(data, size);  // 1 (parsed) or 0 (refused): both fine; libFuzzer wants 0
  return 0;
}
