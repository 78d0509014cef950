"""UCF101 mid-frames (101 actions): ``ucf101/UCF-101-midframes/<Action_Name>``, ``split_zhou_UCF101.json``."""
import os.path as osp
import re

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, split_trainval


@DATASET_REGISTRY.register()
class UCF101(CoOpDataset):
    dataset_dir = "ucf101"
    image_dir = "UCF-101-midframes"
    split_file = "split_zhou_UCF101.json"
    guide_section = "ucf101"
    config_name = "ucf101"
    template = "a photo of a person doing {}."
    expected = dict(classes=101, train=7639, val=1898, test=3783)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 10

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):  # Apply_Eye_Makeup/v_ApplyEyeMakeup_g01_c01_...
        return f"{classname}/v_{classname.replace('_', '')}_g{i + 1:02d}_c01_{split}.jpg"

    def _lines(self, name):
        path = osp.join(self.dataset_dir, "ucfTrainTestlist", name)
        if not osp.isfile(path):
            raise DatasetError(f"{path} is missing: extract UCF101TrainTestSplits into {self.dataset_dir}")
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]

    def _read(self, cname2lab, name):
        items = []
        for line in self._lines(name):
            action, filename = line.split(" ")[0].split("/")
            renamed = "_".join(re.findall("[A-Z][^A-Z]*", action))  # ApplyEyeMakeup -> Apply_Eye_Makeup
            items.append(Datum(impath=osp.join(self.image_dir, renamed, filename.replace(".avi", ".jpg")),
                               label=cname2lab[action], classname=renamed))
        return items

    def make_split(self):
        cname2lab = {}
        for line in self._lines("classInd.txt"):
            label, classname = line.split(" ")
            cname2lab[classname] = int(label) - 1
        train, val = split_trainval(self._read(cname2lab, "trainlist01.txt"))
        return train, val, self._read(cname2lab, "testlist01.txt")
