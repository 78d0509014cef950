"""Distributed data-parallel training (torchrun, gloo on CPU): N processes compute what one process computes.

- the loaders: each process gets its share of exactly the global batches a single process draws (and leaves
  the global random stream as a single process leaves it); evaluation shards hold every sample once;
- the evaluator: gathered shards give exactly the single-process results, and a lost or doubled sample is an
  error;
- ``torchrun --nproc_per_node 2 train.py`` (CoOp): the learned context after 6 steps equals the single-process
  run's (float32 tolerance TOL/RTOL below), the logged losses and the test accuracy are identical, one process
  writes the log line and the files; a batch that does not divide is one error line;
- every method with extra loss terms (KgCoOp, CoCoOp, MaPLe, PromptSRC, SemPT), in two spawned processes:
  learned parameters equal within the same tolerance and identical test predictions;
- real Dassl under torchrun stops with one line; ``NPROC`` in the scripts launches torchrun.
"""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch

from conftest import CLASSNAMES, REPO, TINY_OPTS, run_train

COOP_CFG = "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml"
PETS = "configs/datasets/oxford_pets.yaml"
NO_AUGMENTATION = ["INPUT.TRANSFORMS", "['normalize']"]
# learned parameters, 2 processes vs 1, float32: |a - b| <= TOL + RTOL |a|. The processes compute the same sums
# grouped differently (each half of the batch, then their mean): the first step's gradient differs from the
# single-process one exactly as much as one process computing the two halves itself (CoOp: 1.6e-6 relative),
# and about as much as one process fed the same batch in another order (1.4e-6). Measured after 6 steps at
# LR 0.002: at most 1.0e-6 (MaPLe's deep projection), 1.3e-7 for CoOp.
TOL, RTOL = 1e-6, 1e-5


# --- loaders and evaluator, without a process group ----------------------------------------------------------
class _Items(torch.utils.data.Dataset):
    """A dataset wrapper that returns the sample's index (no images needed)."""

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.data_source = data_source

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        return {"index": idx, "label": self.data_source[idx]}


def _cfg():
    from sempt.engine import get_cfg_default
    cfg = get_cfg_default()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.USE_CUDA = False
    return cfg


def _epochs(loader, n=2):
    return [[b["index"].tolist() for b in loader] for _ in range(n)]


@pytest.mark.parametrize("n_data, batch", [(10, 4), (5, 8)])
def test_rank_shares_rebuild_the_single_process_batches(n_data, batch):
    from sempt.engine.data_manager import build_data_loader, build_distributed_loader
    cfg, data = _cfg(), list(range(n_data))
    torch.manual_seed(3)
    single = _epochs(build_data_loader(cfg, "RandomSampler", data, batch, is_train=True, dataset_wrapper=_Items))
    state_single = torch.get_rng_state()
    shares = []
    for r in range(2):
        torch.manual_seed(3)
        loader = build_distributed_loader(cfg, "RandomSampler", data, batch, None, True, _Items, r, 2)
        shares.append(_epochs(loader))
        assert torch.equal(torch.get_rng_state(), state_single)  # the global stream is left as one process leaves it
        assert len(loader) == len(single[0])
    for epoch in range(2):
        rebuilt = [s0 + s1 for s0, s1 in zip(shares[0][epoch], shares[1][epoch])]
        assert rebuilt == single[epoch]
        for s0, s1 in zip(shares[0][epoch], shares[1][epoch]):
            assert abs(len(s0) - len(s1)) <= 1 and not set(s0) & set(s1)
    if n_data >= batch:  # drop_last: full global batches of 4, 2 per process
        assert [len(b) for b in shares[0][0]] == [2, 2]
    else:  # one partial batch of 5: shares of 3 and 2, nothing dropped
        assert sorted(single[0][0]) == data and [len(shares[0][0][0]), len(shares[1][0][0])] == [3, 2]


