"""``python -m sempt.predict`` and ``sempt.Predictor`` end to end on the tiny CLIP and drawn images: the trained
class wins on held-out drawn images, logits equal an independent rebuild of the model, SemPT says which path
scored each class and its attribute weights equal a hand computation, zero-shot CLIP equals CLIP's own
features, and user errors are one line."""
import csv
import io
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import CLASSNAMES, REPO, TINY_OPTS, run_train
from sempt.testing import make_attribute_file, make_coop_dataset

PETS = "configs/datasets/oxford_pets.yaml"
NAMES = CLASSNAMES["oxford_pets"][:6]
# The smallest setting found in which the random tiny CLIP learns the six colours (held-out test accuracy 100%):
# class-specific contexts, Adam at a constant 0.05 on the full batch of 48 images, 40 steps (about a second
# of training). One epoch of small batches ends with one or two neighbouring hues never predicted. Every run
# here is on the CPU (fp32), so the numbers compared below are the same on a machine with a GPU.
LEARN = ["USE_CUDA", "False", "DATASET.NUM_SHOTS", "8", "OPTIM.NAME", "adam", "OPTIM.LR", "0.05",
         "OPTIM.WARMUP_EPOCH", "0", "OPTIM.WEIGHT_DECAY", "0.0", "OPTIM.LR_SCHEDULER", "single_step",
         "OPTIM.STEPSIZE", "[1000]", "INPUT.TRANSFORMS", '["normalize"]', "DATALOADER.TRAIN_X.BATCH_SIZE", "48",
         "OPTIM.MAX_EPOCH", "40"]


def predict_main(capsys, *args):
    """``python -m sempt.predict ARGS`` in this process (a subprocess costs seconds of start-up): (status, out, err)."""
    from sempt.predict import main
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def predict_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "sempt.predict", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"sempt.predict failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("predict_data"))
    make_coop_dataset(root, "oxford_pets", "images", "split_zhou_OxfordPets.json", NAMES, n_train=8, n_val=1,
                      n_test=3)
    return root


@pytest.fixture(scope="module")
def coop_run(data_root, tiny_clip, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("coop_run"))
    run_train("--root", data_root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file", PETS, "--config-file",
              "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml", "--output-dir", out, "MODEL.BACKBONE.NAME",
              tiny_clip["state_dict"], *TINY_OPTS, *LEARN, "TRAINER.COOP.CSC", "True")
    return out


