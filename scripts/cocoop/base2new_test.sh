#!/usr/bin/env bash
# Evaluate the base-trained CoCoOp on the new classes: bash scripts/cocoop/base2new_test.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c4_ep10_batch1_ctxv1), SHOTS (16), SUB (new; or base/all), OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_test CoCoOp "${CFG:-vit_b16_c4_ep10_batch1_ctxv1}" "$@"
