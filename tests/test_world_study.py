"""The world study's machinery: statistics, calibration checks, planning, progress, the report; the
mini world end to end through the study runner; and (marked ``world_calibration``, run by CI) the demo-size
study against loosened calibration targets on the real world."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from sempt.world import study
from sempt.world.progress import parse_epoch_line

# --- statistics -----------------------------------------------------------------------------------------


def test_summarise_separates_seed_and_split_spread():
    values = {(0, 1): 10.0, (0, 2): 12.0, (1, 1): 20.0, (1, 2): 22.0}
    s = study.summarise(values)
    assert s["mean"] == 16.0 and s["n"] == 4 and s["splits"] == 2
    assert s["seed_sd"] == pytest.approx(1.0)  # each split: population sd of (10, 12) = 1
    assert s["split_sd"] == pytest.approx(5.0)  # split means 11 and 21
    one = study.summarise({(0, 1): 3.0, (0, 2): 5.0, (0, 3): 7.0})
    assert one["seed_sd"] == pytest.approx(np.std([3, 5, 7])) and one["split_sd"] == 0.0


def test_difference_is_paired_and_judged_against_both_spreads():
    a = {(0, s): {"hm": 50.0 + s} for s in (1, 2, 3)}
    a.update({(1, s): {"hm": 60.0 + s} for s in (1, 2, 3)})
    b = {k: {"hm": r["hm"] - 3.0} for k, r in a.items()}
    d = study.difference(a, b, "hm")
    assert d["delta"] == pytest.approx(3.0) and d["same_sign"] == 6 and d["n"] == 6
    assert d["seed_sd"] == pytest.approx(np.std([1, 2, 3])) and d["split_sd"] == pytest.approx(5.0)
    assert not d["exceeds"]  # 3 points is inside the 5-point split spread
    c = {k: {"hm": r["hm"] - 6.0} for k, r in a.items()}
    assert study.difference(a, c, "hm")["exceeds"]
    assert "+6.00 (seed sd 0.82, split sd 5.00: exceeds; same sign in 6/6 runs)" == study.fmt_diff(
        study.difference(a, c, "hm"))


def _fake(base, novel, jitter=0.0):
    rows = {}
    for split in (0, 1):
        for seed in (1, 2, 3):
            b, n = base + jitter * (seed - 2), novel - jitter * (seed - 2)
            rows[(split, seed)] = {"base": b, "novel": n, "hm": 2 * b * n / (b + n), "descriptive": n + 10,
                                   "known": n, "unknown": n - 10}
    return rows


def test_calibration_targets_pass_and_fail_on_the_right_numbers():
    good = {"ZeroshotCLIP": _fake(55, 50), "CoOp": _fake(70, 40, 0.5), "KgCoOp": _fake(69, 47, 0.5),
            "SemPT": _fake(68, 52, 0.5)}
    checks = study.check_targets(good)
    assert [ok for _, _, ok in checks] == [True] * len(checks) and len(checks) == 8
    assert checks[0][1].startswith("+15.00") and checks[1][1].startswith("+10.00")
    bad = dict(good, CoOp=_fake(62, 47, 0.5))  # +7 base, -3 novel; KgCoOp no longer between
    res = {t: ok for t, _, ok in study.check_targets(bad)}
    assert not res["CoOp Base - zero-shot Base >= 10"] and not res["zero-shot Novel - CoOp Novel >= 5"]
    assert res["KgCoOp HM > CoOp HM"] and not res["CoOp Novel < KgCoOp Novel < zero-shot Novel"]
    loose = {t: ok for t, _, ok in study.check_targets(bad, "loose")}
    assert loose["CoOp Base - zero-shot Base >= 5"] and loose["zero-shot Novel - CoOp Novel >= 2"]
    assert not loose["CoOp Novel < KgCoOp Novel < zero-shot Novel + 2"]  # KgCoOp 47 = CoOp 47
    near = dict(good, KgCoOp=_fake(69, 51, 0.5))  # KgCoOp 1 point above zero-shot on novel
    assert not {t: ok for t, _, ok in study.check_targets(near)}["CoOp Novel < KgCoOp Novel < zero-shot Novel"]
    assert {t: ok for t, _, ok in study.check_targets(near, "loose")}["CoOp Novel < KgCoOp Novel < zero-shot Novel + 2"]
    noisy = dict(good, CoOp=_fake(70, 40, 4.0))
    res = {t: ok for t, _, ok in study.check_targets(noisy)}
    assert study.summarise(study.metric(noisy["CoOp"], "hm"))["seed_sd"] == pytest.approx(1.7867, abs=1e-4)
    assert not res["CoOp: seed sd of HM <= 1"] and res["KgCoOp: seed sd of HM <= 1"]
    assert {t: ok for t, _, ok in study.check_targets(noisy, "loose")}["CoOp: seed sd of HM <= 3.5"]  # sd 1.79


def test_progress_lines_are_parsed():
    line = ("epoch [3/50] batch [9/9] time 0.091 (0.093) data 0.030 (0.029) loss 0.7943 (0.8102) acc 78.1 (70.0) "
            "lr 4.8943e-05 eta 0:01:05")
    assert parse_epoch_line(line) == (3, 50, 9, 9, 65)
    assert parse_epoch_line("Evaluate on the *test* set") is None


# --- planning -------------------------------------------------------------------------------------------


def _world(tmp):
    return {"data": str(tmp / "data"), "clip": str(tmp / "clip.pt"),
            "attributes": {p: str(tmp / f"attributes_noise{p:g}" / "clipworld.json") for p in (0.0, 0.3, 0.6)}}


def _plan(tmp_path):
    p = study.Planner(_world(tmp_path), tmp_path / "out", splits=[0, 1], seeds=[1, 2])
    return p, p.tasks({})


def test_plan_has_every_row_and_the_right_dependencies(tmp_path):
    p, tasks = _plan(tmp_path)
    names = [v.name for v in p.variants]
    assert names[:4] == study.MAIN and "zero-shot + attributes" in names
    for expected in ("UNSEEN_LABEL hand", "INFERENCE label", "INFERENCE attribute", "INFERENCE ensemble", "BETA 0",
                     "BETA 0.25", "BETA 0.75", "BETA 1", "NUM_ATTRIBUTES 1", "NUM_ATTRIBUTES 3", "LAMBDA 0",
                     "noise 0.3", "noise 0.6"):
        assert expected in names
    keys = {t.key for t in tasks}
    # per (split, seed): zs 2 tests, 3 trained methods x (train + test), 4 in-process ablation tasks (groups)
    assert len(tasks) == 4 * (2 + 3 * 2 + 4)
    for t in tasks:
        assert all(d in keys for d in t.deps), t.key
    kinds = [t.kind for t in tasks]
    assert kinds == sorted(kinds, key=lambda k: k == "inprocess")  # every main run before the ablations
    ab = next(t for t in tasks if t.key == "ablations (no training) clip_world_s1 seed 2")
    assert ab.deps == ["SemPT clip_world_s1 seed 2 train"] and ab.kind == "inprocess"
    assert next(t for t in tasks if t.key == "ablations (BETA) clip_world_s1 seed 2").deps == []
    runs = {label: argv for t in tasks if t.kind == "inprocess" and "s1 seed 2" in t.key for label, argv in t.runs}
    assert len(runs) == 27 and len(ab.outputs) == len(ab.runs)


def test_plan_ablation_runs_have_the_right_arguments(tmp_path):
    p, tasks = _plan(tmp_path)
    runs = {label: argv for t in tasks if t.kind == "inprocess" and "s1 seed 2" in t.key for label, argv in t.runs}
    hand = runs["UNSEEN_LABEL hand clip_world_s1 seed 2 test_new"]
    model_dir = hand[hand.index("--model-dir") + 1]
    assert model_dir == study.run_dir(str(tmp_path / "out" / "methods"), "train_base", 1, 2, "sempt", 16)
    assert hand[hand.index("--load-epoch") + 1] == str(p.epochs["sempt"]) and "--eval-only" in hand
    zsa = runs["zero-shot + attributes clip_world_s1 seed 2 test_base"]
    assert "--model-dir" not in zsa and zsa[-4:] == ["TRAINER.SEMPT.INFERENCE", "attribute",
                                                      "TRAINER.SEMPT.UNSEEN_LABEL", "hand"]
    noisy = runs["noise 0.6 clip_world_s1 seed 2 train_base"]
    assert noisy[noisy.index("TRAINER.SEMPT.ATTRIBUTES_DIR") + 1] == str(tmp_path / "attributes_noise0.6")
    beta = runs["BETA 0.25 clip_world_s1 seed 2 test_new"]
    assert beta[-2:] == ["TRAINER.SEMPT.BETA", "0.25"]
    assert beta[beta.index("--model-dir") + 1].endswith(osp.join("ablations", "BETA_0.25", "base2new", "train_base",
                                                                  "clip_world_s1", "shots_16", "SemPT", "world",
                                                                  "seed2"))


def test_plan_scripts_and_subsets(tmp_path):
    _, tasks = _plan(tmp_path)
    coop = next(t for t in tasks if t.key == "CoOp clip_world seed 1 train")
    assert coop.cmd[1].endswith(osp.join("scripts", "coop", "base2new_train.sh")) and coop.cmd[2:4] == ["clip_world", "1"]
    assert coop.env["OUTPUT"] == str(tmp_path / "out" / "methods")
    only0 = study.Planner(_world(tmp_path), tmp_path / "out", [0, 1], [1, 2], ablation_seeds=[1], ablation_splits=[0])
    assert [t.key for t in only0.tasks({}) if t.kind == "inprocess"] == [
        f"ablations ({g}) clip_world seed 1" for g in ("no training", "BETA", "NUM_ATTRIBUTES, LAMBDA", "noise")]
    calib = study.Planner(_world(tmp_path), tmp_path / "out", [0], [1], methods=["zsclip", "coop", "kgcoop"])
    assert [v.name for v in calib.variants] == ["ZeroshotCLIP", "CoOp", "KgCoOp"]  # calibration never runs SemPT


def test_world_configs_share_one_recipe():
    import yaml
    cfgs = {t: yaml.safe_load(open(osp.join(REPO, "configs", "trainers", t, "world.yaml")))
            for t in ("CoOp", "KgCoOp", "SemPT")}
    for key in ("DATALOADER", "INPUT", "OPTIM"):
        assert cfgs["CoOp"][key] == cfgs["KgCoOp"][key] == cfgs["SemPT"][key]
    assert cfgs["KgCoOp"]["TRAINER"]["KGCOOP"]["W"] == 8.0  # published, since the world's logit scale is 100


# --- the mini world through the study runner ------------------------------------------------------------


def test_mini_study_end_to_end(mini_world, tmp_path, capsys):
    from sempt.fileio import read_json
    p = study.Planner(mini_world, tmp_path / "out", splits=[0], seeds=[1], shots=2, methods=["zsclip", "sempt"],
                      epochs={"sempt": 1}, extra_opts=["OPTIM.MAX_EPOCH", "1", "TRAINER.SEMPT.EMBED_CACHE",
                                                       str(tmp_path / "emb")])
    p.variants = [v for v in p.variants if v.name in ("ZeroshotCLIP", "SemPT", "zero-shot + attributes",
                                                      "INFERENCE label")]
    env = dict(os.environ, DATA=mini_world["data"], BACKBONE=mini_world["clip"], SHOTS="2", PYTHON=sys.executable,
               CFG="world", **study.thread_env(1))
    seconds = study.execute(p.tasks(env), env, jobs=2, every=0.0, log_dir=str(tmp_path / "out" / "tasks"))
    out = capsys.readouterr().out
    assert "start SemPT clip_world seed 1 train" in out and "study eta" in out and "epoch 1/1" in out
    cats = read_json(osp.join(mini_world["data"], "clip_world", "categories.json"))
    results = study.collect(p, cats)
    assert {k: len(v) for k, v in results.items()} == {"ZeroshotCLIP": 1, "SemPT": 1, "zero-shot + attributes": 1,
                                                       "INFERENCE label": 1}
    zs, zsa = results["ZeroshotCLIP"][(0, 1)], results["zero-shot + attributes"][(0, 1)]
    # nothing trained: the label path of SemPT's untrained context is the hand prompt, i.e. zero-shot CLIP
    label = results["INFERENCE label"][(0, 1)]
    assert label["base"] == results["SemPT"][(0, 1)]["base"]  # base classes take the label path anyway
    for r in (zs, zsa):
        assert set(r) >= {"base", "novel", "hm", "descriptive", "known", "unknown"}
    text = study.report(p, results, cats, str(tmp_path / "out"), seconds=seconds)
    assert "| ZeroshotCLIP (no training)" in text and "### SemPT ablations" in text and "INFERENCE" in text
    assert osp.getsize(tmp_path / "out" / "base_novel.png") > 5000 and osp.getsize(tmp_path / "out" / "world.png") > 5000
    saved = json.load(open(tmp_path / "out" / "study.json"))
    assert saved["results"]["SemPT"]["0/1"]["novel"] == results["SemPT"][(0, 1)]["novel"]
    # a rerun skips every finished run
    again = study.execute(p.tasks(env), env, jobs=2, every=0.0, log_dir=str(tmp_path / "out" / "tasks"))
    assert again < seconds


@pytest.fixture(scope="module")
def mini_world(tmp_path_factory):
    from sempt.world.build import build_world
    from sempt.world.pretrain import PretrainSpec
    from sempt.world.spec import WorldSpec
    mini = WorldSpec(seed=3, per_kind=2, train_per_class=4, val_per_class=2, test_per_class=3)
    pre = PretrainSpec(pool=600, steps=4, batch_size=32, layers=1, vision_layers=1)
    cache = str(tmp_path_factory.mktemp("world"))
    return build_world(mini, pre, cache=cache, splits=1, noises=(0.0, 0.3, 0.6), log=lambda m: None)


# --- the demo-size study on the real world (CI: -m world_calibration) -----------------------------------


@pytest.mark.world_calibration
def test_demo_size_study_meets_loosened_targets(tmp_path, request):
    """One class split x seeds 1-3 of zero-shot, CoOp and KgCoOp on the shipped world (pretrained once and
    cached in ~/.cache/sempt/world): the loosened calibration targets hold. ~5 minutes on two cores."""
    if "world_calibration" not in (request.config.getoption("markexpr") or "") and \
            os.environ.get("SEMPT_WORLD_CALIBRATION") != "1":
        pytest.skip("slow (~5 min): run with -m world_calibration or SEMPT_WORLD_CALIBRATION=1")
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "sempt.world", "benchmark", "--splits", "1", "--seeds", "1", "2", "3",
                           "--methods", "zsclip", "coop", "kgcoop", "--targets", "loose", "--output", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = json.load(open(out / "study.json"))
    failed = [(t, m) for t, m, ok in saved["targets"]["loose"] if not ok]
    assert not failed, failed
    s = saved["summary"]
    assert s["CoOp"]["base"]["mean"] - s["ZeroshotCLIP"]["base"]["mean"] >= 5
    assert s["ZeroshotCLIP"]["novel"]["mean"] - s["CoOp"]["novel"]["mean"] >= 2
    assert s["CoOp"]["novel"]["mean"] < s["KgCoOp"]["novel"]["mean"]


def test_shipped_calibration_record_is_consistent():
    """The frozen study's per-run numbers (sempt/world/calibration.json) give the recorded summaries and
    targets: targets 1-3 hold, the seed-sd target does not (as benchmarks/world_calibration.md says)."""
    rec = json.load(open(osp.join(REPO, "sempt", "world", "calibration.json")))
    results = {n: {tuple(int(x) for x in k.split("/")): r for k, r in rows.items()}
               for n, rows in rec["results"].items()}
    assert {n: len(r) for n, r in results.items() if n in study.MAIN} == {n: 9 for n in study.MAIN}
    for n in study.MAIN:
        for key in ("base", "novel", "hm"):
            s = study.summarise(study.metric(results[n], key))
            assert s == pytest.approx(rec["summary"][n][key])
    checks = {t: ok for t, _, ok in study.check_targets(results)}
    assert checks["CoOp Base - zero-shot Base >= 10"] and checks["zero-shot Novel - CoOp Novel >= 5"]
    assert checks["CoOp Novel < KgCoOp Novel < zero-shot Novel"] and checks["KgCoOp HM > CoOp HM"]
    assert not checks["CoOp: seed sd of HM <= 1"] and not checks["KgCoOp: seed sd of HM <= 1"]
    coop, zs = study.summarise(study.metric(results["CoOp"], "base")), study.summarise(study.metric(
        results["ZeroshotCLIP"], "base"))
    assert coop["mean"] - zs["mean"] == pytest.approx(16.74, abs=0.01)
    assert [v for _, v, _ in rec["targets"]["strict"]] == [v for _, v, _ in study.check_targets(results)]
