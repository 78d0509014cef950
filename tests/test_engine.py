"""Units of the built-in engine: sampling, subsampling, schedules, checkpoints, evaluator, config."""
import collections
import math
import os
import random

import pytest
import torch

from sempt.engine import Datum, DatasetBase, get_cfg_default
from sempt.engine.evaluation import Classification, macro_f1_score
from sempt.engine.metrics import compute_accuracy
from sempt.engine.optim import build_lr_scheduler, build_optimizer
from sempt.engine.registry import Registry
from sempt.data.coop import subsample_classes


def _items(n_classes=5, per_class=6):
    return [Datum(impath=f"c{c}/{i}.jpg", label=c, classname=f"name{c}") for c in range(n_classes)
            for i in range(per_class)]


class _DS(DatasetBase):
    def __init__(self):
        pass  # only the sampling helpers are used


def test_fewshot_is_reproducible_and_follows_dassls_draws():
    items = _items()
    random.seed(3)
    a = _DS().generate_fewshot_dataset(items, num_shots=2)
    random.seed(3)
    b = _DS().generate_fewshot_dataset(items, num_shots=2)
    assert a == b and len(a) == 10
    assert all(sum(1 for x in a if x.label == c) == 2 for c in range(5))
    # Dassl's sequence: labels in order of first appearance, one random.sample per label
    random.seed(3)
    expected = []
    for c in range(5):
        expected += random.sample([x for x in items if x.label == c], 2)
    assert a == expected
    random.seed(4)
    assert _DS().generate_fewshot_dataset(items, num_shots=2) != a


def test_fewshot_repeat_and_short_classes():
    items = _items(per_class=2)
    random.seed(0)
    assert len(_DS().generate_fewshot_dataset(items, num_shots=4)) == 10  # all kept, no repeat
    random.seed(0)
    assert len(_DS().generate_fewshot_dataset(items, num_shots=4, repeat=True)) == 20


def test_subsample_base_new_relabels_from_zero():
    items = _items(n_classes=5, per_class=1)
    (base,) = subsample_classes(items, subsample="base")
    (new,) = subsample_classes(items, subsample="new")
    assert [(x.label, x.classname) for x in base] == [(0, "name0"), (1, "name1"), (2, "name2")]
    assert [(x.label, x.classname) for x in new] == [(0, "name3"), (1, "name4")]
    assert subsample_classes(items, subsample="all") == (items,)
    with pytest.raises(ValueError, match="SUBSAMPLE_CLASSES"):
        subsample_classes(items, subsample="half")


def _lrs(**optim):
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.002
    for k, v in optim.items():
        cfg.OPTIM[k] = v
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    out = []
    for _ in range(cfg.OPTIM.MAX_EPOCH):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return out


def test_scheduler_coop_constant_warmup_cosine():
    lrs = _lrs(MAX_EPOCH=50, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    assert lrs[0] == pytest.approx(1e-5)
    # Dassl: after the warm-up the cosine starts from its own epoch 0
    for e in range(1, 50):
        assert lrs[e] == pytest.approx(0.002 * (1 + math.cos(math.pi * (e - 1) / 50)) / 2)


def test_scheduler_linear_warmup_and_steps():
    lrs = _lrs(MAX_EPOCH=6, LR_SCHEDULER="single_step", STEPSIZE=(2,), GAMMA=0.5, WARMUP_EPOCH=2,
               WARMUP_TYPE="linear", WARMUP_MIN_LR=1e-4)
    assert lrs == pytest.approx([1e-4, 0.001, 0.002, 0.002, 0.001, 0.001])
    lrs = _lrs(MAX_EPOCH=5, LR_SCHEDULER="multi_step", STEPSIZE=(1, 3), GAMMA=0.1)
    assert lrs == pytest.approx([0.002, 0.0002, 0.0002, 0.00002, 0.00002])
    # without recount the main schedule continues from the warm-up length
    lrs = _lrs(MAX_EPOCH=4, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant",
               WARMUP_RECOUNT=False)
    f = [(1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]
    assert lrs == pytest.approx([1e-5, 0.002, 0.002 * f[2] / f[1], 0.002 * f[3] / f[1]])


def test_scheduler_state_is_plain_and_resumes(tmp_path):
    cfg = get_cfg_default()
    cfg.OPTIM.MAX_EPOCH, cfg.OPTIM.LR_SCHEDULER, cfg.OPTIM.WARMUP_EPOCH = 10, "cosine", 1
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    for _ in range(4):
        sched.step()
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    opt2 = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.OPTIM)
    sched2 = build_lr_scheduler(opt2, cfg.OPTIM)
    sched2.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_checkpoint_round_trip_is_safe_and_atomic(tmp_path):
    from sempt.checkpoint import load_checkpoint, save_checkpoint, resume_from_checkpoint
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    path = save_checkpoint({"state_dict": model.state_dict(), "epoch": 3, "optimizer": opt.state_dict(),
                            "scheduler": None, "val_result": None, "classnames": ["a", "b"]},
                           str(tmp_path / "prompt_learner"))
    assert path.endswith("model.pth.tar-3")
    assert sorted(os.listdir(tmp_path / "prompt_learner")) == ["checkpoint", "model.pth.tar-3"]
    ckpt = load_checkpoint(path)
    assert ckpt["classnames"] == ["a", "b"] and ckpt["val_result"] is None
    model2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    assert resume_from_checkpoint(str(tmp_path / "prompt_learner"), model2, opt2) == 3
    assert torch.equal(model2.weight, model.weight)
    assert opt2.state_dict()["state"][0]["momentum_buffer"].equal(opt.state_dict()["state"][0]["momentum_buffer"])


def test_checkpoint_with_python_objects_is_refused(tmp_path):
    from sempt.checkpoint import CheckpointError, load_checkpoint

    torch.save({"state_dict": {"ctx": torch.ones(2)}, "scheduler": {"successor": _DS()},
                "optimizer": collections.defaultdict(dict, {0: {"momentum_buffer": torch.zeros(2)}})},
               tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError, match=r"pickled Python object \(.*_DS\).*can still be evaluated"):
        load_checkpoint(str(tmp_path / "bad.pth.tar"))
    # for evaluation, such objects (the original code's Dassl scheduler) become inert placeholders: the
    # weights load and nothing from the file runs
    ckpt = load_checkpoint(str(tmp_path / "bad.pth.tar"), opaque_objects=True)
    assert torch.equal(ckpt["state_dict"]["ctx"], torch.ones(2)) and not isinstance(ckpt["scheduler"]["successor"], _DS)
    # a truncated file is damaged, not unsafe: the message says so (and gives no advice that cannot work)
    data = open(tmp_path / "bad.pth.tar", "rb").read()
    open(tmp_path / "cut.pth.tar", "wb").write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated") as info:
        load_checkpoint(str(tmp_path / "cut.pth.tar"), opaque_objects=True)
    assert "TORCH_FORCE" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="--load-epoch|folder does not exist"):
        load_checkpoint(str(tmp_path / "nowhere" / "model.pth.tar-5"))


