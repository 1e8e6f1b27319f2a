#!/usr/bin/env bash
# The label-budget sweep (docs/decision_guide.md, "The label-budget sweep"): each method's
# default pretraining (examples 00 and 05), then its backbone fine-tuned against the same network
# from scratch at each label budget, every budget from the same pretrained weights
# (--finetune-labels with several values), and its frozen features probed (k-NN and linear) at the
# same budgets (--probe-labels), one run at a time on the machine's cores, into
# <root>/<method>/seed<S>/, its metrics.json, host.txt and log.txt kept in git under
# docs/results/sweep/<method>/seed<S>/. A run kept there is not run again. Then it prints the
# table of every method kept, and with --doc FILE writes it between FILE's label-sweep markers.
#   scripts/label_sweep.sh [--table-only] [--doc FILE] [method...]   (methods: mae dino simclr; default all)
#   environment: SEED (0), LABELS ("100 1000 5000 60000"), MIN_STEPS (195, the fine-tunes' and the
#   probes': scripts/results_lib.sh),
#   BUILD (build), ROOT (out/sweep), RESUME (1: a run folder under ROOT that holds a checkpoint
#   continues from it; scripts/results_lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/results_lib.sh
root=${ROOT:-out/sweep}
kept=docs/results/sweep  # each run's metrics.json, host.txt and log.txt, in git: the table's source
seed=${SEED:-0}
read -r -a labels <<< "${LABELS:-100 1000 5000 60000}"
results_args "$@"
all=(mae dino simclr)
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
[ ${#labels[@]} -gt 0 ] || { echo "label_sweep: LABELS is empty: give one budget or more (e.g. \"100 1000\")"; exit 2; }
for v in "$seed" "${labels[@]}"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "label_sweep: SEED and LABELS must be non-negative integers, got '$v'"; exit 2; }
done

command_of() {
  case $1 in
    mae) echo "00_mae_fashion_mnist" ;;
    dino | simclr) echo "05_joint_embedding --method $1 --floors 0" ;;
    *) return 1 ;;
  esac
}
for m in "${names[@]}"; do
  command_of "$m" > /dev/null || { echo "label_sweep: unknown method '$m' (mae, dino or simclr)"; exit 2; }
done

if [ $table_only = no ]; then
  for m in "${names[@]}"; do
    read -r -a cmd <<< "$(command_of "$m")"
    results_run "$root/$m/seed$seed" "$kept/$m/seed$seed" "${cmd[@]}" --seed "$seed" \
      --finetune-labels "${labels[@]}" --finetune-min-steps "$results_min_steps" \
      --probe-labels "${labels[@]}" --probe-min-steps "$results_min_steps"
  done
fi
results_table sweep "$kept" "$doc" "$seed" "${all[@]}"  # every method kept, whichever ran now
