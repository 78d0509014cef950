"""All 15 readers on generated trees in their exact layouts; split builders; the data checker."""
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys

import pytest

import datasets  # noqa: F401  (registers readers)
from conftest import REPO
from sempt.backend import DATASET_REGISTRY
from sempt.config import build_cfg
from sempt.data import catalog
from sempt.data.coop import DatasetError
from sempt.testing import make_dataset_tree

READERS = list(catalog.CATALOG)
TRAINABLE = [r for r in READERS if not DATASET_REGISTRY.get(r).test_only]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """All 15 datasets, every class, 2 train / 1 val / 1 test image each (test-only sets: 1 image)."""
    root = str(tmp_path_factory.mktemp("data"))
    for reader in READERS:
        make_dataset_tree(root, reader, per_class=(2, 1, 1))
    return root


def build(root, reader, shots=-1, sub="all", seed=1):
    cfg = build_cfg([datasets.extend_cfg], opts=[
        "DATASET.ROOT", root, "DATASET.NAME", reader, "DATASET.NUM_SHOTS", str(shots),
        "DATASET.SUBSAMPLE_CLASSES", sub, "SEED", str(seed)])
    random.seed(seed)
    return DATASET_REGISTRY.get(reader)(cfg)


@pytest.mark.parametrize("reader", READERS)
def test_class_names_and_label_order(tree, reader):
    ds = build(tree, reader)
    names = catalog.classnames(reader)
    assert ds.classnames == names
    assert ds.num_classes == catalog.info(reader).n_classes == len(names)
    assert sorted({d.label for d in ds.test}) == list(range(len(names)))
    assert all(d.classname == names[d.label] for d in ds.test)
    assert all(osp.isfile(d.impath) for d in ds.test[:50])


@pytest.mark.parametrize("reader", TRAINABLE)
def test_base_new_halves_and_fewshot(tree, reader):
    names = catalog.classnames(reader)
    half = (len(names) + 1) // 2
    base, new = build(tree, reader, sub="base"), build(tree, reader, sub="new")
    assert base.classnames == names[:half] and new.classnames == names[half:]
    assert {d.label for d in new.test} == set(range(len(names) - half))
    few = build(tree, reader, shots=2, sub="base")
    assert len(few.train_x) == 2 * half
    cache = osp.join(tree, DATASET_REGISTRY.get(reader).dataset_dir, "split_fewshot", "shot_2-seed_1.json")
    assert osp.isfile(cache)
    again = build(tree, reader, shots=2, sub="base", seed=1)
    assert [d.impath for d in again.train_x] == [d.impath for d in few.train_x]
    if reader == "ImageNet":
        assert few.val is few.test  # ImageNet evaluates on val, which doubles as test
    else:
        assert len(few.val) == half  # min(K, 4) per class, 1 available


def test_imagenet_errors(tmp_path):
    make_dataset_tree(str(tmp_path), "ImageNet", per_class=(1, 0, 1))
    os.remove(osp.join(tmp_path, "imagenet", "classnames.txt"))
    with pytest.raises(DatasetError, match="python -m sempt.data classnames imagenet"):
        build(str(tmp_path), "ImageNet")
    make_dataset_tree(str(tmp_path), "ImageNet", per_class=(1, 0, 1))
    os.remove(osp.join(tmp_path, "imagenet", "preprocessed.json")) if osp.exists(
        osp.join(tmp_path, "imagenet", "preprocessed.json")) else None
    val = osp.join(tmp_path, "imagenet", "images", "val")
    shutil.rmtree(val)
    os.makedirs(val)
    for i in range(3):
        open(osp.join(val, f"ILSVRC2012_val_{i:08d}.JPEG"), "wb").close()
    with pytest.raises(DatasetError, match="3 files but no class folders: sort the images"):
        build(str(tmp_path), "ImageNet")