def test_batch_that_does_not_divide_and_too_few_images_are_errors():
    from sempt.config import ConfigError
    from sempt.distributed import per_process_batch, share_bounds
    from sempt.engine.data_manager import build_distributed_loader
    with pytest.raises(ConfigError, match=r"DATALOADER.TRAIN_X.BATCH_SIZE 5 does not divide over the 2 processes"):
        build_distributed_loader(_cfg(), "RandomSampler", list(range(10)), 5, None, True, _Items, 0, 2)
    assert per_process_batch(32, n=4) == 8
    assert [share_bounds(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]
    loader = build_distributed_loader(_cfg(), "RandomSampler", [0], 4, None, True, _Items, 1, 2)
    with pytest.raises(ConfigError, match="batch of 1 image.* cannot be shared by 2 processes"):
        list(loader)


def test_evaluation_shards_gather_to_the_single_process_result():
    from sempt.engine.data_manager import build_distributed_loader
    from sempt.engine.evaluation import Classification
    cfg = _cfg()
    cfg.TEST.PER_CLASS_RESULT = True
    names = {0: "a", 1: "b", 2: "c"}
    g = torch.Generator().manual_seed(0)
    n = 11
    logits, labels = torch.randn(n, 3, generator=g), torch.randint(0, 3, (n,), generator=g)
    single = Classification(cfg, lab2cname=names)
    for start in range(0, n, 4):
        single.process(logits[start:start + 4], labels[start:start + 4])
    shards = []
    for r in range(2):
        loader = build_distributed_loader(cfg, "SequentialSampler", list(range(n)), 3, None, False, _Items, r, 2)
        idx = [i for b in loader for i in b["index"].tolist()]
        assert idx == list(range(r, n, 2)) == loader.sampler.shard_indices
        ev = Classification(cfg, lab2cname=names)
        ev.process(logits[idx], labels[idx])
        shards.append((idx, ev._y_true, ev._y_pred))
    gathered = Classification(cfg, lab2cname=names)
    gathered.load_shards(shards[::-1], n)  # arrival order does not matter
    assert gathered._y_true == single._y_true and gathered._y_pred == single._y_pred
    assert gathered.evaluate() == single.evaluate()
    assert gathered._per_class_res == single._per_class_res
    with pytest.raises(RuntimeError, match="evaluated 10 of the split's 11"):
        Classification(cfg, lab2cname=names).load_shards([shards[0], (shards[1][0][1:], shards[1][1][1:],
                                                                       shards[1][2][1:])], n)
    with pytest.raises(RuntimeError, match="Sample 0 was evaluated twice"):
        Classification(cfg, lab2cname=names).load_shards([shards[0], shards[0]], n)


# --- train.py under torchrun -----------------------------------------------------------------------------------
def _coop_args(root, out, clip, batch=4):
    return ["--root", root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file", PETS, "--config-file", COOP_CFG,
            "--output-dir", out, "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "DATALOADER.TRAIN_X.BATCH_SIZE", batch,
            "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base", "TRAIN.CHECKPOINT_FREQ", "1",
            *NO_AUGMENTATION]


def _torchrun(*args, nproc=2):
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", SEMPT_ENGINE="builtin")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), "train.py", *map(str, args)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def _logged_losses(log):
    return re.findall(r"loss ([\d.]+) \(", log)


def test_torchrun_two_processes_match_one(pets_root, tiny_clip, tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    run_train(*_coop_args(pets_root, one, tiny_clip["state_dict"]))
    proc = _torchrun(*_coop_args(pets_root, two, tiny_clip["state_dict"]))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = open(osp.join(two, "log.txt")).read()
    assert "Distributed: 2 processes (gloo), batch 2 per process (global batch 4)" in log
    # one process printed and wrote: one copy of each line, one log, no rotated log from a second writer
    assert proc.stdout.count("Setting fixed seed: 1") == 1 and log.count("Setting fixed seed: 1") == 1
    assert not [f for f in os.listdir(two) if f.startswith(("log.txt-", "results.json-"))]
    one_log = open(osp.join(one, "log.txt")).read()
    assert "Distributed" not in one_log
    # 3 global batches of 4 x 2 epochs; the logged loss of each step is the global batch's
    assert _logged_losses(log) == _logged_losses(one_log) and len(_logged_losses(log)) == 6
    ctx = [torch.load(osp.join(d, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]["ctx"]
           for d in (one, two)]
    first = torch.load(osp.join(one, "prompt_learner", "model.pth.tar-1"), weights_only=True)["state_dict"]["ctx"]
    assert (ctx[0] - first).abs().max() > 100 * TOL  # it trained: the comparison below is not vacuous
    assert torch.allclose(ctx[0], ctx[1], rtol=RTOL, atol=TOL)
    from sempt.results import read_results
    res = [read_results(d) for d in (one, two)]
    assert res[1]["total"] == 9 and [c["total"] for c in res[1]["per_class"]] == [3, 3, 3]  # each image once
    assert res[1]["accuracy"] == res[0]["accuracy"] and res[1]["per_class"] == res[0]["per_class"]
    assert res[1]["macro_f1"] == res[0]["macro_f1"]


def test_torchrun_batch_that_does_not_divide_is_one_error_line(pets_root, tiny_clip, tmp_path):
    out = tmp_path / "odd"
    proc = _torchrun(*_coop_args(pets_root, str(out), tiny_clip["state_dict"], batch=5))
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert errors == ["error: DATALOADER.TRAIN_X.BATCH_SIZE 5 does not divide over the 2 processes of this torchrun "
                      "launch (the batch size is global, each process takes batch/2): choose a multiple of 2 or "
                      "another --nproc_per_node"]
    assert not re.search(r"\[rank\d\]: Traceback", proc.stderr)  # neither process died with a traceback
    assert not out.exists()  # stopped before anything was written


def test_real_dassl_under_torchrun_stops_with_one_line(pets_root, tiny_clip, tmp_path):
    # sempt.backend picks real Dassl when it is importable; this stands in for it (Dassl is not installed here)
    out = tmp_path / "dassl"
    code = ("import runpy, sys, sempt.backend as b; b.ENGINE = 'dassl'; sys.argv = ['train.py'] + sys.argv[1:]; "
            "runpy.run_path('train.py', run_name='__main__')")
    env = dict(os.environ, WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", SEMPT_ENGINE="builtin")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, _coop_args(pets_root, str(out),
                                                                             tiny_clip["state_dict"]))],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "error: torchrun started 2 processes but the real Dassl engine is in use (sempt/backend.py found the dassl "
        "package): distributed training needs the built-in engine; set SEMPT_ENGINE=builtin, or run one process "
        "(python train.py)"]
    assert not out.exists()


