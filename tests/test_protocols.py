"""Each baseline runs as its authors ran it: configs per dataset and shot count, template tables per method,
parameter dtypes under fp16, PromptSRC's teacher templates and GPA settings, SemPT's name matching, and
checkpoint key layouts. Each test fails if the corresponding deviation (issue 13) comes back."""
import os
import os.path as osp
import subprocess
import types

import pytest
import torch

from conftest import REPO
from sempt.checkpoint import KeyRenames
from sempt.prompt_learner import prompt_key
from sempt.templates import get_template, hand_prompts, imagenet_templates
from sempt.testing import build_random_clip

# --- scripts: which config each dataset and shot count gets --------------------------------------------

STUB = """#!/usr/bin/env bash
# stands in for python: "-m sempt.results" says "not finished", train.py prints its arguments
if [ "$1" = -m ]; then exit 1; fi
for a in "$@"; do if [ "$a" = --print-config-key ]; then echo 5; exit 0; fi; done
echo "TRAIN $*"
"""


@pytest.fixture
def script_env(tmp_path):
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    (tmp_path / "data").mkdir()
    return dict(os.environ, PYTHON=str(stub), DATA=str(tmp_path / "data"), OUTPUT=str(tmp_path / "out"))


def _run_script(env, script, *args, **extra):
    proc = subprocess.run(["bash", osp.join(REPO, "scripts", script), *map(str, args)], env=dict(env, **extra),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.startswith("TRAIN ")]


def _config_of(train_line):
    words = train_line.split()
    return osp.basename(words[words.index("--config-file") + 1])[:-len(".yaml")]


def test_coop_base2new_uses_cocoop_protocol_config_per_dataset(script_env, tmp_path):
    for dataset, expected in (("imagenet", "vit_b16_ep50_ctxv1"), ("oxford_pets", "vit_b16_ctxv1"),
                              ("eurosat", "vit_b16_ctxv1")):
        (line,) = _run_script(script_env, "coop/base2new_train.sh", dataset, 1)
        assert _config_of(line) == expected, dataset
        (tmp_path / "out" / "base2new" / "train_base" / dataset / "shots_16" / "CoOp" / expected / "seed1").mkdir(
            parents=True, exist_ok=True)
        (line,) = _run_script(script_env, "coop/base2new_test.sh", dataset, 1)
        assert _config_of(line) == expected and f"CoOp/{expected}/seed1" in line  # the model it trained
    (line,) = _run_script(script_env, "coop/base2new_train.sh", "oxford_pets", 2, CFG="vit_b16_ep50_ctxv1")
    assert _config_of(line) == "vit_b16_ep50_ctxv1"  # CFG still overrides


def test_coop_few_shot_follows_the_published_schedule(script_env):
    from sempt.config import build_cfg
    import trainers
    expected = {1: ("rn50_ep50", 50), 2: ("rn50_ep100", 100), 4: ("rn50_ep100", 100), 8: ("rn50", 200),
                16: ("rn50", 200)}
    for shots, (cfg_name, epochs) in expected.items():
        (line,) = _run_script(script_env, "coop/few_shot.sh", "caltech101", shots, 1)
        assert _config_of(line) == cfg_name
        cfg = build_cfg([trainers.extend_cfg], config_file=osp.join(REPO, "configs/trainers/CoOp", cfg_name + ".yaml"))
        # 16 randomly initialised context tokens, ResNet-50, the epochs of CoOp's table
        assert (cfg.OPTIM.MAX_EPOCH, cfg.TRAINER.COOP.N_CTX, cfg.TRAINER.COOP.CTX_INIT) == (epochs, 16, "")
        assert cfg.MODEL.BACKBONE.NAME == "RN50" and cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 32
    (line,) = _run_script(script_env, "coop/few_shot.sh", "imagenet", 16, 1)
    assert _config_of(line) == "rn50_ep50"  # ImageNet: 50 epochs whatever the shot count
    for shots, name in ((1, "vit_b16_ep50"), (4, "vit_b16_ep100"), (16, "vit_b16")):
        (line,) = _run_script(script_env, "coop/few_shot.sh", "dtd", shots, 1, FAMILY="vit_b16")
        assert _config_of(line) == name


