"""Training curves: ``curves.csv`` beside ``log.txt`` (one row per epoch, resumes without duplicate epochs,
main process only), the same numbers in TensorBoard, and the leaderboard's training-curve figures."""
import csv
import math
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest

from conftest import CLASSNAMES, TINY_OPTS, run_train
from sempt.curves import CURVES_FILE, EpochCurves, read_curves, write_curves


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


# --- the file on its own ------------------------------------------------------------------------------------

def test_rows_resume_rotation_and_processes(tmp_path, monkeypatch, capsys):
    run = str(tmp_path / "run")
    path = osp.join(run, CURVES_FILE)
    curves = EpochCurves(run, enabled=True).start(0, lr=0.1)
    for epoch, lr_next in ((1, 0.05), (2, 0.025), (3, 0.0125)):
        curves.end_epoch(epoch, {"loss": 1.0 / epoch, "acc": 10.0 * epoch, "kg": 0.123456789}, lr_next,
                         {"val_acc": 50.0 + epoch} if epoch != 2 else {})
    table = _csv(path)
    assert table[0] == ["epoch", "lr", "loss", "acc", "kg", "val_acc", "elapsed_s"]
    # lr of a row is the rate its epoch started with: the one given before it, not the one given with it
    assert [r[:6] for r in table[1:]] == [["1", "0.1", "1", "10", "0.123457", "51"],
                                          ["2", "0.05", "0.5", "20", "0.123457", ""],
                                          ["3", "0.025", "0.333333", "30", "0.123457", "53"]]
    rows = read_curves(path)
    assert rows[1]["val_acc"] is None and rows[2]["loss"] == pytest.approx(1 / 3, rel=1e-5)
    assert all(rows[i]["elapsed_s"] <= rows[i + 1]["elapsed_s"] for i in range(2))

    # a resume after epoch 2 (the epoch-3 row came from a run that crashed before its checkpoint)
    rows[1]["elapsed_s"] = 500.0  # the first session's training time, continued by the second
    write_curves(rows, path)
    resumed = EpochCurves(run, enabled=True).start(2, lr=0.025)
    assert "dropped the rows of epochs 3-3" in capsys.readouterr().out
    assert [r["epoch"] for r in read_curves(path)] == [1, 2]  # dropped at once, not at the next epoch's end
    resumed.end_epoch(3, {"loss": 0.3, "acc": 31.0, "kg": 0.2}, 0.0)
    resumed.end_epoch(4, {"loss": 0.2, "acc": 41.0, "kg": 0.2}, 0.0)
    rows = read_curves(path)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[2]["acc"] == 31.0 and rows[2]["lr"] == 0.025 and rows[3]["lr"] == 0.0
    assert 500.0 <= rows[2]["elapsed_s"] <= rows[3]["elapsed_s"] < 560.0

    # a run from scratch in the same folder moves the old file aside, like log.txt
    old = open(path).read()
    EpochCurves(run, enabled=True).start(0, lr=0.1)
    (aside,) = [f for f in os.listdir(run) if f.startswith(CURVES_FILE + "-")]
    assert open(osp.join(run, aside)).read() == old and not osp.exists(path)

    # an unreadable file does not stop training: it is moved aside and the curve starts afresh
    with open(path, "w") as f:
        f.write("epoch,loss\n1,not-a-number\n")
    EpochCurves(run, enabled=True).start(1, lr=0.1).end_epoch(2, {"loss": 0.5}, 0.1)
    assert "line 2: 'not-a-number' is not a number" in capsys.readouterr().out
    assert _csv(path)[1][:3] == ["2", "0.1", "0.5"] and len(os.listdir(run)) == 3

    # --resume DIR into a fresh output folder continues the curves found beside the checkpoints
    fresh = str(tmp_path / "fresh")
    EpochCurves(fresh, resume_dir=run, enabled=True).start(2, lr=1.0).end_epoch(3, {"loss": 7.0}, 1.0)
    assert [r["epoch"] for r in read_curves(osp.join(fresh, CURVES_FILE))] == [2, 3]

    # processes other than the main one write nothing
    import sempt.distributed
    monkeypatch.setattr(sempt.distributed, "is_main_process", lambda: False)
    other = str(tmp_path / "rank1")
    row = EpochCurves(other).start(0, lr=0.1).end_epoch(1, {"loss": 1.0}, 0.1)
    assert row["loss"] == 1.0 and not osp.exists(other)


def test_malformed_files_are_named():
    from sempt.curves import CurvesError
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = osp.join(d, CURVES_FILE)
        for text, message in (("loss,acc\n1,2\n", "first line must be a header starting with 'epoch'"),
                              ("epoch,loss\n1,2,3\n", "line 2: 3 cells for 2 columns"),
                              ("epoch,loss\n,2\n", "line 2: no epoch number")):
            with open(path, "w") as f:
                f.write(text)
            with pytest.raises(CurvesError, match=re.escape(message)) as e:
                read_curves(path)
            assert path in str(e.value)
        assert read_curves(osp.join(d, "absent.csv")) == []


