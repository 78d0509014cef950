"""MaPLe: shallow form equals CoOp, deep prompts change both towers, only prompts learn, two widths."""
import os.path as osp

import torch
import torch.nn.functional as F

from conftest import TINY_OPTS, run_train
from sempt.prompt_learner import PromptLearner
from sempt.testing import build_random_clip
from sempt.prompted_clip import CoOpCLIP
from trainers.maple import MaPLeCLIP, MultiModalPromptLearner

NAMES = ["cat", "dog", "sea lion"]


def _clip(width):
    return build_random_clip(width=width, vision_width=width + 64, layers=3, vision_layers=3, embed_dim=96,
                             patch_size=16)


def test_depth_one_without_vision_prompts_is_coop():
    for width in (64, 128):
        m = _clip(width)
        maple = MaPLeCLIP(MultiModalPromptLearner(NAMES, m, n_ctx=2, ctx_init="a photo of a", depth=1,
                                                  vision=False), m)
        coop = CoOpCLIP(PromptLearner(["of a " + n for n in NAMES], m, ctx_init="a photo"), m)
        image = torch.randn(2, 3, 32, 32)
        assert torch.allclose(maple(image), coop(image), atol=1e-5)


def test_deep_prompts_train_only_the_prompt_learner():
    for width in (64, 128):
        torch.manual_seed(0)
        m = _clip(width)
        model = MaPLeCLIP(MultiModalPromptLearner(NAMES, m, n_ctx=2, ctx_init="a photo of a", depth=3), m)
        pl = model.prompt_learner
        assert len(pl.deep_text) == 2 and pl.proj.out_features == width + 64  # widths read from the model
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("prompt_learner"))
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        image = torch.randn(3, 3, 32, 32)
        F.cross_entropy(model(image), torch.tensor([0, 1, 2])).backward()
        opt.step()
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        assert changed and all(n.startswith("prompt_learner.") for n in changed)
        assert {"prompt_learner.ctx", "prompt_learner.deep_text.0", "prompt_learner.deep_text.1",
                "prompt_learner.proj.weight", "prompt_learner.deep_proj.1.weight"} <= changed


def test_maple_base_to_new_end_to_end(pets_root, tiny_clip, tmp_path):
    base = str(tmp_path / "base")
    args = ["--root", pets_root, "--seed", 1, "--trainer", "MaPLe", "--dataset-config-file",
            "configs/datasets/oxford_pets.yaml", "--config-file", "configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml",
            "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS, "DATASET.NUM_SHOTS", "2",
            "TRAINER.MAPLE.PROMPT_DEPTH", "1"]  # the tiny CLIP has one layer
    run_train("--output-dir", base, *args, "DATASET.SUBSAMPLE_CLASSES", "base")
    # MaPLe's own layout: folder MultiModalPromptLearner, keys of its whole model, learned tensors only
    path = osp.join(base, "MultiModalPromptLearner", "model.pth.tar-2")
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt["state_dict"]) == {"prompt_learner.ctx", "prompt_learner.proj.weight", "prompt_learner.proj.bias"}
    assert ckpt["state_dict"]["prompt_learner.ctx"].shape == (2, 64)
    proc = run_train("--output-dir", tmp_path / "new", "--model-dir", base, "--load-epoch", 2, "--eval-only", *args,
                     "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "* total: 9" in proc.stdout
    # a file as MaPLe's code writes it (the whole model: frozen CLIP and class-dependent tokens too) loads
    # to the same result; a key nobody knows is refused
    full = tmp_path / "original"
    (full / "MultiModalPromptLearner").mkdir(parents=True)
    ckpt["state_dict"].update({"image_encoder.conv1.weight": torch.zeros(1), "text_encoder.ln_final.bias":
                               torch.zeros(1), "logit_scale": torch.zeros(()), "prompt_learner.token_prefix":
                               torch.zeros(1)})
    torch.save(ckpt, full / "MultiModalPromptLearner" / "model.pth.tar-2")
    again = run_train("--output-dir", tmp_path / "new2", "--model-dir", full, "--load-epoch", 2, "--eval-only", *args,
                      "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "Ignored 3 tensors" in again.stdout
    assert again.stdout.split("* accuracy:")[1][:8] == proc.stdout.split("* accuracy:")[1][:8]
    ckpt["state_dict"]["prompt_learner.surprise"] = torch.zeros(1)
    torch.save(ckpt, full / "MultiModalPromptLearner" / "model.pth.tar-2")
    refused = run_train("--output-dir", tmp_path / "new3", "--model-dir", full, "--load-epoch", 2, "--eval-only",
                        *args, "DATASET.SUBSAMPLE_CLASSES", "new", check=False)
    assert refused.returncode != 0 and "prompt_learner.surprise" in refused.stdout + refused.stderr
    bad = run_train("--output-dir", tmp_path / "bad", *args[:-2], "TRAINER.MAPLE.PROMPT_DEPTH", "9", check=False)
    assert bad.returncode == 2 and "PROMPT_DEPTH must be in [1, 1]" in bad.stderr
