"""The CoOp reader core on a generated OxfordPets tree: splits, few-shot cache, errors, damaged images and
missing split files."""
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys

import pytest

import datasets  # noqa: F401  (registers readers)
from conftest import CLASSNAMES, REPO, TINY_OPTS, run_train
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


def test_damaged_images_are_named_by_the_checker_and_before_training(pets_root, tiny_clip, tmp_path):
    split = json.load(open(os.path.join(pets_root, "oxford_pets", "split_zhou_OxfordPets.json")))
    bad_train = os.path.join(pets_root, "oxford_pets", "images", split["train"][0][0])
    with open(bad_train, "wb") as f:
        f.write(b"this is not a JPEG")
    check = subprocess.run([sys.executable, "-m", "sempt.data", "check", "--root", pets_root, "--dataset",
                            "oxford_pets"], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 1 and f"OxfordPets: {bad_train} (UnidentifiedImageError" in check.stdout
    args = ["--root", pets_root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file",
            "configs/datasets/oxford_pets.yaml", "--config-file", "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml",
            "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS, "OPTIM.MAX_EPOCH", "1"]
    stop = run_train("--output-dir", tmp_path / "stop", *args, check=False)
    assert stop.returncode == 2 and "Traceback" not in stop.stderr
    assert f"1 training images cannot be decoded: {bad_train} (UnidentifiedImageError" in stop.stderr
    assert "epoch [1/1]" not in stop.stdout  # stopped before the first epoch
    skip = run_train("--output-dir", tmp_path / "skip", *args, "DATASET.BAD_IMAGES", "skip")
    assert f"WARNING: skipping 1 training images that cannot be decoded: {bad_train}" in skip.stdout
    assert "Finish training" in skip.stdout
    # a damaged test image: evaluation names it in one line, from inside the data loader
    bad_test = os.path.join(pets_root, "oxford_pets", "images", split["test"][0][0])
    with open(bad_test, "wb") as f:
        f.write(b"\xff\xd8 truncated")
    ev = run_train("--output-dir", tmp_path / "eval", *args, "DATASET.BAD_IMAGES", "skip", "DATALOADER.NUM_WORKERS",
                   "1", check=False)
    assert ev.returncode == 2 and "Traceback" not in ev.stderr
    (error,) = [line for line in ev.stderr.splitlines() if line.startswith("error:")]  # progress bars aside
    assert error.startswith(f"error: Cannot decode the image {bad_test}")


def test_a_missing_split_file_is_reported_read_only_and_a_rebuilt_split_flagged(tiny_clip, tmp_path):
    from sempt.testing import make_dataset_tree
    root = str(tmp_path / "data")
    make_dataset_tree(root, "EuroSAT", per_class=(4, 2, 3), image_size=32)
    split = os.path.join(root, "eurosat", "split_zhou_EuroSAT.json")
    os.remove(split)
    before = sorted(os.listdir(os.path.join(root, "eurosat")))
    check = subprocess.run([sys.executable, "-m", "sempt.data", "check", "--root", root, "--dataset", "eurosat"],
                           cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 1 and "Split file" in check.stdout and "is missing" in check.stdout
    assert sorted(os.listdir(os.path.join(root, "eurosat"))) == before  # the checker wrote nothing
    out = tmp_path / "run"
    proc = run_train("--root", root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file",
                     "configs/datasets/eurosat.yaml", "--config-file", "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml",
                     "--output-dir", out, "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS,
                     "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2")
    assert "WARNING: " + split + " was built by this repository from the raw files" in proc.stdout
    assert json.load(open(out / "results.json"))["split_rebuilt"] is True
    assert "_rebuilt" in json.load(open(split))  # and every later run on it says so too
