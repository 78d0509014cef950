"""CoOp-compatible dataset readers. Importing this package registers all of them."""
import importlib

MODULES = [
    "oxford_pets", "caltech101", "dtd", "eurosat", "food101", "oxford_flowers", "stanford_cars", "fgvc_aircraft",
    "sun397", "ucf101", "imagenet", "imagenet_variants", "clip_world",
]

_loaded = [importlib.import_module(f"{__name__}.{_m}") for _m in MODULES]


def extend_cfg(cfg):
    """Dataset keys the CoOp family adds to Dassl's defaults, plus any reader's own (``extend_cfg``)."""
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all, base or new
    cfg.DATASET.VERIFY_IMAGES = "train"  # check the training images (headers) before the first epoch; "none": no
    cfg.DATASET.BAD_IMAGES = "stop"  # a training image that cannot be decoded: stop (naming it) or skip (warn)
    for module in _loaded:
        if hasattr(module, "extend_cfg"):
            module.extend_cfg(cfg)
