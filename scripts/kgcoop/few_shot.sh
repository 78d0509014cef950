#!/usr/bin/env bash
# Few-shot KgCoOp on all classes: bash scripts/kgcoop/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
few_shot KgCoOp "${CFG:-vit_b16_ep100_ctxv1}" "$@"
