"""Adding a method as README's "Adding a trainer" says: one trainer file, one config folder and its scripts.
In a copy of the repository, a toy method is added with exactly those files, trained and evaluated through
the standard scripts and the benchmark runner, and no other file of the copy changes."""
import hashlib
import os
import os.path as osp
import shutil
import subprocess
import sys

from conftest import REPO

TOY_TRAINER = '''"""Toy: CoOp plus an L2 pull of the context toward its initial words (an example method)."""
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.prompt_learner import PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import CoOpCLIP


def extend_cfg(cfg):
    cfg.TRAINER.TOY = CN()
    cfg.TRAINER.TOY.N_CTX = 4
    cfg.TRAINER.TOY.CSC = False
    cfg.TRAINER.TOY.CTX_INIT = "a photo of a"
    cfg.TRAINER.TOY.CLASS_TOKEN_POSITION = "end"
    cfg.TRAINER.TOY.PREC = "fp32"
    cfg.TRAINER.TOY.PULL = 0.1


@TRAINER_REGISTRY.register()
class Toy(PromptTrainer):
    CFG_SECTION = "TOY"

    def build_custom_clip(self, classnames, clip_model):
        learner = PromptLearner.from_config(self.tcfg, classnames, clip_model)
        self.ctx0 = learner.ctx.detach().clone()
        return CoOpCLIP(learner, clip_model)

    def compute_loss(self, image, label):
        logits = self.model(image)
        pull = (self.model.prompt_learner.ctx - self.ctx0.to(logits.device)).pow(2).mean()
        return F.cross_entropy(logits, label) + self.tcfg.PULL * pull, logits, {"pull": pull.item()}
'''

TOY_CONFIG = """DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 4
  TEST:
    BATCH_SIZE: 16
  NUM_WORKERS: 0
INPUT:
  SIZE: (32, 32)
OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 2
  LR_SCHEDULER: "cosine"
TRAINER:
  TOY:
    PULL: 0.5
"""

TOY_SCRIPT = """#!/usr/bin/env bash
source "$(dirname "${{BASH_SOURCE[0]}}")/../lib.sh"
[ $# -ge 2 ] || die "usage: $0 DATASET SEED [KEY VALUE ...]"
{function} Toy "${{CFG:-toy}}" "$@"
"""

NEW_FILES = {
    "trainers/toy.py": TOY_TRAINER,
    "configs/trainers/Toy/toy.yaml": TOY_CONFIG,
    "scripts/toy/base2new_train.sh": TOY_SCRIPT.format(function="base2new_train"),
    "scripts/toy/base2new_test.sh": TOY_SCRIPT.format(function="base2new_test"),
}


def _tracked(root):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return [f for f in files.decode().split("\0") if f]


def _digests(root, names):
    out = {}
    for name in names:
        path = osp.join(root, name)
        if osp.isfile(path):
            with open(path, "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_a_new_method_is_one_trainer_file_one_config_folder_and_its_scripts(tiny_clip, tmp_path):
    from sempt.testing import make_dataset_tree
    copy = tmp_path / "repo"
    tracked = _tracked(REPO)
    for name in tracked:
        src = osp.join(REPO, name)
        if osp.isfile(src):
            os.makedirs(osp.dirname(copy / name), exist_ok=True)
            shutil.copy2(src, copy / name)
    before = _digests(str(copy), tracked)
    for name, text in NEW_FILES.items():
        os.makedirs(osp.dirname(copy / name), exist_ok=True)
        (copy / name).write_text(text)

    data = str(tmp_path / "data")
    make_dataset_tree(data, "EuroSAT", per_class=(4, 2, 3), image_size=32)
    env = dict(os.environ, DATA=data, OUTPUT=str(tmp_path / "out"), BACKBONE=tiny_clip["state_dict"], SHOTS="2",
               SEEDS="1", DATASETS="eurosat", PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(copy / "scripts" / "benchmark.sh"), "toy", "base2new"], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "out" / "base2new" / "{}" / "eurosat" / "shots_2" / "Toy" / "toy" / "seed1"
    train_log = open(str(run).format("train_base") + "/log.txt").read()
    assert "Building custom CLIP (Toy)" in train_log and " pull " in train_log and "Finish training" in train_log
    assert osp.isfile(str(run).format("test_new") + "/results.json")

    # nothing but the listed files was needed: every tracked file of the copy is unchanged, and the only
    # new source files are the four above (run outputs went to tmp_path, caches to __pycache__)
    assert _digests(str(copy), tracked) == before
    created = sorted(
        osp.relpath(osp.join(d, f), copy) for d, _, files in os.walk(copy) for f in files
        if "__pycache__" not in d and osp.relpath(osp.join(d, f), copy) not in set(tracked))
    assert created == sorted(NEW_FILES)
