"""Each dataset's facts live in its reader: every registered reader states them, and the catalog, the template
tables and the benchmark lists derived from the readers equal the tables that used to be written by hand."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import REPO
from sempt.data import catalog
from sempt.data.coop import BENCHMARK_GROUPS
from sempt.data.readers import registered
from sempt.templates import DEFAULT_TEMPLATE, TEMPLATE_TABLES, get_template, hand_templates

READERS = registered()
SHIPPED = catalog.shipped()

# the tables as they were written by hand before they moved into the readers
OLD_CATALOG = [
    ("ImageNet", "imagenet", "imagenet", 1000, 1281167, 50000, 50000),
    ("Caltech101", "caltech101", "caltech101", 100, 4128, 1649, 2465),
    ("OxfordPets", "oxford_pets", "oxford_pets", 37, 2944, 736, 3669),
    ("StanfordCars", "stanford_cars", "stanford_cars", 196, 6509, 1635, 8041),
    ("OxfordFlowers", "oxford_flowers", "oxford_flowers", 102, 4093, 1633, 2463),
    ("Food101", "food101", "food101", 101, 50500, 20200, 30300),
    ("FGVCAircraft", "fgvc_aircraft", "fgvc_aircraft", 100, 3334, 3333, 3333),
    ("SUN397", "sun397", "sun397", 397, 15880, 3970, 19850),
    ("DescribableTextures", "dtd", "dtd", 47, 2820, 1128, 1692),
    ("EuroSAT", "eurosat", "eurosat", 10, 13500, 5400, 8100),
    ("UCF101", "ucf101", "ucf101", 101, 7639, 1898, 3783),
    ("ImageNetV2", "imagenetv2", "imagenet", 1000, 0, 0, 10000),
    ("ImageNetSketch", "imagenet_sketch", "imagenet", 1000, 0, 0, 50889),
    ("ImageNetA", "imagenet_a", "imagenet_a", 200, 0, 0, 7500),
    ("ImageNetR", "imagenet_r", "imagenet_r", 200, 0, 0, 30000),
]
OLD_WNIDS = {"ImageNet": "imagenet_wnids", "ImageNetV2": "imagenet_wnids", "ImageNetSketch": "imagenet_wnids",
             "ImageNetA": "imagenet_a_wnids", "ImageNetR": "imagenet_r_wnids"}
OLD_SHARED_FILES = {"ImageNetV2": "ImageNet", "ImageNetSketch": "ImageNet", "ImageNetA": "ImageNet",
                    "ImageNetR": "ImageNet"}
OLD_HAND_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
OLD_KGCOOP_TEMPLATES = {**OLD_HAND_TEMPLATES, "DescribableTextures": "a photo of a {}, a type of texture."}
OLD_ELEVEN = ["imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
              "sun397", "dtd", "eurosat", "ucf101"]
OLD_XD_TARGETS = OLD_ELEVEN[1:]
OLD_DOMAIN_TARGETS = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
OLD_BENCHMARK_XD = ("caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft sun397 dtd eurosat "
                    "ucf101 imagenetv2 imagenet_sketch imagenet_a imagenet_r").split()


def fact_problems(facts, configs_dir):
    """What a reader (its facts as a dict) lacks; an empty list when it states everything."""
    name, problems = facts["name"], []
    templates = [facts["template"]] + list(facts["method_templates"].values())
    if not all(isinstance(t, str) and "{}" in t for t in templates):
        problems.append(f"{name}: no hand-crafted `template` with a '{{}}' (or a bad one in method_templates)")
    if not set(facts["method_templates"]) <= set(TEMPLATE_TABLES):
        problems.append(f"{name}: method_templates names a family without a table: {sorted(facts['method_templates'])}")
    if not facts["classnames_from_data"] and facts["classnames_key"] not in SHIPPED["datasets"]:
        problems.append(f"{name}: no class-name source (a classnames.json key, or classnames_from_data = True); "
                        f"classnames_key is {facts['classnames_key']!r}")
    if facts["wnids_key"] and facts["wnids_key"] not in SHIPPED:
        problems.append(f"{name}: wnids_key {facts['wnids_key']!r} is not in classnames.json")
    path = osp.join(configs_dir, f"{facts['config_name']}.yaml")
    config_reader = (yaml.safe_load(open(path)) or {}).get("DATASET", {}).get("NAME") if osp.isfile(path) else None
    if config_reader != name:
        problems.append(f"{name}: configs/datasets/{facts['config_name']}.yaml (config_name) is missing or its "
                        f"DATASET.NAME is {config_reader!r}")
    if not set(facts["groups"]) <= set(BENCHMARK_GROUPS):
        problems.append(f"{name}: unknown benchmark groups {facts['groups']}")
    if not facts["attribute_stem"]:
        problems.append(f"{name}: no attribute_stem")
    return problems


def facts_of(cls):
    return {"name": cls.__name__, "template": cls.template, "method_templates": dict(cls.method_templates),
            "classnames_from_data": cls.classnames_from_data, "classnames_key": cls.classnames_key,
            "wnids_key": cls.wnids_key, "config_name": cls.config_name, "groups": list(cls.groups),
            "attribute_stem": cls.attribute_stem}


@pytest.mark.parametrize("cls", READERS, ids=[c.__name__ for c in READERS])
def test_every_registered_reader_states_its_facts(cls):
    assert not fact_problems(facts_of(cls), osp.join(REPO, "configs", "datasets"))


@pytest.mark.parametrize("cls", [c for c in READERS if c.__name__ in catalog.CATALOG], ids=lambda c: c.__name__)
def test_shipped_names_match_the_expected_sizes(cls):
    names = SHIPPED["datasets"][cls.classnames_key]
    assert cls.expected and len(names) == cls.expected["classes"]
    assert set(cls.expected) == {"classes", "train", "val", "test"}
    if cls.wnids_key:
        assert len(SHIPPED[cls.wnids_key]) == len(names)


def test_a_reader_without_a_template_or_class_names_is_reported():
    facts = {"name": "Toy", "template": None, "method_templates": {}, "classnames_from_data": False,
             "classnames_key": "toy", "wnids_key": None, "config_name": "toy", "groups": [], "attribute_stem": "toy"}
    problems = " ".join(fact_problems(facts, osp.join(REPO, "configs", "datasets")))
    assert "no hand-crafted `template`" in problems and "no class-name source" in problems
    assert "configs/datasets/toy.yaml" in problems


def test_catalog_is_the_old_table():
    got = [(d.reader, d.config, d.names_key, d.n_classes, d.train, d.val, d.test) for d in catalog.CATALOG.values()]
    assert got == OLD_CATALOG
    for reader, key in OLD_WNIDS.items():
        assert catalog.wnids(reader) == SHIPPED[key]
    with pytest.raises(KeyError):
        catalog.wnids("OxfordPets")
    assert dict(catalog.SHARED_ATTRIBUTE_FILES) == OLD_SHARED_FILES
    assert {d.reader: d.attribute_stem for d in catalog.CATALOG.values()} == \
        {r: ("imagenet" if r in OLD_SHARED_FILES else c) for r, c, *_ in OLD_CATALOG}
    assert catalog.resolve("oxford_pets") == catalog.resolve("OXFORDPETS") == "OxfordPets"


def test_templates_are_the_old_tables():
    assert TEMPLATE_TABLES == ("coop", "kgcoop")
    for table, old in (("coop", OLD_HAND_TEMPLATES), ("kgcoop", OLD_KGCOOP_TEMPLATES)):
        derived = hand_templates(table)
        assert {name: derived[name] for name in old} == old
        assert all(get_template(name, table) == template for name, template in old.items())
    import sempt.templates as templates
    assert {name: templates.HAND_TEMPLATES[name] for name in OLD_HAND_TEMPLATES} == OLD_HAND_TEMPLATES
    assert get_template("CLIPWorld") == DEFAULT_TEMPLATE  # what the synthetic world has always used
    assert get_template("NoSuchDataset") == DEFAULT_TEMPLATE


def test_benchmark_lists_are_the_old_lists():
    import sempt.leaderboard as lb
    assert lb.ELEVEN == OLD_ELEVEN and lb.XD_TARGETS == OLD_XD_TARGETS and lb.DOMAIN_TARGETS == OLD_DOMAIN_TARGETS
    assert catalog.group("few_shot") == catalog.group("base2new") == OLD_ELEVEN
    assert catalog.group("xd_source") == ["imagenet"]
    proc = subprocess.run([sys.executable, "-m", "sempt.data", "list", "xd_target", "domain_target"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.split() == OLD_BENCHMARK_XD  # benchmark.sh's xd targets


def test_readers_found_only_from_the_repository_root(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sempt.data", "list", "base2new"], cwd=str(tmp_path),
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=""))
    assert proc.returncode == 2 and proc.stderr.strip().endswith("run from the repository root")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "__init__.py").write_text("VERSION = 'another library of that name'\n")
    proc = subprocess.run([sys.executable, "-c", "from sempt.data.readers import load_readers; load_readers()"],
                          cwd=str(tmp_path), capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=""))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith("is not this repository's dataset readers: run from the "
                                                          "repository root")


TOY_READER = '''
"""A toy dataset: ``toy/images/<class>/``, ``split_zhou_Toy.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset


