"""What every CoOp-compatible reader shares: split files, the few-shot cache and base/new subsampling.

A reader (``datasets/<name>.py``) subclasses ``CoOpDataset`` and states only what is specific to its
dataset: folder names, split file, how to build the split when the file is absent, and the dataset's facts
that the rest of the repository derives from the registered readers (config name, class-name source,
templates, CoOp's split sizes, attribute file, benchmark groups, miniature test-tree layout).

Differences from CoOp, all compatible with its files:

- few-shot caches are ``split_fewshot/shot_<K>-seed_<S>.json`` (CoOp's names, JSON instead of pickle):
  image paths are stored relative to the image folder, so moving ``$DATA`` keeps them valid, and nothing
  is unpickled. A CoOp ``.pkl`` next to them is left alone; the same seed draws the same sample.
- a cache that no longer matches its split file is rebuilt, and the log says so.
- a missing folder, a malformed split file or missing images give errors that say what to do.
"""
import contextlib
import hashlib
import json
import math
import os
import os.path as osp
import random
import threading
import time
from collections import defaultdict

from sempt.backend import DatasetBase, Datum
from sempt.fileio import mkdir_if_missing, read_json, write_json

__all__ = [
    "DatasetError", "CoOpDataset", "read_split", "save_split", "subsample_classes", "load_or_make_fewshot",
    "check_images_exist", "read_and_split_data", "split_trainval", "read_classnames", "listdir_sorted", "load_mat",
    "write_bytes", "BENCHMARK_GROUPS",
]

GUIDE = "DATASETS.md"
FEWSHOT_FORMAT = "sempt-fewshot-v1"


class DatasetError(RuntimeError):
    """A dataset that is missing or broken on disk; the message says how to fix it."""


def write_bytes(path, data):
    """Write ``data`` to ``path``, making its folder (the test trees' images and raw files)."""
    mkdir_if_missing(osp.dirname(path))
    with open(path, "wb") as f:
        f.write(data)


def _rel(impath, path_prefix):
    rel = impath.replace(path_prefix, "", 1) if impath.startswith(path_prefix) else impath
    return rel.lstrip("/\\")


def check_images_exist(items, what):
    """Raise one ``DatasetError`` counting the images of ``items`` that are not on disk."""
    missing = [item.impath for item in items if not osp.isfile(item.impath)]
    if not missing:
        return
    shown = "\n  ".join(missing[:5])
    folders = sorted({osp.dirname(p) for p in missing})
    hint = ""
    if any(not osp.isdir(f) for f in folders[:50]):
        hint = (" Some of their folders do not exist either: images may not be extracted yet, or (ImageNet) "
                "the val images are not sorted into class folders.")
    raise DatasetError(
        f"{len(missing)} of {len(items)} images listed in {what} are missing, e.g.\n  {shown}\n{hint} "
        f"See {GUIDE} for the expected layout."
    )


REBUILT_MARK = "_rebuilt"  # key a split file built here (not CoOp's published one) carries

_read_only = threading.local()


@contextlib.contextmanager
def read_only():
    """Inside this block readers write nothing into ``DATASET.ROOT`` (the data checker): a split file that
    would have to be built, or a cache that would be written, is reported instead."""
    _read_only.on = True
    try:
        yield
    finally:
        _read_only.on = False


def is_read_only():
    return getattr(_read_only, "on", False)


def split_is_rebuilt(filepath):
    """True when ``filepath`` was built from the raw files by this repository (``save_split``)."""
    try:
        return REBUILT_MARK in read_json(filepath)
    except (OSError, ValueError):
        return False


VERIFY_LIMIT = 100_000  # more training images than this are not checked before training (the checker does)


