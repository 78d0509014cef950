"""ImageNet (1,000 classes): ``imagenet/images/{train,val}/<wnid>/``, ``imagenet/classnames.txt``.

The val images serve as the test (and val) split, as in CoOp. The folder listing is cached as
``imagenet/preprocessed.json`` (relative paths; CoOp's ``preprocessed.pkl`` is never unpickled).
"""
import os
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, is_read_only, listdir_sorted, read_classnames, write_bytes
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


def write_class_folder_tree(cls, root, classnames, splits, image, folder_of=lambda label, wnid: wnid):
    """The test tree of an ImageNet-family reader ``cls``: ImageNet's ``classnames.txt`` and, for each
    ``(sub-folder, count)`` of ``splits``, ``count`` images per class in ``image_dir/<sub>/<folder_of>/``."""
    from sempt.data import catalog
    base = osp.join(root, cls.dataset_dir)
    listing = zip(catalog.wnids("ImageNet"), catalog.classnames("ImageNet"))
    write_bytes(osp.join(base, "classnames.txt"), "".join(f"{w} {c}\n" for w, c in listing).encode("utf-8"))
    ids = catalog.wnids(cls.__name__)
    for label in range(len(classnames)):
        for sub, count in splits:
            for i in range(count):
                write_bytes(osp.join(base, cls.image_dir, sub, folder_of(label, ids[label]),
                                     f"{ids[label]}_{sub or 'img'}{i}.JPEG"), image(label))
    return base


@DATASET_REGISTRY.register()
class ImageNet(CoOpDataset):
    dataset_dir = "imagenet"
    image_dir = "images"
    guide_section = "imagenet"
    config_name = "imagenet"
    wnids_key = "imagenet_wnids"
    template = "a photo of a {}."
    expected = dict(classes=1000, train=1281167, val=50000, test=50000)
    groups = ("base2new", "few_shot", "xd_source")
    table_order = 0

    @classmethod
    def write_test_tree(cls, root, classnames, per_class, image):
        """``images/train/<wnid>/`` and ``images/val/<wnid>/`` (val holds the test count) and ``classnames.txt``."""
        return write_class_folder_tree(cls, root, classnames, (("train", per_class[0]), ("val", per_class[2])), image)

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
