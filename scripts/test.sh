#!/usr/bin/env bash
# README command 2: set up, build, and run every test (unit, io, train, Hugging Face parity,
# learning outcome, compile-fail, downstream CMake project).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Only what the tests run is built here (README command 1 builds every example and benchmark),
# and the test files as two unity translation units (SSL_UNITY_TESTS: tests/CMakeLists.txt).
# Optimisation: a tree not configured yet (a clean clone, as CI runs it) is compiled at -O1: the
# tests' compute is LibTorch's own optimised libraries (the learning entries' times moved by -13 %
# to +11 % against an -O3 run on the same host), and the build takes about a third less (issue 21;
# docs/00_quickstart.md, "Time"). A tree already configured keeps its flags: after README command 1
# (-O3) the tests reuse its objects instead of rebuilding them.
# Compiler: a tree not configured yet is compiled with clang++ (14 or later) where there is one and
# CXX does not name another: clang's precompiled header holds the template instantiations of
# torch/torch.h and libssl (CMake's PCH_INSTANTIATE_TEMPLATES), which GCC redoes in every
# translation unit (setup + build of a clean clone: 572 s against 675 s on the AVX2 host;
# docs/00_quickstart.md, "Time"). GCC stays the compiler of README command 1 and of the
# `consumer` entry's project, so both compilers build libssl in CI.
compiler=()
if [ -f build/CMakeCache.txt ]; then
  opt=$(sed -n 's/^CMAKE_CXX_FLAGS_RELEASE:[A-Z]*=//p' build/CMakeCache.txt)
elif [ -z "${CXX:-}" ] && command -v clang++ > /dev/null &&
     [ "$(clang++ -dumpversion | cut -d. -f1)" -ge 14 ] 2> /dev/null; then
  compiler=(-DCMAKE_CXX_COMPILER=clang++)
fi
[ -n "${opt:-}" ] || opt="-O1 -DNDEBUG"
./scripts/build.sh "${compiler[@]}" -DSSL_BUILD_BENCHMARKS=OFF -DSSL_UNITY_TESTS=ON "-DCMAKE_CXX_FLAGS_RELEASE=$opt" \
  --target ssl_test_programs
sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=/test build: /p' build/CMakeCache.txt
cd build
# -j2: the long learning entries run on 1 thread each, two side by side (tests/CMakeLists.txt).
ctest --output-on-failure --timeout 1500 -j2 "$@"
