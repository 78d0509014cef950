"""EuroSAT (10 classes): ``eurosat/2750/<class>``, ``split_zhou_EuroSAT.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset, read_and_split_data

NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land", "Forest": "Forest", "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road", "Industrial": "Industrial Buildings", "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land", "Residential": "Residential Buildings", "River": "River",
    "SeaLake": "Sea or Lake",
}
_FOLDER = {name: folder for folder, name in NEW_CNAMES.items()}  # class name -> its image folder


@DATASET_REGISTRY.register()
class EuroSAT(CoOpDataset):
    dataset_dir = "eurosat"
    image_dir = "2750"
    split_file = "split_zhou_EuroSAT.json"
    guide_section = "eurosat"
    config_name = "eurosat"
    template = "a centered satellite photo of {}."
    expected = dict(classes=10, train=13500, val=5400, test=8100)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 9

    @staticmethod
    def tree_image_path(label, classname, split, i, serial):
        folder = _FOLDER[classname]
        return f"{folder}/{folder}_{split}{i + 1}.jpg"

    def make_split(self):
        return read_and_split_data(self.image_dir, new_cnames=NEW_CNAMES)
