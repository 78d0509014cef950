#!/usr/bin/env bash
# Few-shot CoOp on all classes, CoOp's published protocol: bash scripts/coop/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
# 16 random context tokens; 50/100/200 epochs by shot count (ImageNet: 50); see protocol.sh.
# Env: FAMILY (rn50, the published backbone; or vit_b16), CFG (one config for every shot count instead),
# DATA, OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/protocol.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
few_shot CoOp "${CFG:-$(coop_few_shot_cfg "$1" "$2")}" "$@"