def find_bad_images(paths, desc="decode images", progress=True, full=True):
    """``[(path, reason)]`` of the images that cannot be opened and decoded. ``full``: every pixel is decoded
    (finds truncated files too); otherwise only the header and structure are checked (fast)."""
    from PIL import Image
    from tqdm import tqdm
    bad = []
    for path in tqdm(paths, desc=desc, unit="img", dynamic_ncols=True, mininterval=2.0, disable=not progress):
        try:
            with Image.open(path) as img:
                if full:
                    img.convert("RGB").load()
                else:
                    img.verify()
        except Exception as e:  # noqa: BLE001 - PIL raises many types for damaged files
            bad.append((path, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}"))
    return bad


def read_split(filepath, path_prefix):
    """Read ``{"train"|"val"|"test": [[relpath, label, classname], ...]}`` into three ``Datum`` lists."""
    if not osp.isfile(filepath):
        raise DatasetError(f"Split file {filepath} is missing. Download it as described in {GUIDE}.")
    print(f"Reading split from {filepath}")
    try:
        split = read_json(filepath)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"Split file {filepath} is not valid JSON ({e}); download it again ({GUIDE}).") from e
    if not isinstance(split, dict):
        raise DatasetError(f"Split file {filepath} must hold a JSON object with train/val/test lists")
    out = []
    for key in ("train", "val", "test"):
        if key not in split:
            raise DatasetError(f"Split file {filepath} has no {key!r} list (found keys {sorted(split)})")
        items = []
        for i, entry in enumerate(split[key]):
            if not (isinstance(entry, (list, tuple)) and len(entry) == 3 and isinstance(entry[0], str)):
                raise DatasetError(
                    f"Split file {filepath}: {key}[{i}] is {entry!r}, expected [relative path, label, class name]")
            impath, label, classname = entry
            items.append(Datum(impath=osp.join(path_prefix, impath), label=int(label), classname=classname))
        out.append(items)
    names = {}
    for item in (i for part in out for i in part):
        if names.setdefault(item.label, item.classname) != item.classname:
            raise DatasetError(
                f"Split file {filepath}: label {item.label} is called both {names[item.label]!r} and "
                f"{item.classname!r} (e.g. {item.impath}); download the split file again ({GUIDE}).")
    return tuple(out)


def save_split(train, val, test, filepath, path_prefix):
    """Write a CoOp split file with paths relative to ``path_prefix`` (atomically)."""
    def extract(items):
        return [(_rel(item.impath, path_prefix), item.label, item.classname) for item in items]
    write_json({"train": extract(train), "val": extract(val), "test": extract(test),
                REBUILT_MARK: f"built from the raw files by sempt on {time.strftime('%Y-%m-%d')}: not CoOp's "
                              "published split, so results are not comparable with published ones"}, filepath)
    print(f"Saved split to {filepath}")


def _warn_rebuilt(path):
    print("=" * 100 + f"\nWARNING: {path} was built by this repository from the raw files, not downloaded: it is not "
          "CoOp's published split,\nso the numbers of this run are not comparable with published ones. Download "
          f"the split file ({GUIDE}) to compare.\n" + "=" * 100)


