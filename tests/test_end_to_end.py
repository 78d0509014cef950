"""train.py as a user runs it: CoOp train -> checkpoint -> eval on new classes -> parser; determinism;
KgCoOp with W = 0 is CoOp; errors for unknown names."""
import os.path as osp
import re
import subprocess
import sys

import torch

from conftest import REPO, TINY_OPTS, run_train
from sempt.results import read_run

COOP_CFG = "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml"
PETS = "configs/datasets/oxford_pets.yaml"


def _coop(root, out, clip, seed=1, trainer="CoOp", cfg=COOP_CFG, extra=()):
    return run_train("--root", root, "--seed", seed, "--trainer", trainer, "--dataset-config-file", PETS,
                     "--config-file", cfg, "--output-dir", out, "MODEL.BACKBONE.NAME", clip, *TINY_OPTS,
                     "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base", *extra)


def _losses(log_text):
    return re.findall(r"loss ([\d.]+) \(", log_text)


def test_coop_train_eval_new_and_parse(pets_root, tiny_clip, tmp_path):
    base = str(tmp_path / "train_base" / "seed1")
    proc = _coop(pets_root, base, tiny_clip["state_dict"])
    log = open(osp.join(base, "log.txt")).read()
    assert "Finish training" in log and "Engine: builtin" in log and "** System info **" in log
    assert "TRAINER:" in log and "N_CTX: 4" in log  # the full config is in the log
    ckpt = torch.load(osp.join(base, "prompt_learner", "model.pth.tar-2"), weights_only=True)
    assert ckpt["classnames"] == ["abyssinian", "american_bulldog", "american_pit_bull_terrier"]
    assert ckpt["state_dict"]["ctx"].shape == (4, 64)
    assert open(osp.join(base, "prompt_learner", "checkpoint")).read().strip() == "model.pth.tar-2"
    base_acc = read_run(base)["accuracy"]

    new = str(tmp_path / "test_new" / "seed1")
    proc = run_train("--root", pets_root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file", PETS,
                     "--config-file", COOP_CFG, "--output-dir", new, "--model-dir", base, "--load-epoch", 2,
                     "--eval-only", "MODEL.BACKBONE.NAME", tiny_clip["torchscript"], *TINY_OPTS,
                     "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "Loading weights to prompt_learner" in proc.stdout and "* total: 9" in proc.stdout
    new_acc = read_run(new, test_log=True)["accuracy"]
    # evaluation writes results.json: the same numbers as the log, per class, with what was evaluated
    from sempt.results import parse_log, read_results
    res = read_results(new)
    logged = parse_log(osp.join(new, "log.txt"), test_log=True)
    assert res["eval_only"] is True and res["split"] == "test" and res["subsample_classes"] == "new"
    assert round(res["accuracy"], 1) == logged["accuracy"] and round(res["macro_f1"], 1) == logged["macro_f1"]
    assert res["total"] == 9 and [c["total"] for c in res["per_class"]] == [3, 3, 3]
    assert sum(c["correct"] for c in res["per_class"]) == res["correct"]
    assert res["classnames"] == ["basset_hound", "beagle", "bengal"] and len(res["config_fingerprint"]) == 16
    assert res["loaded"]["prompt_learner"]["epoch"] == 2
    trained = read_results(base)
    assert trained["eval_only"] is False and trained["epoch"] == 2 and trained["subsample_classes"] == "base"
    assert read_run(base)["results_file"] == osp.join(base, "results.json")
    assert 0.0 <= base_acc <= 100.0 and 0.0 <= new_acc <= 100.0

    for sub, acc, flag in (("train_base", base_acc, []), ("test_new", new_acc, ["--test-log"])):
        out = subprocess.run([sys.executable, "parse_test_res.py", str(tmp_path / sub), *flag], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
        assert f"* accuracy: {acc:.2f}% +- 0.00% (n=1)" in out


def test_same_seed_same_run_and_seed_zero_is_honoured(pets_root, tiny_clip, tmp_path):
    runs = []
    for name in ("a", "b"):
        out = str(tmp_path / name)
        _coop(pets_root, out, tiny_clip["state_dict"], seed=0)
        log = open(osp.join(out, "log.txt")).read()
        assert "Setting fixed seed: 0" in log
        runs.append((_losses(log), read_run(out)["accuracy"],
                     torch.load(osp.join(out, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]["ctx"]))
    assert runs[0][0] == runs[1][0] and len(runs[0][0]) == 6
    assert runs[0][1] == runs[1][1]
    assert torch.equal(runs[0][2], runs[1][2])


def test_kgcoop_with_zero_weight_is_coop(pets_root, tiny_clip, tmp_path):
    coop, kg = str(tmp_path / "coop"), str(tmp_path / "kg")
    _coop(pets_root, coop, tiny_clip["state_dict"])
    _coop(pets_root, kg, tiny_clip["state_dict"], trainer="KgCoOp",
          cfg="configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml", extra=("TRAINER.KGCOOP.W", "0.0"))
    kg_log = open(osp.join(kg, "log.txt")).read()
    assert " kg " in kg_log  # the penalty is computed and logged, with weight 0
    assert _losses(open(osp.join(coop, "log.txt")).read()) == _losses(kg_log)
    a = torch.load(osp.join(coop, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]["ctx"]
    b = torch.load(osp.join(kg, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]["ctx"]
    assert torch.equal(a, b)
    # and a positive weight changes the trajectory
    kg8 = str(tmp_path / "kg8")
    _coop(pets_root, kg8, tiny_clip["state_dict"], trainer="KgCoOp",
          cfg="configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml")
    c = torch.load(osp.join(kg8, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]["ctx"]
    assert not torch.equal(a, c)


def test_resume_continues_from_the_last_checkpoint(pets_root, tiny_clip, tmp_path):
    out = str(tmp_path / "run")
    _coop(pets_root, out, tiny_clip["state_dict"], extra=("OPTIM.MAX_EPOCH", "1"))
    proc = _coop(pets_root, out, tiny_clip["state_dict"])  # same folder, two epochs: resumes at epoch 1
    assert "Previous epoch: 1" in proc.stdout and "epoch [2/2]" in proc.stdout and "epoch [1/2]" not in proc.stdout
    assert osp.isfile(osp.join(out, "prompt_learner", "model.pth.tar-2"))


def test_zero_shot_and_user_errors(pets_root, tiny_clip, tmp_path):
    proc = run_train("--root", pets_root, "--trainer", "ZeroshotCLIP", "--dataset-config-file", PETS,
                     "--config-file", "configs/trainers/ZeroshotCLIP/vit_b16.yaml", "--output-dir",
                     tmp_path / "zs", "--eval-only", "MODEL.BACKBONE.NAME", tiny_clip["state_dict"],
                     "INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0")
    assert "Template: 'a photo of a {}, a type of pet.'" in proc.stdout and "* total: 18" in proc.stdout

    bad = run_train("--root", pets_root, "--trainer", "CoOpp", "--dataset-config-file", PETS, check=False)
    assert bad.returncode == 2 and "did you mean [CoOp]" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_train("--root", pets_root, "--trainer", "CoOp", "--dataset-config-file", PETS,
                    "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], "DATALOADER.NUM_WORKERS", "0", check=False)
    assert bad.returncode == 2 and 'INPUT.SIZE "(32, 32)"' in bad.stderr
    bad = run_train("--root", str(tmp_path / "nothing"), "--trainer", "CoOp", "--dataset-config-file", PETS,
                    check=False)
    assert bad.returncode == 2 and "DATASETS.md#oxfordpets" in bad.stderr


def test_evaluation_encodes_class_prompts_once_until_the_context_changes(tiny_clip):
    from sempt.clip_loader import load_clip
    from sempt.prompt_learner import PromptLearner
    from sempt.prompted_clip import CoOpCLIP
    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    model = CoOpCLIP(PromptLearner(["cat", "dog"], clip_model, ctx_init="a photo of a"), clip_model)
    calls = []
    real = model.text_encoder.forward
    model.text_encoder.forward = lambda *a, **k: calls.append(1) or real(*a, **k)
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        first = model(image)
        model(image)
    assert len(calls) == 1  # the second batch reused the label embeddings
    with torch.no_grad():
        model.prompt_learner.ctx.add_(torch.randn_like(model.prompt_learner.ctx))  # e.g. an optimizer step
        assert not torch.allclose(model(image), first) and len(calls) == 2
    model(image).sum().backward()  # training always encodes, with gradients
    assert len(calls) == 3 and model.prompt_learner.ctx.grad is not None
