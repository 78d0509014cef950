#!/usr/bin/env bash
# Few-shot PromptSRC on all classes: bash scripts/promptsrc/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 3 ] || die "usage: $0 DATASET SHOTS SEED [KEY VALUE ...]"
few_shot PromptSRC "${CFG:-vit_b16_c2_ep50_batch4_4+4ctx_few_shot}" "$@"
