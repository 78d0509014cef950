#!/usr/bin/env bash
# PromptSRC's published per-dataset settings. Sourced by the PromptSRC scripts.

# Few-shot GPA (its vit_b16_c2_ep50_batch4_4+4ctx_few_shot.yaml): mean 30 / std 30 (the config's values) for
# ImageNet, Caltech101, OxfordPets, Food101, UCF101 and SUN397; mean 45 / std 5 for StanfordCars,
# Flowers102, FGVCAircraft, DTD and EuroSAT. Prints the options that override the config, if any.
promptsrc_few_shot_opts() {  # promptsrc_few_shot_opts DATASET
    case "$1" in
        stanford_cars|oxford_flowers|fgvc_aircraft|dtd|eurosat)
            echo TRAINER.PROMPTSRC.GPA_MEAN 45 TRAINER.PROMPTSRC.GPA_STD 5 ;;
    esac
}
