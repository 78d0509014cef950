#!/usr/bin/env bash
# Few-shot CoCoOp on all classes: bash scripts/cocoop/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
few_shot CoCoOp "${CFG:-vit_b16_c4_ep10_batch1_ctxv1}" "$@"
