#!/usr/bin/env bash
# Train SemPT on the base classes: bash scripts/sempt/base2new_train.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_ep50_ctxv1), SHOTS (16), OUTPUT, BACKBONE; see scripts/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_train SemPT "${CFG:-vit_b16_ep50_ctxv1}" "$@"
