#!/usr/bin/env bash
# Builds a small spoken-word corpus with espeak-ng (speech) and sox (trimming, resampling, noise):
# 16 kHz mono 16-bit WAV clips, one class folder per word, for speech pretraining (wav2vec 2.0) and
# a few-label spoken-digit task. Reads with ssl::data::AudioFolder (docs/07_own_data.md).
#
#   scripts/make_speech_corpus.sh OUT [--voices N] [--test-voices T] [--words w1,w2,...] [--reps R]
#                                     [--digit-reps R] [--snr LO:HI] [--seed S] [--jobs J]
#
# Layout (W words: the --words list and the ten digits; V voices: the first --voices of the list
# below, the last --test-voices of them the test voices):
#   OUT/pretrain/<word>/<voice>-r<k>.wav      W words x (V - T) train voices x --reps: unlabelled use
#   OUT/digits/train/<digit>/<voice>-r<k>.wav 10 digits (zero .. nine) x (V - T) train voices x --digit-reps
#   OUT/digits/test/<digit>/<voice>-r<k>.wav  10 digits x T test voices x --digit-reps
# The test voices are heard nowhere else (neither in pretrain/ nor in digits/train/), and every voice
# has its own espeak-ng timbre variant (m1, f2, ...: none shared), so digits/test measures
# recognition of unseen speakers. <voice> is espeak-ng's voice name with '+' written '_'
# (en-us_m1); the clips of pretrain/ and digits/train/ are drawn separately (other speeds, pitches
# and noise), so no clip is in both.
#
# A clip: espeak-ng says the word at a random speed (130-190 words/min) and pitch (25-75); sox trims
# the silence around it, resamples to 16 kHz, brings its peak to -6 dBFS, pads 0.15 s of silence on
# each side, and mixes in white, pink or brown noise (a random slice of a 20 s noise recording) at a
# random SNR in [LO, HI] dB (default 10:30) measured against the speech alone. Clips last about
# 0.5-1.1 s. Every random choice is a function of (--seed, split, word, voice, k) only, and sox runs
# with -R (repeatable) and -D (no dither): the same arguments give the same files, byte for byte.
#
# Defaults: 40 words + 10 digits, 12 voices (3 for test), --reps 3, --digit-reps 4: pretrain/ 1350
# clips, digits/train/ 360, digits/test/ 120 (37 s on the project's 2 cores, 45 MB). The clips are made
# by --jobs parallel workers (default: the cores). OUT/.speech_corpus.stamp records the arguments
# of a complete corpus: a second run with the same arguments only prints the counts; other arguments
# remake pretrain/ and digits/ (nothing else in OUT is touched). Needs espeak-ng and sox (Debian:
# apt install espeak-ng sox; scripts/setup.sh installs them).
set -euo pipefail

# The voices, in order: an accent (espeak-ng language) and a timbre variant each, no variant twice.
VOICES=(en-us+m1 en-gb-x-rp+f2 en+m3 en-us+f1 en-gb-scotland+m2 en-029+f3 en-us-nyc+m4 en-gb-x-gbclan+f4
        en-gb-x-gbcwmd+m5 en+f5 en-us+m6 en-gb-x-rp+m7 en-029+Annie en-us+Andy en-gb-scotland+belinda
        en+david en-us-nyc+linda en-gb+john en-us+steph en-gb-x-gbclan+robert)
DIGITS=zero,one,two,three,four,five,six,seven,eight,nine
WORDS=yes,no,up,down,left,right,on,off,stop,go,cat,dog,bird,house,tree,water,fire,light,music,happy
WORDS+=,red,green,blue,yellow,black,white,apple,orange,bread,milk
WORDS+=,morning,evening,river,mountain,window,table,paper,phone,city,friend
NOISE_SECONDS=20
RATE=16000
PAD=2400  # samples of silence on each side of the speech (0.15 s)

