#!/usr/bin/env bash
# Train MaPLe on ImageNet (all classes, 16 shots) for the cross-dataset and cross-domain settings:
#   bash scripts/maple/xd_train.sh SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c2_ep5_batch4_2ctx_cross_datasets), SOURCE (imagenet), SHOTS (16), OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 1 ] || die "usage: $0 SEED [KEY VALUE ...]"
xd_train MaPLe "${CFG:-vit_b16_c2_ep5_batch4_2ctx_cross_datasets}" "$@"
