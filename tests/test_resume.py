"""Resume equals an uninterrupted run, for every trainer: interrupted after epoch 1 of 3 and resumed, a run
ends with the same learned parameters and the same test accuracy (bit for bit on CPU), because checkpoints
hold every piece of trainer state: weights, optimizer, scheduler, random-number generators and the method's
running state (PromptSRC's Gaussian prompt aggregation)."""
import json
import os
import os.path as osp
import shutil

import pytest
import torch

from conftest import CLASSNAMES, TINY_OPTS

TRAINERS = {
    "CoOp": ["TRAINER.COOP.N_CTX", "4"],
    "KgCoOp": [],
    "CoCoOp": ["DATALOADER.TRAIN_X.BATCH_SIZE", "2"],
    "MaPLe": ["TRAINER.MAPLE.PROMPT_DEPTH", "2"],
    "PromptSRC": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2",
                  "TRAINER.PROMPTSRC.GPA_MEAN", "2", "TRAINER.PROMPTSRC.GPA_STD", "1"],
    "SemPT": ["TRAINER.SEMPT.NUM_ATTRIBUTES", "3", "TRAINER.SEMPT.LEARN_TAU", "True"],
}


@pytest.fixture(scope="module")
def two_layer_clip(tmp_path_factory):
    from sempt.testing import make_tiny_clip
    return make_tiny_clip(str(tmp_path_factory.mktemp("clip2")), layers=2, vision_layers=2, torchscript=False)


def _run(trainer_name, out, data, clip, attr_dir, embed_cache):
    import datasets
    import trainers
    from sempt.config import build_cfg
    from sempt.engine import build_trainer, set_random_seed
    opts = ["DATASET.ROOT", data, "DATASET.NAME", "OxfordPets", "TRAINER.NAME", trainer_name, "OUTPUT_DIR", out,
            "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "OPTIM.MAX_EPOCH", "3", "OPTIM.LR", "0.05", "SEED", "1",
            "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", "TRAIN.CHECKPOINT_FREQ", "1",
            "TRAINER.SEMPT.ATTRIBUTES_DIR", attr_dir, "TRAINER.SEMPT.EMBED_CACHE", embed_cache,
            *TRAINERS[trainer_name]]
    cfg = build_cfg([datasets.extend_cfg, trainers.extend_cfg], opts=opts)
    set_random_seed(1)
    trainer = build_trainer(cfg)
    trainer.train()
    learned = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if v.requires_grad}
    with open(osp.join(out, "results.json")) as f:
        return learned, json.load(f)


@pytest.mark.parametrize("trainer_name", list(TRAINERS))
def test_resumed_run_equals_uninterrupted(trainer_name, pets_root, two_layer_clip, tmp_path):
    from sempt.testing import make_attribute_file
    attr_dir = str(tmp_path / "attributes")
    make_attribute_file(osp.join(attr_dir, "oxford_pets.json"), "OxfordPets", CLASSNAMES["oxford_pets"][:6])
    args = (pets_root, two_layer_clip["state_dict"], attr_dir, str(tmp_path / "emb"))
    full = str(tmp_path / "full")
    learned_full, res_full = _run(trainer_name, full, *args)

    # the same run, interrupted after epoch 1: only what had been written by then is left
    cut = str(tmp_path / "cut")
    (name,) = [d for d in os.listdir(full) if osp.isfile(osp.join(full, d, "checkpoint"))]
    os.makedirs(osp.join(cut, name))
    shutil.copy(osp.join(full, name, "model.pth.tar-1"), osp.join(cut, name))
    with open(osp.join(cut, name, "checkpoint"), "w") as f:
        f.write("model.pth.tar-1\n")
    learned_cut, res_cut = _run(trainer_name, cut, *args)

    assert set(learned_cut) == set(learned_full)
    for key in learned_full:
        assert torch.equal(learned_cut[key], learned_full[key]), f"{trainer_name}: {key} differs after resuming"
    assert res_cut["accuracy"] == res_full["accuracy"] and res_cut["per_class"] == res_full["per_class"]
    # and the two epochs after the interruption did train: the resumed run did not just reload an end state
    first = torch.load(osp.join(full, name, "model.pth.tar-1"), weights_only=True)["state_dict"]
    last = torch.load(osp.join(full, name, "model.pth.tar-3"), weights_only=True)["state_dict"]
    assert any(not torch.equal(first[k], last[k]) for k in first)