def test_nproc_makes_the_scripts_use_torchrun(pets_root, tmp_path):
    stub = tmp_path / "python"
    stub.write_text("#!/bin/sh\necho \"ARGS: $*\"\n")
    stub.chmod(0o755)
    script = osp.join(REPO, "scripts", "coop", "base2new_train.sh")
    env = dict(os.environ, DATA=pets_root, OUTPUT=str(tmp_path / "out"), PYTHON=str(stub), NPROC="4")
    proc = subprocess.run(["bash", script, "oxford_pets", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (args,) = [line for line in proc.stdout.splitlines() if line.startswith("ARGS:")]
    assert args.startswith("ARGS: -m torch.distributed.run --standalone --nproc_per_node 4 train.py --output-dir ")
    env.pop("NPROC")
    proc = subprocess.run(["bash", script, "oxford_pets", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert [line for line in proc.stdout.splitlines() if line.startswith("ARGS:")][0].startswith(
        "ARGS: train.py --output-dir ")
    env["NPROC"] = "two"
    proc = subprocess.run(["bash", script, "oxford_pets", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: NPROC=two is not a positive whole number")


# --- every method's loss, two spawned processes ---------------------------------------------------------------
METHODS = {
    "KgCoOp": [],
    "CoCoOp": [],
    "MaPLe": ["TRAINER.MAPLE.PROMPT_DEPTH", "2"],
    "PromptSRC": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2",
                  "TRAINER.PROMPTSRC.GPA_MEAN", "1", "TRAINER.PROMPTSRC.GPA_STD", "1"],
    "SemPT": ["TRAINER.SEMPT.NUM_ATTRIBUTES", "3", "TRAINER.SEMPT.LEARN_TAU", "True", "TRAINER.SEMPT.MU", "0.5"],
}


def _train_methods(data, clip, attr_dir, embed_cache, out_root):
    """Train every method of METHODS for 2 epochs (6 steps of a global batch of 4) in this process (or process
    group); return {method: (learned parameters, test predictions)}."""
    import datasets
    import trainers
    from sempt.config import build_cfg
    from sempt.engine import build_trainer, set_random_seed
    out = {}
    for name, extra in METHODS.items():
        opts = ["DATASET.ROOT", data, "DATASET.NAME", "OxfordPets", "TRAINER.NAME", name, "MODEL.BACKBONE.NAME", clip,
                "OUTPUT_DIR", osp.join(out_root, name), *TINY_OPTS, *NO_AUGMENTATION, "OPTIM.LR", "0.002", "SEED", "1",
                "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SEMPT.ATTRIBUTES_DIR", attr_dir,
                "TRAINER.SEMPT.EMBED_CACHE", embed_cache, *extra]
        cfg = build_cfg([datasets.extend_cfg, trainers.extend_cfg], opts=opts)
        set_random_seed(1)
        trainer = build_trainer(cfg)
        start = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if v.requires_grad}
        trainer.train()
        learned = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if v.requires_grad}
        moved = max((learned[k] - start[k]).abs().max().item() for k in start)
        out[name] = (learned, list(trainer.evaluator._y_pred), moved)
    return out


def _worker(rank, port, args, result_path):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from sempt import distributed
    assert distributed.init_from_env(use_cuda=False)
    try:
        assert distributed.backend() == "gloo" and distributed.world_size() == 2
        result = _train_methods(*args)
        if rank == 0:
            torch.save(result, result_path)
    finally:
        distributed.shutdown()


@pytest.fixture(scope="module")
def two_layer_clip(tmp_path_factory):
    from sempt.testing import make_tiny_clip
    return make_tiny_clip(str(tmp_path_factory.mktemp("clip2")), layers=2, vision_layers=2, torchscript=False)


def test_every_method_in_two_processes_matches_one(pets_root, two_layer_clip, tmp_path):
    import torch.multiprocessing as mp
    from sempt.testing import make_attribute_file
    attr_dir = str(tmp_path / "attributes")
    make_attribute_file(osp.join(attr_dir, "oxford_pets.json"), "OxfordPets", CLASSNAMES["oxford_pets"][:6])
    embed_cache = str(tmp_path / "emb")
    single = _train_methods(pets_root, two_layer_clip["state_dict"], attr_dir, embed_cache, str(tmp_path / "one"))
    with socket.socket() as s:  # a free port for the process group
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result_path = str(tmp_path / "two.pt")
    mp.spawn(_worker, args=(port, (pets_root, two_layer_clip["state_dict"], attr_dir, embed_cache,
                                   str(tmp_path / "two")), result_path), nprocs=2, join=True)
    double = torch.load(result_path, weights_only=True)
    for name in METHODS:
        (p1, pred1, moved), (p2, pred2, _) = single[name], double[name]
        assert set(p1) == set(p2) and p1, name
        assert moved > 1e-3, f"{name} did not train: the comparison would be vacuous"
        for key in p1:
            assert torch.allclose(p1[key], p2[key], rtol=RTOL, atol=TOL), f"{name}: {key} differs"
        assert pred1 == pred2 and len(pred1) == 9, name
        assert osp.exists(osp.join(tmp_path, "two", name, "results.json"))
