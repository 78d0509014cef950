"""Leaderboard tables from generated output trees: markers, rotated logs, crashes, missing seeds, plots."""
import os
import os.path as osp
import subprocess
import sys
import time

import pytest

from conftest import REPO
from sempt.leaderboard import Cell, build_tables, discover, hm, render

RESULT = "=> result\n* total: 100\n* correct: {c}\n* accuracy: {a:.1f}%\n* error: {e:.1f}%\n* macro_f1: {a:.1f}%\n"


def write_log(run_dir, acc, train=True, marker="Finish training", name="log.txt", finished=True, mtime=None,
              epochs=None, backbone="ViT-B/16"):
    os.makedirs(run_dir, exist_ok=True)
    text = "** Config **\n"
    if epochs is not None:  # the config block as Dassl prints it (yacs: strings unquoted)
        text += (f"************\nMODEL:\n  BACKBONE:\n    NAME: {backbone}\nOPTIM:\n  MAX_EPOCH: {epochs}\n  NAME: sgd\n"
                 "TRAINER:\n  SEMPT:\n    TEMPLATE: a photo of a {class}, {attribute}: {description}.\nEngine: builtin\n")
    text += "epoch [1/1] batch [1/1] loss 0.5\n" if train else "Loading weights\n"
    if finished:
        text += (f"{marker}\nEvaluate on the *test* set\n" if train else "Evaluate on the *test* set\n")
        text += RESULT.format(c=int(acc), a=acc, e=100 - acc) + ("Elapsed: 0:00:01\n" if train else "")
    path = osp.join(run_dir, name)
    with open(path, "w") as f:
        f.write(text)
    if mtime:
        os.utime(path, (mtime, mtime))


@pytest.fixture
def tree(tmp_path):
    root = str(tmp_path / "output")
    b2n = osp.join(root, "base2new")
    # SemPT on two datasets: oxford_pets complete, dtd with a crashed seed 3 and a missing novel seed 3
    for seed, (base, new) in zip((1, 2, 3), ((80.0, 70.0), (82.0, 72.0), (84.0, 74.0))):
        write_log(osp.join(b2n, "train_base", "oxford_pets", "shots_16", "SemPT", "cfg", f"seed{seed}"), base,
                  marker="Finished training" if seed == 2 else "Finish training")
        write_log(osp.join(b2n, "test_new", "oxford_pets", "shots_16", "SemPT", "cfg", f"seed{seed}"), new, train=False)
    now = time.time()
    d1 = osp.join(b2n, "train_base", "dtd", "shots_16", "SemPT", "cfg", "seed1")
    write_log(d1, 50.0, mtime=now - 1000)  # old run kept by Dassl in log.txt ...
    write_log(d1, 60.0, name="log.txt-2026-11-01-10-00-00", mtime=now)  # ... the new one written beside it
    write_log(osp.join(b2n, "train_base", "dtd", "shots_16", "SemPT", "cfg", "seed2"), 62.0)
    write_log(osp.join(b2n, "train_base", "dtd", "shots_16", "SemPT", "cfg", "seed3"), 0, finished=False)
    write_log(osp.join(b2n, "test_new", "dtd", "shots_16", "SemPT", "cfg", "seed1"), 40.0, train=False)
    write_log(osp.join(b2n, "test_new", "dtd", "shots_16", "SemPT", "cfg", "seed2"), 44.0, train=False)
    # a KgCoOp tree as KgCoOp's own scripts write it (shots_16_8.0)
    write_log(osp.join(b2n, "train_base", "oxford_pets", "shots_16_8.0", "KgCoOp", "vit", "seed1"), 90.0)
    write_log(osp.join(b2n, "test_new", "oxford_pets", "shots_16_8.0", "KgCoOp", "vit", "seed1"), 60.0, train=False)
    # cross-dataset / cross-domain, MaPLe-style layout
    for seed in (1, 2):
        write_log(osp.join(root, "imagenet", "MaPLe", "xd_16shots", f"seed{seed}"), 70.0 + seed)
        for i, d in enumerate(["caltech101", "oxford_pets", "imagenetv2", "imagenet_a"]):
            write_log(osp.join(root, "evaluation", "MaPLe", "xd_16shots", d, f"seed{seed}"), 50.0 + i + seed,
                      train=False)
    # few-shot
    for k, acc in ((1, 30.0), (2, 40.0)):
        for seed in (1, 2, 3):
            write_log(osp.join(root, "few_shot", "eurosat", "CoOp", f"fs_{k}shots", f"seed{seed}"), acc + seed)
    return root


