"""A user's own dataset, ``DATASET.NAME ImageFolder``: the split built once and reused, messy folders, class-name
mapping, changes after the split, damaged files, few-shot and base/new, the facts hook the shared lookups
use, the checker, and the README walk-through end to end (prepare the folder, attributes, train, test)."""
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys

import pytest
from PIL import Image

import datasets  # noqa: F401  (registers the readers)
from conftest import REPO, TINY_OPTS
from sempt.config import ConfigError, build_cfg
from sempt.data.coop import DatasetError
from sempt.testing import make_coop_dataset

EXAMPLE = osp.join(REPO, "configs", "datasets", "image_folder.yaml")
FLOWERS = ["daisy", "rose", "sunflower", "tulip"]


def make_folder(root, classes=FLOWERS, per_class=6, name="flowers"):
    """``root/name/<class>/train_00i.jpg``: ``per_class`` images per class folder; returns the folder."""
    make_coop_dataset(str(root), name, "", "", list(classes), n_train=per_class, n_val=0, n_test=0,
                      folder_of=lambda label, c: c, write_split=False, image_size=8)
    return osp.join(str(root), name)


def cfg_of(root, *opts, folder="flowers"):
    return build_cfg([datasets.extend_cfg], dataset_config_file=EXAMPLE,
                     opts=["DATASET.ROOT", str(root), "DATASET.IMAGE_FOLDER.DIR", folder, *map(str, opts)])


def build(root, *opts, **kw):
    from datasets.image_folder import ImageFolder
    return ImageFolder(cfg_of(root, *opts, **kw))


def rel(items, folder):
    return sorted((osp.relpath(i.impath, folder), i.label, i.classname) for i in items)


def test_split_is_built_once_from_a_messy_folder_and_reused(tmp_path, capsys):
    folder = make_folder(tmp_path)
    os.makedirs(osp.join(folder, "rose", "more", "deeper"))  # nested folders, upper-case extensions
    Image.new("RGB", (8, 8), (200, 10, 10)).save(osp.join(folder, "rose", "more", "deeper", "X1.JPG"))
    Image.new("RGB", (8, 8), (200, 10, 20)).save(osp.join(folder, "rose", "more", "X2.PNG"))
    os.makedirs(osp.join(folder, "empty_class"))  # no images: not a class
    os.makedirs(osp.join(folder, ".thumbnails"))  # hidden: skipped
    Image.new("RGB", (8, 8)).save(osp.join(folder, ".thumbnails", "t.jpg"))
    for junk in ("notes.txt", "rose/Thumbs.db", "daisy/labels.csv", "daisy/.DS_Store"):
        open(osp.join(folder, junk), "w").write("not an image")

    ds = build(tmp_path)
    out = capsys.readouterr().out
    assert "empty_class" in out and "hold no images" in out
    assert ds.classnames == FLOWERS
    # 6 images: val round(6 * 0.2) = 1, test round(6 * 0.3) = 2, train 3; rose has 8: val 2, test 2, train 4
    counts = {c: [sum(i.classname == c for i in part) for part in (ds.train_x, ds.val, ds.test)] for c in FLOWERS}
    assert counts == {"daisy": [3, 1, 2], "rose": [4, 2, 2], "sunflower": [3, 1, 2], "tulip": [3, 1, 2]}
    every = rel(ds.train_x + ds.val + ds.test, folder)
    expected = sorted([(f"{c}/train_{i:03d}.jpg", label, c) for label, c in enumerate(FLOWERS) for i in range(6)]
                      + [("rose/more/deeper/X1.JPG", 1, "rose"), ("rose/more/X2.PNG", 1, "rose")])
    assert every == expected  # every image exactly once, nothing else

    split_path = osp.join(folder, "split_sempt_ImageFolder.json")
    saved = json.load(open(split_path))
    assert sorted(map(tuple, saved["train"] + saved["val"] + saved["test"])) == expected
    assert saved["image_folder"]["classes"] == [[c, c] for c in FLOWERS]
    stamp = os.stat(split_path).st_mtime_ns
    again = build(tmp_path, "SEED", 7)
    assert "Reading split from " + split_path in capsys.readouterr().out
    assert os.stat(split_path).st_mtime_ns == stamp
    assert [rel(p, folder) for p in (again.train_x, again.val, again.test)] == \
        [rel(p, folder) for p in (ds.train_x, ds.val, ds.test)]
    assert not [f for f in os.listdir(folder) if ".tmp" in f]  # written atomically, no temporary file left