def subsample_classes(*args, subsample="all"):
    """Keep the base (first ``ceil(n/2)`` sorted labels) or new (the rest) classes, relabelled from 0."""
    if subsample not in ("all", "base", "new"):
        raise ValueError(f"DATASET.SUBSAMPLE_CLASSES must be all, base or new, got {subsample!r}")
    if subsample == "all":
        return args
    labels = sorted({item.label for item in args[0]})
    m = math.ceil(len(labels) / 2)
    print(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    selected = labels[:m] if subsample == "base" else labels[m:]
    relabel = {y: y_new for y_new, y in enumerate(selected)}
    return tuple(
        [Datum(impath=item.impath, label=relabel[item.label], domain=item.domain, classname=item.classname)
         for item in dataset if item.label in relabel]
        for dataset in args
    )


def _fingerprint(items, path_prefix):
    h = hashlib.sha256()
    for item in items:
        h.update(f"{_rel(item.impath, path_prefix)}\t{item.label}\t{item.classname}\n".encode())
    return h.hexdigest()[:16]


def _check_shots(dataset, items, num_shots, what):
    counts = defaultdict(int)
    names = {}
    for item in items:
        counts[item.label] += 1
        names[item.label] = item.classname
    short = sorted((label for label, n in counts.items() if n < num_shots))
    if not short:
        return
    listed = ", ".join(f"{names[label]!r} ({counts[label]})" for label in short[:10])
    more = f" and {len(short) - 10} more" if len(short) > 10 else ""
    msg = (f"DATASET.NUM_SHOTS={num_shots} but {len(short)} class(es) of the {what} split have fewer images: "
           f"{listed}{more}")
    if what == "train":
        raise DatasetError(msg + ". Lower DATASET.NUM_SHOTS or check that the dataset is complete.")
    print(f"Note: {msg}; all of their images are used.")


def load_or_make_fewshot(dataset, train, val, num_shots, seed, fewshot_dir, path_prefix):
    """Few-shot ``train`` (K per class) and ``val`` (min(K, 4) per class), cached as JSON.

    The cache is reused only when it was drawn from the same split (fingerprint) and every path it names
    is in the split; otherwise it is rebuilt and the log says why.
    """
    mkdir_if_missing(fewshot_dir)
    path = osp.join(fewshot_dir, f"shot_{num_shots}-seed_{seed}.json")
    has_val = val is not None
    val = list(val or [])
    fingerprint = _fingerprint(train, path_prefix) + _fingerprint(val, path_prefix)
    by_key = {(_rel(it.impath, path_prefix), it.label, it.classname): it for it in list(train) + val}
    reason = None
    if osp.isfile(path):
        try:
            cache = read_json(path)
            if cache.get("format") != FEWSHOT_FORMAT or cache.get("split_fingerprint") != fingerprint:
                reason = "it was drawn from a different split file"
            else:
                out = []
                for key in ("train", "val"):
                    keys = [tuple(e) for e in cache[key]]
                    if any(k not in by_key for k in keys):
                        reason = f"its {key} list names images that are not in the split"
                        break
                    out.append([by_key[k] for k in keys])
                if reason is None:
                    print(f"Loading preprocessed few-shot data from {path}")
                    return out[0], (out[1] if has_val else None)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            reason = f"it is unreadable ({type(e).__name__})"
        print(f"Rebuilding the few-shot cache {path}: {reason}")
    elif osp.isfile(path[:-5] + ".pkl"):
        print(f"Found CoOp's pickle {path[:-5]}.pkl: not loading pickles; drawing the same sample from seed {seed}")
    _check_shots(dataset, train, num_shots, "train")
    train = dataset.generate_fewshot_dataset(train, num_shots=num_shots)
    if has_val:
        _check_shots(dataset, val, min(num_shots, 4), "val")
        val = dataset.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))

    def dump(items):
        return [[_rel(it.impath, path_prefix), it.label, it.classname] for it in items]
    write_json({"format": FEWSHOT_FORMAT, "num_shots": num_shots, "seed": seed,
                "split_fingerprint": fingerprint, "train": dump(train), "val": dump(val)}, path)
    print(f"Saving preprocessed few-shot data to {path}")
    return train, (val if has_val else None)


def listdir_sorted(path):
    """Visible entries of ``path``, sorted (CoOp used the file system's order, which varies by machine)."""
    return sorted(f for f in os.listdir(path) if not f.startswith("."))


def read_and_split_data(image_dir, p_trn=0.5, p_val=0.2, ignored=(), new_cnames=None):
    """Split ``image_dir/<category>/*`` per category into train/val/test (CoOp's DTD procedure).

    Categories are sorted and labelled in that order; each category's images are shuffled with Python's
    ``random`` and cut at ``round(n * p_trn)`` and ``round(n * p_val)``.
    """
    categories = [c for c in listdir_sorted(image_dir) if c not in ignored]
    print(f"Splitting into {p_trn:.0%} train, {p_val:.0%} val, and {1 - p_trn - p_val:.0%} test")
    train, val, test = [], [], []
    for label, category in enumerate(categories):
        folder = osp.join(image_dir, category)
        images = [osp.join(folder, im) for im in listdir_sorted(folder)]
        random.shuffle(images)
        n_train, n_val = round(len(images) * p_trn), round(len(images) * p_val)
        if n_train < 1 or n_val < 1 or len(images) - n_train - n_val < 1:
            raise DatasetError(f"{folder} has {len(images)} images: too few to split into train/val/test")
        name = (new_cnames or {}).get(category, category)
        for part, ims in ((train, images[:n_train]), (val, images[n_train:n_train + n_val]),
                          (test, images[n_train + n_val:])):
            part.extend(Datum(impath=im, label=label, classname=name) for im in ims)
    return train, val, test


