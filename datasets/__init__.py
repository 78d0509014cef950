"""CoOp-compatible dataset readers, one module per dataset.

Importing this package imports every module of this folder (names starting with ``_`` aside), which
registers each reader in the engine's ``DATASET_REGISTRY``. To add a dataset, write ``datasets/<name>.py``
with a registered ``sempt.data.coop.CoOpDataset`` subclass that states the dataset's facts, and its
``configs/datasets/<config_name>.yaml``: nothing else to edit here.
"""
import importlib
import pkgutil

SEMPT_READERS = True  # tells sempt.data.readers.load_readers that this is the repository's readers package

MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg and not m.name.startswith("_"))

_loaded = [importlib.import_module(f"{__name__}.{_m}") for _m in MODULES]


def extend_cfg(cfg):
    """Dataset keys the CoOp family adds to Dassl's defaults, plus any reader's own (``extend_cfg``)."""
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all, base or new
    cfg.DATASET.VERIFY_IMAGES = "train"  # check the training images (headers) before the first epoch; "none": no
    cfg.DATASET.BAD_IMAGES = "stop"  # a training image that cannot be decoded: stop (naming it) or skip (warn)
    for module in _loaded:
        if hasattr(module, "extend_cfg"):
            module.extend_cfg(cfg)
