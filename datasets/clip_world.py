"""The synthetic CLIP world (``python -m sempt.world build``): ``clip_world/images/<class>/*.png`` and one
split file per world class split, ``split_zhou_CLIPWorld_s<k>.json`` (same images, a different base/novel
class assignment). ``DATASET.WORLD_SPLIT`` picks the split; each has its own few-shot cache folder."""
from yacs.config import CfgNode as CN  # noqa: F401

from sempt.backend import DATASET_REGISTRY
from sempt.data.coop import CoOpDataset


def extend_cfg(cfg):
    cfg.DATASET.WORLD_SPLIT = 0  # CLIPWorld only: which base/novel class assignment


@DATASET_REGISTRY.register()
class CLIPWorld(CoOpDataset):
    dataset_dir = "clip_world"
    image_dir = "images"
    guide_section = ""
    classnames_from_data = True  # its class names come from the world's own split files
    template = "a photo of a {}."

    def __init__(self, cfg):
        k = cfg.DATASET.WORLD_SPLIT
        self.split_file = f"split_zhou_CLIPWorld_s{k}.json"
        self.fewshot_subdir = f"split_fewshot_s{k}"
        super().__init__(cfg)
