"""Evaluation-only ImageNet variants; each needs ``<dataset dir>/classnames.txt`` (a copy of ImageNet's).

- ImageNetV2 (matched frequency): ``imagenetv2/imagenetv2-matched-frequency-format-val/<0..999>/``
- ImageNet-Sketch: ``imagenet-sketch/images/<wnid>/``
- ImageNet-A (200 classes): ``imagenet-adversarial/imagenet-a/<wnid>/``
- ImageNet-R (200 classes): ``imagenet-rendition/imagenet-r/<wnid>/``
"""
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, listdir_sorted, read_classnames, write_bytes

from .imagenet import read_class_folders, write_class_folder_tree


class _ImageNetVariant(CoOpDataset):
    test_only = True
    template = "a photo of a {}."
    attribute_stem = "imagenet"  # the variants use ImageNet's attribute file
    groups = ("domain_target",)
    tree_readme = ""  # text of the README.txt the real download has in its image folder

    @classmethod
    def write_test_tree(cls, root, classnames, per_class, image):
        """``classnames.txt`` and the test count of images per class in ``image_dir/<tree_folder>/``."""
        base = write_class_folder_tree(cls, root, classnames, (("", per_class[2]),), image, cls.tree_folder)
        if cls.tree_readme:
            write_bytes(osp.join(base, cls.image_dir, "README.txt"), cls.tree_readme.encode())
        return base

    @staticmethod
    def tree_folder(label, wnid):
        return wnid

    def load_split(self):
        classnames = read_classnames(osp.join(self.dataset_dir, "classnames.txt"))
        return [], None, read_class_folders(self.image_dir, classnames, type(self).__name__)


@DATASET_REGISTRY.register()
class ImageNetV2(_ImageNetVariant):
    dataset_dir = "imagenetv2"
    image_dir = "imagenetv2-matched-frequency-format-val"
    guide_section = "imagenetv2"
    config_name = "imagenetv2"
    classnames_key = "imagenet"
    wnids_key = "imagenet_wnids"
    expected = dict(classes=1000, train=0, val=0, test=10000)
    table_order = 11

    @staticmethod
    def tree_folder(label, wnid):  # folder "k" holds class k
        return str(label)

    def load_split(self):
        classnames = read_classnames(osp.join(self.dataset_dir, "classnames.txt"))
        folders = list(classnames)
        if len(folders) != 1000:
            raise DatasetError(f"{self.dataset_dir}/classnames.txt lists {len(folders)} classes, expected 1000")
        items = []
        for label, wnid in enumerate(folders):  # folder "k" holds class k of classnames.txt
            class_dir = osp.join(self.image_dir, str(label))
            if not osp.isdir(class_dir):
                raise DatasetError(f"{class_dir} not found; see DATASETS.md#imagenetv2")
            items += [Datum(impath=osp.join(class_dir, im), label=label, classname=classnames[wnid])
                      for im in listdir_sorted(class_dir)]
        return [], None, items


@DATASET_REGISTRY.register()
class ImageNetSketch(_ImageNetVariant):
    dataset_dir = "imagenet-sketch"
    image_dir = "images"
    guide_section = "imagenet-sketch"
    config_name = "imagenet_sketch"
    classnames_key = "imagenet"
    wnids_key = "imagenet_wnids"
    expected = dict(classes=1000, train=0, val=0, test=50889)
    table_order = 12


@DATASET_REGISTRY.register()
class ImageNetA(_ImageNetVariant):
    dataset_dir = "imagenet-adversarial"
    image_dir = "imagenet-a"
    guide_section = "imagenet-a"
    config_name = "imagenet_a"
    wnids_key = "imagenet_a_wnids"
    expected = dict(classes=200, train=0, val=0, test=7500)
    table_order = 13
    tree_readme = "ImageNet-A\n"


@DATASET_REGISTRY.register()
class ImageNetR(_ImageNetVariant):
    dataset_dir = "imagenet-rendition"
    image_dir = "imagenet-r"
    guide_section = "imagenet-r"
    config_name = "imagenet_r"
    wnids_key = "imagenet_r_wnids"
    expected = dict(classes=200, train=0, val=0, test=30000)
    table_order = 14
    tree_readme = "ImageNet-R\n"
