#!/usr/bin/env bash
# Zero-shot CLIP on the base or new classes: SUB=base|new bash scripts/zsclip/base2new_test.sh DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
NO_MODEL=1 base2new_test ZeroshotCLIP "${CFG:-vit_b16}" "$@"
