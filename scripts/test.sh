#!/usr/bin/env bash
# README command 2: set up, build, and run every test (unit, io, train, Hugging Face parity,
# learning outcome, compile-fail, downstream CMake project).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Only what the tests run is built here (README command 1 builds every example and benchmark),
# and the test files as two unity translation units (SSL_UNITY_TESTS: tests/CMakeLists.txt).
# Compiler and optimisation of a tree not configured yet (a clean clone, as CI runs it):
# - clang++ (14 or later) where there is one and CXX does not name another: clang's precompiled
#   header holds the template instantiations of torch/torch.h and libssl (CMake's
#   PCH_INSTANTIATE_TEMPLATES), which GCC redoes in every translation unit;
# - -O0 with clang, -O1 with GCC: the tests' compute is LibTorch's own optimised libraries, and
#   what is left of a compile is code generation, which clang does much faster at -O0, while the
#   learning entries run about as fast (measured: docs/00_quickstart.md, "Time"; issue 21).
# GCC stays the compiler of README command 1 (-O3) and of the `consumer` entry's project (-O1), whose
# app includes ssl/ssl.hpp: in CI, GCC compiles every header and an optimised build of the app runs.
# A tree already configured keeps its compiler and flags: after README command 1 the tests reuse its
# objects instead of rebuilding them.
cache() { sed -n "s/^$1:[A-Z]*=//p" build/CMakeCache.txt; }  # a variable of build/'s CMake cache
compiler=()
if [ -f build/CMakeCache.txt ]; then
  opt=$(cache CMAKE_CXX_FLAGS_RELEASE)
elif [ -z "${CXX:-}" ] && command -v clang++ > /dev/null &&
     [ "$(clang++ -dumpversion | cut -d. -f1)" -ge 14 ] 2> /dev/null; then
  compiler=(-DCMAKE_CXX_COMPILER=clang++)
  opt="-O0 -DNDEBUG"
fi
[ -n "${opt:-}" ] || opt="-O1 -DNDEBUG"
./scripts/build.sh "${compiler[@]}" -DSSL_BUILD_BENCHMARKS=OFF -DSSL_UNITY_TESTS=ON "-DCMAKE_CXX_FLAGS_RELEASE=$opt" \
  --target ssl_test_programs
echo "test build: $(cache CMAKE_CXX_COMPILER) $(cache CMAKE_CXX_FLAGS_RELEASE)"
cd build
# -j2: two entries side by side on the 2 cores, each on 1 intra-op thread: every entry's CTest
# environment says so (ssl_test_environment, the top-level CMakeLists.txt), so a `ctest -j2` run in
# build/ by hand gets the same.
ctest --output-on-failure --timeout 1500 -j2 "$@"
