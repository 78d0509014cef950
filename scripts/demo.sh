#!/usr/bin/env bash
# The quick-start demo: sets up .venv if needed, generates a tiny random CLIP and a miniature
# OxfordPets-layout dataset (in ~/.cache/sempt/demo, outside the repo), then runs the real benchmark
# scripts: CoOp base-to-new training and new-class evaluation for seeds 1-3, and prints the results.
# Until the synthetic CLIP world lands the model is random, so the accuracies only prove the pipeline.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
PY="$ROOT/.venv/bin/python"
ASSETS="${SEMPT_DEMO_DIR:-$HOME/.cache/sempt/demo}"
mapfile -t paths < <(cd "$ROOT" && "$PY" -m sempt.testing demo-assets "$ASSETS")
export DATA="${paths[0]}" BACKBONE="${paths[1]}" OUTPUT="${OUTPUT:-$ROOT/output/demo}" SHOTS=4 PYTHON="$PY"
OPTS=(INPUT.SIZE "(32, 32)" OPTIM.MAX_EPOCH 5 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8)
for seed in 1 2 3; do
    echo "[demo] CoOp on generated OxfordPets, seed $seed"
    bash "$ROOT/scripts/coop/base2new_train.sh" oxford_pets "$seed" "${OPTS[@]}" > /dev/null
    bash "$ROOT/scripts/coop/base2new_test.sh" oxford_pets "$seed" "${OPTS[@]}" > /dev/null
done
run="oxford_pets/shots_4/CoOp/vit_b16_ep50_ctxv1"
(cd "$ROOT" && "$PY" parse_test_res.py "$OUTPUT/base2new/train_base/$run" && "$PY" parse_test_res.py "$OUTPUT/base2new/test_new/$run" --test-log)
echo "[demo] logs and checkpoints are in $OUTPUT"
