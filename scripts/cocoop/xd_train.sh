#!/usr/bin/env bash
# Train CoCoOp on ImageNet (all classes, 16 shots) for the cross-dataset and cross-domain settings:
#   bash scripts/cocoop/xd_train.sh SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c4_ep10_batch1_ctxv1), SOURCE (imagenet), SHOTS (16), OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 1 ] || die "usage: $0 SEED [KEY VALUE ...]"
xd_train CoCoOp "${CFG:-vit_b16_c4_ep10_batch1_ctxv1}" "$@"
