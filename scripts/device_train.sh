#!/usr/bin/env bash
# The shipped model's recipe (configs/device-pack.json), warm-started from its weights, on a
# lent GPU, from the pack that `make device-pack` writes to .devpack/ (Opus training subset +
# the wheels that machine lacks); docs/model.md says why and what it holds.
# Run from the repository root, on the device:  bash scripts/device_train.sh MINUTES
# A short probe times a step (features are cached on the way), then one cosine run is sized to
# end inside MINUTES; the exported fp16 model, the history and the log go to $OUT.
# Overrides for a dry run on a CPU: PYTHON, BATCH, WORKERS, PROBE_STEPS, RESERVE_S.
set -euo pipefail
MINUTES=${1:-8}
OUT=${OUT:-runs/device-out}
PY=${PYTHON:-python3}
BATCH=${BATCH:-64}
WORKERS=${WORKERS:-12}
PROBE_STEPS=${PROBE_STEPS:-60}
RESERVE_S=${RESERVE_S:-60}  # for the final validation, the export and the copies
T0=$(date +%s)
mkdir -p "$OUT"
if ! "$PY" -c "import soundfile, soxr, pretty_midi, mido, mir_eval" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devpack/whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

train() {  # train DIR STEPS [--set ...]: every log line stamped with seconds since the start
  local dir=$1 steps=$2
  shift 2
  "$PY" -m sound2sheet train --config configs/device-pack.json --init-from src/sound2sheet/weights/default.pt \
    --checkpoint-dir "$dir" --set training.batch_size="$BATCH" --set training.num_workers="$WORKERS" \
    --set training.max_steps="$steps" --set training.steps_per_epoch="$steps" "$@" 2>&1 |
    while IFS= read -r line; do echo "$(( $(date +%s) - T0 )) $line"; done | tee -a "$OUT/train.log"
}

rm -rf runs/device-probe runs/device
FIRST=$(( PROBE_STEPS / 3 ))
train runs/device-probe "$PROBE_STEPS" --set training.warmup_steps=0 --set training.log_every_steps="$FIRST"
# seconds per step between the probe's first and last logged steps (the first ones build caches)
SEC_PER_STEP=$(awk -v a="$FIRST" -v b="$PROBE_STEPS" '
  $0 ~ ("trainer: step " a " loss") {ta = $1} $0 ~ ("trainer: step " b " loss") {tb = $1}
  END {printf "%.4f\n", (tb > ta) ? (tb - ta) / (b - a) : 0}' "$OUT/train.log")
LEFT=$(( MINUTES * 60 - ($(date +%s) - T0) - RESERVE_S ))
STEPS=$(awk -v l="$LEFT" -v s="$SEC_PER_STEP" 'BEGIN {n = (s > 0) ? int(l / s) : 0; print (n > 0) ? n : 0}')
echo "probe: $SEC_PER_STEP s a step at batch $BATCH; $LEFT s left -> $STEPS steps" | tee -a "$OUT/train.log"
if [ "$STEPS" -lt "${MIN_STEPS:-100}" ]; then
  echo "too little time left for a run" | tee -a "$OUT/train.log"
  exit 1
fi
train runs/device "$STEPS"
"$PY" -m sound2sheet export-model runs/device/last.pt "$OUT/device.pt" | tee -a "$OUT/train.log"
cp runs/device/history.json "$OUT/" 2>/dev/null || true
echo "done in $(( $(date +%s) - T0 )) s" | tee -a "$OUT/train.log"
