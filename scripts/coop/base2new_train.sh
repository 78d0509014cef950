#!/usr/bin/env bash
# Train CoOp on the base classes: bash scripts/coop/base2new_train.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default: per dataset as published, see protocol.sh: vit_b16_ctxv1, ImageNet
# vit_b16_ep50_ctxv1), SHOTS (16), OUTPUT, BACKBONE; see scripts/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/protocol.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_train CoOp "${CFG:-$(coop_base2new_cfg "$1")}" "$@"
