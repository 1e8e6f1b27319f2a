#!/usr/bin/env bash
# Installs what libssl's build, examples, tests and benchmarks need; idempotent (fast when all
# is there). Debian packages via apt-get; the Python reference stack (and LibTorch: the torch
# wheel) into the project's virtual environment .venv (scripts/build.sh, the tests and the
# benchmark scripts use .venv/bin/python). The venv sees the base Python's packages
# (--system-site-packages), so that a pinned package already installed there is not downloaded
# again. PYTHON=<interpreter> picks the base Python (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

# clang: scripts/test.sh compiles a fresh test tree with it (docs/00_quickstart.md, "Time").
APT_PACKAGES=(build-essential clang cmake ccache zlib1g-dev
              librange-v3-dev doctest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
              libgloo-dev dataset-fashion-mnist fortunes
              libjpeg62-turbo-dev libspng-dev pkg-config doxygen
              libsndfile1-dev espeak-ng sox)
BASE=${PYTHON:-python3}
if ! command -v "$BASE" >/dev/null; then
  APT_PACKAGES+=(python3 python3-venv)
elif [ ! -x .venv/bin/python ] && ! "$BASE" -c 'import ensurepip, venv' 2>/dev/null; then
  APT_PACKAGES+=(python3-venv)  # Debian's python3 creates venvs with pip only with it
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The Debian packages install while the venv below downloads and unpacks (they need each other
# only for python3 and python3-venv, which are then installed first; and where sudo would ask for
# a password, apt-get runs first too, in the foreground).
apt_pid=""
apt_log=""
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  apt_install() { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"; }
  if [[ " ${missing[*]} " == *" python3"* ]] || { [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; }; then
    apt_install
  else
    apt_log=$(mktemp)
    apt_install > "$apt_log" 2>&1 &
    apt_pid=$!
  fi
fi

VENV=.venv
PY=$VENV/bin/python
UV_VERSION=0.13.9
STAMP=$VENV/.requirements-dev.stamp  # newer than requirements-dev.txt: nothing to do
if ! { [ -x "$PY" ] && "$PY" -c 'import pip' 2>/dev/null; }; then
  echo "setup: creating the virtual environment $VENV ($("$BASE" --version), --system-site-packages)"
  rm -rf "$VENV"
  "$BASE" -m venv --system-site-packages "$VENV"
fi
if ! [ "$STAMP" -nt requirements-dev.txt ]; then
  # Every pin already satisfied (in the venv or the base Python's site-packages): no pip run,
  # which would query the package index for each of them.
  if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as md, sys
for line in open("requirements-dev.txt"):
    line = line.split("#")[0].strip()
    if line:
        name, _, ver = line.partition("==")
        have = md.version(name)
        if ver and have.split("+")[0] != ver:
            sys.exit(1)
PYEOF
  then
    echo "setup: installing the Python reference stack into $VENV (torch wheel = LibTorch, transformers, ...)"
    # uv (from PyPI) downloads and unpacks the wheels in parallel, the CUDA libraries of the torch
    # wheel included: less than half of pip's time (docs/00_quickstart.md, "Time"). It resolves the
    # same pins; pip is the fallback.
    find_links=(); [ -n "${PIP_FIND_LINKS:-}" ] && find_links=(--find-links "$PIP_FIND_LINKS")
    # No --compile-bytecode: compiling every module of the stack took ~28 s of the 2 cores (AVX2
    # host), and the tests import a small part of it; scripts/test.sh lets its Python processes
    # write the bytecode of what they import.
    if ! { "$VENV/bin/pip" install -q "uv==$UV_VERSION" &&
           "$VENV/bin/uv" pip install -q --python "$PY" "${find_links[@]}" -r requirements-dev.txt; }; then
      echo "setup: uv failed; installing with pip"
      "$VENV/bin/pip" install -q -r requirements-dev.txt
    fi
  fi
  touch "$STAMP"
fi
if [ -n "$apt_pid" ]; then
  if ! wait "$apt_pid"; then
    cat "$apt_log"; rm -f "$apt_log"
    echo "setup: apt-get could not install: ${missing[*]}"
    exit 1
  fi
  grep -v -E "^(\(Reading database|Preparing to unpack|Selecting previously)" "$apt_log" || true
  rm -f "$apt_log"
fi
echo "setup: ok ($PY: $("$PY" -c 'import importlib.metadata as md; print("torch", md.version("torch"))'))"
