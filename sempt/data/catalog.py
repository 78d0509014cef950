"""The benchmark datasets as their registered readers describe them: reader name, config file, shipped class
names, CoOp's split sizes, attribute file and benchmark groups.

Nothing here is written per dataset: every entry is derived from the facts a reader class states
(``sempt.data.coop.CoOpDataset``), for the registered readers whose class names are shipped in
``classnames.json`` (a reader whose class names come from its own data, like the synthetic CLIP world,
has no entry). ``classnames(reader_name)`` gives the exact class names a reader produces, in label order,
without any image on disk (the attribute pipeline and the tests need them). Expected counts are those of the
CoOp splits (CoOp, IJCV 2022, Table of datasets).

``lookup(arg, root)`` finds any dataset a user can name: a reader or config name of the catalog, another
registered reader (the synthetic world's ``CLIPWorld``), a dataset config file, or the stem of one in
``configs/datasets/`` (a user's copy of ``image_folder.yaml``); ``dataset_classnames`` then gives its class
names, shipped or read from its data (``sempt.data.readers.read_classnames``).

The readers are imported on first use (``sempt.data.readers.load_readers``), so this module can be imported
anywhere; using it needs the repository root on the path, as ``train.py`` does.
"""
import functools
import glob
import json
import os.path as osp
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DatasetInfo", "CATALOG", "SHARED_ATTRIBUTE_FILES", "classnames", "info", "wnids", "resolve", "group",
           "shipped", "DatasetRef", "lookup", "dataset_classnames", "CONFIGS_DIR"]

CONFIGS_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), "configs", "datasets")


@dataclass(frozen=True)
class DatasetInfo:
    reader: str  # registered reader name (DATASET.NAME)
    config: str  # configs/datasets/<config>.yaml
    names_key: str  # key in classnames.json
    n_classes: int
    train: int  # expected sizes of the CoOp split (0: none)
    val: int
    test: int
    attribute_stem: str = ""  # attributes_cache/<attribute_stem>.json
    groups: tuple = ()  # benchmark groups (sempt.data.coop.BENCHMARK_GROUPS)
    wnids_key: str = ""  # key of its WordNet ids in classnames.json ("" : none)


def _info(cls):
    sizes = cls.expected or {}
    return DatasetInfo(reader=cls.__name__, config=cls.config_name, names_key=cls.classnames_key,
                       n_classes=sizes.get("classes", 0), train=sizes.get("train", 0), val=sizes.get("val", 0),
                       test=sizes.get("test", 0), attribute_stem=cls.attribute_stem or cls.config_name,
                       groups=tuple(cls.groups), wnids_key=cls.wnids_key or "")


@functools.lru_cache(maxsize=4)
def _entries(readers):
    return {cls.__name__: _info(cls) for cls in readers}


def _catalog():
    from sempt.data.readers import registered
    shipped_names = shipped()["datasets"]
    return _entries(tuple(cls for cls in registered()
                          if not cls.classnames_from_data and cls.classnames_key in shipped_names))


class _Derived(Mapping):
    """A read-only mapping computed from the registered readers each time it is used (so it follows them)."""

    def __init__(self, build, what):
        self._build, self._what = build, what

    def __getitem__(self, key):
        return self._build()[key]

    def __iter__(self):
        return iter(self._build())

    def __len__(self):
        return len(self._build())

    def __repr__(self):
        return f"<{self._what}: {dict(self._build())!r}>"


CATALOG = _Derived(_catalog, "catalog of the registered readers")  # reader name -> DatasetInfo, in table order


def _shared_attribute_files():
    by_stem = {d.config: d.reader for d in _catalog().values()}
    return {d.reader: by_stem[d.attribute_stem] for d in _catalog().values()
            if d.attribute_stem != d.config and d.attribute_stem in by_stem}


# reader name -> the reader whose attribute file it uses (the ImageNet variants: ImageNet)
SHARED_ATTRIBUTE_FILES = _Derived(_shared_attribute_files, "shared attribute files")


@functools.lru_cache(maxsize=1)
def shipped():
    """The parsed ``classnames.json`` (the shipped class names and WordNet ids)."""
    with open(osp.join(osp.dirname(__file__), "classnames.json"), encoding="utf-8") as f:
        return json.load(f)


def resolve(name):
    """A reader name from a reader name, a config stem (``oxford_pets``) or any case variant."""
    entries = _catalog()
    for d in entries.values():
        if name in (d.reader, d.config) or name.lower() in (d.reader.lower(), d.config.lower()):
            return d.reader
    raise KeyError(f"Unknown dataset {name!r}; known: {sorted(entries)} (or config names "
                   f"{sorted(d.config for d in entries.values())})")


def info(name):
    return _catalog()[resolve(name)]


def classnames(name):
    """Class names of a dataset in label order, exactly as its reader produces them."""
    return list(shipped()["datasets"][info(name).names_key])


def wnids(name):
    """WordNet ids in label order for ImageNet (1,000) and ImageNet-A/-R (200)."""
    key = info(name).wnids_key
    if not key:
        raise KeyError(f"{name} has no WordNet ids")
    return list(shipped()[key])