def test_tables_have_the_expected_numbers(tree):
    runs = discover(tree)
    tables = {t["title"]: t for t in build_tables(runs)}
    sem = tables["Base-to-novel: SemPT/cfg"]["rows"]
    pets, dtd, avg = sem
    assert pets[0] == "oxford_pets" and pets[1].values == [80.0, 82.0, 84.0] and pets[2].mean == pytest.approx(72.0)
    assert pets[3] == pytest.approx(hm(82.0, 72.0))
    assert dtd[1].values == [60.0, 62.0]  # the newest log of seed 1, the crashed seed 3 left out
    assert dtd[2].values == [40.0, 44.0]
    assert avg[0] == "Average (2 of 11 datasets)"
    assert avg[1] == pytest.approx((82.0 + 61.0) / 2) and avg[2] == pytest.approx((72.0 + 42.0) / 2)
    assert avg[3] == pytest.approx(hm((82.0 + 61.0) / 2, (72.0 + 42.0) / 2))  # HM of the averages
    assert avg[3] != pytest.approx((pets[3] + dtd[3]) / 2)
    kg = tables["Base-to-novel: KgCoOp/vit"]["rows"][0]
    assert kg[1].mean == 90.0 and kg[3] == pytest.approx(hm(90.0, 60.0))

    xd = tables["Cross-dataset: MaPLe/xd"]
    assert xd["columns"][0] == "Source: imagenet" and xd["columns"][-1] == "Average (2 of 10)"
    row = xd["rows"][0]
    assert row[0].values == [71.0, 72.0] and row[1].mean == pytest.approx(51.5) and row[2].mean == pytest.approx(52.5)
    assert row[-1] == pytest.approx(52.0) and row[3].n == 0
    dom = tables["Cross-domain: MaPLe/xd"]["rows"][0]
    assert dom[1].mean == pytest.approx(53.5) and dom[3].mean == pytest.approx(54.5) and dom[-1] == pytest.approx(54.0)

    few = tables["Few-shot: CoOp/fs"]
    assert few["columns"] == ["Dataset", "1 shots", "2 shots"]
    assert few["rows"][0][1].mean == pytest.approx(32.0) and few["rows"][0][2].mean == pytest.approx(42.0)


def test_report_lists_problems_and_marks_short_cells(tree):
    text = render(discover(tree), "github", want_seeds=3, published=True)
    import re
    assert re.search(r"\| oxford_pets\s*\| 82.00 ± 1.63\s*\| 72.00 ± 1.63\s*\| 76.68 \|", text)
    assert "61.00 ± 1.00†" in text and "† fewer than 3 seeds" in text
    assert "unfinished: " + osp.join(tree, "base2new", "train_base", "dtd", "shots_16", "SemPT", "cfg", "seed3") in text
    assert "missing seeds [3]: base2new test_new SemPT/cfg dtd" in text
    assert "### Published base-to-novel averages (not measured here)" in text
    assert re.search(r"\| PromptSRC\s*\| 84.26\s*\| 76.10\s*\| 79.97\s*\| PromptSRC \(Khattak", text)
    csv_text = render(discover(tree), "csv")
    assert "# Base-to-novel: SemPT/cfg" in csv_text and "oxford_pets,82.00,72.00,76.68" in csv_text
    latex = render(discover(tree), "latex")
    assert "\\toprule" in latex and "82.00 ± 1.63" in latex


