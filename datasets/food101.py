"""Food-101 (101 classes): ``food-101/images/<class>``, ``split_zhou_Food101.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data


@DATASET_REGISTRY.register()
class Food101(CoOpDataset):
    dataset_dir = "food-101"
    image_dir = "images"
    split_file = "split_zhou_Food101.json"
    guide_section = "food101"
    config_name = "food101"
    template = "a photo of {}, a type of food."
    expected = dict(classes=101, train=50500, val=20200, test=30300)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 5

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        return f"{classname}/{split}{i}.jpg"

    def make_split(self):
        return read_and_split_data(self.image_dir)
