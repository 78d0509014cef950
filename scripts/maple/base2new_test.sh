#!/usr/bin/env bash
# Evaluate the base-trained MaPLe on the new classes: bash scripts/maple/base2new_test.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c2_ep5_batch4_2ctx), SHOTS (16), SUB (new; or base/all), OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_test MaPLe "${CFG:-vit_b16_c2_ep5_batch4_2ctx}" "$@"
