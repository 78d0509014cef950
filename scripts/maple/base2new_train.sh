#!/usr/bin/env bash
# Train MaPLe on the base classes: bash scripts/maple/base2new_train.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c2_ep5_batch4_2ctx), SHOTS (16), OUTPUT, BACKBONE; see scripts/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_train MaPLe "${CFG:-vit_b16_c2_ep5_batch4_2ctx}" "$@"
