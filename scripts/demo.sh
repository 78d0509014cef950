#!/usr/bin/env bash
# The quick-start demo, on a laptop CPU: sets up .venv if needed, builds the synthetic CLIP world (a tiny
# CLIP pretrained for ~1 minute, cached in ~/.cache/sempt/world), then runs base-to-novel for zero-shot CLIP,
# CoOp, KgCoOp and SemPT over seeds 1-3 through the normal benchmark scripts, and prints the leaderboard
# (Base, Novel, HM) and the novel accuracy split by name kind (descriptive / known / unknown names).
# A rerun reuses the world and skips finished runs. Extra arguments go to `python -m sempt.world benchmark`
# (e.g. --splits 3 --noise 0 0.3 for the full study).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m sempt.world benchmark --splits 1 --seeds 1 2 3 --output "${OUTPUT:-$ROOT/output/demo}" "$@"
