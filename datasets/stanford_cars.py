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
