#!/usr/bin/env bash
# The quick-start demo, on a laptop CPU: sets up .venv if needed, builds the synthetic CLIP world (a tiny
# CLIP pretrained for ~2 minutes with CLIP's logit scale of 100, cached in ~/.cache/sempt/world), then runs
# base-to-novel for zero-shot CLIP, CoOp, KgCoOp and SemPT on one class split over seeds 1-3 through the
# normal benchmark scripts, the "zero-shot + attributes" row and SemPT's ablations (seed 1), with a progress
# line and ETA throughout. It prints Base / Novel / HM (mean ± seed sd), novel accuracy by name kind, the
# calibration targets (loosened for one split) and every difference with its spread, and writes study.md,
# study.json, base_novel.png and world.png into the output folder (default output/demo).
# A rerun reuses the world and skips finished runs. Extra arguments go to `python -m sempt.world benchmark`;
# the full study is `python -m sempt.world benchmark` (3 class splits x seeds 1-3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
export OMP_WAIT_POLICY=PASSIVE  # idle OpenMP threads sleep instead of spinning (matters on shared machines)
exec "$ROOT/.venv/bin/python" -m sempt.world benchmark --splits 1 --seeds 1 2 3 --targets loose \
    --output "${OUTPUT:-$ROOT/output/demo}" "$@"
