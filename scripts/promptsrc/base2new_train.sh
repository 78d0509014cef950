#!/usr/bin/env bash
# Train PromptSRC on the base classes: bash scripts/promptsrc/base2new_train.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c2_ep20_batch4_4+4ctx), SHOTS (16), OUTPUT, BACKBONE; see scripts/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_train PromptSRC "${CFG:-vit_b16_c2_ep20_batch4_4+4ctx}" "$@"