# --worker WORK OUT JOB...: makes the clips of the given jobs (called through xargs, below).
if [ "${1:-}" = --worker ]; then
  work=$2 out=$3
  shift 3
  tmp=$(mktemp -d "$work/tmp.XXXXXX")
  for job in "$@"; do
    IFS='|' read -r rel voice speed pitch snr color nu word <<<"$job"
    espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$tmp/a.wav" "$word"
    rms_var=NOISE_RMS_$color
    # stat (on stderr) measures the trimmed, normalised speech before the padding
    read -r total gain off < <(
      sox -R -D -V1 "$tmp/a.wav" -r $RATE -b 16 -c 1 "$tmp/b.wav" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% \
        reverse rate $RATE norm -6 stat pad ${PAD}s ${PAD}s 2>&1 >/dev/null |
        awk -v snr="$snr" -v nrms="${!rms_var}" -v nu="$nu" -v pad=$PAD -v bank=$((NOISE_SECONDS * RATE)) '
          /^Samples read/ { n = $3 } /^RMS +amplitude/ { r = $3 }
          END { t = n + 2 * pad; printf "%d %.6f %d\n", t, r / (nrms * 10 ^ (snr / 20)), int(nu * (bank - t)) }')
    if [ "$total" -le $((2 * PAD)) ] || [ "$off" -lt 0 ]; then
      echo "make_speech_corpus: '$word' by $voice: expected 1 to $((NOISE_SECONDS * RATE - 2 * PAD)) samples of speech, got $((total - 2 * PAD))" >&2
      exit 1
    fi
    sox -R -D -V1 -m -v 1 "$tmp/b.wav" -v "$gain" "|sox -R -D -V1 $work/$color.wav -p trim ${off}s ${total}s" "$tmp/c.wav"
    mkdir -p "$(dirname "$out/$rel")"
    mv "$tmp/c.wav" "$out/$rel"
  done
  rm -rf "$tmp"
  exit 0
fi

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "$1"; }
die() { echo "make_speech_corpus: $*" >&2; exit 2; }
# The jobs are processes: the machine's cores, not OMP_NUM_THREADS, which nproc obeys (scripts/test.sh
# sets 1 for the tests' entries, this one included).
out="" nvoices=12 ntest=3 reps=3 digit_reps=4 snr=10:30 seed=0 jobs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
words=$WORDS
while (($#)); do
  case $1 in
    --voices) nvoices=${2:?}; shift 2 ;;
    --test-voices) ntest=${2:?}; shift 2 ;;
    --words) words=${2:?}; shift 2 ;;
    --reps) reps=${2:?}; shift 2 ;;
    --digit-reps) digit_reps=${2:?}; shift 2 ;;
    --snr) snr=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) die "unknown option '$1' (--help lists them)" ;;
    *) [ -z "$out" ] || die "expected one output folder, got '$out' and '$1'"; out=$1; shift ;;
  esac