# --- written by training ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_layer_clip(tmp_path_factory):
    from sempt.testing import make_tiny_clip
    return make_tiny_clip(str(tmp_path_factory.mktemp("clip2")), layers=2, vision_layers=2, torchscript=False)


def _trainer(name, out, data, clip, tmp_path, extra=()):
    import datasets
    import trainers
    from sempt.config import build_cfg
    from sempt.engine import build_trainer, set_random_seed
    from sempt.testing import make_attribute_file
    attr_dir = str(tmp_path / "attributes")
    make_attribute_file(osp.join(attr_dir, "oxford_pets.json"), "OxfordPets", CLASSNAMES["oxford_pets"][:6])
    opts = ["DATASET.ROOT", data, "DATASET.NAME", "OxfordPets", "TRAINER.NAME", name, "OUTPUT_DIR", out,
            "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "OPTIM.MAX_EPOCH", "3", "OPTIM.LR", "0.05", "SEED", "1",
            "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", "TRAIN.CHECKPOINT_FREQ", "1",
            "TRAINER.SEMPT.ATTRIBUTES_DIR", attr_dir, "TRAINER.SEMPT.EMBED_CACHE", str(tmp_path / "emb"),
            "TRAINER.SEMPT.NUM_ATTRIBUTES", "3", *extra]
    cfg = build_cfg([datasets.extend_cfg, trainers.extend_cfg], opts=opts)
    set_random_seed(1)
    return build_trainer(cfg)


class RecordingWriter:
    """Stands in for TensorBoard's SummaryWriter (not installed here): keeps every scalar."""

    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, step=None):
        self.scalars.setdefault(tag, []).append((step, value))

    def close(self):
        pass


@pytest.mark.parametrize("name,extras", [("KgCoOp", ["kg"]), ("SemPT", ["loss_label", "loss_attr"])])
def test_training_rows_match_the_batches(name, extras, pets_root, two_layer_clip, tmp_path):
    """Each row holds the means of what forward_backward returned in that epoch (recorded independently
    here), the learning rate of the schedule's closed form, and the validation accuracy test() returned."""
    out = str(tmp_path / "out")
    trainer = _trainer(name, out, pets_root, two_layer_clip["state_dict"], tmp_path,
                       ["OPTIM.LR_SCHEDULER", "cosine", "OPTIM.WARMUP_EPOCH", "1", "OPTIM.WARMUP_TYPE", "constant",
                        "OPTIM.WARMUP_CONS_LR", "1e-5", "TEST.FINAL_MODEL", "best_val",
                        "DATALOADER.TRAIN_X.BATCH_SIZE", "2"])
    summaries, vals = {}, []
    forward_backward, test = trainer.forward_backward, trainer.test

    def recording_forward_backward(batch):
        summary = forward_backward(batch)
        summaries.setdefault(trainer.epoch + 1, []).append(dict(summary))
        return summary

    def recording_test(split=None):
        result = test(split)
        if split == "val":
            vals.append(result)
        return result

    trainer.forward_backward, trainer.test = recording_forward_backward, recording_test
    trainer._writer = writer = RecordingWriter()
    trainer.train()

    table = _csv(osp.join(out, CURVES_FILE))
    assert table[0] == ["epoch", "lr", "loss", "acc", *extras, "val_acc", "elapsed_s"]
    rows = read_curves(osp.join(out, CURVES_FILE))
    assert [r["epoch"] for r in rows] == [1, 2, 3] and sorted(summaries) == [1, 2, 3]
    for row in rows:
        batches = summaries[row["epoch"]]
        assert len(batches) == 3  # 3 base classes x 2 shots, batches of 2
        for key in ["loss", "acc"] + extras:
            assert row[key] == pytest.approx(np.mean([b[key] for b in batches]), rel=1e-5), (row["epoch"], key)
    # constant warm-up for epoch 1, then cosine over MAX_EPOCH counted from the end of the warm-up
    expected_lr = [1e-5] + [0.05 * (1 + math.cos(math.pi * k / 3)) / 2 for k in (0, 1)]
    assert [r["lr"] for r in rows] == pytest.approx(expected_lr, rel=1e-5)
    assert [r["val_acc"] for r in rows] == pytest.approx(vals, rel=1e-5) and len(vals) == 3
    assert all(0 < rows[i]["elapsed_s"] <= rows[i + 1]["elapsed_s"] for i in range(2))
    # the same numbers, per epoch, in TensorBoard
    for key in ["loss", "acc", "lr", "val_acc"] + extras:
        logged = writer.scalars[f"epoch/{key}"]
        assert [s for s, _ in logged] == [1, 2, 3]
        assert [v for _, v in logged] == pytest.approx([r[key] for r in rows], rel=1e-5)
    assert "epoch/elapsed_s" not in writer.scalars and "epoch/epoch" not in writer.scalars


