#!/usr/bin/env bash
# Runs example 05 with its defaults for every joint-embedding method, one after the other (the
# machine's cores to one run at a time), and prints one line per method from <out>/metrics.json.
#   scripts/run_joint_examples.sh [build dir] [output root] [methods...]
set -euo pipefail
build=${1:-build}
root=${2:-out/joint}
shift $(( $# > 2 ? 2 : $# )) || true
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(simclr barlow_twins vicreg simsiam byol mocov3 dino)
for m in "${methods[@]}"; do
  "$build/examples/05_joint_embedding" --method "$m" --out "$root/$m" 2>&1 | grep -v "pretrain  *[0-9]*% " || exit 1
done
py=$(dirname "$0")/../.venv/bin/python  # the project's venv (scripts/setup.sh); the table needs only json
[ -x "$py" ] || py=python3
"$py" - "$root" "${methods[@]}" <<'PY'
import json, sys
root, methods = sys.argv[1], sys.argv[2:]
print("| method | backbone | features | epochs | batch | k-NN | linear | raw k-NN | raw linear | train s | total s |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in methods:
    j = json.load(open(f"{root}/{m}/metrics.json"))
    print(f"| {m} | {j['backbone']} | {j.get('features', 'pooled')} ({j['feature_dim']:.0f}-d) | {j['epochs']:.0f} | {j['batch']:.0f} | {100*j['knn_top1']:.2f} % | {100*j['linear_top1']:.2f} % | "
          f"{100*j['raw_pixels_knn_top1']:.2f} % | {100*j['raw_pixels_linear_top1']:.2f} % | {j['train_seconds']:.0f} | {j['total_seconds']:.0f} |")
PY