done
[ -n "$out" ] || usage 2 >&2
int() { [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || die "expected $1 from $3 to $4, got '$2'"; }
int --voices "$nvoices" 2 ${#VOICES[@]}
int --test-voices "$ntest" 1 $((nvoices - 1))
int --reps "$reps" 0 100
int --digit-reps "$digit_reps" 1 100
int --seed "$seed" 0 2147483646
int --jobs "$jobs" 1 256
[[ $snr =~ ^(-?[0-9]+(\.[0-9]+)?):(-?[0-9]+(\.[0-9]+)?)$ ]] || die "expected --snr LO:HI in dB (e.g. 10:30), got '$snr'"
[[ $words =~ ^[a-z\']+(,[a-z\']+)*$ ]] || die "expected --words as lower-case words separated by commas, got '$words'"
for tool in espeak-ng sox awk xargs; do
  command -v $tool >/dev/null || die "$tool not found (Debian: apt install espeak-ng sox)"
done
# the pretraining words: --words then the digits, each once, in that order
words=$(printf '%s\n' "${words//,/ }" ${DIGITS//,/ } | tr ' ' '\n' | awk 'NF && !seen[$0]++' | paste -sd, -)
nwords=$(tr ',' '\n' <<<"$words" | wc -l)

stamp=$out/.speech_corpus.stamp
signature="make_speech_corpus $(md5sum <"$0" | cut -c1-12) $(espeak-ng --version | awk '{print $4}') \
sox $(sox --version | awk '{print $NF}') voices=$nvoices test=$ntest reps=$reps digit_reps=$digit_reps snr=$snr \
seed=$seed words=$words"
n_pre=$((nwords * (nvoices - ntest) * reps)) n_train=$((10 * (nvoices - ntest) * digit_reps))
n_test=$((10 * ntest * digit_reps))
report() {
  local split n
  for split in pretrain digits/train digits/test; do
    n=$(find "$out/$split" -name '*.wav' 2>/dev/null | wc -l)
    printf '  %-13s %5d clips in %2d classes\n' "$split/" "$n" "$(find "$out/$split" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)"
  done
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$signature" ]; then
  echo "make_speech_corpus: '$out' is complete for these arguments ($stamp): nothing to do"
  report
  exit 0
fi

start=$(date +%s.%N)
rm -rf "$out/pretrain" "$out/digits" "$out/.work" "$stamp"
work=$out/.work
mkdir -p "$work"
# noise recordings (sox -R: the same samples every run), and their RMS for the SNR
for color in white pink brown; do
  rms=$(sox -R -D -V1 -n -r $RATE -b 16 -c 1 "$work/$color.wav" synth $NOISE_SECONDS ${color}noise norm -10 stat 2>&1 |
        awk '/^RMS +amplitude/ { print $3 }')
  export "NOISE_RMS_$color=$rms"
done

# The jobs: one line a clip, "path|voice|speed|pitch|snr|noise colour|noise offset (0-1)|word". Each
# clip's random numbers come from minstd (Park-Miller, exact in awk's doubles) seeded with a hash of
# "seed/split/word/voice/k", so a clip does not depend on the others (nor on the awk in use).
printf '%s\n' "${VOICES[@]:0:nvoices}" |
  awk -v seed="$seed" -v words="$words" -v digits="$DIGITS" -v ntest="$ntest" -v reps="$reps" \
      -v dreps="$digit_reps" -v snr="$snr" '
  function hash(s,   h, i) { h = 0; for (i = 1; i <= length(s); i++) h = (h * 131 + ord[substr(s, i, 1)]) % 2147483647; return h % 2147483646 + 1 }
  function u() { state = (state * 48271) % 2147483647; return state / 2147483647 }
  function clip(part, word, who, k,   name) {
    state = hash(seed "/" part "/" word "/" who "/" k)
    name = who; sub(/\+/, "_", name)
    speed = 130 + int(u() * 61); pitch = 25 + int(u() * 51); db = lo + u() * (hi - lo); c = color[int(u() * 3)]
    printf "%s/%s/%s-r%d.wav|%s|%d|%d|%.2f|%s|%.6f|%s\n", part, word, name, k, who, speed, pitch, db, c, u(), word
  }
  BEGIN { for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i; split(snr, r, ":"); lo = r[1]; hi = r[2]
          color[0] = "white"; color[1] = "pink"; color[2] = "brown" }
  { voice[NR] = $0 }
  END {
    nw = split(words, w, ","); nd = split(digits, d, ","); ntrain = NR - ntest
    for (i = 1; i <= nw; i++) for (v = 1; v <= ntrain; v++) for (k = 0; k < reps; k++) clip("pretrain", w[i], voice[v], k)
    for (i = 1; i <= nd; i++) for (v = 1; v <= NR; v++) for (k = 0; k < dreps; k++)
      clip(v <= ntrain ? "digits/train" : "digits/test", d[i], voice[v], k)
  }' >"$work/jobs"
total=$(wc -l <"$work/jobs")
echo "make_speech_corpus: $total clips into '$out' ($nwords words, $nvoices voices of which $ntest for test, $jobs workers)"
xargs -d '\n' -n 32 -P "$jobs" bash "$0" --worker "$work" "$out" <"$work/jobs" ||
  die "a worker failed (above); the corpus in '$out' is incomplete"

# every clip there, and nothing else
for check in "pretrain $n_pre" "digits/train $n_train" "digits/test $n_test"; do
  set -- $check
  n=$(find "$out/$1" -name '*.wav' 2>/dev/null | wc -l)
  [ "$n" -eq "$2" ] || die "expected $2 clips in '$out/$1', got $n"
done
rm -rf "$work"
echo "$signature" >"$stamp"
report
awk -v n="$total" -v t0="$start" -v t1="$(date +%s.%N)" 'BEGIN { printf "make_speech_corpus: %d clips in %.1f s\n", n, t1 - t0 }'