def test_resumed_run_continues_the_same_file(pets_root, two_layer_clip, tmp_path):
    """Interrupted after epoch 2's row but before its checkpoint, resumed from epoch 1's checkpoint: the file
    holds epochs 1-3 once each, epoch 1 untouched, epochs 2-3 exactly as in an uninterrupted run."""
    args = (pets_root, two_layer_clip["state_dict"], tmp_path)
    full = str(tmp_path / "full")
    _trainer("CoOp", full, *args).train()
    full_table = _csv(osp.join(full, CURVES_FILE))
    assert [r[0] for r in full_table] == ["epoch", "1", "2", "3"]

    cut = str(tmp_path / "cut")
    os.makedirs(osp.join(cut, "prompt_learner"))
    shutil.copy(osp.join(full, "prompt_learner", "model.pth.tar-1"), osp.join(cut, "prompt_learner"))
    with open(osp.join(cut, "prompt_learner", "checkpoint"), "w") as f:
        f.write("model.pth.tar-1\n")
    crashed = read_curves(osp.join(full, CURVES_FILE))[:2]
    crashed[0]["elapsed_s"] = 1000.0  # the first session's time, which the resumed one continues
    write_curves(crashed, osp.join(cut, CURVES_FILE))
    _trainer("CoOp", cut, *args).train()

    cut_table = _csv(osp.join(cut, CURVES_FILE))
    header = cut_table[0]
    assert header == full_table[0] == ["epoch", "lr", "loss", "acc", "elapsed_s"]
    assert [r[0] for r in cut_table[1:]] == ["1", "2", "3"]
    assert cut_table[1] == full_table[1][:4] + ["1000.00"]
    for cut_row, full_row in zip(cut_table[2:], full_table[2:]):  # bit-identical resume: identical cells
        assert cut_row[:4] == full_row[:4]
    assert 1000.0 <= float(cut_table[2][4]) <= float(cut_table[3][4]) < 1100.0


# --- end to end: train.py, then the leaderboard's figures ------------------------------------------------------

def _band_by_hand(tables, column):
    """Mean and population sd over seeds per epoch, from the CSV text."""
    col = tables[0][0].index(column)
    values = np.array([[float(row[col]) for row in t[1:]] for t in tables])
    return values.mean(axis=0), values.std(axis=0)


def test_train_py_then_leaderboard_plots_curves(pets_root, tiny_clip, tmp_path, capsys):
    """Two seeds of KgCoOp through train.py with its published config (constant warm-up, cosine) and
    validation every epoch, then ``python -m sempt.leaderboard ROOT --plot DIR``."""
    root = tmp_path / "output"
    runs = []
    for seed in (1, 2):
        out = root / "base2new" / "train_base" / "oxford_pets" / "shots_2" / "KgCoOp" / "tiny" / f"seed{seed}"
        run_train("--root", pets_root, "--seed", seed, "--trainer", "KgCoOp",
                  "--dataset-config-file", "configs/datasets/oxford_pets.yaml",
                  "--config-file", "configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml", "--output-dir", out,
                  "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS, "OPTIM.MAX_EPOCH", "3",
                  "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", "TEST.FINAL_MODEL", "best_val",
                  "DATALOADER.TRAIN_X.BATCH_SIZE", "2")  # 3 batches per epoch
        runs.append(out)
    tables = []
    for out in runs:
        assert sorted(f for f in os.listdir(out) if f.endswith((".txt", ".csv"))) == ["curves.csv", "log.txt"]
        log = open(out / "log.txt").read()
        assert f"Training curves (one row per epoch): {out / CURVES_FILE}" in log
        table = _csv(out / CURVES_FILE)
        assert table[0] == ["epoch", "lr", "loss", "acc", "kg", "val_acc", "elapsed_s"] and len(table) == 4
        # the config's schedule: 1 epoch at the constant warm-up rate, then cosine from LR 0.002
        assert [float(r[1]) for r in table[1:]] == pytest.approx([1e-5, 0.002, 0.0015], rel=1e-5)
        # the log's own running means at each epoch's last batch (printed with 4 decimals) agree, and so do
        # the validation accuracies it printed (1 decimal)
        vals = [float(v) for v in re.findall(r"Evaluate on the \*val\* set\n(?:.*\n){3}\* accuracy: ([\d.]+)%", log)]
        assert [float(r[5]) for r in table[1:]] == pytest.approx(vals, abs=0.051) and len(vals) == 3
        for epoch in (1, 2, 3):
            (line,) = re.findall(rf"^epoch \[{epoch}/3\] batch \[3/3\] .*$", log, re.M)
            logged = float(re.search(r"loss [\d.]+ \(([\d.]+)\)", line).group(1))
            assert float(table[epoch][2]) == pytest.approx(logged, abs=6e-5)
        tables.append(table)

    from sempt.leaderboard import main
    fig = tmp_path / "fig"
    assert main([str(root), "--plot", str(fig), "--seeds", "2"]) == 0
    assert f"wrote {fig / 'curves_base2new_oxford_pets.png'}" in capsys.readouterr().err
    from PIL import Image
    with Image.open(fig / "curves_base2new_oxford_pets.png") as im:
        assert im.format == "PNG" and im.size[0] > 1000

    # what the figure draws: mean over the two seeds and the +- sd band, epoch by epoch
    from sempt.leaderboard import curve_band, curve_groups, discover
    groups = curve_groups(discover(str(root)))
    assert list(groups) == [("base2new", "oxford_pets", 2)]
    (method, seed_rows), = groups[("base2new", "oxford_pets", 2)].items()
    assert method == "KgCoOp/tiny" and len(seed_rows) == 2
    for column in ("loss", "acc", "kg", "val_acc"):
        epochs, mean, sd, n = curve_band(seed_rows, column)
        want_mean, want_sd = _band_by_hand(tables, column)
        assert list(epochs) == [1, 2, 3] and list(n) == [2, 2, 2]
        assert mean == pytest.approx(want_mean, rel=1e-9) and sd == pytest.approx(want_sd, rel=1e-9, abs=1e-12)
    assert any(curve_band(seed_rows, "loss")[2] > 0)  # the seeds differ: the band has a width