def split_trainval(trainval, p_val=0.2):
    """Split per label into train and val (``round(n * p_val)`` val items), CoOp's procedure."""
    print(f"Splitting trainval into {1 - p_val:.0%} train and {p_val:.0%} val")
    tracker = defaultdict(list)
    for idx, item in enumerate(trainval):
        tracker[item.label].append(idx)
    train, val = [], []
    for _, idxs in tracker.items():
        n_val = round(len(idxs) * p_val)
        if n_val < 1:
            raise DatasetError(f"class {trainval[idxs[0]].classname!r} has too few images to split off a val set")
        random.shuffle(idxs)
        for n, idx in enumerate(idxs):
            (val if n < n_val else train).append(trainval[idx])
    return train, val


def read_classnames(text_file):
    """``classnames.txt`` of the ImageNet family: ``<folder> <class name>`` per line, in label order."""
    if not osp.isfile(text_file):
        raise DatasetError(
            f"{text_file} is missing. Write it with `python -m sempt.data classnames imagenet > {text_file}` "
            f"({GUIDE}#imagenet).")
    names = {}
    with open(text_file, "r", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.strip().split(" ")
            if not parts[0]:
                continue
            if len(parts) < 2:
                raise DatasetError(f"{text_file}:{n}: expected '<folder> <class name>', got {line.strip()!r}")
            names[parts[0]] = " ".join(parts[1:])
    return names


def load_mat(path, what):
    """``scipy.io.loadmat`` with a clear error when the file or scipy is missing."""
    if not osp.isfile(path):
        raise DatasetError(f"{path} is missing ({what}); see {GUIDE}")
    try:
        from scipy.io import loadmat
    except ImportError as e:
        raise DatasetError(f"Reading {path} needs scipy (pip install scipy), or download the split file "
                           f"instead ({GUIDE})") from e
    return loadmat(path)


BENCHMARK_GROUPS = ("base2new", "few_shot", "xd_source", "xd_target", "domain_target")


class CoOpDataset(DatasetBase):
    """Base of the CoOp readers, and the one home of each dataset's facts.

    Where the reader finds its data (class attributes):
        dataset_dir: folder under ``DATASET.ROOT``.
        image_dir: folder under ``dataset_dir`` that split paths are relative to.
        split_file: split file name under ``dataset_dir`` (``split_zhou_<Name>.json``), if the dataset has one.
        guide_section: the ``DATASETS.md`` anchor that explains how to prepare it.
        test_only: evaluation-only datasets (ImageNet variants): all data is both train_x and test.
        fewshot_subdir: folder of the few-shot caches under ``dataset_dir``.
    Override ``make_split()`` to build the split when the file is absent (returns train, val, test), or
    ``load_split()`` when the dataset has no split file at all. A ``val`` of ``None`` means "use test".

    What the rest of the repository knows about the dataset (``sempt.data.catalog``, ``sempt.templates``,
    the data checker, the attribute files, ``sempt.testing.make_dataset_tree`` and the benchmark lists
    read these; ``tests/test_dataset_facts.py`` checks every registered reader has them):
        config_name: stem of ``configs/datasets/<config_name>.yaml`` (whose ``DATASET.NAME`` is the reader's
            class name); default: ``dataset_dir``.
        classnames_key: key of its class names, in label order, in ``sempt/data/classnames.json``; default:
            ``config_name``.
        classnames_from_data: True for a dataset whose class names come from its own data (no shipped list:
            it is then not in the catalog, the checker or the test trees).
        wnids_key: key of its WordNet-id list in ``classnames.json`` (the ImageNet family only).
        template: its hand-crafted prompt in CoOp's zero-shot table, ``"{}"`` standing for the class name.
        method_templates: ``{method family: template}`` where that family's authors used another one (the
            families are ``sempt.templates.TEMPLATE_TABLES``).
        expected: CoOp's split sizes, ``dict(classes=..., train=..., val=..., test=...)`` (train and val 0 for
            test-only datasets); the checker compares with them.
        attribute_stem: its attribute file is ``attributes_cache/<attribute_stem>.json``; default:
            ``config_name`` (the ImageNet variants use ImageNet's).
        groups: the benchmark lists it belongs to (``BENCHMARK_GROUPS``): ``base2new``, ``few_shot``,
            ``xd_source`` (the cross-dataset source), ``xd_target`` (its targets), ``domain_target``
            (the cross-domain targets).
        table_order: its place in the papers' tables and in every list built from the readers (CoOp's
            order); readers without one come last, by name.
    and, for the miniature test tree, ``tree_image_path`` (split-file datasets) or ``write_test_tree``.
    """

    split_rebuilt = False  # True when the split was built here from the raw files (not CoOp's)
    dataset_dir = ""
    image_dir = ""
    split_file = ""
    guide_section = ""
    test_only = False
    fewshot_subdir = "split_fewshot"

    config_name = None
    classnames_key = None
    classnames_from_data = False
    wnids_key = None
    template = None
    method_templates = {}
    expected = None
    attribute_stem = None
    groups = ()
    table_order = 10 ** 6

    def __init_subclass__(cls, **kwargs):
        """Fill the defaulted facts (``config_name``, then ``classnames_key`` and ``attribute_stem``)."""
        super().__init_subclass__(**kwargs)
        if cls.config_name is None and cls.dataset_dir:
            cls.config_name = cls.dataset_dir
        if cls.config_name:
            if cls.classnames_key is None and not cls.classnames_from_data:
                cls.classnames_key = cls.config_name
            if cls.attribute_stem is None:
                cls.attribute_stem = cls.config_name

    def __init__(self, cfg):
        root = osp.abspath(osp.expanduser(cfg.DATASET.ROOT))
        self.root = root
        self.dataset_dir = osp.join(root, type(self).dataset_dir)
        if not osp.isdir(self.dataset_dir):
            where = f"{GUIDE}#{self.guide_section}" if self.guide_section else GUIDE
            hint = "" if cfg.DATASET.ROOT else " (DATASET.ROOT is empty: pass --root $DATA)"
            raise DatasetError(
                f"{type(self).__name__}: folder {self.dataset_dir} not found{hint}. "
                f"Prepare the dataset as described in {where}.")
        self.image_dir = osp.join(self.dataset_dir, type(self).image_dir)
        self.split_path = osp.join(self.dataset_dir, self.split_file) if self.split_file else ""
        self.split_fewshot_dir = osp.join(self.dataset_dir, self.fewshot_subdir)

        train, val, test = self.load_split()
        source = self.split_path or self.dataset_dir
        check_images_exist(list(train) + list(val or []) + list(test), source)
        if self.test_only:
            super().__init__(train_x=test, test=test)
            return
        num_shots = cfg.DATASET.NUM_SHOTS
        if num_shots >= 1:
            train, val = load_or_make_fewshot(self, train, val, num_shots, cfg.SEED, self.split_fewshot_dir,
                                              self.image_dir)
        if val is None:  # ImageNet: the test split doubles as val
            train, test = subsample_classes(train, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
            val = test
        else:
            train, val, test = subsample_classes(train, val, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        if not is_read_only():
            train = self.verify_images(train, cfg)
        super().__init__(train_x=train, val=val, test=test)

    def load_split(self):
        if osp.isfile(self.split_path) or not type(self).has_own_split_builder():
            split = read_split(self.split_path, self.image_dir)
            if self.split_path and split_is_rebuilt(self.split_path):
                self.split_rebuilt = True
                _warn_rebuilt(self.split_path)
            return split
        if is_read_only():
            raise DatasetError(f"Split file {self.split_path} is missing (training would build a new random split "
                               "from the raw files, not CoOp's; download it as described in "
                               f"{GUIDE}#{self.guide_section})")
        print(f"{self.split_path} not found: building the split from the raw files")
        try:
            train, val, test = self.make_split()
        except DatasetError as e:
            raise DatasetError(
                f"Split file {self.split_path} is missing and cannot be built from the raw files: {e}. "
                f"Download the split file as described in {GUIDE}#{self.guide_section}.") from e
        save_split(train, val, test, self.split_path, self.image_dir)
        self.split_rebuilt = True
        _warn_rebuilt(self.split_path)
        return train, val, test

    def verify_images(self, items, cfg):
        """Decode the training images before the first epoch (``DATASET.VERIFY_IMAGES``): a damaged file
        stops the run naming every bad file, or is left out with a warning (``DATASET.BAD_IMAGES skip``)."""
        if cfg.DATASET.get("VERIFY_IMAGES", "train") == "none" or not items:
            return items
        if len(items) > VERIFY_LIMIT:
            print(f"Note: {len(items):,} training images are not checked before training (more than "
                  f"{VERIFY_LIMIT:,}); python -m sempt.data check decodes them all")
            return items
        bad = dict(find_bad_images([i.impath for i in items], desc=f"{type(self).__name__}: check training images",
                                   full=False))
        if not bad:
            return items
        listing = "; ".join(f"{p} ({why})" for p, why in list(bad.items())[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        if cfg.DATASET.get("BAD_IMAGES", "stop") == "skip":
            print(f"WARNING: skipping {len(bad)} training images that cannot be decoded: {listing}{more}")
            return [i for i in items if i.impath not in bad]
        raise DatasetError(f"{len(bad)} training images cannot be decoded: {listing}{more}. Replace them, or set "
                           "DATASET.BAD_IMAGES skip to train without them (python -m sempt.data check lists all)")

    @classmethod
    def has_own_split_builder(cls):
        return cls.make_split is not CoOpDataset.make_split

    def make_split(self):
        raise NotImplementedError

    # -- the miniature test tree (sempt.testing.make_dataset_tree) --

    @classmethod
    def write_test_tree(cls, root, classnames, per_class, image):
        """Write a miniature copy of the dataset under ``root`` in its exact on-disk layout; return its folder.

        Every class gets ``per_class`` = (train, val, test) images; ``image(label)`` gives an image's bytes.
        This default writes a split file with the images at ``tree_image_path``; datasets without a split
        file override it to write their raw annotation files.
        """
        base = osp.join(root, cls.dataset_dir)
        split = {"train": [], "val": [], "test": []}
        serial = 0
        for label, name in enumerate(classnames):
            for key, count in zip(("train", "val", "test"), per_class):
                for i in range(count):
                    serial += 1
                    rel = cls.tree_image_path(label, name, key, i, serial)
                    write_bytes(osp.join(base, cls.image_dir, rel), image(label))
                    split[key].append([rel, label, name])
        write_json(split, osp.join(base, cls.split_file))
        return base

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        """Path under ``image_dir`` of the ``i``-th ``split`` image of a class in the test tree, named the way
        the real dataset names its files (``serial``: 1, 2, ... over the whole tree)."""
        raise NotImplementedError("a reader with a split file names its test-tree images (tree_image_path)")

    # CoOp's helper names, for code written against CoOp's readers
    read_split = staticmethod(read_split)
    save_split = staticmethod(save_split)
    subsample_classes = staticmethod(subsample_classes)
    split_trainval = staticmethod(split_trainval)
    read_and_split_data = staticmethod(read_and_split_data)
    read_classnames = staticmethod(read_classnames)
