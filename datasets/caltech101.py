"""Caltech-101 (100 classes): ``caltech-101/101_ObjectCategories``, ``split_zhou_Caltech101.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data

IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
_FOLDER = {name: folder for folder, name in NEW_CNAMES.items()}  # class name -> its image folder


@DATASET_REGISTRY.register()
class Caltech101(CoOpDataset):
    dataset_dir = "caltech-101"
    image_dir = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"
    guide_section = "caltech101"
    config_name = "caltech101"
    template = "a photo of a {}."
    expected = dict(classes=100, train=4128, val=1649, test=2465)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 1

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        return f"{_FOLDER.get(classname, classname)}/image_{split}{i + 1:04d}.jpg"

    def make_split(self):
        return read_and_split_data(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES)
