#!/usr/bin/env bash
# Evaluate the ImageNet-trained PromptSRC on another dataset (cross-dataset: caltech101 ... ucf101;
# cross-domain: imagenetv2, imagenet_sketch, imagenet_a, imagenet_r):
#   bash scripts/promptsrc/xd_test.sh DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
xd_test PromptSRC "${CFG:-vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets}" "$@"
