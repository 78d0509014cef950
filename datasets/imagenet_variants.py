"""Evaluation-only ImageNet variants; each needs ``<dataset dir>/classnames.txt`` (a copy of ImageNet's).

- ImageNetV2 (matched frequency): ``imagenetv2/imagenetv2-matched-frequency-format-val/<0..999>/``
- ImageNet-Sketch: ``imagenet-sketch/images/<wnid>/``
- ImageNet-A (200 classes): ``imagenet-adversarial/imagenet-a/<wnid>/``
- ImageNet-R (200 classes): ``imagenet-rendition/imagenet-r/<wnid>/``
"""
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, listdir_sorted, read_classnames

from .imagenet import read_class_folders


class _ImageNetVariant(CoOpDataset):
    test_only = True

    def load_split(self):
        classnames = read_classnames(osp.join(self.dataset_dir, "classnames.txt"))
        return [], None, read_class_folders(self.image_dir, classnames, type(self).__name__)


@DATASET_REGISTRY.register()
class ImageNetV2(_ImageNetVariant):
    dataset_dir = "imagenetv2"
    image_dir = "imagenetv2-matched-frequency-format-val"
    guide_section = "imagenetv2"

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


@DATASET_REGISTRY.register()
class ImageNetA(_ImageNetVariant):
    dataset_dir = "imagenet-adversarial"
    image_dir = "imagenet-a"
    guide_section = "imagenet-a"


@DATASET_REGISTRY.register()
class ImageNetR(_ImageNetVariant):
    dataset_dir = "imagenet-rendition"
    image_dir = "imagenet-r"
    guide_section = "imagenet-r"
