"""The shipped attribute files: every one passes validate's quality checks, and SemPT loads them."""
import glob
import os.path as osp
import subprocess
import sys

from conftest import REPO, TINY_OPTS, run_train
from sempt.data import catalog

SHIPPED = sorted(glob.glob(osp.join(REPO, "attributes_cache", "*.json")))


def test_attribute_files_are_shipped_and_validate():
    assert SHIPPED, "attributes_cache/ holds no attribute file"
    proc = subprocess.run([sys.executable, "-m", "trainers.attributes", "validate", "--all"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    for path in SHIPPED:
        reader = {d.config: d.reader for d in catalog.CATALOG.values()}[osp.basename(path)[:-5]]
        assert reader in proc.stdout


def test_sempt_loads_a_shipped_file_for_the_real_class_names(tiny_clip, tmp_path):
    from sempt.testing import make_dataset_tree
    stems = [osp.basename(p)[:-5] for p in SHIPPED]
    stem = "caltech101" if "caltech101" in stems else stems[0]
    reader = catalog.resolve(stem)
    root = str(tmp_path / "data")
    make_dataset_tree(root, reader, per_class=(1, 1, 1), image_size=32)
    proc = run_train("--root", root, "--seed", 1, "--trainer", "SemPT", "--dataset-config-file",
                     f"configs/datasets/{stem}.yaml", "--output-dir", tmp_path / "run", "MODEL.BACKBONE.NAME",
                     tiny_clip["state_dict"], *TINY_OPTS, "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "1",
                     "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SEMPT.EMBED_CACHE", tmp_path / "emb")
    assert f"Attributes (6) from {osp.join(REPO, 'attributes_cache', stem + '.json')}" in proc.stdout
    assert "Finish training" in proc.stdout


def test_imagenet_file_serves_every_variant_and_the_duplicated_names():
    from sempt.attributes import attribute_file_for, load_attributes
    path = attribute_file_for("ImageNet")
    if not osp.isfile(path):
        import pytest
        pytest.skip("attributes_cache/imagenet.json is not shipped yet")
    k = load_attributes(path, dataset="ImageNet")
    names = catalog.classnames("ImageNet")
    assert len(names) == 1000 and len(set(names)) == 998  # "missile" and "sunglasses" appear twice
    from sempt.attributes import class_ids
    attrs, table = k.descriptions_for(names, 6, ids=class_ids("ImageNet", names))
    for name in ("missile", "sunglasses"):  # distinct entries ("by_id") for the two classes of each name
        first, second = names.index(name), len(names) - 1 - names[::-1].index(name)
        assert len(table) == 1000 and table[first] != table[second]
    for variant in ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"):
        assert attribute_file_for(variant) == path
        assert len(load_attributes(path, dataset=variant).descriptions_for(catalog.classnames(variant), 6)[1]) == \
            len(catalog.classnames(variant))
