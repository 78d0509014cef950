#!/usr/bin/env bash
# Train KgCoOp on the base classes: bash scripts/kgcoop/base2new_train.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_ep100_ctxv1), SHOTS (16), OUTPUT, BACKBONE; see scripts/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_train KgCoOp "${CFG:-vit_b16_ep100_ctxv1}" "$@"
