"""The one place that decides which Dassl implementation trainers and dataset readers use.

``SEMPT_ENGINE`` selects it:

- ``auto`` (default): the real ``dassl`` package when it is importable, else the built-in engine;
- ``dassl``: the real package, or an error saying how to install it;
- ``builtin``: always the built-in engine (``sempt.engine``), even when Dassl is installed.

Import every Dassl name from here (``from sempt.backend import TrainerX, DATASET_REGISTRY, ...``) so the
same trainer or reader file runs on both.
"""
import importlib
import os

__all__ = [
    "ENGINE", "TRAINER_REGISTRY", "TrainerX", "build_trainer", "get_cfg_default", "DATASET_REGISTRY",
    "Datum", "DatasetBase", "build_optimizer", "build_lr_scheduler", "compute_accuracy", "setup_logger",
    "set_random_seed", "collect_env_info", "load_pretrained_weights", "load_checkpoint", "mkdir_if_missing",
    "listdir_nohidden", "read_json", "write_json", "check_isfile", "DataManager",
]

_CHOICES = ("auto", "dassl", "builtin")


def _choose():
    wanted = os.environ.get("SEMPT_ENGINE", "auto").strip().lower() or "auto"
    if wanted not in _CHOICES:
        raise ValueError(f"SEMPT_ENGINE={wanted!r} is not one of {_CHOICES}")
    if wanted == "builtin":
        return "builtin"
    try:
        importlib.import_module("dassl")
        return "dassl"
    except ImportError as e:
        if wanted == "dassl":
            raise ImportError(
                "SEMPT_ENGINE=dassl but the 'dassl' package cannot be imported "
                f"({e}). Install Dassl.pytorch (clone it, then `pip install -e .` inside it) or unset "
                "SEMPT_ENGINE to use the built-in engine."
            ) from e
        return "builtin"


ENGINE = _choose()

if ENGINE == "dassl":
    from dassl.config import get_cfg_default
    from dassl.data import DataManager
    from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
    from dassl.engine import TRAINER_REGISTRY, TrainerX, build_trainer
    from dassl.metrics import compute_accuracy
    from dassl.optim import build_lr_scheduler, build_optimizer
    from dassl.utils import (check_isfile, collect_env_info, listdir_nohidden, load_checkpoint,
                             load_pretrained_weights, mkdir_if_missing, read_json, set_random_seed,
                             setup_logger, write_json)
else:
    from sempt.engine import (DATASET_REGISTRY, TRAINER_REGISTRY, DataManager, DatasetBase, Datum, TrainerX,
                              build_lr_scheduler, build_optimizer, build_trainer, check_isfile,
                              collect_env_info, compute_accuracy, get_cfg_default, listdir_nohidden,
                              load_checkpoint, load_pretrained_weights, mkdir_if_missing, read_json,
                              set_random_seed, setup_logger, write_json)
