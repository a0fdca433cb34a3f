#!/usr/bin/env bash
# Score a trained checkpoint the way every shipped stage since 24 was judged (the gates are in
# docs/experiments.md #36, gate 1 as #52 restated it): decoding tuned on the five-set validation pool with the hold off
# (#21's grid), dev transcribed and bootstrapped against the shipped model, the robustness
# benchmark, then the hold sweep (#22) and its own dev bootstrap, each with the pool's paired
# cluster bootstrap against the shipped model (#52's gate 1); and the candidate's weights at the
# shipped model's hold-off decoding, so a gain of the weights is told from one of the decoding
# (#54). It prints the numbers the gates read; deciding is left to the reader and the rule
# fixed before the run.
# Run from the repository root:  bash scripts/judge_stage.sh CHECKPOINT NAME
# Writes runs/judge-NAME/. The shipped model's dev transcriptions are the baselines: with the
# pool's hold-off decoding (tuned here the same way) and as shipped; they are made once, in
# runs/judge-shipped/, when missing (delete that folder after shipping a new model).
# Overrides: BIN (default .venv/bin), GRID and HOLD_GRID (tune_decoding.py flags, e.g. a small
# grid for a smoke run), HOLD_FRAMES (frame thresholds of the hold sweep), ROBUST_SECONDS
# (default 120).
set -euo pipefail
CK=${1:?usage: judge_stage.sh CHECKPOINT NAME}
NAME=${2:?usage: judge_stage.sh CHECKPOINT NAME}
BIN=${BIN:-.venv/bin}
POOL="data/standard data/salamander data/vsco2 data/uiowa data/repeats-val"
GRID=${GRID:---frame 0.4 0.45 0.5 --onset 0.5 0.6 0.7 0.8 --reonset-ms 120 --reonset-threshold 0.7 0.75 0.8 --max-gap-ms 100 150 200}
HOLD_GRID=${HOLD_GRID:---hold-threshold 0 0.2 0.25 0.3 0.35 --hold-after-ms 0 300 600 1000}
ROBUST_SECONDS=${ROBUST_SECONDS:-120}
DEV=../shared/bench/dev
OUT=runs/judge-$NAME
BASE=runs/judge-shipped
mkdir -p "$OUT" "$BASE"
for d in $POOL $DEV; do [ -d "$d" ] || { echo "judge_stage: $d is missing (make datasets)" >&2; exit 1; }; done

flags_of() { grep -a '^flags:' "$1" | sed 's/^flags: //'; }  # flags_of TUNE_LOG: its export-model flags
tune() {  # tune CHECKPOINT LOG GRID...: the tuner's flags line, on the pool, fp32
  local ck=$1 log=$2; shift 2
  "$BIN/python" benchmarks/tune_decoding.py "$ck" --dataset $POOL --max-seconds 60 "$@" \
    --normalize-peak 0.16 --tie-within 0.001 --precision fp32 > "$log"
  grep -a '^best:' "$log" >&2
  flags_of "$log"
}
pool() {  # pool CHECKPOINT SCORES.json: each pool piece's scores with the checkpoint's own decoding
  "$BIN/python" benchmarks/tune_decoding.py "$1" --dataset $POOL --max-seconds 60 --as-saved --precision fp32 \
    --save-scores "$2" > "${2%.json}.log"
}
pool_vs() {  # pool_vs BASELINE.json CANDIDATE.json: the paired cluster bootstrap (#52's gate 1)
  "$BIN/python" benchmarks/paired_bootstrap.py "$1" "$2" | grep -a '^| \(data\|all\|note\)'
}
dev() {  # dev CHECKPOINT PREDICTIONS: transcribe and score the dev set
  "$BIN/sound2sheet" evaluate "$DEV" --checkpoint "$1" --save-predictions "$2" --precision fp32 > "$2.log"
  echo "dev $(basename "$2"): $(grep -a '^mean' "$2.log")"
}

