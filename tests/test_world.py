"""The synthetic CLIP world in miniature: renderer determinism, pretraining, dataset writing, attribute
import, the reader's checks, and one SemPT base-to-novel run through the scripts."""
import json
import os
import os.path as osp
import random
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from sempt.world.build import build_world, split_order
from sempt.world.pretrain import PretrainSpec
from sempt.world.render import render
from sempt.world.spec import WorldSpec, make_categories

MINI = WorldSpec(seed=3, per_kind=2, train_per_class=4, val_per_class=2, test_per_class=3)
MINI_PRE = PretrainSpec(pool=600, steps=4, batch_size=32, layers=1, vision_layers=1)


def test_renderer_and_categories_are_deterministic():
    cats = make_categories(WorldSpec())
    assert cats == make_categories(WorldSpec())
    assert [c.kind for c in cats[:3]] == ["descriptive", "known", "unknown"] and len(cats) == 36
    assert len({(c.profile["colour"], c.profile["pattern"], c.profile["shape"]) for c in cats}) == 36
    d = next(c for c in cats if c.kind == "descriptive")
    assert d.name == f"{d.profile['colour']} {d.profile['pattern']} {d.profile['shape']}"
    a = render(cats[0].profile, np.random.default_rng(5))
    b = render(cats[0].profile, np.random.default_rng(5))
    c = render(cats[0].profile, np.random.default_rng(6))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and not np.array_equal(a, c)
    # base and novel halves of every class split hold each name kind equally often
    for k in range(3):
        order = split_order(cats, k)
        half = len(order) // 2
        assert sorted(c.kind for c in order[:half]) == sorted(c.kind for c in order[half:])
    assert split_order(cats, 0) != split_order(cats, 1)


@pytest.fixture(scope="module")
def mini_world(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("world"))
    return build_world(MINI, MINI_PRE, cache=cache, splits=2, noises=(0.0, 0.5), log=lambda m: None)


def test_build_pretrains_writes_data_and_attributes(mini_world):
    from sempt.attributes import load_attributes
    from sempt.clip_loader import load_clip
    model = load_clip(mini_world["clip"], device="cpu")  # the project's loader reads it like any checkpoint
    assert model.visual.input_resolution == 32
    stats = mini_world["stats"]
    assert set(stats["zero_shot"]) == {"descriptive", "known", "unknown", "chance"}
    base = osp.join(mini_world["data"], "clip_world")
    cats = json.load(open(osp.join(base, "categories.json")))
    assert len(cats["categories"]) == 6 and set(cats["splits"]) == {"0", "1"}
    split0 = json.load(open(osp.join(base, "split_zhou_CLIPWorld_s0.json")))
    assert len(split0["train"]) == 24 and len(split0["test"]) == 18
    k = load_attributes(mini_world["attributes"][0.0], dataset="CLIPWorld")
    assert k.attributes == ["shape", "colour", "pattern", "size", "background"]
    assert k.provenance["method"] == "export/import" and "ground truth" in k.provenance["answered_by"]
    first = cats["categories"][0]
    assert k.classes[first["name"]]["shape"] == f"shaped like a {first['profile']['shape']}"
    noisy = load_attributes(mini_world["attributes"][0.5], dataset="CLIPWorld")
    changed = sum(noisy.classes[c][a] != k.classes[c][a] for c in k.classes for a in k.attributes)
    assert 0 < changed < 30
    again = build_world(MINI, MINI_PRE, cache=osp.dirname(mini_world["root"]), splits=2, log=lambda m: None)
    assert again["clip"] == mini_world["clip"]  # cached, not retrained


