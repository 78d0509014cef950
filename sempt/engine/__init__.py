"""The built-in engine: Dassl's public interface, working on current torch without Dassl installed.

``sempt.backend`` decides whether trainers get these names or the real ``dassl`` package's.
"""
from .config import get_cfg_default
from .data_manager import DataManager, build_transform
from .datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
from .evaluation import EVALUATOR_REGISTRY, build_evaluator
from .metrics import compute_accuracy
from .optim import build_lr_scheduler, build_optimizer
from .registry import Registry, check_availability
from .trainer import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer
from .utils import (check_isfile, collect_env_info, listdir_nohidden, mkdir_if_missing, read_json,
                    set_random_seed, setup_logger, write_json)
from sempt.checkpoint import load_checkpoint, load_pretrained_weights

__all__ = [
    "get_cfg_default", "DataManager", "build_transform", "DATASET_REGISTRY", "DatasetBase", "Datum",
    "build_dataset", "EVALUATOR_REGISTRY", "build_evaluator", "compute_accuracy", "build_lr_scheduler",
    "build_optimizer", "Registry", "check_availability", "TRAINER_REGISTRY", "SimpleTrainer", "TrainerBase",
    "TrainerX", "build_trainer", "check_isfile", "collect_env_info", "listdir_nohidden", "mkdir_if_missing",
    "read_json", "set_random_seed", "setup_logger", "write_json", "load_checkpoint", "load_pretrained_weights",
]