def _reference_images(images):
    """The test transform at the tiny CLIP's 32x32, written out by hand (CLIP's mean and std)."""
    import torchvision.transforms as T
    from PIL import Image
    tf = T.Compose([T.Resize(32, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(32), T.ToTensor(),
                    T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
    return torch.stack([tf(Image.open(p).convert("RGB")) for p in images])


def _reference_image_feature(clip_model, image):
    """CLIP's own normalised feature of one image."""
    with torch.no_grad():
        f = clip_model.encode_image(_reference_images([image]))
    return f / f.norm(dim=-1, keepdim=True)


def _reference_logits(run, clip_path, images, csc):
    """The CoOp model rebuilt by hand: CLIP, a PromptLearner with the checkpoint's context, the test transform."""
    from sempt.clip_loader import load_clip
    from sempt.prompt_learner import PromptLearner
    from sempt.prompted_clip import CoOpCLIP
    clip_model = load_clip(clip_path, device="cpu")
    model = CoOpCLIP(PromptLearner(NAMES, clip_model, ctx_init="a photo of a", csc=csc), clip_model).eval()
    ckpt = torch.load(osp.join(run, "prompt_learner", "model.pth.tar-40"), weights_only=True)
    with torch.no_grad():
        model.prompt_learner.ctx.copy_(ckpt["state_dict"]["ctx"])
    with torch.no_grad():
        return model(_reference_images(images))


def test_trained_class_wins_on_held_out_drawn_images(coop_run, data_root, tiny_clip, tmp_path, capsys):
    assert json.load(open(osp.join(coop_run, "config.json")))["config"]["TRAINER.COOP.CSC"] is True  # train.py wrote it
    # images drawn afresh (another seed: none of them was trained or tested on), in a folder per class
    drawn = str(tmp_path / "drawn")
    make_coop_dataset(drawn, "pets", "images", "none.json", NAMES, n_train=0, n_val=0, n_test=2, seed=7,
                      write_split=False)
    proc = predict_cli("--model-dir", coop_run, osp.join(drawn, "pets", "images"), "--format", "json", "--topk", "3")
    out = json.loads(proc.stdout)
    assert out["run"]["epoch"] == 40 and out["run"]["trainer"] == "CoOp" and out["classes"] == NAMES
    assert "CoOp on" in proc.stderr and "(epoch 40); 6 classes" in proc.stderr
    preds = out["predictions"]
    assert len(preds) == 12
    for p in preds:
        label = int(osp.basename(osp.dirname(p["image"]))[len("class_"):])
        assert p["top"][0]["class"] == NAMES[label], p
        probs = [t["probability"] for t in p["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6 and len(probs) == 3
    # the probabilities are the softmax of the model's logits, rebuilt here without sempt.predict
    files = [p["image"] for p in preds]
    ref = _reference_logits(coop_run, tiny_clip["state_dict"], files, csc=True)
    for p, row in zip(preds, ref.softmax(-1)):
        for t in p["top"]:
            assert t["probability"] == pytest.approx(row[NAMES.index(t["class"])].item(), abs=1e-5)
    # CSV: one row per image and rank
    code, out, _ = predict_main(capsys, "--model-dir", coop_run, files[0], files[5], "--format", "csv", "--topk", "2")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [(r["image"], r["rank"]) for r in rows] == [(files[0], "1"), (files[0], "2"), (files[5], "1"),
                                                       (files[5], "2")]
    assert rows[0]["class"] == preds[0]["top"][0]["class"] and float(rows[0]["probability"]) == pytest.approx(
        preds[0]["top"][0]["probability"], abs=1e-6)


def test_predictor_api_agrees_with_the_runs_own_evaluation(coop_run, data_root, tmp_path):
    from sempt import Predictor
    predictor = Predictor.from_run(coop_run)
    test_dir = osp.join(data_root, "oxford_pets", "images")
    split = json.load(open(osp.join(data_root, "oxford_pets", "split_zhou_OxfordPets.json")))["test"]
    names, logits = predictor.scores([osp.join(test_dir, rel) for rel, _, _ in split], batch_size=5)
    assert logits.shape == (18, 6) and len(names) == 18
    hits = {}
    for (rel, label, _), row in zip(split, logits):
        hits[label] = hits.get(label, 0) + int(row.argmax().item() == label)
    # the engine's test after training (results.json) counted the same correct images per class
    results = json.load(open(osp.join(coop_run, "results.json")))
    assert [c["correct"] for c in results["per_class"]] == [hits[k] for k in range(6)]
    assert results["accuracy"] == 100.0
    # top-k is clipped to the label space; a PIL image works too
    from PIL import Image
    top = predictor.predict([Image.open(osp.join(test_dir, split[0][0]))], topk=50)[0]
    assert top["image"] == "<image 0>" and len(top["top"]) == 6 and top["top"][0]["class"] == NAMES[0]
    assert predictor.predict(osp.join(test_dir, split[0][0]), topk=1)[0]["top"][0]["class"] == NAMES[0]  # one path
    # a run trained before train.py wrote config.json: the config recorded in results.json serves; keys this
    # version does not know are listed and ignored
    import shutil
    old = str(tmp_path / "old_run")
    shutil.copytree(coop_run, old)
    os.remove(osp.join(old, "config.json"))
    results["config"]["OLD.REMOVED_KEY"] = 3
    with open(osp.join(old, "results.json"), "w") as f:
        json.dump(results, f)
    again = Predictor.from_run(old)
    assert again.info["config_file"] == osp.join(old, "results.json")
    assert again.info["ignored_config_keys"] == ["OLD.REMOVED_KEY"]
    assert torch.allclose(again.scores([osp.join(test_dir, split[4][0])])[1], logits[4:5], atol=1e-5)


def test_zero_shot_clip_without_a_run_equals_clips_own_features(tiny_clip, data_root):
    from sempt import Predictor
    from sempt.clip_loader import load_clip
    from sempt.text_encoder import encode_texts
    predictor = Predictor.from_run(trainer="ZeroshotCLIP", backbone=tiny_clip["state_dict"], dataset="oxford_pets",
                                   opts=["INPUT.SIZE", "(32, 32)"], device="cpu")
    assert len(predictor.classnames) == 37 and predictor.info["checkpoint"] is None
    image = osp.join(data_root, "oxford_pets", "images", "class_0002", "test_000.jpg")
    _, logits = predictor.scores([image])
    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    f = _reference_image_feature(clip_model, image)
    with torch.no_grad():
        t = encode_texts(clip_model, [f"a photo of a {c.replace('_', ' ')}, a type of pet."
                                      for c in predictor.classnames])
        ref = clip_model.logit_scale.exp() * f @ t.t()
    assert torch.allclose(logits, ref, atol=1e-4)


@pytest.fixture(scope="module")
def sempt_run(data_root, tiny_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sempt_run")
    attr = make_attribute_file(str(tmp / "pets_attr.json"), "OxfordPets", CLASSNAMES["oxford_pets"])
    out = str(tmp / "run")
    run_train("--root", data_root, "--seed", 1, "--trainer", "SemPT", "--dataset-config-file", PETS, "--config-file",
              "configs/trainers/SemPT/vit_b16_ep50_ctxv1.yaml", "--output-dir", out, "MODEL.BACKBONE.NAME",
              tiny_clip["state_dict"], *TINY_OPTS, "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2",
              "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SEMPT.ATTRIBUTES_FILE", attr,
              "TRAINER.SEMPT.NUM_ATTRIBUTES", "3", "TRAINER.SEMPT.EMBED_CACHE", str(tmp / "emb"), "USE_CUDA", "False")
    return out, attr


def test_sempt_paths_explain_and_new_classes(sempt_run, data_root, tiny_clip, tmp_path, capsys):
    run, attr = sempt_run
    image = osp.join(data_root, "oxford_pets", "images", "class_0004", "test_001.jpg")
    # the whole dataset: the 3 base classes seen in training take the label path, the other 34 the attributes
    code, text, err = predict_main(capsys, "--model-dir", run, image, "--dataset", "oxford_pets", "--topk", "37",
                                   "--format", "json", "--explain")
    out = json.loads(text)
    assert code == 0 and "37 classes (3 seen in training: label embeddings; 34 unseen: attribute-enhanced" in err
    top = out["predictions"][0]["top"]
    seen = set(CLASSNAMES["oxford_pets"][:3])
    assert len(top) == 37 and all(t["scored_by"] == ("label" if t["class"] in seen else "attribute") for t in top)
    # the attribute weights are softmax_m(<f(x), e_cm> / tau) of CLIP's own features of the description sentences
    from sempt.clip_loader import load_clip
    from sempt.text_encoder import encode_texts
    descriptions = json.load(open(attr))["classes"]
    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    f = _reference_image_feature(clip_model, image)
    for t in top[:5]:
        c = t["class"]
        attrs = ["colour", "pattern", "size"]
        sentences = [f"a photo of a {c.replace('_', ' ')}, {a}: {descriptions[c][a]}." for a in attrs]
        e = encode_texts(clip_model, sentences)
        ref = torch.softmax((f @ e.t())[0] / 0.01, dim=0)
        got = {a["attribute"]: a["weight"] for a in t["attributes"]}
        assert [got[a] for a in attrs] == pytest.approx(ref.tolist(), abs=1e-4)
        assert [a["weight"] for a in t["attributes"]] == sorted(got.values(), reverse=True)
        assert {a["attribute"]: a["description"] for a in t["attributes"]} == descriptions[c]
    code, text, _ = predict_main(capsys, "--model-dir", run, image, "--topk", "2", "--explain")  # the table too
    assert code == 0 and "scored by" in text and "attribute weights w_{c,m}(x)" in text and "label" in text

    # --explain encodes each image once (the logits and the weights take the same features); its logits are
    # those of the plain forward pass
    from sempt import Predictor
    predictor = Predictor.from_run(run, dataset="oxford_pets")
    other = osp.join(data_root, "oxford_pets", "images", "class_0001", "test_000.jpg")
    encode, calls = predictor.model.encode_image, []
    predictor.model.encode_image = lambda x: calls.append(len(x)) or encode(x)
    explained = predictor.predict([image, other], topk=37, explain=True)
    assert calls == [2]
    assert [t["logit"] for t in explained[0]["top"]] == pytest.approx([t["logit"] for t in top], abs=1e-5)
    _, logits = predictor.scores([image, other])
    for r, row in zip(explained, logits):
        assert [t["logit"] for t in r["top"]] == pytest.approx(
            [row[predictor.classnames.index(t["class"])].item() for t in r["top"]], abs=1e-5)

    # a class the attribute file does not describe: one line naming it and the command that describes it
    classes = tmp_path / "my_pets.txt"
    classes.write_text("abyssinian\nglass cat\nbeagle\nmoon rabbit\n")
    code, _, err = predict_main(capsys, "--model-dir", run, image, "--classes", classes)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "has none for 2 of the 4 classes: 'glass cat', 'moon rabbit'" in err
    assert (f"python -m trainers.attributes generate --dataset my_pets --classnames-file {classes} --domain"
            in err and "--attributes attributes_cache/my_pets.json" in err)
    # ... with descriptions for them, the new classes are predicted through their attributes
    new_attr = make_attribute_file(str(tmp_path / "my_pets.json"), "my_pets", classes.read_text().split("\n")[:4])
    code, text, _ = predict_main(capsys, "--model-dir", run, image, "--classes", classes, "--attributes", new_attr,
                                 "--topk", "4", "--format", "json")
    out = json.loads(text)
    paths = {t["class"]: t["scored_by"] for t in out["predictions"][0]["top"]}
    assert paths == {"abyssinian": "label", "glass cat": "attribute", "beagle": "attribute", "moon rabbit": "attribute"}


def test_user_errors_are_one_line(coop_run, tmp_path, capsys):
    image = str(tmp_path / "none.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    cases = [
        (["--model-dir", coop_run, broken], f"Cannot decode the image {broken}"),
        (["--model-dir", str(tmp_path), image], "records no configuration"),
        (["--model-dir", coop_run, image], "No image or folder at"),
        (["--model-dir", coop_run, "--load-epoch", "7", osp.join(coop_run, "results.json")], "model.pth.tar-40"),
        ([image], "pass --model-dir"),
        (["--model-dir", coop_run, "--explain", image], "--explain shows SemPT's attribute weights"),
    ]
    for args, expected in cases:
        code, _, err = predict_main(capsys, *args)
        assert code == 2 and expected in err, (args, err)
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: ")


def test_a_closed_pipe_ends_quietly(coop_run, data_root):
    """``python -m sempt.predict ... --format json | head``: the reader is gone before the result is written;
    the command ends with the status of a Unix tool cut off by a closed pipe (141), without a traceback."""
    image = osp.join(data_root, "oxford_pets", "images", "class_0000", "test_000.jpg")
    proc = subprocess.Popen([sys.executable, "-m", "sempt.predict", "--model-dir", coop_run, image, "--format", "json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # like `head` that has read what it wanted (here: nothing) and exited
    try:
        err = proc.stderr.read()
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
    assert "CoOp on" in err and "(epoch 40); 6 classes" in err  # it ran up to the output
    assert code == 141 and "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err
