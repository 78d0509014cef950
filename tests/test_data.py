"""The CoOp reader core on a generated OxfordPets tree: splits, few-shot cache, errors."""
import json
import os
import os.path as osp
import random
import shutil

import pytest

import datasets  # noqa: F401  (registers readers)
from conftest import CLASSNAMES
from sempt.config import build_cfg
from sempt.data.coop import DatasetError


def _cfg(root, shots=-1, seed=1, sub="all"):
    return build_cfg([datasets.extend_cfg], opts=[
        "DATASET.ROOT", root, "DATASET.NAME", "OxfordPets", "DATASET.NUM_SHOTS", str(shots), "SEED", str(seed),
        "DATASET.SUBSAMPLE_CLASSES", sub])


def _build(root, **kw):
    from datasets.oxford_pets import OxfordPets
    random.seed(kw.get("seed", 1))
    return OxfordPets(_cfg(root, **kw))


def test_reader_gives_names_labels_and_halves(pets_root):
    ds = _build(pets_root)
    assert ds.classnames == CLASSNAMES["oxford_pets"][:6]
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (24, 12, 18)
    base = _build(pets_root, sub="base")
    new = _build(pets_root, sub="new")
    assert base.classnames == CLASSNAMES["oxford_pets"][:3]
    assert new.classnames == CLASSNAMES["oxford_pets"][3:6]
    assert sorted({d.label for d in new.test}) == [0, 1, 2]


def test_fewshot_cache_is_relative_json_and_survives_moving_data(pets_root, tmp_path):
    ds = _build(pets_root, shots=2, seed=1)
    cache = osp.join(pets_root, "oxford_pets", "split_fewshot", "shot_2-seed_1.json")
    content = json.load(open(cache))
    assert content["train"] and all(not osp.isabs(p) for p, _, _ in content["train"] + content["val"])
    assert len(ds.train_x) == 12 and len(ds.val) == 12
    chosen = sorted(osp.relpath(d.impath, pets_root) for d in ds.train_x)

    moved = str(tmp_path / "moved")
    shutil.move(pets_root, moved)
    ds3 = _build(moved, shots=2, seed=1)
    assert sorted(osp.relpath(d.impath, moved) for d in ds3.train_x) == chosen
    assert all(osp.isfile(d.impath) for d in ds3.train_x)


def test_fewshot_cache_reuse_and_rebuild(pets_root, capsys):
    random.seed(123)  # the cache, not the RNG, must decide the second sample
    first = _build(pets_root, shots=2, seed=1)
    capsys.readouterr()
    random.seed(999)
    from datasets.oxford_pets import OxfordPets
    again = OxfordPets(_cfg(pets_root, shots=2, seed=1))
    assert "Loading preprocessed few-shot data" in capsys.readouterr().out
    assert [d.impath for d in again.train_x] == [d.impath for d in first.train_x]

    split_path = osp.join(pets_root, "oxford_pets", "split_zhou_OxfordPets.json")
    split = json.load(open(split_path))
    split["train"] = split["train"][1:]  # the split changed since the cache was drawn
    json.dump(split, open(split_path, "w"))
    _build(pets_root, shots=2, seed=1)
    assert "Rebuilding the few-shot cache" in capsys.readouterr().out


def test_coop_pickle_is_never_loaded(pets_root, capsys):
    d = osp.join(pets_root, "oxford_pets", "split_fewshot")
    os.makedirs(d)
    with open(osp.join(d, "shot_2-seed_1.pkl"), "wb") as f:
        f.write(b"not a pickle we would ever open")
    _build(pets_root, shots=2, seed=1)
    assert "not loading pickles" in capsys.readouterr().out


def test_errors_are_actionable(pets_root, tmp_path):
    with pytest.raises(DatasetError, match=r"oxford_pets not found.*DATASETS.md#oxfordpets"):
        _build(str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match=r"fewer images: 'abyssinian' \(4\)"):
        _build(pets_root, shots=5)
    split_path = osp.join(pets_root, "oxford_pets", "split_zhou_OxfordPets.json")
    os.remove(osp.join(pets_root, "oxford_pets", "images", "class_0000", "test_000.jpg"))
    with pytest.raises(DatasetError, match=r"1 of 54 images listed in .*split_zhou_OxfordPets.json are missing"):
        _build(pets_root)
    open(split_path, "w").write('{"train": [["a.jpg", 0]]')
    with pytest.raises(DatasetError, match="not valid JSON"):
        _build(pets_root)
    json.dump({"train": [["a.jpg", 0]], "val": [], "test": []}, open(split_path, "w"))
    with pytest.raises(DatasetError, match=r"train\[0\] is \['a.jpg', 0\]"):
        _build(pets_root)
    os.remove(split_path)
    with pytest.raises(DatasetError, match="split_zhou_OxfordPets.json is missing"):
        _build(pets_root)