def test_split_depends_on_split_seed_only(tmp_path):
    splits = []
    for k, (global_seed, split_seed) in enumerate([(0, 1), (99, 1), (0, 2)]):
        root = tmp_path / str(k)
        folder = make_folder(root, per_class=10)
        random.seed(global_seed)
        build(root, "DATASET.IMAGE_FOLDER.SPLIT_SEED", split_seed)
        splits.append({key: json.load(open(osp.join(folder, "split_sempt_ImageFolder.json")))[key]
                       for key in ("train", "val", "test")})
    assert splits[0] == splits[1] and splits[0] != splits[2]


def test_mapping_file_gives_readable_names(tmp_path):
    folder = make_folder(tmp_path, classes=["n01", "n02", "n03"])
    open(osp.join(folder, "names.txt"), "w").write("# folder name\nn01 common daisy\nn02\tgarden rose\n")
    ds = build(tmp_path, "DATASET.IMAGE_FOLDER.CLASSNAMES", "names.txt")
    assert ds.classnames == ["common daisy", "garden rose", "n03"]  # unmapped folders keep their name
    folder2 = make_folder(tmp_path / "b", classes=["n01", "n02"])
    json.dump({"n01": "daisy", "n02": "daisy"}, open(osp.join(folder2, "names.json"), "w"))
    with pytest.raises(DatasetError, match=r"folders 'n01' and 'n02' are both called 'daisy' \(in names.json\)"):
        build(tmp_path / "b", "DATASET.IMAGE_FOLDER.CLASSNAMES", "names.json")
    with pytest.raises(DatasetError, match=r"missing.txt \(DATASET.IMAGE_FOLDER.CLASSNAMES\) does not exist"):
        build(tmp_path / "b", "DATASET.IMAGE_FOLDER.CLASSNAMES", "missing.txt")


