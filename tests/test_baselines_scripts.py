"""CoCoOp, MaPLe and PromptSRC through the one benchmark runner on generated data, then the leaderboard."""
import os
import os.path as osp
import subprocess
import sys

from conftest import REPO
from sempt.testing import make_dataset_tree

DEPTH_ONE = {"maple": ["TRAINER.MAPLE.PROMPT_DEPTH", "1"],  # the tiny CLIP has one layer per tower
             "promptsrc": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "1", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "1",
                           "TRAINER.PROMPTSRC.GPA_MEAN", "1"],
             "cocoop": []}


def test_benchmark_runner_runs_every_baseline(tiny_clip, tmp_path):
    root = str(tmp_path / "data")
    make_dataset_tree(root, "EuroSAT", per_class=(2, 1, 2), image_size=32)
    out = str(tmp_path / "out")
    env = dict(os.environ, DATA=root, OUTPUT=out, BACKBONE=tiny_clip["state_dict"], SHOTS="2", DATASETS="eurosat",
               SEEDS="1", PYTHON=sys.executable)
    opts = ["INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "16"]
    for method, extra in DEPTH_ONE.items():
        proc = subprocess.run(["bash", osp.join(REPO, "scripts", "benchmark.sh"), method, "base2new", *opts, *extra],
                              cwd="/", env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f"Benchmark {method}/base2new done" in proc.stdout
    board = subprocess.run([sys.executable, "-m", "sempt.leaderboard", out, "--seeds", "1"], cwd=REPO,
                           capture_output=True, text=True).stdout
    for title in ("CoCoOp/vit_b16_c4_ep10_batch1_ctxv1", "MaPLe/vit_b16_c2_ep5_batch4_2ctx",
                  "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx"):
        assert f"### Base-to-novel: {title}" in board
    assert "Runs without a result" not in board
