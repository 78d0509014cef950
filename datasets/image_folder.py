"""A user's own dataset: a folder of class subfolders (``DATASET.NAME ImageFolder``).

    $DATA/<DIR>/<class folder>/<any sub-folders>/<image>.jpg|.png|...

Its facts come from its dataset config (copy ``configs/datasets/image_folder.yaml``), not from class
constants: ``DATASET.IMAGE_FOLDER.DIR`` (the folder, under ``DATASET.ROOT`` or absolute), ``NAME`` (the
attribute file ``attributes_cache/<NAME>.json``; default: the folder's name), ``TEMPLATE`` (the hand-crafted
prompt), ``DOMAIN`` (what the images show, for the attribute prompts), ``CLASSNAMES`` (an optional file
mapping folder names to readable class names), ``TRAIN_RATIO`` / ``VAL_RATIO`` / ``SPLIT_SEED`` and
``SPLIT_FILE``.

Classes are the subfolders that hold at least one image, labelled in sorted folder order; images are found
at any depth inside them by extension (any case); other files, hidden entries and empty folders are left
out. The first run splits every class's images into train / val / test with a generator seeded by
``SPLIT_SEED`` and the class folder (so one class's split does not depend on the others), checks every
image's header (``DATASET.VERIFY_IMAGES``), and writes the split atomically as a CoOp split file in the
folder; every later run, seed and method reads that file. If the classes, their names or the ratios change
afterwards, the run stops and says so: delete the split file to build a new one. Few-shot caches and
base/new subsampling are those of every CoOp reader (``sempt.data.coop``).
"""
import os
import os.path as osp
import random
import time

from yacs.config import CfgNode as CN

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.config import ConfigError
from sempt.data.coop import CoOpDataset, DatasetError, find_bad_images, is_read_only, read_split
from sempt.data.readers import use_config
from sempt.fileio import read_json, write_json

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SPLIT_FORMAT = "sempt-image-folder-v1"
EXAMPLE = "configs/datasets/image_folder.yaml"


def extend_cfg(cfg):
    F = cfg.DATASET.IMAGE_FOLDER = CN()
    F.DIR = ""  # the folder of class subfolders: relative to DATASET.ROOT, or absolute
    F.NAME = ""  # the dataset's name: attribute file <dir>/<NAME>.json, prompts (default: the folder's name)
    F.TEMPLATE = "a photo of a {}."  # hand-crafted prompt ("{}": the class name)
    F.DOMAIN = ""  # what the images show, for the attribute prompts (e.g. "flower species")
    F.CLASSNAMES = ""  # optional "<folder> <class name>" lines or a JSON object (relative to the folder)
    F.TRAIN_RATIO = 0.5  # share of each class's images for training
    F.VAL_RATIO = 0.2  # share for validation; the rest is the test split
    F.SPLIT_SEED = 1  # seed of the split (the same for every run seed)
    F.SPLIT_FILE = "split_sempt_ImageFolder.json"  # written once in the folder, then reused


def is_image(filename):
    return filename.lower().endswith(IMAGE_EXTENSIONS)