def test_cli_and_plots(tree, tmp_path):
    out = subprocess.run([sys.executable, "-m", "sempt.leaderboard", tree, "--plot", str(tmp_path / "fig")],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for title in ("Base-to-novel: SemPT/cfg", "Cross-dataset: MaPLe/xd", "Cross-domain: MaPLe/xd", "Few-shot: CoOp/fs"):
        assert f"### {title}" in out.stdout
    pngs = sorted(os.listdir(tmp_path / "fig"))
    assert pngs == ["base2new_KgCoOp_vit.png", "base2new_SemPT_cfg.png", "few_shot_eurosat.png"]
    from PIL import Image
    for name in pngs:
        with Image.open(tmp_path / "fig" / name) as im:
            assert im.format == "PNG" and im.size[0] > 300
    os.makedirs(tmp_path / "empty")
    empty = subprocess.run([sys.executable, "-m", "sempt.leaderboard", str(tmp_path / "empty")], cwd=REPO,
                           capture_output=True, text=True)
    assert empty.returncode == 1 and "No run folders" in empty.stderr


def test_cell_statistics():
    c = Cell([80.0, 84.0], [1, 2])
    assert (c.mean, c.std, c.n) == (82.0, 2.0, 2)


def test_protocol_per_dataset_is_one_row_and_named(tmp_path):
    """CoOp's base-to-novel protocol (vit_b16_ctxv1 on ten datasets, vit_b16_ep50_ctxv1 on ImageNet) is one
    row whose protocol line says which config ran where; configs that overlap stay apart."""
    b2n = tmp_path / "base2new"
    for d, cfg, epochs in (("imagenet", "vit_b16_ep50_ctxv1", 50), ("oxford_pets", "vit_b16_ctxv1", 200),
                           ("dtd", "vit_b16_ctxv1", 200)):
        for seed in (1, 2, 3):
            write_log(str(b2n / "train_base" / d / "shots_16" / "CoOp" / cfg / f"seed{seed}"), 70.0 + seed,
                      epochs=epochs)
            write_log(str(b2n / "test_new" / d / "shots_16" / "CoOp" / cfg / f"seed{seed}"), 60.0, train=False,
                      epochs=epochs)
    tables = {t["title"]: t for t in build_tables(discover(str(tmp_path)))}
    assert sorted(tables) == ["Base-to-novel: CoOp/vit_b16_ctxv1 + vit_b16_ep50_ctxv1"]
    merged = tables["Base-to-novel: CoOp/vit_b16_ctxv1 + vit_b16_ep50_ctxv1"]
    assert [r[0] for r in merged["rows"]] == ["imagenet", "oxford_pets", "dtd", "Average (3 of 11 datasets)"]
    assert merged["protocol"] == ("config vit_b16_ctxv1 (200 epochs, dtd, oxford_pets); vit_b16_ep50_ctxv1 "
                                  "(50 epochs, imagenet); 16 shots; backbone ViT-B/16; seeds 1, 2, 3")
    for seed in (1, 2):  # an older 50-epoch run on a dataset the protocol also covers: now the configs overlap
        write_log(str(b2n / "train_base" / "dtd" / "shots_16" / "CoOp" / "vit_b16_ep50_ctxv1" / f"seed{seed}"),
                  50.0, epochs=50, backbone="/weights/ViT-B-16.pt")
    tables = {t["title"]: t for t in build_tables(discover(str(tmp_path)))}
    assert sorted(tables) == ["Base-to-novel: CoOp/vit_b16_ctxv1", "Base-to-novel: CoOp/vit_b16_ep50_ctxv1"]
    assert tables["Base-to-novel: CoOp/vit_b16_ep50_ctxv1"]["protocol"] == (
        "config vit_b16_ep50_ctxv1 (50 epochs); 16 shots; backbone ViT-B-16.pt, ViT-B/16; seeds 1, 2, 3")


def _tables_with_published(tree):
    """The fixture tree plus measured CoOp on ImageNet (as CoCoOp's protocol runs it), compared with the
    published numbers."""
    from sempt.leaderboard import compare_with_published, load_published
    published = load_published()
    for seed, (base, new) in zip((1, 2, 3), ((77.0, 68.0), (77.5, 68.5), (78.0, 69.0))):
        for kind, acc in (("train_base", base), ("test_new", new)):
            write_log(osp.join(tree, "base2new", kind, "imagenet", "shots_16", "CoOp", "vit_b16_ep50_ctxv1",
                               f"seed{seed}"), acc, train=kind == "train_base", epochs=50)
    return published, {t["title"]: compare_with_published(t, published) for t in build_tables(discover(tree))}


def test_published_cells_and_differences(tree):
    _, tables = _tables_with_published(tree)
    coop = tables["Base-to-novel: CoOp/vit_b16_ep50_ctxv1"]
    assert coop["columns"] == ["Dataset", "Base", "Base pub.", "Base Δ", "Novel", "Novel pub.", "Novel Δ", "HM",
                               "HM pub.", "HM Δ"]
    row = coop["rows"][0]
    assert row[0] == "imagenet" and row[2] == 76.47 and row[3] == pytest.approx(77.5 - 76.47)
    assert row[5] == 67.88 and row[6] == pytest.approx(68.5 - 67.88) and row[9] == pytest.approx(hm(77.5, 68.5) - 71.92)
    assert "MaPLe (Khattak et al., CVPR 2023" in coop["source"]
    # a partial average is compared with the published mean over the same datasets
    assert coop["rows"][-1][0] == "Average (1 of 11 datasets)" and coop["rows"][-1][2] == 76.47


def test_published_averages(tree):
    # a full average is compared with the paper's own average, a partial one with the mean over its datasets
    from sempt.leaderboard import ELEVEN, _published_average
    published, _ = _tables_with_published(tree)
    (coop_pub,) = [r for r in published["base2new"] if r["method"] == "CoOp"]
    assert _published_average({"setting": "base2new", "averaged": ELEVEN}, coop_pub["datasets"])["base"] == 82.69
    two = _published_average({"setting": "base2new", "averaged": ["imagenet", "eurosat"]}, coop_pub["datasets"])
    assert two["base"] == pytest.approx((76.47 + 92.19) / 2) and two["hm"] == pytest.approx(hm(two["base"], two["novel"]))


def test_published_other_settings(tree):
    published, tables = _tables_with_published(tree)
    kg = tables["Base-to-novel: KgCoOp/vit"]
    (kg_pub,) = [r for r in published["base2new"] if r["method"] == "KgCoOp"]
    assert kg["rows"][0][2] == kg_pub["datasets"]["oxford_pets"]["base"] and "KgCoOp (Yao" in kg["source"]
    assert tables["Base-to-novel: SemPT/cfg"]["columns"] == ["Dataset", "Base", "Novel", "HM"]  # nothing published
    dom = tables["Cross-domain: MaPLe/xd"]
    assert [r[0] for r in dom["rows"]] == ["measured", "published", "Δ"]
    v2 = dom["columns"].index("imagenetv2")
    assert dom["rows"][1][v2] == 64.07 and dom["rows"][2][v2] == pytest.approx(dom["rows"][0][v2].mean - 64.07)
    few = tables["Few-shot: CoOp/fs"]
    assert [r[0] for r in few["rows"]] == ["eurosat", "  published", "  Δ"]
    assert few["rows"][1][1:] == [54.93, 65.17] and few["rows"][2][1] == pytest.approx(32.0 - 54.93)
    text = render(discover(tree), "github", published=True)
    assert "Protocol: config vit_b16_ep50_ctxv1 (50 epochs); 16 shots; backbone ViT-B/16; seeds 1, 2, 3" in text
    assert "Published (CoOp): MaPLe (Khattak et al., CVPR 2023" in text
