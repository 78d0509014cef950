#!/usr/bin/env bash
# Evaluate the base-trained CoOp on the new classes: bash scripts/coop/base2new_test.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default: per dataset, as base2new_train.sh), SHOTS (16), SUB (new; or base/all),
# OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/protocol.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_test CoOp "${CFG:-$(coop_base2new_cfg "$1")}" "$@"
