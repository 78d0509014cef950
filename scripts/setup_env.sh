#!/usr/bin/env bash
# Create <repo>/.venv with torch, torchvision and this project (editable), once; later calls return at once.
#   TORCH_SPEC   pip requirement(s) for torch (default: "torch==2.14.1 torchvision==0.29.1")
#   SEMPT_PYTHON interpreter that creates the venv (default: python3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
STAMP="$VENV/.sempt-setup"
want="$(cat "$ROOT/setup.py" | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "import torch, clip, sempt" 2>/dev/null; then
    exit 0
fi
echo "[setup] creating $VENV (torch: $TORCH_SPEC); this takes a few minutes the first time"
"${SEMPT_PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check $TORCH_SPEC
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"
"$VENV/bin/python" -c "import torch, clip, sempt; print(f'[setup] ready: torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')"
echo "$want" > "$STAMP"
