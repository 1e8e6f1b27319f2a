#!/usr/bin/env bash
# Builds the API reference of include/ssl with doxygen (docs/Doxyfile) into build/api/html and
# fails when doxygen warns: a public name without a `///` comment (ssl::...::detail is not public)
# or a malformed comment. Installs nothing.
#   scripts/api_docs.sh        exit 0: build/api/html/index.html; 1: warnings (listed, and in
#                              build/api/warnings.log); 2: doxygen is missing
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v doxygen >/dev/null; then
  echo "api_docs: doxygen not found; install it (Debian: sudo apt-get install doxygen) and re-run" >&2
  exit 2
fi
rm -rf build/api
mkdir -p build/api
doxygen docs/Doxyfile
log=build/api/warnings.log
undocumented=$(grep -c 'is not documented' "$log" || true)
other=$(grep -v 'is not documented' "$log" | grep -c -E 'warning|error' || true)
if [ "$undocumented" -gt 0 ] || [ "$other" -gt 0 ]; then
  sed "s|$PWD/||" "$log" >&2
  echo "api_docs: $undocumented undocumented public names, $other other warnings; per file:" >&2
  sed -E "s|^$PWD/||; s/:[0-9]+: .*//" "$log" | grep -E '^include/' | sort | uniq -c | sort -rn >&2
  exit 1
fi
echo "api_docs: ok: build/api/html/index.html ($(doxygen --version))"