def test_split_builders_follow_coops_procedures(tmp_path):
    # DTD-style: category folders only -> 50/20/30 split, saved in CoOp's format, same for the same seed
    root = str(tmp_path)
    make_dataset_tree(root, "DescribableTextures", per_class=(4, 2, 4))
    split_path = osp.join(root, "dtd", "split_zhou_DescribableTextures.json")
    os.remove(split_path)
    ds = build(root, "DescribableTextures", seed=3)
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (47 * 5, 47 * 2, 47 * 3)
    saved = json.load(open(split_path))
    assert saved["train"][0][0].startswith("banded/") and saved["train"][0][1:] == [0, "banded"]
    os.remove(split_path)
    ds2 = build(root, "DescribableTextures", seed=3)
    assert [d.impath for d in ds2.train_x] == [d.impath for d in ds.train_x]

    # OxfordPets from its annotation files, 20% of trainval per class to val
    pets = osp.join(root, "oxford_pets")
    make_dataset_tree(root, "OxfordPets", per_class=(4, 1, 2))
    os.remove(osp.join(pets, "split_zhou_OxfordPets.json"))
    names = catalog.classnames("OxfordPets")
    os.makedirs(osp.join(pets, "annotations"))
    for fname, keys in (("trainval.txt", ("train", "val")), ("test.txt", ("test",))):
        with open(osp.join(pets, "annotations", fname), "w") as f:
            for y, name in enumerate(names):
                for k in keys:
                    for i in range({"train": 4, "val": 1, "test": 2}[k]):
                        f.write(f"{name}_{k}{i + 1} {y + 1} 1 1\n")
    ds = build(root, "OxfordPets")
    assert ds.classnames == names and len(ds.val) == 37 and len(ds.train_x) == 37 * 4 and len(ds.test) == 74


def test_checker_reports_good_missing_and_broken(tmp_path):
    root = str(tmp_path)
    make_dataset_tree(root, "EuroSAT")
    make_dataset_tree(root, "DescribableTextures")
    os.remove(osp.join(root, "dtd", "images", "banded", "banded_test0000.jpg"))  # broken: an image is gone
    make_dataset_tree(root, "Food101")
    split = osp.join(root, "food-101", "split_zhou_Food101.json")
    data = json.load(open(split))
    data["train"][0][2] = "apple pie"  # broken: two names for one label
    json.dump(data, open(split, "w"))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "sempt.data", "check", "--root", root, *args], cwd=REPO,
                              capture_output=True, text=True)

    proc = run("--dataset", "eurosat")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "EuroSAT" in proc.stdout and "ok" in proc.stdout and "20 (CoOp 13,500)" in proc.stdout
    proc = run()
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert proc.returncode == 1
    assert rows["EuroSAT"].split()[1] == "ok"
    assert rows["DescribableTextures"].split()[1] == "broken" and "1 of 188 images" in rows["DescribableTextures"]
    assert rows["Food101"].split()[1] == "broken" and "label 0 is called both 'apple pie' and 'apple_pie'" in rows["Food101"]
    assert rows["ImageNet"].split()[1] == "missing"
    assert run("--dataset", "imagenet").returncode == 1  # a requested dataset that is missing


def test_coop_end_to_end_on_a_generated_dataset_through_the_scripts(tiny_clip, tmp_path):
    root = str(tmp_path / "data")
    make_dataset_tree(root, "EuroSAT", per_class=(4, 2, 3), image_size=32)
    env = dict(os.environ, DATA=root, OUTPUT=str(tmp_path / "out"), BACKBONE=tiny_clip["state_dict"], SHOTS="4",
               PYTHON=sys.executable)
    opts = ["INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "2", "DATALOADER.NUM_WORKERS", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "4"]
    for script in ("base2new_train.sh", "base2new_test.sh"):
        proc = subprocess.run(["bash", osp.join(REPO, "scripts", "coop", script), "eurosat", "1", *opts],
                              cwd=str(tmp_path), env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = "eurosat/shots_4/CoOp/vit_b16_ctxv1/seed1"  # CoOp's base-to-novel config for the ten datasets
    from sempt.results import read_run
    assert read_run(str(tmp_path / "out" / "base2new" / "train_base" / run))["accuracy"] >= 0
    new = read_run(str(tmp_path / "out" / "base2new" / "test_new" / run), test_log=True)
    assert new is not None and "* total: 15" in open(new["file"]).read()  # 5 new classes x 3 test images


def test_checker_flags_names_that_differ_from_coops(tmp_path):
    root = str(tmp_path)
    make_dataset_tree(root, "EuroSAT")
    split = osp.join(root, "eurosat", "split_zhou_EuroSAT.json")
    data = json.load(open(split))
    for part in data.values():
        for entry in part:
            if entry[1] == 3:
                entry[2] = "Highway"  # consistent, but not the CoOp name "Highway or Road"
    json.dump(data, open(split, "w"))
    proc = subprocess.run([sys.executable, "-m", "sempt.data", "check", "--root", root, "--dataset", "EuroSAT"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "label 3 is 'Highway', expected 'Highway or Road'" in proc.stdout
