#!/usr/bin/env bash
# README command 2: set up, build, and run every test (unit, io, train, Hugging Face parity,
# learning outcome, compile-fail, downstream CMake project).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Only what the tests run is built here (README command 1 builds every example and benchmark),
# and the test files as two unity translation units (SSL_UNITY_TESTS: tests/CMakeLists.txt).
./scripts/build.sh -DSSL_BUILD_BENCHMARKS=OFF -DSSL_UNITY_TESTS=ON --target ssl_test_programs
cd build
# -j2: the long learning entries run on 1 thread each, two side by side (tests/CMakeLists.txt).
ctest --output-on-failure --timeout 1500 -j2 "$@"