if [ ! -d "$BASE/pred_off" ] || [ ! -d "$BASE/pred_hold" ]; then
  echo "== the shipped model, judged the same way (once): the pool's decoding with the hold off, and as shipped"
  flags=$(tune src/sound2sheet/weights/default.pt "$BASE/tune.log" $GRID --hold-threshold 0)
  # shellcheck disable=SC2086  # the flags are words
  "$BIN/sound2sheet" export-model src/sound2sheet/weights/default.pt "$BASE/shipped_off.pt" $flags > /dev/null
  dev "$BASE/shipped_off.pt" "$BASE/pred_off"
  dev src/sound2sheet/weights/default.pt "$BASE/pred_hold"
fi

if [ ! -f "$BASE/pool_off.json" ] || [ ! -f "$BASE/pool_hold.json" ]; then
  echo "== the shipped model's pool scores (once): the pool's decoding with the hold off, and as shipped"
  pool "$BASE/shipped_off.pt" "$BASE/pool_off.json"
  pool src/sound2sheet/weights/default.pt "$BASE/pool_hold.json"
fi

echo "== $NAME: the pool's decoding, hold off"
flags=$(tune "$CK" "$OUT/tune.log" $GRID --hold-threshold 0)
# shellcheck disable=SC2086  # the flags are words
"$BIN/sound2sheet" export-model "$CK" "$OUT/cand.pt" $flags > /dev/null
pool "$OUT/cand.pt" "$OUT/pool_off.json"  # the exported (fp16) weights, as the baseline's: the tune read $CK
pool_vs "$BASE/pool_off.json" "$OUT/pool_off.json"
dev "$OUT/cand.pt" "$OUT/pred_off"
"$BIN/python" benchmarks/paired_bootstrap.py "$BASE/pred_off" "$OUT/pred_off" | grep -a 'F1 |'
echo "== $NAME's weights at the shipped model's hold-off decoding (the weights alone, #54)"
# shellcheck disable=SC2046  # the flags are words
"$BIN/sound2sheet" export-model "$CK" "$OUT/cand_at_shipped.pt" $(flags_of "$BASE/tune.log") > /dev/null
pool "$OUT/cand_at_shipped.pt" "$OUT/pool_at_shipped.json"
pool_vs "$BASE/pool_off.json" "$OUT/pool_at_shipped.json" | grep -a '^| note'
dev "$OUT/cand_at_shipped.pt" "$OUT/pred_at_shipped"
"$BIN/python" benchmarks/paired_bootstrap.py "$BASE/pred_off" "$OUT/pred_at_shipped" | grep -a 'F1 |'
echo "== robustness"
"$BIN/python" benchmarks/robustness.py --checkpoint "$OUT/cand.pt" --max-seconds "$ROBUST_SECONDS" --precision fp32 \
  > "$OUT/robustness.log"
grep -a "^|" "$OUT/robustness.log"
echo "== the hold sweep"
chosen() { echo "$flags" | grep -oP "(?<=--inference $1=)[0-9.]+"; }
# the pool's onset choices kept, the frame threshold swept again with the hold (docs/model.md)
# shellcheck disable=SC2046
flags=$(tune "$OUT/cand.pt" "$OUT/tune_hold.log" --frame ${HOLD_FRAMES:-0.4 0.45 0.5} --onset $(chosen onset_threshold) \
  --reonset-ms $(chosen min_reonset_ms) --reonset-threshold $(chosen reonset_threshold) --max-gap-ms $(chosen max_gap_ms) \
  $HOLD_GRID --save-scores "$OUT/pool_hold.json")  # cand_hold.pt: cand.pt's weights, the chosen setting
# shellcheck disable=SC2086
"$BIN/sound2sheet" export-model "$CK" "$OUT/cand_hold.pt" $flags > /dev/null
pool_vs "$BASE/pool_hold.json" "$OUT/pool_hold.json"
dev "$OUT/cand_hold.pt" "$OUT/pred_hold"
"$BIN/python" benchmarks/paired_bootstrap.py "$BASE/pred_hold" "$OUT/pred_hold" | grep -a 'F1 |'
echo "candidates: $OUT/cand.pt (hold off), $OUT/cand_hold.pt (the sweep's hold)"
