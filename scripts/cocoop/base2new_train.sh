#!/usr/bin/env bash
# Train CoCoOp on the base classes: bash scripts/cocoop/base2new_train.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c4_ep10_batch1_ctxv1), SHOTS (16), OUTPUT, BACKBONE; see scripts/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_train CoCoOp "${CFG:-vit_b16_c4_ep10_batch1_ctxv1}" "$@"
