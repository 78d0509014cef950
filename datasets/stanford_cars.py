"""Stanford Cars (196 classes): ``stanford_cars/{cars_train,cars_test,devkit}``, ``split_zhou_StanfordCars.json``.

Split paths are relative to the dataset folder itself (``cars_train/00001.jpg``), as in CoOp.
"""
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, load_mat, split_trainval


@DATASET_REGISTRY.register()
class StanfordCars(CoOpDataset):
    dataset_dir = "stanford_cars"
    image_dir = ""
    split_file = "split_zhou_StanfordCars.json"
    guide_section = "stanfordcars"
    config_name = "stanford_cars"
    template = "a photo of a {}."
    expected = dict(classes=196, train=6509, val=1635, test=8041)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 3

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        return f"{'cars_test' if split == 'test' else 'cars_train'}/{serial:05d}.jpg"

    def _read(self, image_dir, anno_file, meta_file):
        annos = load_mat(anno_file, "Stanford Cars annotations")["annotations"][0]
        names = load_mat(meta_file, "Stanford Cars class names")["class_names"][0]
        items = []
        for anno in annos:
            label = int(anno["class"][0, 0]) - 1
            words = str(names[label][0]).split(" ")
            classname = " ".join([words[-1]] + words[:-1])  # the year first: "2012 Tesla Model S Sedan"
            items.append(Datum(impath=osp.join(self.dataset_dir, image_dir, str(anno["fname"][0])), label=label,
                               classname=classname))
        return items

    def make_split(self):
        meta = osp.join(self.dataset_dir, "devkit", "cars_meta.mat")
        trainval = self._read("cars_train", osp.join(self.dataset_dir, "devkit", "cars_train_annos.mat"), meta)
        test = self._read("cars_test", osp.join(self.dataset_dir, "cars_test_annos_withlabels.mat"), meta)
        train, val = split_trainval(trainval)
        return train, val, test
