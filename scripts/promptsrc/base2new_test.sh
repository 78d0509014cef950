#!/usr/bin/env bash
# Evaluate the base-trained PromptSRC on the new classes: bash scripts/promptsrc/base2new_test.sh DATASET SEED [KEY VALUE ...]
# Env: DATA (required), CFG (default vit_b16_c2_ep20_batch4_4+4ctx), SHOTS (16), SUB (new; or base/all), OUTPUT, BACKBONE.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
base2new_test PromptSRC "${CFG:-vit_b16_c2_ep20_batch4_4+4ctx}" "$@"
