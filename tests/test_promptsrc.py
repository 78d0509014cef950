"""PromptSRC: independent deep prompts on two widths, only prompts learn, regularisers, and GPA equals the
Gaussian-weighted average of the per-epoch prompts (learnable parameters only)."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_OPTS, run_train
from sempt.testing import build_random_clip
from trainers.promptsrc import IndependentPromptLearner, PromptSRCCLIP, gaussian_weights


def test_independent_prompts_train_only_the_prompt_learner():
    for width in (64, 128):
        torch.manual_seed(0)
        m = build_random_clip(width=width, vision_width=width + 64, layers=3, vision_layers=3, embed_dim=96)
        pl = IndependentPromptLearner(["cat", "dog"], m, 4, "a photo of a", 2, 3, 2)
        assert pl.vis_ctx.shape == (2, width + 64) and len(pl.deep_text) == 2 and len(pl.deep_vis) == 1
        model = PromptSRCCLIP(pl, m, F.normalize(torch.randn(2, 96), dim=-1))
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("prompt_learner"))
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        logits, f, t, f0, zs = model.outputs(torch.randn(2, 3, 32, 32))
        assert not f0.requires_grad and not zs.requires_grad
        (F.cross_entropy(logits, torch.tensor([0, 1])) + F.l1_loss(f, f0) + F.l1_loss(t, model.teacher_text)).backward()
        opt.step()
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        assert changed and all(n.startswith("prompt_learner.") for n in changed)
        assert {"prompt_learner.vis_ctx", "prompt_learner.deep_vis.0", "prompt_learner.deep_text.1"} <= changed


def test_gaussian_weights():
    w = gaussian_weights(3, 2, 1)
    assert sum(w) == pytest.approx(1.0) and w[0] == pytest.approx(w[2]) and w[1] > w[0]


def test_gpa_is_the_weighted_average_of_the_epochs(pets_root, tiny_clip, tmp_path, monkeypatch):
    import datasets
    import trainers
    from sempt.config import build_cfg
    from sempt.engine import build_trainer, set_random_seed
    from trainers.promptsrc import PromptSRC
    opts = ["DATASET.ROOT", pets_root, "DATASET.NAME", "OxfordPets", "TRAINER.NAME", "PromptSRC", "OUTPUT_DIR",
            str(tmp_path / "run"), "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS, "OPTIM.MAX_EPOCH", "3",
            "OPTIM.NAME", "sgd", "OPTIM.LR", "0.5", "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base",
            "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "1", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "1",
            "TRAINER.PROMPTSRC.GPA_MEAN", "2", "TRAINER.PROMPTSRC.GPA_STD", "1", "TEST.NO_TEST", "True"]
    cfg = build_cfg([datasets.extend_cfg, trainers.extend_cfg], opts=opts)
    set_random_seed(1)
    trainer = build_trainer(cfg)
    seen = []
    real = PromptSRC._learnable_state
    monkeypatch.setattr(PromptSRC, "_learnable_state", lambda self: seen.append(real(self)) or seen[-1])
    trainer.train()
    assert len(seen) == 3 and not torch.equal(seen[0]["ctx"], seen[2]["ctx"])
    w = gaussian_weights(3, 2, 1)
    for key in ("ctx", "vis_ctx"):
        expected = sum(wi * s[key] for wi, s in zip(w, seen))
        assert torch.allclose(trainer.model.prompt_learner.state_dict()[key], expected, atol=1e-6)
    # saved in PromptSRC's own layout (folder and keys), holding only the learned tensors
    saved = torch.load(osp.join(str(tmp_path / "run"), "VLPromptLearner", "model.pth.tar-3"), weights_only=True)
    assert torch.allclose(saved["state_dict"]["prompt_learner.ctx"], sum(wi * s["ctx"] for wi, s in zip(w, seen)),
                          atol=1e-6)
    assert set(saved["state_dict"]) == {"prompt_learner.ctx", "image_encoder.VPT"}


def test_promptsrc_base_to_new_end_to_end(pets_root, tiny_clip, tmp_path):
    base = str(tmp_path / "base")
    args = ["--root", pets_root, "--seed", 1, "--trainer", "PromptSRC", "--dataset-config-file",
            "configs/datasets/oxford_pets.yaml", "--config-file",
            "configs/trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml", "MODEL.BACKBONE.NAME",
            tiny_clip["state_dict"], *TINY_OPTS, "DATASET.NUM_SHOTS", "2", "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "1",
            "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "1", "TRAINER.PROMPTSRC.GPA_MEAN", "1"]
    proc = run_train("--output-dir", base, *args, "DATASET.SUBSAMPLE_CLASSES", "base")
    assert "Using the Gaussian-aggregated prompts (GPA)" in proc.stdout and " scl " in proc.stdout
    proc = run_train("--output-dir", tmp_path / "new", "--model-dir", base, "--load-epoch", 2, "--eval-only", *args,
                     "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "* total: 9" in proc.stdout
