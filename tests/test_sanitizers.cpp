// Canaries of the sanitizer lane (scripts/sanitize.sh): each case does what one sanitizer must
// report, and the CTest entries sanitizer_canary_* (declared with SSL_SANITIZE only) pass when the
// report is in the output, so a lane whose sanitizers are off or whose reports are lost fails.
// Skipped in every other run; compiled only with SSL_SANITIZE (tests/CMakeLists.txt).
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <cstdlib>

// Each test file in its own namespace: the files compile as one unit in a unity build.
namespace test_sanitizers {

TEST_SUITE("sanitizer_canary") {
TEST_CASE("sanitizer canary: heap buffer overflow" * doctest::skip(true)) {
  // Through a volatile pointer: GCC cannot see the array's size, so UBSan's object-size check
  // (which reported `new int[8]`'s p[8] first, as "load of address ... with insufficient space")
  // stays out of it and the read reaches AddressSanitizer.
  int* volatile p = new int[8]();
  volatile int64_t i = 8;  // volatile: the compiler can neither see nor fold the index
  const int x = p[i];      // one past the end: AddressSanitizer's heap-buffer-overflow
  delete[] p;
  CHECK(x != 12345);
}

TEST_CASE("sanitizer canary: signed integer overflow" * doctest::skip(true)) {
  volatile int a = INT_MAX;
  const int b = a + 1;  // UndefinedBehaviorSanitizer: signed integer overflow
  CHECK(b != 0);
}

TEST_CASE("sanitizer canary: leak" * doctest::skip(true)) {
  void* volatile p = std::malloc(4096);  // never freed: LeakSanitizer at exit
  p = nullptr;
  CHECK(p == nullptr);
}
}

}  // namespace test_sanitizers
