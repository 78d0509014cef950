"""Food-101 (101 classes): ``food-101/images/<class>``, ``split_zhou_Food101.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data


@DATASET_REGISTRY.register()
class Food101(CoOpDataset):
    dataset_dir = "food-101"
    image_dir = "images"
    split_file = "split_zhou_Food101.json"
    guide_section = "food101"

    def make_split(self):
        return read_and_split_data(self.image_dir)