def test_promptsrc_few_shot_gpa_per_dataset(script_env):
    for dataset in ("stanford_cars", "oxford_flowers", "fgvc_aircraft", "dtd", "eurosat"):
        (line,) = _run_script(script_env, "promptsrc/few_shot.sh", dataset, 4, 1)
        assert "TRAINER.PROMPTSRC.GPA_MEAN 45 TRAINER.PROMPTSRC.GPA_STD 5" in line, dataset
    for dataset in ("imagenet", "caltech101", "oxford_pets", "food101", "ucf101", "sun397"):
        (line,) = _run_script(script_env, "promptsrc/few_shot.sh", dataset, 4, 1)
        assert "GPA_MEAN" not in line, dataset  # the config's 30 / 30
    (line,) = _run_script(script_env, "promptsrc/few_shot.sh", "dtd", 4, 1, "TRAINER.PROMPTSRC.GPA_MEAN", 40)
    assert line.endswith("TRAINER.PROMPTSRC.GPA_MEAN 45 TRAINER.PROMPTSRC.GPA_STD 5 TRAINER.PROMPTSRC.GPA_MEAN 40")


# --- templates --------------------------------------------------------------------------------------------

def test_each_method_uses_its_authors_template_table():
    assert get_template("DescribableTextures") == "{} texture."  # CoOp's zero-shot table
    assert get_template("DescribableTextures", "kgcoop") == "a photo of a {}, a type of texture."
    for name in ("OxfordPets", "EuroSAT", "UCF101", "Food101", "ImageNet"):
        assert get_template(name) == get_template(name, "kgcoop")
    assert hand_prompts("DescribableTextures", ["banded"], "kgcoop") == ["a photo of a banded, a type of texture."]
    with pytest.raises(ValueError, match="Unknown template table 'maple'"):
        get_template("DescribableTextures", "maple")


def _fake_kgcoop(dataset, **tcfg):
    """Enough of a KgCoOp trainer to call its build_custom_clip without data."""
    import trainers.kgcoop as kg
    fake = types.SimpleNamespace(cfg=types.SimpleNamespace(DATASET=types.SimpleNamespace(NAME=dataset)), device="cpu",
                                 tcfg=types.SimpleNamespace(N_CTX=4, CSC=False, CLASS_TOKEN_POSITION="end", **tcfg),
                                 hand_template_table=kg.KgCoOp.hand_template_table)
    fake.hand_text_features = types.MethodType(kg.KgCoOp.hand_text_features, fake)
    return fake


def test_kgcoop_penalty_targets_kgcoops_templates(monkeypatch):
    import sempt.text_encoder
    import trainers.kgcoop as kg
    seen = []
    monkeypatch.setattr(sempt.text_encoder, "encode_texts",
                        lambda model, texts: seen.extend(texts) or torch.zeros(len(texts), 64))
    fake = _fake_kgcoop("DescribableTextures", CTX_INIT="a photo of a", ORIGINAL_RNG=False)
    kg.KgCoOp.build_custom_clip(fake, ["banded", "woven"], build_random_clip())
    assert seen == ["a photo of a banded, a type of texture.", "a photo of a woven, a type of texture."]


def test_promptsrc_teacher_averages_its_60_imagenet_templates(monkeypatch):
    import trainers.promptsrc as src
    templates = imagenet_templates()
    assert len(templates) == 60 == len(set(templates)) and all("{}" in t for t in templates)
    assert templates[0] == "a photo of a {}." and templates[1] == "a bad photo of a {}."
    assert src.teacher_templates(("imagenet",), "OxfordPets") == templates
    assert src.teacher_templates(("hand", "a {}."), "OxfordPets") == ["a photo of a {}, a type of pet.", "a {}."]
    from sempt.config import ConfigError
    with pytest.raises(ConfigError, match="'imagenet', 'hand' nor a template"):
        src.teacher_templates(("nonsense",), "OxfordPets")
    from sempt.config import build_cfg
    import trainers
    assert tuple(build_cfg([trainers.extend_cfg]).TRAINER.PROMPTSRC.TEACHER_TEMPLATES) == ("imagenet",)


# --- parameter dtypes under fp16 ------------------------------------------------------------------------------

def _half_clip():
    return build_random_clip(width=64, vision_width=128, layers=3, vision_layers=3, embed_dim=64).half()


def test_maple_deep_prompts_are_fp32_and_start_as_copies():
    from trainers.maple import MultiModalPromptLearner
    torch.manual_seed(0)
    pl = MultiModalPromptLearner(["cat", "dog"], _half_clip(), n_ctx=2, ctx_init="a photo of a", depth=3)
    assert pl.ctx.dtype == torch.float16 and pl.proj.weight.dtype == torch.float16  # as MaPLe: CLIP's dtype
    assert all(p.dtype == torch.float32 for p in pl.deep_text)
    assert all(p.dtype == torch.float32 for p in pl.deep_proj.parameters())
    first = pl.deep_proj[0]
    assert all(torch.equal(layer.weight, first.weight) and torch.equal(layer.bias, first.bias) for layer in pl.deep_proj)


