#!/usr/bin/env bash
# Results over seeds (docs/decision_guide.md, "Results over seeds"): each image method's default
# run (examples 00, 05, 06 with their defaults) and the same network scored at initialisation
# (--random-init), for each seed, one run at a time on the machine's cores, into
# <root>/<run>/seed<S>/, its metrics.json, host.txt and log.txt kept in git under
# docs/results/seeds/<run>/seed<S>/. A run kept there is not run again, so the script resumes
# where an earlier call (or an earlier checkout) stopped. Then it prints the table of every run
# kept (mean +- std over its seeds) and the table of their frozen probes at each label budget, and
# with --doc FILE writes them between FILE's seed-table and seed-budgets markers.
#   scripts/seed_table.sh [--table-only] [--doc FILE] [run...]
#   environment: SEEDS (default "0 1 2"), BUILD (build), ROOT (out/seeds), PROBE_LABELS (default
#   "100 1000 5000 60000": each run also probes its frozen features and the floors on the first N
#   training labels, --probe-labels, a few seconds; "" for none), MIN_STEPS (--probe-min-steps,
#   195) and RESUME (scripts/results_lib.sh)
# Runs (default: all, in this order): dino dino_init mae mae_init ibot ibot_init beit beit_init
#   simclr resnet_init vicreg barlow_twins mocov3 byol simsiam data2vec2 data2vec2_init ijepa
#   ijepa_init. <method>_init is <method>'s network at initialisation with <method>'s features and
#   fine-tuning; resnet_init is the ResNet-18 of every example-05 method but DINO (the same
#   network and features whichever projector the method adds).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/results_lib.sh
root=${ROOT:-out/seeds}
kept=docs/results/seeds  # each run's metrics.json, host.txt and log.txt, in git: the table's source
read -r -a seeds <<< "${SEEDS:-0 1 2}"
read -r -a probe_labels <<< "${PROBE_LABELS-100 1000 5000 60000}"
probe_args=()
[ ${#probe_labels[@]} -eq 0 ] || probe_args=(--probe-labels "${probe_labels[@]}" --probe-min-steps "$results_min_steps")
results_args "$@"
all=(dino dino_init mae mae_init ibot ibot_init beit beit_init simclr resnet_init vicreg barlow_twins mocov3 byol
     simsiam data2vec2 data2vec2_init ijepa ijepa_init)
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")

# The example and its arguments for one run.
command_of() {
  case $1 in
    mae) echo "00_mae_fashion_mnist" ;;
    mae_init) echo "00_mae_fashion_mnist --random-init" ;;
    resnet_init) echo "05_joint_embedding --method simclr --random-init" ;;
    simclr | vicreg | barlow_twins | mocov3 | byol | simsiam | dino) echo "05_joint_embedding --method $1" ;;
    dino_init) echo "05_joint_embedding --method dino --random-init" ;;
    beit | ibot | data2vec2 | ijepa) echo "06_masked_tokens --method $1" ;;
    beit_init | ibot_init | data2vec2_init | ijepa_init) echo "06_masked_tokens --method ${1%_init} --random-init" ;;
    *) return 1 ;;
  esac
}
for r in "${names[@]}"; do
  command_of "$r" > /dev/null || { echo "seed_table: unknown run '$r' (one of: ${all[*]})"; exit 2; }
done
for s in "${seeds[@]}"; do
  [[ $s =~ ^[0-9]+$ ]] || { echo "seed_table: SEEDS must be non-negative integers, got '$s'"; exit 2; }
done
for n in "${probe_labels[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "seed_table: PROBE_LABELS must be whole numbers >= 1, got '$n'"; exit 2; }
done

if [ $table_only = no ]; then
  for r in "${names[@]}"; do
    read -r -a cmd <<< "$(command_of "$r")"
    for s in "${seeds[@]}"; do
      results_run "$root/$r/seed$s" "$kept/$r/seed$s" "${cmd[@]}" --seed "$s" "${probe_args[@]}"
    done
  done
fi
results_table seeds "$kept" "$doc" "${all[@]}"  # every run kept, whichever ran now
results_table budgets "$kept" "$doc" "${all[@]}"
