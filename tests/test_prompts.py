"""``python -m sempt.prompts``: nearest vocabulary tokens of learned contexts and the drift from hand-crafted
prompts, checked against brute-force references; the exported context round-trips (.pt and .npy); deep prompts
(MaPLe) inspect the first layer's context and export every learned tensor."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import CLASSNAMES, REPO, TINY_OPTS, run_train

NAMES = CLASSNAMES["oxford_pets"][:4]


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_an_initial_context_is_nearest_to_its_own_words(tiny_clip):
    from sempt.clip_loader import load_clip
    from sempt.prompt_learner import PromptLearner
    from sempt.prompts import _token_text, nearest_tokens
    from sempt.text_encoder import tokenize, tokenizer
    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    ctx = PromptLearner(["cat"], clip_model, ctx_init="a photo of a").ctx.detach()
    dist, ids = nearest_tokens(ctx, clip_model.token_embedding.weight, k=3)
    tok = tokenizer()
    assert ids[:, 0].tolist() == tok.encode("a photo of a") and dist[:, 0].abs().max() < 1e-3
    assert [_token_text(tok, i)[0] for i in ids[:, 0].tolist()] == ["a", "photo", "of", "a"]
    assert (dist[:, 1] > dist[:, 0]).all()
    photo = tok.encoder["photo</w>"]
    assert _token_text(tok, photo) == ("photo", "photo</w>")
    assert _token_text(tok, tok.encoder["pho"])[0] == "pho-"  # a piece inside a word
    # the public tokenizer is the one instance CLIP's tokenize() uses: the same ids as the prompts get
    assert tokenizer() is tok
    assert tokenize(["a photo of a"])[0, 1:5].tolist() == tok.encode("a photo of a")


def test_each_trainer_states_its_hand_template_table():
    """The drift's template table comes from the trainer class in the registry (``hand_template_table``):
    KgCoOp's own table, SemPT's ``HAND_TEMPLATES`` key, CoOp's for the others."""
    from sempt.predict import _default_cfg, _registries
    from sempt.prompts import template_table
    readers, trainers = _registries()
    cfg = _default_cfg([readers.extend_cfg, trainers.extend_cfg])
    tables = {}
    for name in ("CoOp", "CoCoOp", "KgCoOp", "MaPLe", "PromptSRC", "SemPT"):
        cfg.TRAINER.NAME = name
        tables[name] = template_table(cfg)
    assert tables == {"CoOp": "coop", "CoCoOp": "coop", "KgCoOp": "kgcoop", "MaPLe": "coop", "PromptSRC": "coop",
                      "SemPT": "coop"}
    cfg.TRAINER.NAME = "SemPT"
    cfg.TRAINER.SEMPT.HAND_TEMPLATES = "kgcoop"
    assert template_table(cfg) == "kgcoop"


@pytest.fixture(scope="module")
def coop_run(tiny_clip, tmp_path_factory):
    from sempt.testing import make_coop_dataset
    tmp = tmp_path_factory.mktemp("prompts")
    root = str(tmp / "data")
    make_coop_dataset(root, "oxford_pets", "images", "split_zhou_OxfordPets.json", NAMES, n_train=2, n_val=1, n_test=1)
    out = str(tmp / "run")
    # a large learning rate, so the context moves away from "a photo of a"
    run_train("--root", root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file",
              "configs/datasets/oxford_pets.yaml", "--config-file", "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml",
              "--output-dir", out, "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS, "DATASET.NUM_SHOTS",
              "2", "OPTIM.LR", "5.0", "OPTIM.WARMUP_EPOCH", "0", "USE_CUDA", "False")
    return out


def _check_nearest_tokens(report, ctx, clip_model):
    """Nearest tokens against every vocabulary embedding's distance, computed here in float64."""
    from sempt.text_encoder import tokenizer
    W = clip_model.token_embedding.weight.detach().double().numpy()
    init = tokenizer().encode("a photo of a")
    for pos, v in enumerate(report["context"]["vectors"]):
        d = np.sqrt(((W - ctx[pos].double().numpy()) ** 2).sum(1))
        assert [n["id"] for n in v["nearest"]] == np.argsort(d)[:3].tolist()
        assert [n["distance"] for n in v["nearest"]] == pytest.approx(np.sort(d)[:3].tolist(), rel=1e-4)
        assert v["init"] == ["a", "photo", "of", "a"][pos] and v["moved"] == pytest.approx(d[init[pos]], rel=1e-4)
        assert v["nearest"][0]["distance"] > 0.1  # it did move: the learned vector is no longer its word


def _check_drift(report, ctx, clip_model):
    """Drift: learned class embeddings (the model rebuilt by hand) against the hand-crafted prompts; returns
    the learned class embeddings."""
    from sempt.prompt_learner import PromptLearner
    from sempt.prompted_clip import CoOpCLIP
    from sempt.text_encoder import encode_texts
    model = CoOpCLIP(PromptLearner(NAMES, clip_model, ctx_init="a photo of a"), clip_model).eval()
    with torch.no_grad():
        initial = model.text_features().clone()
        model.prompt_learner.ctx.copy_(ctx)
        learned = model.text_features().clone()
    hand = encode_texts(clip_model, [f"a photo of a {c.replace('_', ' ')}, a type of pet." for c in NAMES])
    d = report["drift"]
    assert d["template"] == "a photo of a {}, a type of pet." and d["table"] == "coop" and d["classes"] == NAMES
    assert d["learned"] == pytest.approx((learned * hand).sum(-1).tolist(), abs=1e-5)
    assert d["initial"] == pytest.approx((initial * hand).sum(-1).tolist(), abs=1e-5)
    assert d["mean_learned"] == pytest.approx(np.mean(d["learned"]), abs=1e-6)
    return learned