def test_promptsrc_vision_and_deep_prompts_are_fp32():
    from trainers.promptsrc import IndependentPromptLearner
    pl = IndependentPromptLearner(["cat", "dog"], _half_clip(), 4, "a photo of a", 2, 3, 3)
    assert pl.ctx.dtype == torch.float16  # the first text context is in CLIP's dtype, as in PromptSRC
    assert pl.vis_ctx.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in [*pl.deep_text, *pl.deep_vis])


def test_saved_context_is_compact():
    from sempt.prompt_learner import PromptLearner
    pl = PromptLearner(["cat"], build_random_clip(), ctx_init="a photo of a")
    ctx = pl.state_dict()["ctx"]
    assert ctx.untyped_storage().nbytes() == ctx.numel() * ctx.element_size()  # not the 77-token block


# --- SemPT: seen classes compared as the tokenizer sees them --------------------------------------------------

def test_prompt_key_normalises_like_the_tokenizer():
    assert prompt_key("Beagle") == prompt_key("beagle")
    assert prompt_key("hot_dog") == prompt_key("hot dog") == prompt_key("Hot  Dog")
    assert prompt_key("hot dog") != prompt_key("hotdog")


def test_sempt_seen_classes_match_after_normalisation(capsys):
    from trainers.sempt import SemPT
    fake = types.SimpleNamespace(dm=types.SimpleNamespace(dataset=types.SimpleNamespace(
        classnames=["beagle", "hot_dog", "Bengal", "pug"])), model=types.SimpleNamespace(set_seen=lambda s: marks.extend(s)))
    marks = []
    SemPT.set_seen_classes(fake, ["Beagle", "hot dog", "Bengal", "tabby"])
    assert marks == [True, True, True, False]
    assert "3 of 4 evaluated classes match a training class (1 by exact name, 2 more" in capsys.readouterr().out


# --- checkpoint key layouts ---------------------------------------------------------------------------------

def test_key_renames_round_trip():
    k = KeyRenames([("ctx", "prompt_learner.ctx"), ("vis_ctx", "image_encoder.VPT"),
                    ("deep_vis.#", "image_encoder.transformer.resblocks.#.VPT_shallow", 1)])
    assert k.to_theirs("deep_vis.0") == "image_encoder.transformer.resblocks.1.VPT_shallow"
    assert k.to_ours("image_encoder.transformer.resblocks.8.VPT_shallow") == "deep_vis.7"
    assert k.to_theirs("vis_ctx") == "image_encoder.VPT" and k.to_ours("prompt_learner.ctx") == "ctx"
    assert k.to_ours("image_encoder.transformer.resblocks.3.attn.in_proj_weight") is None
    assert k.to_theirs("unrelated.weight") == "unrelated.weight"


def test_kgcoop_original_rng_replays_the_constructors_draws(monkeypatch):
    """With ORIGINAL_RNG the generator ends where KgCoOp's constructor leaves it: after its context, the
    unused bias vector, a second CLIP, the unused meta-net and adapter; without it, right after the context."""
    import torch.nn as nn
    from clip.model import build_model
    import sempt.text_encoder
    import trainers.kgcoop as kg
    monkeypatch.setattr(sempt.text_encoder, "encode_texts", lambda model, texts: torch.zeros(len(texts), 64))
    clip_model = build_random_clip(layers=2, vision_layers=2)

    def build(original_rng):
        fake = _fake_kgcoop("OxfordPets", CTX_INIT="", ORIGINAL_RNG=original_rng)
        torch.manual_seed(3)
        model = kg.KgCoOp.build_custom_clip(fake, ["cat", "dog"], clip_model)
        return model.prompt_learner.ctx.detach().clone(), torch.get_rng_state()

    ctx_plain, state_plain = build(False)
    ctx_orig, state_orig = build(True)
    assert torch.equal(ctx_plain, ctx_orig)  # the learned context itself is drawn first, unchanged
    torch.manual_seed(3)
    torch.empty(4, 64).normal_(std=0.02)  # the random context (N_CTX 4)
    assert torch.equal(torch.get_rng_state(), state_plain)
    torch.empty(1, 512).normal_(std=0.02)  # KgCoOp: bias_vectors
    build_model(clip_model.state_dict())  # KgCoOp: load_clip_to_cpu a second time
    nn.Linear(512, 512)  # KgCoOp: meta_net.linear1
    nn.Sequential(nn.Linear(512, 128, bias=False), nn.Linear(128, 512, bias=False))  # KgCoOp: Adapter(512, 4)
    assert torch.equal(torch.get_rng_state(), state_orig)
