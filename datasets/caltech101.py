"""Caltech-101 (100 classes): ``caltech-101/101_ObjectCategories``, ``split_zhou_Caltech101.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data

IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


@DATASET_REGISTRY.register()
class Caltech101(CoOpDataset):
    dataset_dir = "caltech-101"
    image_dir = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"
    guide_section = "caltech101"

    def make_split(self):
        return read_and_split_data(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES)