def group(*names):
    """Config names of the registered readers in the benchmark groups ``names`` (e.g. ``base2new``), in
    table order (every registered reader, also one whose class names come from its data)."""
    from sempt.data.readers import registered
    readers = registered()
    from sempt.data.coop import BENCHMARK_GROUPS
    unknown = [g for g in names if g not in BENCHMARK_GROUPS]
    if unknown:
        raise KeyError(f"Unknown benchmark group(s) {unknown}; groups: {', '.join(BENCHMARK_GROUPS)}")
    return [cls.config_name for cls in readers if set(cls.groups) & set(names)]


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as a user named it: its reader's facts (``sempt.data.readers.DatasetFacts``, from its config
    for a reader like ``ImageFolder``), its config (defaults, its dataset config file, ``DATASET.ROOT``) and
    that config file ("" when there is none)."""
    facts: object
    cfg: object
    config_file: str = ""

    @property
    def shipped(self):
        """True when the class names are shipped (``classnames.json``), False when read from the data."""
        return not self.facts.per_config and self.facts.reader in _catalog()


def _dataset_cfg(config_file, root):
    from sempt.config import build_cfg
    from sempt.data.readers import load_readers
    opts = ["DATASET.ROOT", root] if root else []
    return build_cfg([load_readers().extend_cfg], dataset_config_file=config_file, opts=opts)


def _config_reader(path):
    import yaml
    try:
        with open(path, encoding="utf-8") as f:
            return ((yaml.safe_load(f) or {}).get("DATASET") or {}).get("NAME")
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def _named_config_file(arg):
    """The config file ``arg`` names as a file, a catalog name, a reader or a config stem; None otherwise."""
    from sempt.data.readers import registered
    if arg.endswith((".yaml", ".yml")) or osp.isfile(arg):
        if not osp.isfile(arg):
            raise KeyError(f"Dataset config file {arg} does not exist")
        return arg
    try:
        return osp.join(CONFIGS_DIR, info(arg).config + ".yaml")
    except KeyError:
        pass
    cls = next((c for c in registered() if c.__name__.lower() == arg.lower()), None)
    if cls is not None:
        return osp.join(CONFIGS_DIR, f"{cls.config_name}.yaml")
    if osp.isfile(osp.join(CONFIGS_DIR, f"{arg}.yaml")):
        return osp.join(CONFIGS_DIR, f"{arg}.yaml")
    return None


def _configured_dataset(arg, root):
    """The ``DatasetRef`` of the config in ``configs/datasets/`` whose configured dataset name is ``arg``."""
    from sempt.data.readers import facts, registered
    readers = {c.__name__: c for c in registered() if hasattr(c, "configured_facts")}
    for path in sorted(glob.glob(osp.join(CONFIGS_DIR, "*.yaml"))):
        if _config_reader(path) in readers:
            try:
                cfg = _dataset_cfg(path, root)
            except ValueError:
                continue
            if facts(cfg.DATASET.NAME, cfg).name == arg:
                return DatasetRef(facts(cfg.DATASET.NAME, cfg), cfg, path)
    return None


def lookup(arg, root=""):
    """The ``DatasetRef`` ``arg`` names, read with ``DATASET.ROOT`` = ``root``; ``KeyError`` saying what is known.

    ``arg`` is, in this order: a dataset config file (``.yaml``); a reader or config name of the catalog
    (``OxfordPets``, ``oxford_pets``); another registered reader (``CLIPWorld``, ``ImageFolder``); the stem
    of a file in ``configs/datasets/`` (``my_flowers`` for ``configs/datasets/my_flowers.yaml``); or the
    ``DATASET.IMAGE_FOLDER.NAME`` of such a file.
    """
    from sempt.data.readers import facts, registered
    config_file = _named_config_file(arg)
    if config_file is None:  # the configured name of a user's dataset config
        ref = _configured_dataset(arg, root)
        if ref is not None:
            return ref
        entries = _catalog()
        others = sorted(c.__name__ for c in registered() if c.__name__ not in entries)
        raise KeyError(f"Unknown dataset {arg!r}; known: {sorted(entries)} (or config names "
                       f"{sorted(d.config for d in entries.values())}), {others}, a dataset config file, or the name "
                       f"of one in configs/datasets/ (your own dataset: copy configs/datasets/image_folder.yaml)")
    if not osp.isfile(config_file):
        config_file = ""
    cfg = _dataset_cfg(config_file, root)
    try:
        f = facts(cfg.DATASET.NAME, cfg)
    except KeyError as e:
        raise KeyError(f"{config_file}: DATASET.NAME {cfg.DATASET.NAME!r} is not a registered dataset reader") from e
    return DatasetRef(f, cfg, config_file)


def dataset_classnames(ref):
    """Class names of a ``DatasetRef`` in label order: shipped, or read from its data under ``DATASET.ROOT``
    (``DatasetError`` saying what is missing)."""
    if ref.shipped:
        return classnames(ref.facts.reader)
    from sempt.data.readers import read_classnames
    return read_classnames(ref.cfg)
