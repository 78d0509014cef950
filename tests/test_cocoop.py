"""CoCoOp: the batched conditional prompts equal the per-image loop; only the prompt learner trains."""
import os.path as osp

import torch
import torch.nn.functional as F

from conftest import TINY_OPTS, run_train
from sempt.testing import build_random_clip
from trainers.cocoop import CoCoOpCLIP, ConditionalPromptLearner


def _model(width, chunk=0):
    clip_model = build_random_clip(width=width, vision_width=width, embed_dim=width // 2 + 32, patch_size=16)
    pl = ConditionalPromptLearner(["cat", "dog", "sea lion"], clip_model, ctx_init="a photo of a")
    model = CoCoOpCLIP(pl, clip_model, text_chunk=chunk)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("prompt_learner"))
    return model


def test_batched_equals_loop_and_only_prompts_learn():
    for width in (64, 128):
        torch.manual_seed(0)
        model = _model(width)
        image = torch.randn(3, 3, 32, 32)
        logits = model(image)
        f = model.encode_image(image)
        loop = []
        for i in range(3):  # CoCoOp's original per-image loop
            prompts = model.prompt_learner(f[i:i + 1])[0]
            t = model.text_encoder(prompts, model.prompt_learner.tokenized_prompts)
            loop.append(model.logit_scale.exp() * f[i] @ (t / t.norm(dim=-1, keepdim=True)).t())
        assert logits.shape == (3, 3) and torch.allclose(logits, torch.stack(loop), atol=1e-5)
        model.text_chunk = 2
        assert torch.allclose(model(image), logits, atol=1e-5)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        F.cross_entropy(model(image), torch.tensor([0, 1, 2])).backward()
        opt.step()
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        assert changed and all(n.startswith("prompt_learner.") for n in changed)
        assert any("meta_net" in n for n in changed) and "prompt_learner.ctx" in changed


def test_cocoop_base_to_new_end_to_end(pets_root, tiny_clip, tmp_path):
    base = str(tmp_path / "base")
    args = ["--root", pets_root, "--seed", 1, "--trainer", "CoCoOp", "--dataset-config-file",
            "configs/datasets/oxford_pets.yaml", "--config-file",
            "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml", "MODEL.BACKBONE.NAME",
            tiny_clip["state_dict"], *TINY_OPTS, "DATASET.NUM_SHOTS", "2"]
    run_train("--output-dir", base, *args, "DATASET.SUBSAMPLE_CLASSES", "base")
    sd = torch.load(osp.join(base, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]
    # CoCoOp's own key names, so the original code loads this file (and not a random meta-net)
    assert {"meta_net.linear1.weight", "meta_net.linear2.bias"} <= set(sd)
    assert "token_prefix" not in sd and "token_suffix" not in sd
    assert sd["ctx"].untyped_storage().nbytes() == sd["ctx"].numel() * sd["ctx"].element_size()  # no 77-token block
    assert osp.getsize(osp.join(base, "prompt_learner", "model.pth.tar-2")) < 100_000  # prompts only, no CLIP
    proc = run_train("--output-dir", tmp_path / "new", "--model-dir", base, "--load-epoch", 2, "--eval-only", *args,
                     "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "* total: 9" in proc.stdout
    # a file with this repository's earlier meta-net names ("meta_net.0" / "meta_net.2") still loads, to the
    # same result
    legacy = tmp_path / "legacy"
    (legacy / "prompt_learner").mkdir(parents=True)
    ckpt = torch.load(osp.join(base, "prompt_learner", "model.pth.tar-2"), weights_only=True)
    ckpt["state_dict"] = {k.replace("linear1", "0").replace("linear2", "2"): v for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, legacy / "prompt_learner" / "model.pth.tar-2")
    again = run_train("--output-dir", tmp_path / "new2", "--model-dir", legacy, "--load-epoch", 2, "--eval-only",
                      *args, "DATASET.SUBSAMPLE_CLASSES", "new")
    assert again.stdout.split("* accuracy:")[1].split("\n")[0] == proc.stdout.split("* accuracy:")[1].split("\n")[0]
