#!/usr/bin/env bash
# Configures and builds libssl's examples, tests and benchmarks into build/ (Release, ccache, -j2).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j2 2>&1 | tee -a build.log | grep -E "error|warning|Built target" || true
test "${PIPESTATUS[0]}" -eq 0 || { echo "build failed: see build.log"; exit 1; }
