"""CoOp-compatible dataset readers. Importing this package registers all of them."""
import importlib

MODULES = [
    "oxford_pets", "caltech101", "dtd", "eurosat", "food101", "oxford_flowers", "stanford_cars", "fgvc_aircraft",
    "sun397", "ucf101", "imagenet", "imagenet_variants",
]

for _m in MODULES:
    importlib.import_module(f"{__name__}.{_m}")


def extend_cfg(cfg):
    """Dataset keys the CoOp family adds to Dassl's defaults."""
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all, base or new