def test_evaluator_numbers(capsys):
    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = True
    ev = Classification(cfg, lab2cname={0: "a", 1: "b", 2: "c"})
    # predictions: 0->0, 0->1, 1->1, 2->1
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0], [0, 5.0, 0]])
    ev.process(logits, torch.tensor([0, 0, 1, 2]))
    res = ev.evaluate()
    assert res["accuracy"] == pytest.approx(50.0)
    assert res["error_rate"] == pytest.approx(50.0)
    # F1: class0 2*1/(2+0+1)=2/3, class1 2*1/(2+2+0)=1/2, class2 0 -> mean 7/18
    assert res["macro_f1"] == pytest.approx(100 * 7 / 18)
    assert res["perclass_accuracy"] == pytest.approx((50 + 100 + 0) / 3)
    out = capsys.readouterr().out
    for line in ("=> result", "* total: 4", "* correct: 2", "* accuracy: 50.0%", "* error: 50.0%",
                 "* macro_f1: 38.9%"):
        assert line in out
    assert macro_f1_score([0, 1], [1, 1]) == pytest.approx(1 / 3)


def test_compute_accuracy_topk():
    out = torch.tensor([[0.1, 0.5, 0.4], [0.8, 0.1, 0.1]])
    top1, top2 = compute_accuracy(out, torch.tensor([2, 0]), topk=(1, 2))
    assert top1.item() == pytest.approx(50.0) and top2.item() == pytest.approx(100.0)


def test_registry_suggests_the_closest_name():
    reg = Registry("T")

    @reg.register()
    class CoOp:
        pass

    assert reg.get("CoOp") is CoOp
    with pytest.raises(ValueError, match=r"did you mean \[CoOp\]"):
        reg.get("Coop")
    with pytest.raises(KeyError):
        reg.register(CoOp)


def test_unknown_config_key_is_named(tmp_path):
    from sempt.config import ConfigError, build_cfg
    import trainers
    with pytest.raises(ConfigError, match=r"TRAINER\.COOP\.NCTX.*TRAINER\.COOP\.N_CTX"):
        build_cfg([trainers.extend_cfg], opts=["TRAINER.COOP.NCTX", "4"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  LRR: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key OPTIM.LRR.*OPTIM.LR"):
        build_cfg([], config_file=str(bad))
    cfg = build_cfg([trainers.extend_cfg], flags={"SEED": 0}, opts=["TRAINER.COOP.N_CTX", "8"])
    assert cfg.SEED == 0 and cfg.TRAINER.COOP.N_CTX == 8 and cfg.TRAINER.KGCOOP.W == 8.0


def test_logger_rotates_the_old_log(tmp_path):
    import sys
    from sempt.engine.utils import setup_logger
    (tmp_path / "log.txt").write_text("old run\n")
    stdout = sys.stdout
    try:
        logger = setup_logger(str(tmp_path))
        print("new run")
    finally:
        logger.close()
        sys.stdout = stdout
    assert (tmp_path / "log.txt").read_text() == "new run\n"
    rotated = [p for p in os.listdir(tmp_path) if p.startswith("log.txt-")]
    assert len(rotated) == 1 and (tmp_path / rotated[0]).read_text() == "old run\n"
