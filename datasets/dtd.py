"""Describable Textures (47 classes): ``dtd/images/<category>``, ``split_zhou_DescribableTextures.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data


@DATASET_REGISTRY.register()
class DescribableTextures(CoOpDataset):
    dataset_dir = "dtd"
    image_dir = "images"
    split_file = "split_zhou_DescribableTextures.json"
    guide_section = "dtd"

    def make_split(self):
        return read_and_split_data(self.image_dir)
