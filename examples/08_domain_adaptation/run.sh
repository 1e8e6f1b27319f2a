#!/usr/bin/env bash
# 08 — Domain-adaptive pretraining end to end, the article's pattern (general model -> continued
# pretraining on domain text -> fine-tuning with few labels), on the fortunes (docs/03_text.md):
#   general: RoBERTa-style MLM on the 38 fortune topics outside the task (never sees its topics),
#            post-norm, so that 02 also writes it as a Hugging Face BertForMaskedLM directory
#            (<out>/general/hf): the continued pretraining and the general fine-tune start from that
#            directory, a general checkpoint in Hugging Face format;
#   domain:  the task's 5 topics (computers, politics, science, songs-poems, work), unlabelled,
#            less the documents example 04 tests on (02 --topics, after the held-out split);
#   task:    example 04's 5-topic classification (2000 labelled documents, 353 test documents).
# For each seed: (a) general -> fine-tune, (b) general -> continued pretraining on the domain ->
# fine-tune, and 04's own scratch baseline (the same model from random initialisation). The test
# documents are the same in every row (held-out split seed 0 of all the fortunes, given to 02 and
# 04 as --split-seed; the seed changes the continued pretraining's masks and order, and the
# fine-tuning's initialisation and order).
# This example is the composition of examples 02 and 04 (no program of its own): the idea it
# teaches is the order of the three steps and what stays fixed between the rows of the table.
#   examples/08_domain_adaptation/run.sh [out folder (default out/dapt)] [seeds (default "1 2")]
# Options of the continued pretraining: DAPT_ARGS (default "--lr 2e-3 --epochs 8"); of the general one:
# GENERAL_ARGS (default "--epochs 8"; --norm-first false is always given: post-norm at the default lr
# 2e-3 reaches 14.7 % held-out MLM accuracy, pre-norm 14.5 %, docs/03); of the fine-tunings (04):
# FINETUNE_ARGS (default none: 04's defaults). Needs the examples built (scripts/build.sh;
# SSL_EXAMPLES: where they are, default build/examples).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-out/dapt}
seeds=${2:-"1 2"}
bin=${SSL_EXAMPLES:-build/examples}
fortunes=/usr/share/games/fortunes
domain_topics="computers politics science songs-poems work"
for b in 02_text_pretrain 04_text_finetune; do
  [ -x $bin/$b ] || { echo "08_domain_adaptation: $bin/$b missing: run scripts/build.sh first"; exit 1; }
done
[ -d $fortunes ] || { echo "08_domain_adaptation: $fortunes missing (Debian package fortunes)"; exit 1; }

# The general corpus: copies of the other fortune files (02 reads the regular files of a folder).
mkdir -p "$out/corpus_general"
for f in "$fortunes"/*; do
  name=$(basename "$f")
  case $name in *.dat|*.u8) continue ;; esac
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  [[ " $domain_topics " == *" $name "* ]] || cp -f "$f" "$out/corpus_general/"
done

t0=$(date +%s)
if [ ! -f "$out/general/config.json" ]; then
  $bin/02_text_pretrain --method roberta --format fortunes --corpus "$out/corpus_general" --out "$out/general" \
    --seed 0 --norm-first false ${GENERAL_ARGS:---epochs 8} | grep -v '^\s*$' | tail -12
fi
general=$out/general/hf  # the general checkpoint, as a Hugging Face directory
[ -f "$general/config.json" ] || { echo "08_domain_adaptation: $general missing: $out/general is not a post-norm model" \
  "(an older run's?): remove $out/general and run again"; exit 1; }
for s in $seeds; do
  $bin/02_text_pretrain --method roberta --init "$general" --split-seed 0 --topics $domain_topics \
    --out "$out/dapt-s$s" --seed "$s" ${DAPT_ARGS:---lr 2e-3 --epochs 8} | grep -v '^\s*$' | tail -8
  $bin/04_text_finetune --model "$general" --split-seed 0 --out "$out/general/finetune-s$s" --seed "$s" \
    ${FINETUNE_ARGS:-} | tail -3
  $bin/04_text_finetune --model "$out/dapt-s$s" --out "$out/dapt-s$s/finetune" --seed "$s" ${FINETUNE_ARGS:-} | tail -3
done

# The table: test accuracy of the fine-tuned models.
acc() { grep -o "\"$2\": *[0-9.]*" "$1" | head -1 | sed 's/.*: *//'; }
echo
echo "seed | general -> fine-tune | general -> domain -> fine-tune | scratch | majority"
for s in $seeds; do
  g=$out/general/finetune-s$s/metrics.json d=$out/dapt-s$s/finetune/metrics.json
  echo "$s | $(acc $g accuracy_pretrained) | $(acc $d accuracy_pretrained) | $(acc $d accuracy_scratch) | $(acc $d majority_class)"
done
echo "($(( $(date +%s) - t0 )) s in all)"
