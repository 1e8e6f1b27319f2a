#!/usr/bin/env bash
# Builds libssl's libFuzzer targets (fuzz/, clang++ -fsanitize=fuzzer,address,undefined) into
# build-fuzz/ and runs each for N executions over its seed corpus (fuzz/corpus/<target>/), then
# records the results in docs/fuzzing.md (one table row per target, replaced on each run).
#   scripts/fuzz.sh [--runs N] [--max-time S] [--targets "a b"] [--build-only] [--no-build] [--make-corpus]
#     --runs N        executions per target (default 1000000)
#     --max-time S    stop a target after S seconds even short of N (the row says what it reached)
#     --targets "..." only these targets (default: all; `SSL_FUZZ_LIST=1 build-fuzz/fuzz/ssl_fuzz`)
#     --build-only    build and stop;  --no-build: run what build-fuzz/ has
#     --make-corpus   rewrite fuzz/corpus/ with the seed generator (fuzz/targets.hpp) and stop
# New inputs the fuzzer finds go to build-fuzz/corpus/<target>/ (not committed); a crash's input
# goes to build-fuzz/artifacts/<target>/ and the run stops there: minimise it, fix the bug and
# commit the input under fuzz/regressions/<target>/ (the `fuzz` test suite replays it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000 max_time=0 only="" build=yes run=yes make_corpus=no
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --max-time) max_time=$2; shift 2 ;;
    --targets) only=$2; shift 2 ;;
    --build-only) run=no; shift ;;
    --no-build) build=no; shift ;;
    --make-corpus) make_corpus=yes; shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (see the comment at the top)"; exit 2 ;;
  esac
done
BIN=build-fuzz/fuzz/ssl_fuzz
if [ $build = yes ]; then
  PY=$PWD/.venv/bin/python
  [ -x "$PY" ] || { echo "fuzz.sh: $PY missing: run scripts/setup.sh first"; exit 1; }
  prefix=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  command -v clang++ > /dev/null || { echo "fuzz.sh: clang++ not found (libFuzzer needs clang)"; exit 1; }
  mkdir -p build-fuzz
  cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE= -DSSL_BUILD_FUZZERS=ON \
    -DSSL_BUILD_TESTS=OFF -DSSL_BUILD_EXAMPLES=OFF -DSSL_BUILD_BENCHMARKS=OFF \
    -DPython3_EXECUTABLE:FILEPATH="$PY" -DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR:PATH="$prefix/Torch" \
    > build-fuzz/build.log 2>&1 || { cat build-fuzz/build.log; exit 1; }
  cmake --build build-fuzz -j2 --target ssl_fuzz >> build-fuzz/build.log 2>&1 || { tail -50 build-fuzz/build.log; exit 1; }
fi
if [ $make_corpus = yes ]; then
  rm -rf fuzz/corpus
  SSL_FUZZ_MAKE_CORPUS=$PWD/fuzz/corpus "$BIN"
  find fuzz/corpus -type f | sort | xargs ls -l
  exit 0
fi
[ $run = yes ] || exit 0

machine=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
if grep -qw avx512f /proc/cpuinfo; then avx=AVX-512; else avx="no AVX-512"; fi
day=$(date -u +%Y-%m-%d)
doc=docs/fuzzing.md
failed=0
while read -r target max_len; do
  if [ -n "$only" ] && [[ " $only " != *" $target "* ]]; then continue; fi
  work=build-fuzz/corpus/$target arts=build-fuzz/artifacts/$target log=build-fuzz/logs/$target.log
  mkdir -p "$work" "$arts" build-fuzz/logs
  seeds=(fuzz/corpus/$target)
  [ -d fuzz/regressions/$target ] && seeds+=(fuzz/regressions/$target)
  echo "fuzz.sh: $target: $runs runs, -max_len=$max_len"
  start=$(date +%s)
  set +e
  # -timeout: an input that takes over 10 s is a hang (a crash); -rss_limit_mb: the largest
  # image the decoders accept (2^28 pixels, RGBA) fits, with LibTorch, under 2.5 GiB.
  flags=(-runs="$runs" -max_total_time="$max_time" -max_len="$max_len" -timeout=10 -rss_limit_mb=2560
         -print_final_stats=1 -artifact_prefix="$arts/")
  # The checkpoint targets run in fork mode and go on past out-of-memory inputs, counted apart
  # from crashes: LibTorch's unpickler reserves whatever length a string opcode claims (4 GiB
  # from a 3 KB file, docs/fuzzing.md, "Findings"), which would otherwise stop the run at the
  # first such input. Crashes and timeouts still stop it.
  [[ $target == checkpoint* ]] && flags+=(-fork=1 -ignore_ooms=1)
  # allocator_may_return_null: an impossible allocation throws std::bad_alloc, as it does
  # without ASan, instead of aborting.
  ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1} SSL_FUZZ_TARGET=$target "$BIN" "${flags[@]}" \
    "$work" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "$arts" -type f ! -name 'oom-*' | wc -l)
  ooms=""
  if fork=$(grep -E '^#[0-9]+: .*oom/timeout/crash: ' "$log" | tail -1) && [ -n "$fork" ]; then
    execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<< "$fork")
    # The status line's exec/s is the last job's; the run's average is executions / seconds.
    rate=$(( execs / (secs > 0 ? secs : 1) ))
    ooms=$(sed -E 's/.*oom\/timeout\/crash: ([0-9]+)\/.*/\1/' <<< "$fork")
  fi
  [ "$rc" -eq 0 ] || { failed=1; [ "$crashes" -gt 0 ] || crashes="rc $rc"; }
  echo "fuzz.sh: $target: ${execs:-?} executions, ${rate:-?} exec/s, $secs s, crashes: $crashes (log: $log)"
  [ -n "$ooms" ] && crashes="$crashes (and $ooms out-of-memory inputs in LibTorch)"
  row="| $target | ${execs:-?} | $crashes | ${rate:-?} | $secs | $machine ($avx) | $day |"
  python3 - "$doc" "$target" "$row" <<'PY'
import sys
doc, target, row = sys.argv[1:]
lines = open(doc).read().split("\n")
start = lines.index("<!-- results: scripts/fuzz.sh rewrites the rows below -->")
end = lines.index("<!-- /results -->")
rows = [l for l in lines[start + 1:end] if l.startswith("|") and not l.startswith(f"| {target} |")]
head, body = rows[:2], rows[2:]
body.append(row)
lines[start + 1:end] = head + body
open(doc, "w").write("\n".join(lines))
PY
done < <(SSL_FUZZ_LIST=1 "$BIN")
exit $failed
