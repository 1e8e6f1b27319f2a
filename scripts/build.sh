#!/usr/bin/env bash
# Configures and builds libssl's examples, tests and benchmarks into build/ (Release, ccache, -j2).
#   scripts/build.sh [-D<cmake option>...] [--target <target>]   (default: every target)
# Python is the project's venv (.venv, made by scripts/setup.sh): the tests' reference scripts run
# on it, and LibTorch is the one of its torch wheel unless a CMAKE_PREFIX_PATH or Torch_DIR is
# given (as -D... arguments, on each call, or in the environment).
# Optimisation: CMake's Release flags (-O3 -DNDEBUG) unless a -DCMAKE_CXX_FLAGS_RELEASE=... is
# given (scripts/test.sh: -O0 with clang, -O1 with GCC, on a tree not configured yet; see there).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$PWD/.venv/bin/python
[ -x "$PY" ] || { echo "build: $PY missing: run scripts/setup.sh first"; exit 1; }
args=(-DPython3_EXECUTABLE:FILEPATH="$PY")
build_args=()
given=no
opt=no
while (($#)); do
  case $1 in
    --target) build_args+=(--target "$2"); shift 2; continue ;;
    -DCMAKE_PREFIX_PATH*|-DTorch_DIR*) given=yes ;;
    -DCMAKE_CXX_FLAGS_RELEASE*) opt=yes ;;
  esac
  args+=("$1")
  shift
done
if [ $given = no ] && [ -z "${CMAKE_PREFIX_PATH:-}" ] && [ -z "${Torch_DIR:-}" ]; then
  prefix=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)') ||
    { echo "build: no torch in $PY: run scripts/setup.sh"; exit 1; }
  args+=(-DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR:PATH="$prefix/Torch")
fi
# Given each time: the flags stay what this call says, not what an earlier call left in the cache.
[ $opt = yes ] || args+=("-DCMAKE_CXX_FLAGS_RELEASE=-O3 -DNDEBUG")
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${args[@]}" > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j2 "${build_args[@]}" 2>&1 | tee -a build.log | grep -E "error|warning|Built target" || true
test "${PIPESTATUS[0]}" -eq 0 || { echo "build failed: see build.log"; exit 1; }
