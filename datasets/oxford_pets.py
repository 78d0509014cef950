"""Oxford-IIIT Pets (37 breeds). Layout: ``oxford_pets/{images,annotations}``, ``split_zhou_OxfordPets.json``."""
from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset


@DATASET_REGISTRY.register()
class OxfordPets(CoOpDataset):
    dataset_dir = "oxford_pets"
    image_dir = "images"
    split_file = "split_zhou_OxfordPets.json"
    guide_section = "oxfordpets"