def test_prompts_command_against_brute_force_and_export_round_trip(coop_run, tiny_clip, tmp_path, capsys):
    from sempt.clip_loader import load_clip
    from sempt.prompt_learner import PromptLearner
    from sempt.prompted_clip import CoOpCLIP
    from sempt.prompts import main
    export_pt = str(tmp_path / "ctx.pt")
    proc = subprocess.run([sys.executable, "-m", "sempt.prompts", coop_run, "--topk", "3", "--export", export_pt,
                           "--format", "json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    ctx = torch.load(osp.join(coop_run, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]["ctx"]
    assert report["run"]["epoch"] == 2 and report["context"]["shape"] == [4, 64] and report["learned_tensors"] == {
        "ctx": [4, 64]}

    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    _check_nearest_tokens(report, ctx, clip_model)
    learned = _check_drift(report, ctx, clip_model)

    # export: the checkpoint's context, bit for bit; loaded into a fresh prompt learner it gives the same classes
    exported = torch.load(export_pt, weights_only=True)
    assert set(exported) == {"ctx"} and torch.equal(exported["ctx"], ctx)
    fresh = CoOpCLIP(PromptLearner(NAMES, clip_model, ctx_init="a photo of a"), clip_model).eval()
    fresh.prompt_learner.load_state_dict(exported, strict=False)
    with torch.no_grad():
        assert torch.equal(fresh.text_features(), learned)
    export_npy = str(tmp_path / "ctx.npy")
    assert main([coop_run, "--export", export_npy]) == 0
    text = capsys.readouterr().out
    assert np.array_equal(np.load(export_npy), ctx.numpy())
    assert "Nearest vocabulary tokens" in text and "shared by all classes, initialised from \"a photo of a\"" in text
    assert f"Exported ctx (4, 64) to {export_npy}" in text and "\nmean " in text
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]

    # errors: one line, nothing written
    assert main([coop_run, "--export", str(tmp_path / "ctx.txt")]) == 2
    err = capsys.readouterr().err
    assert "must end in .pt" in err and "Traceback" not in err and not osp.exists(tmp_path / "ctx.txt")
    assert main([str(tmp_path / "nothing")]) == 2 and "is not a folder" in capsys.readouterr().err


def test_deep_prompts_inspect_the_first_layer_and_export_every_tensor(tmp_path, capsys):
    """MaPLe with prompts in two layers (a two-layer tiny CLIP); the run folder is written by the trainer's own
    checkpoint writer and ``train.py``'s config writer, without training."""
    from sempt.config import build_cfg
    from sempt.predict import _registries
    from sempt.run_folder import save_run_config
    from sempt.prompts import main
    from sempt.testing import make_tiny_clip
    from trainers.maple import MaPLe
    clip = make_tiny_clip(str(tmp_path / "clip"), layers=2, vision_layers=2, torchscript=False)
    readers, trainers = _registries()
    run = str(tmp_path / "run")
    os.makedirs(run)
    cfg = build_cfg([readers.extend_cfg, trainers.extend_cfg], "configs/datasets/oxford_pets.yaml",
                    "configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml",
                    flags={"TRAINER.NAME": "MaPLe", "OUTPUT_DIR": run},
                    opts=["MODEL.BACKBONE.NAME", clip["state_dict"], "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
                          "TRAINER.MAPLE.PROMPT_DEPTH", "2"])
    trainer = MaPLe.for_classnames(cfg, NAMES)
    torch.manual_seed(0)
    with torch.no_grad():  # stands in for training
        for p in trainer.model.prompt_learner.parameters():
            p.add_(torch.randn_like(p))
    trainer.save_model(0, run)
    save_run_config(cfg)
    export = str(tmp_path / "maple.pt")
    capsys.readouterr()
    assert main([run, "--format", "json", "--export", export]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["context"]["shape"] == [2, 64] and report["context"]["init"] == "a photo of a"
    assert "first layer's text context" in report["context"]["note"] and report["drift"]["initial"] is None
    ckpt = torch.load(osp.join(run, "MultiModalPromptLearner", "model.pth.tar-1"), weights_only=True)["state_dict"]
    exported = torch.load(export, weights_only=True)
    # MaPLe's checkpoint layout, translated to this repository's names
    assert torch.equal(exported["ctx"], ckpt["prompt_learner.ctx"])
    assert torch.equal(exported["deep_text.0"], ckpt["prompt_learner.compound_prompts_text.0"])
    assert set(exported) == {"ctx", "deep_text.0", "proj.weight", "proj.bias", "deep_proj.0.weight",
                             "deep_proj.0.bias"}
    assert [v["init"] for v in report["context"]["vectors"]] == ["a", "photo"]