def test_world_reader_passes_the_reader_checks(mini_world):
    import datasets
    from sempt.backend import DATASET_REGISTRY
    from sempt.config import build_cfg
    cats = json.load(open(osp.join(mini_world["data"], "clip_world", "categories.json")))
    for k in (0, 1):
        cfg = build_cfg([datasets.extend_cfg], opts=["DATASET.ROOT", mini_world["data"], "DATASET.NAME", "CLIPWorld",
                                                      "DATASET.WORLD_SPLIT", str(k), "DATASET.NUM_SHOTS", "2",
                                                      "SEED", "1", "DATASET.SUBSAMPLE_CLASSES", "new"])
        random.seed(1)
        ds = DATASET_REGISTRY.get("CLIPWorld")(cfg)
        assert ds.classnames == cats["splits"][str(k)][3:]
        assert len(ds.train_x) == 6 and len(ds.test) == 9
        assert osp.isfile(osp.join(mini_world["data"], "clip_world", f"split_fewshot_s{k}", "shot_2-seed_1.json"))
    proc = subprocess.run([sys.executable, "-m", "sempt.data", "check", "--root", mini_world["data"], "--dataset",
                           "oxford_pets"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1  # the world is not one of the 15: checking a missing one fails clearly


def test_sempt_base_to_novel_on_the_world(mini_world, tmp_path):
    env = dict(os.environ, DATA=mini_world["data"], BACKBONE=mini_world["clip"], OUTPUT=str(tmp_path / "out"),
               SHOTS="2", CFG="world", PYTHON=sys.executable)
    opts = ["OPTIM.MAX_EPOCH", "1", "TRAINER.SEMPT.ATTRIBUTES_DIR", osp.dirname(mini_world["attributes"][0.0]),
            "TRAINER.SEMPT.EMBED_CACHE", str(tmp_path / "emb")]
    for script in ("base2new_train.sh", "base2new_test.sh"):
        proc = subprocess.run(["bash", osp.join(REPO, "scripts", "sempt", script), "clip_world", "1", *opts],
                              cwd="/", env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = open(tmp_path / "out" / "base2new" / "test_new" / "clip_world" / "shots_2" / "SemPT" / "world" / "seed1"
               / "log.txt").read()
    assert "0 of 3 evaluated classes via label embeddings (seen in training), 3 via attribute-enhanced" in log
    from sempt.world.report import kind_table
    rows = kind_table(str(tmp_path / "out"), osp.join(mini_world["data"], "clip_world", "categories.json"))
    assert rows and rows[0][0] == "SemPT/world" and all(cell != "-" for cell in rows[0][2:])


def test_captions_version_1_are_unchanged_and_version_2_rewords():
    from sempt.world.captions import caption
    profile = {"shape": "ring", "colour": "red", "pattern": "dotted", "size": "small", "background": "dark"}
    # version 1 is the frozen world's wording: the same draws give the same captions as before versions
    v1 = [caption(profile, np.random.default_rng(s), name="blital") for s in range(200)]
    again = [caption(profile, np.random.default_rng(s), name="blital", version=1) for s in range(200)]
    assert v1 == again
    assert {c.split(" ")[0] for c in v1} == {"a"}  # every version-1 caption starts "a ..."
    v2 = [caption(profile, np.random.default_rng(s), name="blital", version=2) for s in range(200)]
    assert sum(not c.startswith("a ") for c in v2) > 50  # other lead-ins and unrelated words first
    assert any(c.startswith("an image of") or c.startswith("a picture of") for c in v2)
    assert all(("blital" in c) or ("red" in c) or ("ring" in c) or ("small" in c) for c in v2)


def test_world_cli_overrides_change_the_spec_or_fail_in_one_line(capsys):
    from sempt.world.__main__ import _overrides
    w = _overrides(WorldSpec, ["per_kind=24", "test_per_class=25"], "--world")
    assert (w.per_kind, w.test_per_class, w.train_per_class) == (24, 25, 20) and w.key() != WorldSpec().key()
    p = _overrides(PretrainSpec, ["steps=1200", "lr=0.0005"], "--pretrain")
    assert (p.steps, p.lr, p.width) == (1200, 0.0005, 64)
    assert _overrides(WorldSpec, [], "--world") == WorldSpec()
    with pytest.raises(SystemExit) as e:
        _overrides(WorldSpec, ["per_kinds=24"], "--world")
    assert "--world 'per_kinds=24'" in str(e.value) and "per_kind" in str(e.value)
    with pytest.raises(SystemExit) as e:
        _overrides(PretrainSpec, ["steps=many"], "--pretrain")
    assert str(e.value) == "error: --pretrain 'steps=many': steps takes a number"
    with pytest.raises(SystemExit):
        _overrides(PretrainSpec, ["steps"], "--pretrain")
