#!/usr/bin/env bash
# Train PromptSRC on ImageNet (all classes, 16 shots) for the cross-dataset and cross-domain settings:
#   bash scripts/promptsrc/xd_train.sh SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets), SOURCE (imagenet), SHOTS (16), OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 1 ] || die "usage: $0 SEED [KEY VALUE ...]"
xd_train PromptSRC "${CFG:-vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets}" "$@"
