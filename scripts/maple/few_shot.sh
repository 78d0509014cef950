#!/usr/bin/env bash
# Few-shot MaPLe on all classes: bash scripts/maple/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
few_shot MaPLe "${CFG:-vit_b16_c2_ep5_batch4_2ctx}" "$@"
