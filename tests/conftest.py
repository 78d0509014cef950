"""Shared fixtures: a tiny random CLIP (both file formats) and miniature CoOp-layout datasets."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))  # on sys.path through pytest.ini's ``pythonpath``

os.environ.setdefault("SEMPT_ENGINE", "builtin")

CLASSNAMES = json.load(open(osp.join(REPO, "sempt", "data", "classnames.json"), encoding="utf-8"))["datasets"]

# options that make a real-size config run on the tiny model in seconds
TINY_OPTS = ["INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
             "DATALOADER.TEST.BATCH_SIZE", "16", "OPTIM.MAX_EPOCH", "2", "TRAIN.PRINT_FREQ", "1"]


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """``{"state_dict": path, "torchscript": path}`` of one random ViT CLIP (width 64, 32x32 images)."""
    from sempt.testing import make_tiny_clip
    return make_tiny_clip(str(tmp_path_factory.mktemp("clip")))


@pytest.fixture
def pets_root(tmp_path):
    """A DATA folder with a 6-class OxfordPets tree (4 train, 2 val, 3 test images per class)."""
    from sempt.testing import make_coop_dataset
    root = tmp_path / "data"
    make_coop_dataset(str(root), "oxford_pets", "images", "split_zhou_OxfordPets.json",
                      CLASSNAMES["oxford_pets"][:6], n_train=4, n_val=2, n_test=3)
    return str(root)


def run_train(*args, env=None, check=True):
    """Run ``python train.py ARGS`` from the repo root as a user would; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.run([sys.executable, "train.py", *map(str, args)], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"train.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def llm(monkeypatch):
    """The scripted OpenAI-compatible fault server (``tests/fake_openai.py``) on 127.0.0.1, its key set."""
    from fake_openai import FakeLLM
    server = FakeLLM()
    monkeypatch.setenv("OPENAI_API_KEY", server.key)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield server
    server.close()
