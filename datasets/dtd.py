"""Describable Textures (47 classes): ``dtd/images/<category>``, ``split_zhou_DescribableTextures.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data


@DATASET_REGISTRY.register()
class DescribableTextures(CoOpDataset):
    dataset_dir = "dtd"
    image_dir = "images"
    split_file = "split_zhou_DescribableTextures.json"
    guide_section = "dtd"
    config_name = "dtd"
    template = "{} texture."
    method_templates = {"kgcoop": "a photo of a {}, a type of texture."}
    expected = dict(classes=47, train=2820, val=1128, test=1692)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 8

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        return f"{classname}/{classname}_{split}{i:04d}.jpg"

    def make_split(self):
        return read_and_split_data(self.image_dir)
