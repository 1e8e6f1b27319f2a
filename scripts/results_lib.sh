# Shared by scripts/seed_table.sh and scripts/label_sweep.sh (sourced, from the project root):
# their command line, one example run into its own folder, and the table they print.

# The optimizer steps every label budget trains for at least (--finetune-min-steps,
# --probe-min-steps): 195, those of the examples' default fine-tune (5 epochs of 5000 labels at
# batch 128), so that a small budget is not also a short run. Environment: MIN_STEPS.
results_min_steps=${MIN_STEPS:-195}
[[ $results_min_steps =~ ^[0-9]+$ ]] || { echo "$0: MIN_STEPS must be a non-negative integer, got '$results_min_steps'"; exit 2; }

# [--table-only] [--doc FILE] [name...] -> $table_only (yes | no), $doc, the array $names.
results_args() {
  table_only=no
  doc=
  names=()
  while (($#)); do
    case $1 in
      --table-only) table_only=yes ;;
      --doc) [ $# -ge 2 ] || { echo "$0: --doc needs a file"; exit 2; }; doc=$2; shift ;;
      *) names+=("$1") ;;
    esac
    shift
  done
}

# results_run DIR KEEP EXAMPLE [ARG...]: $BUILD/examples/EXAMPLE ARG... --out DIR, unless
# KEEP/metrics.json exists (a run done by an earlier call, or by an earlier checkout: KEEP is a
# folder under docs/results/, kept in git, so the tables survive a new clone). DIR/host.txt names
# the machine (CPU, AVX-512 or AVX2, cores), the date and the commit; DIR/log.txt keeps the output
# (progress as lines: not a terminal); both and metrics.json are copied to KEEP. A run that writes
# no metrics.json stops the script. With RESUME=1 a DIR that holds the example's checkpoint
# (*.ckpt: a run killed part-way, or one done before its KEEP was removed to measure it again)
# continues from it (--resume: the pretraining steps it has are not run again); otherwise DIR
# starts empty.
results_run() {
  local dir=$1 keep=$2 exe=${BUILD:-build}/examples/$3
  shift 3
  [ -f "$keep/metrics.json" ] && return 0
  [ -x "$exe" ] || { echo "$0: $exe missing: scripts/build.sh --target $(basename "$exe")"; exit 1; }
  local resume=()
  if [ "${RESUME:-0}" = 1 ] && compgen -G "$dir/*.ckpt" > /dev/null; then
    resume=(--resume)
  else
    rm -rf "$dir" && mkdir -p "$dir"
  fi
  echo "$0: $dir ${resume[*]} ($(date -u +%H:%M:%S))"
  { grep -m1 "model name" /proc/cpuinfo | sed 's/.*: //'
    grep -q avx512f /proc/cpuinfo && echo "AVX-512" || echo "AVX2"
    env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc  # the cores, whatever OMP_NUM_THREADS says (nproc obeys it)
    date -u +%F; git rev-parse --short HEAD; } > "$dir/host.txt"
  "$exe" "$@" "${resume[@]}" --out "$dir" > "$dir/log.txt" 2>&1 || true
  [ -f "$dir/metrics.json" ] || { echo "$0: the run into $dir failed: $dir/log.txt"; tail -5 "$dir/log.txt"; exit 1; }
  mkdir -p "$keep" && cp "$dir/metrics.json" "$dir/host.txt" "$dir/log.txt" "$keep/"
}

# results_table seeds|sweep ROOT [ARG...]: scripts/results_table.py on the project's venv (only
# the standard library is needed).
results_table() {
  local py=.venv/bin/python
  [ -x "$py" ] || py=python3
  "$py" scripts/results_table.py "$@"
}
