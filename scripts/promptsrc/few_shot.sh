#!/usr/bin/env bash
# Few-shot PromptSRC on all classes: bash scripts/promptsrc/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
# GPA mean/std per dataset as published (protocol.sh); trailing KEY VALUE pairs override them.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/protocol.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
dataset="$1" shots="$2" seed="$3"; shift 3
# shellcheck disable=SC2046  # word splitting of the option list is intended
few_shot PromptSRC "${CFG:-vit_b16_c2_ep50_batch4_4+4ctx_few_shot}" "$dataset" "$shots" "$seed" \
    $(promptsrc_few_shot_opts "$dataset") "$@"
