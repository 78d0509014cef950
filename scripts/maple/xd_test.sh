#!/usr/bin/env bash
# Evaluate the ImageNet-trained MaPLe on another dataset (cross-dataset: caltech101 ... ucf101;
# cross-domain: imagenetv2, imagenet_sketch, imagenet_a, imagenet_r):
#   bash scripts/maple/xd_test.sh DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
xd_test MaPLe "${CFG:-vit_b16_c2_ep5_batch4_2ctx_cross_datasets}" "$@"