@DATASET_REGISTRY.register()
class Toy(CoOpDataset):
    dataset_dir = "toy"
    image_dir = "images"
    split_file = "split_zhou_Toy.json"
    classnames_from_data = True
    template = "a toy photo of a {}."
    groups = ("base2new",)
'''


def test_adding_a_dataset_is_one_reader_file_and_its_config(tmp_path):
    """The README's recipe: datasets/toy.py and configs/datasets/toy.yaml, nothing else."""
    root = tmp_path / "repo"
    shutil.copytree(osp.join(REPO, "datasets"), root / "datasets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(osp.join(REPO, "configs", "datasets"), root / "configs" / "datasets")
    (root / "datasets" / "toy.py").write_text(TOY_READER)
    (root / "configs" / "datasets" / "toy.yaml").write_text('DATASET:\n  NAME: "Toy"\n')
    from sempt.testing import make_coop_dataset
    make_coop_dataset(str(tmp_path / "data"), "toy", "images", "split_zhou_Toy.json", ["cat", "dog"], n_train=2,
                      n_val=1, n_test=1, image_size=8)
    script = textwrap.dedent(f"""
        import json
        from sempt.config import build_cfg
        from sempt.data import catalog
        from sempt.data.readers import load_readers, reader
        from sempt.templates import get_template
        cls = reader("Toy")
        cfg = build_cfg([load_readers().extend_cfg], opts=["DATASET.ROOT", {str(tmp_path / "data")!r},
                                                          "DATASET.NAME", "Toy"])
        facts = {{k: getattr(cls, k) for k in ("template", "method_templates", "classnames_from_data",
                 "classnames_key", "wnids_key", "config_name", "groups", "attribute_stem")}}
        print(json.dumps({{"facts": facts, "template": get_template("Toy", "kgcoop"), "names": cls(cfg).classnames,
                          "base2new": catalog.group("base2new")}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(root), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=""))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not fact_problems({"name": "Toy", **out["facts"]}, str(root / "configs" / "datasets"))
    assert out["template"] == "a toy photo of a {}." and out["names"] == ["cat", "dog"]
    assert out["base2new"] == OLD_ELEVEN + ["toy"]
