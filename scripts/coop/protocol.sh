#!/usr/bin/env bash
# CoOp's published protocols: which config each dataset (and shot count) is trained with. Sourced by the
# CoOp scripts; prints a config name.

# Base-to-novel, as in CoCoOp's base2new scripts (the source of CoOp's base-to-novel numbers):
# vit_b16_ctxv1 (200 epochs) on the ten datasets, vit_b16_ep50_ctxv1 (50 epochs) on ImageNet.
coop_base2new_cfg() {  # coop_base2new_cfg DATASET
    if [ "$1" = imagenet ]; then echo vit_b16_ep50_ctxv1; else echo vit_b16_ctxv1; fi
}

# Few-shot, as in CoOp's COOP.md (IJCV'22 study): 16 randomly initialised context tokens (the configs set no
# CTX_INIT), 50 epochs for 1 shot, 100 for 2 and 4 shots, 200 for 8 and 16 shots; ImageNet always 50 epochs.
# FAMILY picks the backbone's configs: rn50 (default; the published few-shot figures used ResNet-50) or
# vit_b16.
coop_few_shot_cfg() {  # coop_few_shot_cfg DATASET SHOTS
    local family="${FAMILY:-rn50}"
    if [ "$1" = imagenet ]; then echo "${family}_ep50"; return; fi
    case "$2" in
        1) echo "${family}_ep50" ;;
        2|4) echo "${family}_ep100" ;;
        *) echo "$family" ;;
    esac
}
