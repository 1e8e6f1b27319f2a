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
# -j2: two entries side by side on the 2 cores, each on 1 intra-op thread: the learning entries say
# so themselves (tests/CMakeLists.txt), the others get it here (SSL_TEST_THREADS for the test
# binary, OMP_NUM_THREADS for LibTorch's default, which the Python references' torch and example
# 01 take). An entry on 2 threads beside another slows both: learning_data2vec took 191 s beside
# entries on 2 threads and 158 s beside the same entries on 1, which also got more done meanwhile
# (AVX2 host, docs/00_quickstart.md, "Time").
# PYTHONDONTWRITEBYTECODE empty: the Python entries write the bytecode of what they import into
# .venv, once, for the entries after them (setup.sh does not compile every module of the
# reference stack; a Python process that compiles what it imports takes ~11 s more).
export SSL_TEST_THREADS=1 OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=
ctest --output-on-failure --timeout 1500 -j2 "$@"