def _images_under(folder):
    """Image files at any depth under ``folder``, as sorted paths relative to it (hidden entries skipped)."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = osp.relpath(here, folder)
        found += [f if rel == "." else osp.join(rel, f) for f in sorted(files)
                  if not f.startswith(".") and is_image(f)]
    return found


def _has_image(folder):
    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(not f.startswith(".") and is_image(f) for f in files):
            return True
    return False


def _read_mapping(path):
    """``{folder: class name}`` from ``<folder> <name>`` lines (a tab also separates; ``#`` comments) or a
    JSON object."""
    if not osp.isfile(path):
        raise DatasetError(f"The class-name file {path} (DATASET.IMAGE_FOLDER.CLASSNAMES) does not exist: write it "
                           "('<folder> <class name>' lines) or set the key to \"\"")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        import json
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: not valid JSON ({e}); write a {{\"folder\": \"class name\"}} object") from e
        if not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in mapping.items()):
            raise DatasetError(f"{path}: every value must be a non-empty class name")
        return {k: v.strip() for k, v in mapping.items()}
    mapping = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        folder, sep, name = line.partition("\t") if "\t" in line else line.partition(" ")
        if not sep or not name.strip():
            raise DatasetError(f"{path}:{n}: expected '<folder> <class name>', got {line!r}")
        mapping[folder.strip()] = name.strip()
    return mapping


@DATASET_REGISTRY.register()
class ImageFolder(CoOpDataset):
    dataset_dir = ""  # configured: DATASET.IMAGE_FOLDER.DIR
    image_dir = ""
    guide_section = ""
    config_name = "image_folder"
    classnames_from_data = True
    template = "a photo of a {}."  # the default of DATASET.IMAGE_FOLDER.TEMPLATE
    attribute_stem = "image_folder"  # without a config; with one: DATASET.IMAGE_FOLDER.NAME

    # -- facts from the config (sempt.data.readers.facts) --

    @staticmethod
    def folder_of(cfg):
        """The dataset folder the config names ("" when ``DIR`` is empty)."""
        d = cfg.DATASET.IMAGE_FOLDER.DIR
        if not d:
            return ""
        return osp.abspath(osp.join(osp.expanduser(cfg.DATASET.ROOT or ""), osp.expanduser(d)))

    @classmethod
    def configured_facts(cls, cfg):
        F = cfg.DATASET.IMAGE_FOLDER
        folder = cls.folder_of(cfg)
        name = F.NAME or (osp.basename(folder) if folder else "") or cls.attribute_stem
        return dict(name=name, template=F.TEMPLATE, method_templates={}, attribute_stem=name, domain=F.DOMAIN,
                    folder=folder)

    @classmethod
    def check_config(cls, cfg):
        F = cfg.DATASET.IMAGE_FOLDER
        if not F.DIR:
            raise ConfigError(f"DATASET.IMAGE_FOLDER.DIR is empty: set it to your folder of class subfolders in your "
                              f"dataset config (a copy of {EXAMPLE})")
        if "{}" not in F.TEMPLATE:
            raise ConfigError(f"DATASET.IMAGE_FOLDER.TEMPLATE must contain '{{}}' for the class name, got "
                              f"{F.TEMPLATE!r}")
        if any(sep in F.NAME for sep in "/\\") or F.NAME.startswith("."):
            raise ConfigError(f"DATASET.IMAGE_FOLDER.NAME names a file (<NAME>.json): no '/', '\\' or leading '.', "
                              f"got {F.NAME!r}")
        if not (0 < F.TRAIN_RATIO < 1 and 0 < F.VAL_RATIO < 1 and F.TRAIN_RATIO + F.VAL_RATIO < 1):
            raise ConfigError(f"DATASET.IMAGE_FOLDER.TRAIN_RATIO ({F.TRAIN_RATIO}) and VAL_RATIO ({F.VAL_RATIO}) must "
                              "be above 0 and add up to less than 1 (the rest is the test split)")
        if osp.basename(F.SPLIT_FILE) != F.SPLIT_FILE or not F.SPLIT_FILE.endswith(".json"):
            raise ConfigError(f"DATASET.IMAGE_FOLDER.SPLIT_FILE must be a file name ending in .json, got "
                              f"{F.SPLIT_FILE!r}")

    # -- reading --

    def __init__(self, cfg):
        self.check_config(cfg)
        use_config(cfg)  # the trainers' template and attribute-file lookups by DATASET.NAME follow this config
        F = cfg.DATASET.IMAGE_FOLDER
        folder = self.folder_of(cfg)
        if not osp.isdir(folder):
            hint = "" if cfg.DATASET.ROOT or osp.isabs(osp.expanduser(F.DIR)) else \
                " (DATASET.ROOT is empty: pass --root $DATA)"
            raise DatasetError(f"ImageFolder: folder {folder} not found{hint}: DATASET.IMAGE_FOLDER.DIR is {F.DIR!r}; "
                               "it must hold one subfolder of images per class")
        self.settings = F
        self.folder = folder
        self.split_file = F.SPLIT_FILE
        inner = cfg.clone()  # the base class reads its data under DATASET.ROOT/<dataset_dir>: here the folder
        inner.defrost()
        inner.DATASET.ROOT = folder
        inner.freeze()
        self._cfg = inner
        self.split_rebuilt = True  # a split built by this repository, not a published one
        super().__init__(inner)

    def class_folders(self):
        """``[(folder, class name)]`` of the class subfolders that hold images, in label (sorted) order."""
        F = self.settings
        skip = {osp.basename(self.fewshot_subdir)}
        entries = sorted(e for e in os.listdir(self.folder) if not e.startswith(".") and e not in skip
                         and osp.isdir(osp.join(self.folder, e)))
        empty = [e for e in entries if not _has_image(osp.join(self.folder, e))]
        if empty:
            print(f"Note: {len(empty)} folder(s) in {self.folder} hold no images and are not classes: "
                  + ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else ""))
        folders = [e for e in entries if e not in empty]
        if not folders:
            raise DatasetError(f"ImageFolder: {self.folder} has no class subfolders with images (expected "
                               f"{self.folder}/<class>/<image>.jpg; extensions {', '.join(IMAGE_EXTENSIONS)})")
        mapping = {}
        if F.CLASSNAMES:
            path = osp.join(self.folder, osp.expanduser(F.CLASSNAMES))
            mapping = _read_mapping(path)
            unknown = sorted(set(mapping) - set(entries))
            if unknown:
                print(f"Note: {path} names folder(s) that are not classes here: {', '.join(unknown[:10])}")
        classes = [(f, mapping.get(f, f)) for f in folders]
        seen = {}
        for f, name in classes:
            if name in seen:
                raise DatasetError(f"ImageFolder: folders {seen[name]!r} and {f!r} are both called {name!r}"
                                   + (f" (in {F.CLASSNAMES})" if F.CLASSNAMES else "")
                                   + ": give each class its own name")
            seen[name] = f
        return classes

    def load_split(self):
        classes = self.class_folders()
        if osp.isfile(self.split_path):
            split = read_split(self.split_path, self.image_dir)
            self._check_unchanged(classes)
            return split
        if is_read_only():
            print(f"{self.split_path} not built yet: the first training run writes it; splitting in memory")
            return self.make_split(classes)
        train, val, test = self.make_split(classes)
        self._save(classes, train, val, test)
        return train, val, test

    def make_split(self, classes=None):
        """Split every class's images with a generator seeded by ``SPLIT_SEED`` and the class folder."""
        F = self.settings
        classes = classes if classes is not None else self.class_folders()
        print(f"Splitting {self.folder} ({len(classes)} classes) into {F.TRAIN_RATIO:.0%} train, {F.VAL_RATIO:.0%} "
              f"val and {1 - F.TRAIN_RATIO - F.VAL_RATIO:.0%} test per class (SPLIT_SEED {F.SPLIT_SEED})")
        per_class = [(label, f, name, _images_under(osp.join(self.folder, f)))
                     for label, (f, name) in enumerate(classes)]
        bad = self._bad_images([osp.join(self.folder, f, im) for _, f, _, ims in per_class for im in ims])
        train, val, test = [], [], []
        for label, f, name, images in per_class:
            images = [im for im in images if osp.join(self.folder, f, im) not in bad]
            random.Random(f"{F.SPLIT_SEED}/{f}").shuffle(images)
            n = len(images)
            n_val = max(1, round(n * F.VAL_RATIO))
            n_test = max(1, round(n * (1 - F.TRAIN_RATIO - F.VAL_RATIO)))
            n_train = n - n_val - n_test
            if n_train < 1:
                raise DatasetError(f"ImageFolder: {osp.join(self.folder, f)} has {n} usable image(s): a class needs at "
                                   "least 3 (one each for train, val and test); add images or remove the folder")
            for part, ims in ((train, images[:n_train]), (val, images[n_train:n_train + n_val]),
                              (test, images[n_train + n_val:])):
                part.extend(Datum(impath=osp.join(self.image_dir, f, im), label=label, classname=name) for im in ims)
        return train, val, test

    def _bad_images(self, paths):
        """Images whose header cannot be read: one error naming them, or left out (``DATASET.BAD_IMAGES skip``)."""
        cfg = self._cfg
        if is_read_only() or cfg.DATASET.get("VERIFY_IMAGES", "train") == "none":
            return set()
        bad = dict(find_bad_images(paths, desc="ImageFolder: check images", full=False))
        if not bad:
            return set()
        listing = "; ".join(f"{p} ({why})" for p, why in list(bad.items())[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        if cfg.DATASET.get("BAD_IMAGES", "stop") == "skip":
            print(f"WARNING: leaving {len(bad)} file(s) that cannot be decoded out of the split: {listing}{more}")
            return set(bad)
        raise DatasetError(f"ImageFolder: {len(bad)} file(s) cannot be decoded as images: {listing}{more}. Replace or "
                           "remove them, or set DATASET.BAD_IMAGES skip to leave them out of the split")

    def _meta(self, classes):
        F = self.settings
        return {"format": SPLIT_FORMAT, "classes": [[f, name] for f, name in classes],
                "train_ratio": F.TRAIN_RATIO, "val_ratio": F.VAL_RATIO, "split_seed": F.SPLIT_SEED}

    def _save(self, classes, train, val, test):
        def extract(items):
            return [[osp.relpath(it.impath, self.image_dir), it.label, it.classname] for it in items]
        write_json({"train": extract(train), "val": extract(val), "test": extract(test),
                    "image_folder": dict(self._meta(classes), built=time.strftime("%Y-%m-%d %H:%M"))},
                   self.split_path)
        print(f"Saved split to {self.split_path} ({len(train)} train, {len(val)} val, {len(test)} test images): "
              "every later run reads it")

    def _check_unchanged(self, classes):
        """Stop when the folder's classes, their names or the split settings changed since the split was built."""
        meta = read_json(self.split_path).get("image_folder")
        if not isinstance(meta, dict) or meta.get("format") != SPLIT_FORMAT:
            return  # a split file written by hand or by other code: used as it is
        now = self._meta(classes)
        fix = f"delete {self.split_path} to build a new split"
        old = {f: name for f, name in meta["classes"]}
        new = dict(classes)
        added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
        if added or removed:
            what = "; ".join(p for p in (f"added: {', '.join(added[:5])}" if added else "",
                                         f"removed: {', '.join(removed[:5])}" if removed else "") if p)
            raise DatasetError(f"The classes in {self.folder} changed since {self.split_path} was built ({what}): "
                               f"{fix} with the current classes")
        renamed = [f"{f!r}: {old[f]!r} -> {new[f]!r}" for f in new if old[f] != new[f]]
        if renamed:
            raise DatasetError(f"Class names changed since {self.split_path} was built ({'; '.join(renamed[:5])}): "
                               f"{fix} with the new names")
        changed = [f"{k.upper()} {meta.get(k)} -> {now[k]}" for k in ("train_ratio", "val_ratio", "split_seed")
                   if meta.get(k) != now[k]]
        if changed:
            raise DatasetError(f"{self.split_path} was built with other DATASET.IMAGE_FOLDER settings "
                               f"({'; '.join(changed)}): {fix}, or set them back")
