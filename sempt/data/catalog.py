"""The 15 benchmark datasets: reader name, config file, shipped class names and CoOp's split sizes.

``classnames(reader_name)`` gives the exact class names a reader produces, in label order, without any
image on disk (the attribute pipeline and the tests need them). Expected counts are those of the CoOp
splits (CoOp, IJCV 2022, Table of datasets).
"""
import functools
import json
import os.path as osp
from dataclasses import dataclass

__all__ = ["DatasetInfo", "CATALOG", "classnames", "info", "wnids", "resolve"]


@dataclass(frozen=True)
class DatasetInfo:
    reader: str  # registered reader name (DATASET.NAME)
    config: str  # configs/datasets/<config>.yaml
    names_key: str  # key in classnames.json
    n_classes: int
    train: int  # expected sizes of the CoOp split (0: none)
    val: int
    test: int


CATALOG = {d.reader: d for d in [
    DatasetInfo("ImageNet", "imagenet", "imagenet", 1000, 1281167, 50000, 50000),
    DatasetInfo("Caltech101", "caltech101", "caltech101", 100, 4128, 1649, 2465),
    DatasetInfo("OxfordPets", "oxford_pets", "oxford_pets", 37, 2944, 736, 3669),
    DatasetInfo("StanfordCars", "stanford_cars", "stanford_cars", 196, 6509, 1635, 8041),
    DatasetInfo("OxfordFlowers", "oxford_flowers", "oxford_flowers", 102, 4093, 1633, 2463),
    DatasetInfo("Food101", "food101", "food101", 101, 50500, 20200, 30300),
    DatasetInfo("FGVCAircraft", "fgvc_aircraft", "fgvc_aircraft", 100, 3334, 3333, 3333),
    DatasetInfo("SUN397", "sun397", "sun397", 397, 15880, 3970, 19850),
    DatasetInfo("DescribableTextures", "dtd", "dtd", 47, 2820, 1128, 1692),
    DatasetInfo("EuroSAT", "eurosat", "eurosat", 10, 13500, 5400, 8100),
    DatasetInfo("UCF101", "ucf101", "ucf101", 101, 7639, 1898, 3783),
    DatasetInfo("ImageNetV2", "imagenetv2", "imagenet", 1000, 0, 0, 10000),
    DatasetInfo("ImageNetSketch", "imagenet_sketch", "imagenet", 1000, 0, 0, 50889),
    DatasetInfo("ImageNetA", "imagenet_a", "imagenet_a", 200, 0, 0, 7500),
    DatasetInfo("ImageNetR", "imagenet_r", "imagenet_r", 200, 0, 0, 30000),
]}


@functools.lru_cache(maxsize=1)
def _table():
    with open(osp.join(osp.dirname(__file__), "classnames.json"), encoding="utf-8") as f:
        return json.load(f)


def resolve(name):
    """A reader name from a reader name, a config stem (``oxford_pets``) or any case variant."""
    for d in CATALOG.values():
        if name in (d.reader, d.config) or name.lower() in (d.reader.lower(), d.config.lower()):
            return d.reader
    raise KeyError(f"Unknown dataset {name!r}; known: {sorted(CATALOG)} (or config names "
                   f"{sorted(d.config for d in CATALOG.values())})")


def info(name):
    return CATALOG[resolve(name)]


def classnames(name):
    """Class names of a dataset in label order, exactly as its reader produces them."""
    return list(_table()["datasets"][info(name).names_key])


def wnids(name):
    """WordNet ids in label order for ImageNet (1,000) and ImageNet-A/-R (200)."""
    key = {"ImageNet": "imagenet_wnids", "ImageNetV2": "imagenet_wnids", "ImageNetSketch": "imagenet_wnids",
           "ImageNetA": "imagenet_a_wnids", "ImageNetR": "imagenet_r_wnids"}.get(resolve(name))
    if key is None:
        raise KeyError(f"{name} has no WordNet ids")
    return list(_table()[key])
