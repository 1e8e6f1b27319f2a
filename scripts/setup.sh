#!/usr/bin/env bash
# Installs what libssl's build, examples, tests and benchmarks need; idempotent (fast when all
# is there). Debian packages via apt-get, the Python reference stack (and LibTorch) via pip.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential cmake ccache zlib1g-dev
              librange-v3-dev doctest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
              libgloo-dev dataset-fashion-mnist fortunes
              libjpeg62-turbo-dev libspng-dev pkg-config)
command -v python3 >/dev/null || APT_PACKAGES+=(python3 python3-pip python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PY=${PYTHON:-python3}
if ! $PY - <<'PYEOF' 2>/dev/null
import importlib.metadata as md, sys
want = {}
for line in open("requirements-dev.txt"):
    line = line.split("#")[0].strip()
    if line:
        name, _, ver = line.partition("==")
        want[name] = ver
for name, ver in want.items():
    have = md.version(name)
    if ver and have.split("+")[0] != ver:
        sys.exit(1)
PYEOF
then
  echo "setup: installing the Python reference stack (torch wheel = LibTorch, transformers, ...)"
  $PY -m pip install -q -r requirements-dev.txt ||
    $PY -m pip install -q --break-system-packages -r requirements-dev.txt  # PEP 668 system Python
fi
echo "setup: ok ($($PY -c 'import torch; print("torch", torch.__version__)'))"
