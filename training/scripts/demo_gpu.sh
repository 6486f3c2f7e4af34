#!/usr/bin/env bash
# The demo model's continuation recipe (training/configs/demo_continue.yaml) on one GPU: the same two
# size phases (64x48, then 128x96), with bf16, a large batch, every training image kept on the GPU
# (data.cache_pixels) and the UNet compiled (train.compile=inductor); then the held-out toy eval.
#
#   bash training/scripts/demo_gpu.sh [OUT]          # OUT: where runs, scores and the model go (runs/demo-gpu)
#
# Settings by environment variable (defaults in brackets):
#   INIT [weights/twgtm-demo.safetensors]   the model to continue
#   STEPS64 [4000]  STEPS128 [3000]         stage-2 steps of each phase
#   MINUTES64 [4]   MINUTES128 [6]          time limit of each phase (its cosine LR then spans that time)
#   BATCH [256]     LR [5.0e-4]             per-GPU batch and learning rate
#   N [8000]  HELDOUT_N [400]               sizes of the training and the held-out wardrobe (10 % is test)
#   DEVICE [cuda]   PRECISION [bf16]  COMPILE [inductor; null: eager]
#   EVAL_PAIRS [40]  EVAL_STEPS [20]  PROBE_PERSONS [8]   the held-out eval (pairs, steps, sensitivity persons)
#   VAL_COUNT [4]  VAL_STEPS [20]           the validation grid at each phase's end (pairs, steps)
# The script's own check runs it on the CPU at the tiny preset:
#   INIT=none PRESET=tiny DEVICE=cpu PRECISION=bf16 COMPILE=aot_eager BATCH=4 STEPS64=2 STEPS128=1 N=24 \
#     HELDOUT_N=20 EVAL_PAIRS=1 EVAL_STEPS=2 PROBE_PERSONS=1 VAL_COUNT=1 VAL_STEPS=2 bash training/scripts/demo_gpu.sh /tmp/x
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/demo-gpu}
PY=${PY:-python}
INIT=${INIT:-weights/twgtm-demo.safetensors}
PRESET=${PRESET:-demo}
STEPS64=${STEPS64:-4000}; STEPS128=${STEPS128:-3000}
MINUTES64=${MINUTES64:-4}; MINUTES128=${MINUTES128:-6}
BATCH=${BATCH:-256}; LR=${LR:-5.0e-4}; N=${N:-8000}; HELDOUT_N=${HELDOUT_N:-400}
DEVICE=${DEVICE:-cuda}; PRECISION=${PRECISION:-bf16}; COMPILE=${COMPILE:-inductor}; EVAL_PAIRS=${EVAL_PAIRS:-40}
EVAL_STEPS=${EVAL_STEPS:-20}; PROBE_PERSONS=${PROBE_PERSONS:-8}; VAL_COUNT=${VAL_COUNT:-4}; VAL_STEPS=${VAL_STEPS:-20}
WORKERS=$(nproc)
mkdir -p "$OUT"
started=$(date +%s)

[ -d "$OUT/toy" ] || $PY -m twgtm.data.toy --out "$OUT/toy" --n "$N" --seed 0 --workers "$WORKERS"
[ -d "$OUT/heldout" ] || $PY -m twgtm.data.toy --out "$OUT/heldout" --n "$HELDOUT_N" --seed 1 --workers "$WORKERS"

init_arg="model.init=$INIT"
[ "$INIT" = none ] && init_arg="model.init=null"
common=(model.preset="$PRESET" data.root="$OUT/toy" train.batch_size="$BATCH" train.lr="$LR" train.lr_schedule=cosine
        train.warmup_steps=50 train.mixed_precision="$PRECISION" train.compile="$COMPILE" train.threads=0
        data.cache_pixels=true checkpoint.every=500 validate.count="$VAL_COUNT" validate.steps="$VAL_STEPS" --no-progress)

$PY -m training.run --config training/configs/demo_continue.yaml "$init_arg" output_dir="$OUT/p64" \
    data.size=[64,48] stages.stage2.steps="$STEPS64" stages.stage2.max_minutes="$MINUTES64" "${common[@]}"
$PY -m training.run --config training/configs/demo_continue.yaml model.init="$OUT/p64/model.safetensors" \
    output_dir="$OUT/p128" data.size=[128,96] stages.stage2.steps="$STEPS128" stages.stage2.max_minutes="$MINUTES128" \
    "${common[@]}"
$PY -m twgtm.eval.toy --checkpoint "$OUT/p128/model.safetensors" --data "$OUT/heldout" --n "$EVAL_PAIRS" --steps "$EVAL_STEPS" \
    --sensitivity-persons "$PROBE_PERSONS" --device "$DEVICE" --no-progress --json "$OUT/scores.json" > "$OUT/scores.txt"
echo "demo_gpu: done in $(( $(date +%s) - started )) s; model $OUT/p128/model.safetensors, scores $OUT/scores.txt"
