"""Oxford Flowers-102: ``oxford_flowers/jpg``, ``imagelabels.mat``, ``cat_to_name.json``, ``split_zhou_OxfordFlowers.json``."""
import os.path as osp
import random
from collections import defaultdict

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, load_mat
from sempt.fileio import read_json


@DATASET_REGISTRY.register()
class OxfordFlowers(CoOpDataset):
    dataset_dir = "oxford_flowers"
    image_dir = "jpg"
    split_file = "split_zhou_OxfordFlowers.json"
    guide_section = "flowers102"
    config_name = "oxford_flowers"
    template = "a photo of a {}, a type of flower."
    expected = dict(classes=102, train=4093, val=1633, test=2463)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 4

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        return f"image_{serial:05d}.jpg"

    def make_split(self):
        labels = load_mat(osp.join(self.dataset_dir, "imagelabels.mat"), "Flowers102 labels")["labels"][0]
        names_path = osp.join(self.dataset_dir, "cat_to_name.json")
        if not osp.isfile(names_path):
            raise DatasetError(f"{names_path} is missing; see DATASETS.md#flowers102")
        lab2cname = read_json(names_path)
        tracker = defaultdict(list)
        for i, label in enumerate(labels):
            tracker[int(label)].append(osp.join(self.image_dir, f"image_{i + 1:05d}.jpg"))
        train, val, test = [], [], []
        for label, paths in tracker.items():  # 50% / 20% / 30% per class, as CoOp
            random.shuffle(paths)
            n_train, n_val = round(len(paths) * 0.5), round(len(paths) * 0.2)
            name = lab2cname[str(label)]
            for part, ims in ((train, paths[:n_train]), (val, paths[n_train:n_train + n_val]),
                              (test, paths[n_train + n_val:])):
                part.extend(Datum(impath=p, label=label - 1, classname=name) for p in ims)
        return train, val, test