def test_leaderboard_curve_figures_per_setting(tmp_path, capsys):
    """Two methods x three seeds on one dataset, a seed that stopped early, few-shot per shot count."""
    root = tmp_path / "output"
    b2n = root / "base2new" / "train_base" / "dtd" / "shots_16"
    for method, offset in (("CoOp", 0.0), ("SemPT", 1.0)):
        for seed in (1, 2, 3):
            epochs = 2 if (method, seed) == ("SemPT", 3) else 4  # SemPT seed 3 stopped after epoch 2
            rows = [{"epoch": e, "lr": 0.002, "loss": offset + seed * e, "acc": 10.0 * e, "elapsed_s": e}
                    for e in range(1, epochs + 1)]
            write_curves(rows, str(b2n / method / "cfg" / f"seed{seed}" / CURVES_FILE))
    for shots in (1, 4):
        write_curves([{"epoch": 1, "loss": 1.0, "acc": 5.0}],
                     str(root / "eurosat" / "CoOp" / f"fs_{shots}shots" / "seed1" / CURVES_FILE))
    from sempt.leaderboard import curve_band, curve_groups, discover, plot
    runs = discover(str(root))
    groups = curve_groups(runs)
    assert sorted(groups) == [("base2new", "dtd", 16), ("few_shot", "eurosat", 1), ("few_shot", "eurosat", 4)]
    by_method = groups[("base2new", "dtd", 16)]
    assert sorted(by_method) == ["CoOp/cfg", "SemPT/cfg"]
    epochs, mean, sd, n = curve_band(by_method["SemPT/cfg"], "loss")
    # loss = 1 + seed * epoch: seeds 1-3 at epochs 1-2, seeds 1-2 at epochs 3-4
    assert list(epochs) == [1, 2, 3, 4] and list(n) == [3, 3, 2, 2]
    assert mean == pytest.approx([3.0, 5.0, 5.5, 7.0])
    assert sd == pytest.approx([np.std([2, 3, 4]), np.std([3, 5, 7]), 1.5, 2.0])
    assert curve_band(by_method["CoOp/cfg"], "val_acc")[0].size == 0  # never evaluated: nothing drawn
    paths = plot(runs, str(tmp_path / "fig"))
    names = sorted(osp.basename(p) for p in paths if osp.basename(p).startswith("curves_"))
    assert names == ["curves_base2new_dtd.png", "curves_few_shot_eurosat_1shots.png",
                     "curves_few_shot_eurosat_4shots.png"]
    # a damaged file is skipped with a note; the other figures are still drawn
    with open(b2n / "CoOp" / "cfg" / "seed1" / CURVES_FILE, "w") as f:
        f.write("garbage\n")
    groups = curve_groups(discover(str(root)))
    assert len(groups[("base2new", "dtd", 16)]["CoOp/cfg"]) == 2
    err = capsys.readouterr().err
    assert "note: training curves skipped:" in err and osp.join("seed1", "curves.csv") in err
