"""SUN397 (397 scenes): ``sun397/SUN397/<letter>/<class>/...``, ``split_zhou_SUN397.json``."""
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, split_trainval


@DATASET_REGISTRY.register()
class SUN397(CoOpDataset):
    dataset_dir = "sun397"
    image_dir = "SUN397"
    split_file = "split_zhou_SUN397.json"
    guide_section = "sun397"
    config_name = "sun397"
    template = "a photo of a {}."
    expected = dict(classes=397, train=15880, val=3970, test=19850)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 7

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):  # "indoor office" -> o/office/indoor/...
        return f"{classname[0]}/{'/'.join(classname.split(' ')[::-1])}/sun_{split}{i}.jpg"

    def _read(self, cname2lab, text_file):
        path = osp.join(self.dataset_dir, text_file)
        if not osp.isfile(path):
            raise DatasetError(f"{path} is missing: extract Partitions.zip into {self.dataset_dir}")
        items = []
        with open(path) as f:
            for line in f:
                imname = line.strip()[1:]  # drop the leading "/"
                if not imname:
                    continue
                folder = osp.dirname(imname)  # e.g. a/abbey, o/office/indoor
                classname = " ".join(folder.split("/")[1:][::-1])  # "indoor office": qualifier first
                items.append(Datum(impath=osp.join(self.image_dir, imname), label=cname2lab[folder],
                                   classname=classname))
        return items

    def make_split(self):
        path = osp.join(self.dataset_dir, "ClassName.txt")
        if not osp.isfile(path):
            raise DatasetError(f"{path} is missing: extract Partitions.zip into {self.dataset_dir}")
        with open(path) as f:
            cname2lab = {line.strip()[1:]: i for i, line in enumerate(l for l in f if l.strip())}
        train, val = split_trainval(self._read(cname2lab, "Training_01.txt"))
        return train, val, self._read(cname2lab, "Testing_01.txt")
