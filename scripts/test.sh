#!/usr/bin/env bash
# README command 2: set up, build, and run every test (unit, io, train, Hugging Face parity,
# learning outcome, compile-fail, downstream CMake project).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The benchmarks are not tests: not built here (README command 1 builds them).
./scripts/build.sh -DSSL_BUILD_BENCHMARKS=OFF
cd build
# -j2: the long learning entries run on 1 thread each, two side by side (tests/CMakeLists.txt).
ctest --output-on-failure --timeout 1500 -j2 "$@"
