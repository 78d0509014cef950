"""ImageNet (1,000 classes): ``imagenet/images/{train,val}/<wnid>/``, ``imagenet/classnames.txt``.

The val images serve as the test (and val) split, as in CoOp. The folder listing is cached as
``imagenet/preprocessed.json`` (relative paths; CoOp's ``preprocessed.pkl`` is never unpickled).
"""
import os
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, is_read_only, listdir_sorted, read_classnames
from sempt.fileio import read_json, write_json

LISTING_FORMAT = "sempt-imagenet-listing-v1"


def read_class_folders(split_dir, classnames, what):
    """Items of ``split_dir/<folder>/*`` labelled by the sorted folder order, named by ``classnames``."""
    if not osp.isdir(split_dir):
        raise DatasetError(f"{split_dir} not found ({what}); see DATASETS.md#imagenet")
    folders = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if not folders:
        loose = len(listdir_sorted(split_dir))
        raise DatasetError(
            f"{split_dir} holds {loose} files but no class folders: sort the images into one folder per "
            "WordNet id (DATASETS.md#imagenet explains how for the val set)")
    unknown = [f for f in folders if f not in classnames]
    if unknown:
        raise DatasetError(f"{split_dir}: folders {unknown[:5]} are not in classnames.txt")
    return [Datum(impath=osp.join(split_dir, folder, im), label=label, classname=classnames[folder])
            for label, folder in enumerate(folders) for im in listdir_sorted(osp.join(split_dir, folder))]


@DATASET_REGISTRY.register()
class ImageNet(CoOpDataset):
    dataset_dir = "imagenet"
    image_dir = "images"
    guide_section = "imagenet"

    def load_split(self):
        classnames = read_classnames(osp.join(self.dataset_dir, "classnames.txt"))
        listing = osp.join(self.dataset_dir, "preprocessed.json")
        key = sorted(classnames.items())
        if osp.isfile(listing):
            cache = read_json(listing)
            if cache.get("format") == LISTING_FORMAT and [tuple(k) for k in cache.get("classnames", [])] == key:
                print(f"Loading the image listing from {listing}")

                def items(split):
                    return [Datum(impath=osp.join(self.image_dir, p), label=y, classname=c)
                            for p, y, c in cache[split]]
                return items("train"), None, items("test")
            print(f"Rebuilding {listing}: classnames.txt changed")
        train = read_class_folders(osp.join(self.image_dir, "train"), classnames, "training images")
        test = read_class_folders(osp.join(self.image_dir, "val"), classnames, "validation images")

        def rel(items):
            return [[osp.relpath(d.impath, self.image_dir), d.label, d.classname] for d in items]
        if not is_read_only():  # the data checker writes nothing
            write_json({"format": LISTING_FORMAT, "classnames": key, "train": rel(train), "test": rel(test)},
                       listing)
        return train, None, test
