"""Oxford-IIIT Pets (37 breeds): ``oxford_pets/{images,annotations}``, ``split_zhou_OxfordPets.json``."""
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, split_trainval


@DATASET_REGISTRY.register()
class OxfordPets(CoOpDataset):
    dataset_dir = "oxford_pets"
    image_dir = "images"
    split_file = "split_zhou_OxfordPets.json"
    guide_section = "oxfordpets"
    config_name = "oxford_pets"
    template = "a photo of a {}, a type of pet."
    expected = dict(classes=37, train=2944, val=736, test=3669)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 2

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        return f"{classname}_{split}{i + 1}.jpg"

    def read_data(self, split_file):
        """Items of ``annotations/<split_file>``: ``<image> <class id> <species> <breed id>`` lines."""
        path = osp.join(self.dataset_dir, "annotations", split_file)
        if not osp.isfile(path):
            raise DatasetError(f"{path} is missing: extract annotations.tar.gz into {self.dataset_dir}")
        items = []
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                imname, label, _, _ = line.strip().split(" ")
                breed = "_".join(imname.split("_")[:-1]).lower()
                items.append(Datum(impath=osp.join(self.image_dir, imname + ".jpg"), label=int(label) - 1,
                                   classname=breed))
        return items

    def make_split(self):
        train, val = split_trainval(self.read_data("trainval.txt"))
        return train, val, self.read_data("test.txt")
