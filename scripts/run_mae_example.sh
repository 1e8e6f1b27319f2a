#!/usr/bin/env bash
# README command 1: set up, build, and run the MAE example on Fashion-MNIST (<= 10 min, 2 cores).
# Extra arguments go to the example (e.g. --epochs 20 for the longer configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh -DSSL_BUILD_BENCHMARKS=ON
./build/examples/00_mae_fashion_mnist --out out/mae "$@"