def test_changes_after_the_split_are_reported_with_the_fix(tmp_path):
    folder = make_folder(tmp_path)
    build(tmp_path)
    split_path = osp.join(folder, "split_sempt_ImageFolder.json")
    make_coop_dataset(str(tmp_path), "flowers", "", "", ["lily"], n_train=3, n_val=0, n_test=0,
                      folder_of=lambda label, c: c, write_split=False, image_size=8)
    with pytest.raises(DatasetError) as e:
        build(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "(added: lily)" in msg and f"delete {split_path} to build a new split" in msg
    shutil.rmtree(osp.join(folder, "lily"))
    shutil.rmtree(osp.join(folder, "tulip"))
    with pytest.raises(DatasetError, match=r"\(removed: tulip\)"):
        build(tmp_path)
    os.remove(split_path)
    assert build(tmp_path).classnames == ["daisy", "rose", "sunflower"]  # rebuilt for the current classes
    with pytest.raises(DatasetError, match=r"other DATASET.IMAGE_FOLDER settings \(TRAIN_RATIO 0.5 -> 0.6\)"):
        build(tmp_path, "DATASET.IMAGE_FOLDER.TRAIN_RATIO", 0.6)
    open(osp.join(folder, "names.txt"), "w").write("rose garden rose\n")
    with pytest.raises(DatasetError, match=r"Class names changed .*'rose': 'rose' -> 'garden rose'"):
        build(tmp_path, "DATASET.IMAGE_FOLDER.CLASSNAMES", "names.txt")


def test_damaged_images_are_named_or_left_out(tmp_path, capsys):
    folder = make_folder(tmp_path)
    bad = osp.join(folder, "tulip", "broken.JPEG")
    open(bad, "wb").write(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(DatasetError) as e:
        build(tmp_path)
    assert "\n" not in str(e.value) and bad in str(e.value) and "DATASET.BAD_IMAGES skip" in str(e.value)
    assert not osp.exists(osp.join(folder, "split_sempt_ImageFolder.json"))  # nothing half-written
    ds = build(tmp_path, "DATASET.BAD_IMAGES", "skip")
    assert "leaving 1 file(s) that cannot be decoded out of the split" in capsys.readouterr().out
    assert bad not in {i.impath for i in ds.train_x + ds.val + ds.test}


def test_few_shot_cache_and_base_new_halves(tmp_path):
    folder = make_folder(tmp_path, classes=FLOWERS + ["violet"], per_class=10)
    base = build(tmp_path, "DATASET.NUM_SHOTS", 2, "SEED", 1, "DATASET.SUBSAMPLE_CLASSES", "base")
    new = build(tmp_path, "DATASET.NUM_SHOTS", 2, "SEED", 1, "DATASET.SUBSAMPLE_CLASSES", "new")
    assert base.classnames == FLOWERS[:3] and new.classnames == ["tulip", "violet"]  # ceil(5 / 2) base classes
    assert len(base.train_x) == 3 * 2 and sorted({i.label for i in new.test}) == [0, 1]
    cache = json.load(open(osp.join(folder, "split_fewshot", "shot_2-seed_1.json")))
    assert len(cache["train"]) == 5 * 2  # drawn over all classes, then halved
    assert {osp.relpath(i.impath, folder) for i in base.train_x} <= {e[0] for e in cache["train"]}
    assert build(tmp_path).classnames == FLOWERS + ["violet"]  # split_fewshot/ is not a class


def test_config_errors_name_the_key(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(ConfigError, match="DATASET.IMAGE_FOLDER.DIR is empty"):
        build(tmp_path, folder="")
    with pytest.raises(ConfigError, match=r"TEMPLATE must contain '\{\}'"):
        build(tmp_path, "DATASET.IMAGE_FOLDER.TEMPLATE", "a photo of a {class}.")
    with pytest.raises(ConfigError, match="TRAIN_RATIO .* and VAL_RATIO"):
        build(tmp_path, "DATASET.IMAGE_FOLDER.VAL_RATIO", 0.5)
    with pytest.raises(DatasetError, match=r"ImageFolder: folder .*/nowhere not found: DATASET.IMAGE_FOLDER.DIR"):
        build(tmp_path, folder="nowhere")
    make_folder(tmp_path, classes=["tiny"], per_class=2, name="small")
    with pytest.raises(DatasetError, match=r"small/tiny has 2 usable image\(s\): a class needs at least 3"):
        build(tmp_path, folder="small")


def test_facts_hook_drives_templates_and_attribute_lookup(tmp_path):
    from sempt.attributes import attribute_file_for, load_attributes
    from sempt.data.readers import facts
    from sempt.templates import get_template, hand_prompts
    from sempt.testing import make_attribute_file
    make_folder(tmp_path)
    cfg = cfg_of(tmp_path, "DATASET.IMAGE_FOLDER.NAME", "MyFlowers", "DATASET.IMAGE_FOLDER.TEMPLATE",
                 "a photo of a {}, a type of flower.")
    f = facts("ImageFolder", cfg)
    assert (f.name, f.attribute_stem, f.template, f.folder, f.per_config) == \
        ("MyFlowers", "MyFlowers", "a photo of a {}, a type of flower.", str(tmp_path / "flowers"), True)
    from datasets.image_folder import ImageFolder
    ds = ImageFolder(cfg)  # building the reader makes its config the current one for lookups by name
    assert get_template("ImageFolder") == get_template("ImageFolder", "kgcoop") == "a photo of a {}, a type of flower."
    assert hand_prompts("ImageFolder", ["sun_flower"]) == ["a photo of a sun flower, a type of flower."]
    path = attribute_file_for("ImageFolder", str(tmp_path / "attrs"))
    assert path == str(tmp_path / "attrs" / "MyFlowers.json")
    make_attribute_file(path, "MyFlowers", ds.classnames)
    assert load_attributes(path, dataset="ImageFolder").descriptions_for(ds.classnames)[1][0][0] == \
        "red colour number 0"
    make_attribute_file(path, "OtherSet", ds.classnames)
    with pytest.raises(ValueError, match="the file is for dataset 'OtherSet', not 'MyFlowers'"):
        load_attributes(path, dataset="ImageFolder")
    assert facts("ImageFolder", cfg_of(tmp_path)).name == "flowers"  # default: the folder's name
    assert get_template("OxfordPets") == "a photo of a {}, a type of pet."  # class facts unchanged


def test_checker_reads_a_user_dataset_without_writing(tmp_path):
    from sempt.data.check import check_all
    folder = make_folder(tmp_path)
    config = tmp_path / "my_flowers.yaml"
    config.write_text(open(EXAMPLE).read().replace('DIR: "my_dataset"', 'DIR: "flowers"'))
    import io
    out = io.StringIO()
    rows = check_all(str(tmp_path), [str(config)], out=out)
    assert [(r["dataset"], r["status"], r["classes"], r["train"], r["val"], r["test"]) for r in rows] == \
        [("flowers (ImageFolder)", "ok", 4, 12, 4, 8)]
    assert sorted(os.listdir(folder)) == FLOWERS  # read-only: no split file, no few-shot folder
    open(osp.join(folder, "rose", "bad.png"), "wb").write(b"\x89PNG broken")
    rows = check_all(str(tmp_path), [str(config)], out=io.StringIO())
    assert rows[0]["status"] == "broken" and rows[0]["bad_images"][0][0] == osp.join(folder, "rose", "bad.png")


# ---------------------------------------------------------------------------------------------------
# The README walk-through ("Your own dataset"), run as written in a copy of the repository
# ---------------------------------------------------------------------------------------------------

COPIED = ("train.py", "parse_test_res.py", "sempt", "trainers", "datasets", "configs", "scripts")


class _Walkthrough:
    """The copy of the repository the walkthrough runs in, and its two ways of running a command."""

    def __init__(self, repo, env, capsys):
        self.repo, self.env, self.capsys = repo, env, capsys

    def python_m(self, cli, *argv):  # `python -m <module> ARGV` in the copy
        self.capsys.readouterr()
        assert cli(list(argv)) == 0, self.capsys.readouterr()
        return self.capsys.readouterr().out

    def bash(self, *cmd):
        proc = subprocess.run(["bash", *cmd], cwd=str(self.repo), env=self.env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout


def _copy_repo(repo):
    repo.mkdir()
    for name in COPIED:
        src = osp.join(REPO, name)
        if osp.isdir(src):
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / name)


def _step1_config_and_check(w):
    """The dataset config: a copy of the example with the folder, template and domain; the checker's row."""
    from sempt.data.__main__ import main as data_cli
    example = open(w.repo / "configs" / "datasets" / "image_folder.yaml").read()
    mine = (example.replace('DIR: "my_dataset"', 'DIR: "my_flowers"')
            .replace('TEMPLATE: "a photo of a {}."', 'TEMPLATE: "a photo of a {}, a type of flower."')
            .replace('DOMAIN: ""', 'DOMAIN: "garden flowers"'))
    assert mine.count("my_flowers") == 1 and "type of flower" in mine and "garden flowers" in mine
    (w.repo / "configs" / "datasets" / "my_flowers.yaml").write_text(mine)
    out = w.python_m(data_cli, "check", "--dataset", "my_flowers")
    row = next(line.split() for line in out.splitlines() if line.startswith("my_flowers"))
    assert row == ["my_flowers", "(ImageFolder)", "ok", "4", "16", "8", "8"]  # classes, train, val, test


def _step2_attributes(w, folder):
    """Attributes without an API: export the prompts, answer them ("a chat assistant"), import."""
    from fake_openai import correct_answer
    import trainers.attributes.__main__ as attributes_cli
    answers = w.repo / "answers"
    w.python_m(attributes_cli.main, "export", "--dataset", "my_flowers", "--out", "answers/")

    def answer(prompt, reply):
        user = (answers / "my_flowers" / prompt).read_text().split("### user\n", 1)[1]
        assert "Dataset: my_flowers. Domain: garden flowers." in user
        (answers / "my_flowers" / reply).write_text(correct_answer([{"role": "user", "content": user}]))

    answer("step1_prompt.txt", "step1_answer.json")
    w.python_m(attributes_cli.main, "export", "--dataset", "my_flowers", "--out", "answers/")
    answer("step2_prompt_000.txt", "step2_answer_000.json")
    out = w.python_m(attributes_cli.main, "import", "--dataset", "my_flowers", "--from", "answers/",
                     "--answered-by", "a chat assistant")
    attr_file = w.repo / "attributes_cache" / "my_flowers.json"
    assert f"Wrote {attr_file}" in out and " ok " in out
    written = json.load(open(attr_file))
    assert written["dataset"] == "my_flowers" and sorted(written["classes"]) == FLOWERS
    assert not osp.exists(osp.join(folder, "split_sempt_ImageFolder.json"))  # nothing written into $DATA yet
    return attr_file


def _step3_train_and_test(w, folder, attr_file):
    """SemPT base-to-new through the scripts (the test adds the tiny CLIP's options); returns the run folder
    pattern, the split and the evaluation's results."""
    w.bash("scripts/sempt/base2new_train.sh", "my_flowers", "1", *TINY_OPTS)
    split_path = osp.join(folder, "split_sempt_ImageFolder.json")
    stamp = os.stat(split_path).st_mtime_ns
    run = w.repo / "output" / "base2new" / "{}" / "my_flowers" / "shots_2" / "SemPT" / "vit_b16_ep50_ctxv1" / "seed1"
    train_log = open(str(run).format("train_base") + "/log.txt").read()
    assert f"Attributes (6) from {attr_file}" in train_log
    assert "Hand-crafted template (coop table): 'a photo of a {}, a type of flower.'" in train_log
    assert "Finish training" in train_log
    w.bash("scripts/sempt/base2new_test.sh", "my_flowers", "1", *TINY_OPTS)
    assert os.stat(split_path).st_mtime_ns == stamp  # the split was built once and reused
    test_dir = str(run).format("test_new")
    res = json.load(open(osp.join(test_dir, "results.json")))
    split = json.load(open(split_path))
    assert res["classnames"] == ["sunflower", "tulip"]
    n_test = {c: sum(e[2] == c for e in split["test"]) for c in ("sunflower", "tulip")}
    assert n_test == {"sunflower": 2, "tulip": 2}  # 8 images: 4 train, 2 val, 2 test
    assert {p["name"]: p["total"] for p in res["per_class"]} == n_test and res["total"] == 4
    assert res["accuracy"] == pytest.approx(100.0 * res["correct"] / 4)
    test_log = open(osp.join(test_dir, "log.txt")).read()
    assert "0 of 2 evaluated classes via label embeddings (seen in training), 2 via attribute-enhanced" in test_log
    return run, split, res


def _check_predictions(pred, images, attr_file, err):
    # the dataset's class names as its reader gives them; the run's attribute file; the configured template
    assert pred["classes"] == FLOWERS and pred["run"]["attribute_file"] == str(attr_file)
    assert "Hand-crafted template (coop table): 'a photo of a {}, a type of flower.'" in err
    assert f"Attributes (6) from {attr_file}" in err
    assert "4 classes (2 seen in training: label embeddings; 2 unseen: attribute-enhanced embeddings)" in err
    assert [p["image"] for p in pred["predictions"]] == images
    for p in pred["predictions"]:  # which class wins is not asserted: the tiny CLIP is random
        assert sorted(t["class"] for t in p["top"]) == FLOWERS
        assert {t["class"]: t["scored_by"] for t in p["top"]} == {"daisy": "label", "rose": "label",
                                                                "sunflower": "attribute", "tulip": "attribute"}
        assert sum(t["probability"] for t in p["top"]) == pytest.approx(1.0, abs=1e-5)


def _step_predict(w, monkeypatch, tmp_path, folder, attr_file, run, split, res):
    """`python -m sempt.predict` (and `python -m sempt.prompts`) on the trained SemPT run."""
    import sempt.attributes
    import sempt.data.readers
    from sempt.predict import main as predict_cli
    from sempt.prompts import main as prompts_cli
    monkeypatch.setattr(sempt.attributes, "DEFAULT_DIR", str(w.repo / "attributes_cache"))  # the copy's, as in training
    # each command as in a fresh process: no dataset config made current by a reader built earlier in this one
    current = {}
    monkeypatch.setattr(sempt.data.readers, "_current", current)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the scripts' attribute-embedding cache
    rel_run = osp.relpath(str(run).format("train_base"), w.repo)
    first = {}
    for image, _, name in split["test"]:
        first.setdefault(name, osp.join(folder, image))
    images = [first[c] for c in FLOWERS]  # one test image per class
    w.capsys.readouterr()
    current.clear()
    assert predict_cli(["--model-dir", rel_run, "--dataset", "my_flowers", "--topk", "4", "--format", "json",
                        "--verbose", *images]) == 0
    out, err = w.capsys.readouterr()
    _check_predictions(json.loads(out), images, attr_file, err)
    # over the new classes alone, prediction counts the same correct test images per class as the evaluation did
    new = tmp_path / "new_classes.txt"
    new.write_text("sunflower\ntulip\n")
    new_test = [(osp.join(folder, image), name) for image, _, name in split["test"] if name in ("sunflower", "tulip")]
    current.clear()  # (without --dataset no reader is built: only the run's config gives the attribute file)
    out = w.python_m(predict_cli, "--model-dir", rel_run, "--classes", str(new), "--topk", "1", "--format", "json",
                     *[path for path, _ in new_test])
    correct = {"sunflower": 0, "tulip": 0}
    for (_, truth), p in zip(new_test, json.loads(out)["predictions"]):
        correct[truth] += p["top"][0]["class"] == truth
    assert correct == {c["name"]: c["correct"] for c in res["per_class"]}
    # the learned prompt's drift is measured against the configured template too
    current.clear()
    drift = json.loads(w.python_m(prompts_cli, rel_run, "--format", "json"))["drift"]
    assert drift["template"] == "a photo of a {}, a type of flower." and drift["classes"] == ["daisy", "rose"]


def test_readme_walkthrough_end_to_end(tiny_clip, tmp_path, monkeypatch, capsys):
    """prepare the folder -> check -> attributes (export, answer, import) -> base2new train and test ->
    prediction and prompt inspection -> results.

    In a copy of the repository, so its configs/datasets/ and attributes_cache/ stay untouched. The
    ``python -m`` commands run in this process with the same arguments (their code reads the copy's
    configs/datasets/ and attributes_cache/); the scripts run as subprocesses (three Python processes, two of
    them training and evaluating SemPT on the tiny CLIP): 34-56 s measured on two cores at load average 5-6."""
    import parse_test_res
    import sempt.data.catalog as catalog
    import trainers.attributes.__main__ as attributes_cli
    repo = tmp_path / "repo"
    _copy_repo(repo)
    data = tmp_path / "data"
    folder = make_folder(data, per_class=8, name="my_flowers")  # $DATA/my_flowers/<class>/<images>
    env = dict(os.environ, DATA=str(data), BACKBONE=tiny_clip["state_dict"], SHOTS="2", PYTHON=sys.executable,
               XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DATA", str(data))
    monkeypatch.setattr(catalog, "CONFIGS_DIR", str(repo / "configs" / "datasets"))
    monkeypatch.setattr(attributes_cli, "DEFAULT_DIR", str(repo / "attributes_cache"))
    w = _Walkthrough(repo, env, capsys)
    _step1_config_and_check(w)
    attr_file = _step2_attributes(w, folder)
    run, split, res = _step3_train_and_test(w, folder, attr_file)
    _step_predict(w, monkeypatch, tmp_path, folder, attr_file, run, split, res)
    # 4. results over seeds
    out = w.python_m(parse_test_res.main, osp.relpath(osp.dirname(str(run).format("test_new")), repo), "--test-log")
    assert f"accuracy: {res['accuracy']:.2f}%" in out
