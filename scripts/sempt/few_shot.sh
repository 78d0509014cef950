#!/usr/bin/env bash
# Few-shot SemPT on all classes: bash scripts/sempt/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
few_shot SemPT "${CFG:-vit_b16_ep50_ctxv1_fewshot}" "$@"
