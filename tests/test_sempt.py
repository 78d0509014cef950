"""SemPT: weighting and fusion against hand computation, dynamic selection, attribute-file validation,
embedding-cache invalidation, and base-to-new through the user scripts."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import REPO, TINY_OPTS, run_train
from sempt.attribute_embeddings import load_or_compute_embeddings
from sempt.attributes import AttributeFileError, load_attributes
from sempt.data import catalog
from sempt.testing import make_attribute_file
from trainers.sempt import attribute_logits


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_weighting_and_fusion_by_hand():
    # one image, one class, two attributes in 2-D: everything can be written out
    f = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 1.0]])
    E = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # e1 along f, e2 along t
    beta, tau = 0.5, 1.0
    cos, w = attribute_logits(f, t, E, beta, tau)
    w1 = math.exp(1) / (math.exp(1) + math.exp(0))  # softmax of <f,e> = (1, 0)
    assert w[0, 0].tolist() == pytest.approx([w1, 1 - w1])
    a = 0.5 * torch.tensor([0.0, 1.0]) + 0.5 * (w1 * torch.tensor([1.0, 0.0]) + (1 - w1) * torch.tensor([0.0, 1.0]))
    assert cos.item() == pytest.approx((a / a.norm())[0].item(), abs=1e-6)
    # beta = 0 is the label embedding alone, beta = 1 the weighted attributes alone
    assert attribute_logits(f, t, E, 0.0, tau)[0].item() == pytest.approx(0.0)
    agg = w1 * torch.tensor([1.0, 0.0]) + (1 - w1) * torch.tensor([0.0, 1.0])
    assert attribute_logits(f, t, E, 1.0, tau)[0].item() == pytest.approx((agg / agg.norm())[0].item(), abs=1e-6)


def test_closed_form_equals_explicit_fusion():
    g = torch.Generator().manual_seed(0)
    B, C, M, D = 5, 7, 4, 16
    f = _unit(torch.randn(B, D, generator=g))
    t = _unit(torch.randn(C, D, generator=g))
    E = _unit(torch.randn(C, M, D, generator=g))
    for beta, tau in ((0.5, 0.01), (0.3, 0.5), (0.9, 2.0)):
        cos, w = attribute_logits(f.double(), t.double(), E.double(), beta, tau)
        w_ref = torch.softmax(torch.einsum("bd,cmd->bcm", f, E).double() / tau, -1)
        a = (1 - beta) * t.double().unsqueeze(0) + beta * torch.einsum("bcm,cmd->bcd", w_ref, E.double())
        ref = torch.einsum("bd,bcd->bc", f.double(), _unit(a))
        assert torch.allclose(cos, ref, atol=1e-10) and torch.allclose(w, w_ref)


@pytest.fixture
def sempt_model(tiny_clip):
    from sempt.clip_loader import load_clip
    from sempt.prompt_learner import PromptLearner
    from trainers.sempt import SemPTCLIP
    torch.manual_seed(0)
    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    names = ["alpha", "beta", "gamma", "delta"]
    pl = PromptLearner(names, clip_model, ctx_init="a photo of a")
    hand = _unit(torch.randn(4, 64))
    E = _unit(torch.randn(4, 3, 64))
    return SemPTCLIP(pl, clip_model, hand, E, tau=0.05, beta=0.5, beta_test=0.5).eval()


def test_dynamic_selection_on_a_mixed_label_space(sempt_model):
    m = sempt_model
    image = torch.randn(6, 3, 32, 32)
    m.set_seen([True, False, True, False])
    m.mode = "label"
    label = m(image)
    m.mode = "attribute"
    attr = m(image)
    m.mode = "dynamic"
    dyn = m(image)
    assert torch.equal(dyn[:, [0, 2]], label[:, [0, 2]]) and torch.equal(dyn[:, [1, 3]], attr[:, [1, 3]])
    assert not torch.allclose(label, attr)
    m.mode = "ensemble"
    assert torch.allclose(m(image), (label + attr) / 2)
    # the frozen hand-crafted label part replaces t_c of unseen classes only
    m.mode, m.unseen_label = "label", "hand"
    hand = m(image)
    assert torch.equal(hand[:, [0, 2]], label[:, [0, 2]]) and not torch.allclose(hand[:, [1, 3]], label[:, [1, 3]])


def test_attribute_file_validation(tmp_path):
    names = catalog.classnames("OxfordPets")
    path = make_attribute_file(str(tmp_path / "oxford_pets.json"), "OxfordPets", names)
    k = load_attributes(path, dataset="OxfordPets")
    attrs, table = k.descriptions_for(names[:3], n_attributes=2)
    assert attrs == ["colour", "pattern"] and len(table) == 3 and all(len(r) == 2 for r in table)

    with pytest.raises(AttributeFileError, match=r"oxford_pets.json has no descriptions for 1 class.*'not a pet'"):
        k.descriptions_for(names[:2] + ["not a pet"])
    with pytest.raises(AttributeFileError, match="NUM_ATTRIBUTES is 6 but the file defines 3"):
        k.descriptions_for(names, n_attributes=6)
    data = json.load(open(path))
    del data["classes"]["beagle"]["pattern"]
    data["classes"]["bengal"]["size"] = "  "
    json.dump(data, open(path, "w"))
    k = load_attributes(path, dataset="OxfordPets")
    with pytest.raises(AttributeFileError, match=r"class 'beagle' has no description for attribute 'pattern'.*"
                                                 r"trainers.attributes generate --dataset OxfordPets"):
        k.descriptions_for(["beagle"])
    with pytest.raises(AttributeFileError, match=r"class 'bengal', attribute 'size': empty description"):
        k.descriptions_for(["bengal"])
    with pytest.raises(AttributeFileError, match="is for dataset 'OxfordPets', not 'Food101'"):
        load_attributes(path, dataset="Food101")
    data["schema"] = 2
    json.dump(data, open(path, "w"))
    with pytest.raises(AttributeFileError, match="schema is 2"):
        load_attributes(path)
    open(path, "w").write("{")
    with pytest.raises(AttributeFileError, match="not valid UTF-8 JSON"):
        load_attributes(path)
    with pytest.raises(AttributeFileError, match="not found"):
        load_attributes(str(tmp_path / "missing.json"), dataset="OxfordPets")
    # the ImageNet variants read the ImageNet file
    from sempt.attributes import attribute_file_for
    assert attribute_file_for("ImageNetA").endswith(osp.join("attributes_cache", "imagenet.json"))
    assert attribute_file_for("DescribableTextures").endswith("dtd.json")


def test_embedding_cache_is_reused_and_invalidated(tiny_clip, tmp_path, monkeypatch):
    import sempt.attribute_embeddings as ae
    from sempt.clip_loader import load_clip
    clip_model = load_clip(tiny_clip["state_dict"], device="cpu")
    names = ["a", "b", "c"]
    path = make_attribute_file(str(tmp_path / "x.json"), "X", names)
    cache = str(tmp_path / "cache")
    calls = []
    real = ae.encode_texts
    monkeypatch.setattr(ae, "encode_texts", lambda m, s, **kw: calls.append(len(s)) or real(m, s, **kw))

    def run(template="a photo of a {class}, {attribute}: {description}.", backbone="bb1"):
        return load_or_compute_embeddings(clip_model, load_attributes(path), template, backbone, cache)

    classes, attrs, emb = run()
    assert calls == [9] and emb.shape == (3, 3, 64) and classes == names
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3, 3))
    _, _, emb2 = run()
    assert calls == [9] and torch.equal(emb, emb2)  # from disk, no encoding
    run(template="{class} with {attribute} {description}.")
    assert calls == [9, 9]
    run(backbone="bb2")
    assert calls == [9, 9, 9]
    data = json.load(open(path))
    data["classes"]["a"]["colour"] = "a new description"
    json.dump(data, open(path, "w"))
    _, _, emb3 = run()
    assert calls == [9, 9, 9, 9] and not torch.equal(emb3[0, 0], emb[0, 0]) and torch.equal(emb3[1], emb[1])
    assert not [f for f in os.listdir(cache) if ".tmp" in f]
    # the model's precision is part of the key: fp16 features are never reused by an fp32 run
    half = load_clip(tiny_clip["state_dict"], device="cpu").half()
    key_fp32 = sorted(f for f in os.listdir(cache) if f.endswith(".pt"))
    # (fp16 text encoding is not available on every CPU build: the encoder is stubbed, the key is what counts)
    monkeypatch.setattr(ae, "encode_texts", lambda m, s, **kw: calls.append(len(s)) or torch.ones(len(s), 64))
    load_or_compute_embeddings(half, load_attributes(path), "a photo of a {class}, {attribute}: {description}.",
                               "bb1", cache)
    assert calls[-1] == 9 and len(sorted(f for f in os.listdir(cache) if f.endswith(".pt"))) == len(key_fp32) + 1
    # a failed write leaves no temporary file behind, and the run goes on
    def full_disk(obj, f):
        with open(f, "wb") as out:
            out.write(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ae.torch, "save", full_disk)
    run(template="{class}: {description} ({attribute}).")
    assert not [f for f in os.listdir(cache) if ".tmp" in f]


def test_file_fingerprint_sees_replaced_files_and_survives_a_corrupt_index(tmp_path):
    from sempt.attribute_embeddings import file_fingerprint
    cache = str(tmp_path / "cache")
    weights = tmp_path / "clip.pt"
    weights.write_bytes(b"A" * 1000)
    first = file_fingerprint(str(weights), cache)
    st = os.stat(weights)
    replacement = tmp_path / "new.pt"
    replacement.write_bytes(b"B" * 1000)  # same size ...
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and same modification time
    os.replace(replacement, weights)
    assert os.stat(weights).st_size == st.st_size and os.stat(weights).st_mtime_ns == st.st_mtime_ns
    second = file_fingerprint(str(weights), cache)
    assert second != first and second == __import__("hashlib").sha256(b"B" * 1000).hexdigest()
    with open(os.path.join(cache, "file_hashes.json"), "w") as f:
        f.write('{"truncated": ')  # a crash while another tool wrote it
    assert file_fingerprint(str(weights), cache) == second


def _sempt_env(tiny_clip, tmp_path, root):
    return dict(os.environ, DATA=root, OUTPUT=str(tmp_path / "out"), BACKBONE=tiny_clip["state_dict"], SHOTS="4",
                PYTHON=sys.executable)


def test_base2new_scripts_end_to_end(pets_root, tiny_clip, tmp_path):
    attr = make_attribute_file(str(tmp_path / "pets_attr.json"), "OxfordPets", catalog.classnames("OxfordPets"))
    env = _sempt_env(tiny_clip, tmp_path, pets_root)
    opts = [*TINY_OPTS, "TRAINER.SEMPT.ATTRIBUTES_FILE", attr, "TRAINER.SEMPT.NUM_ATTRIBUTES", "3",
            "TRAINER.SEMPT.EMBED_CACHE", str(tmp_path / "emb")]
    outs = []
    for script in ("base2new_train.sh", "base2new_test.sh"):
        proc = subprocess.run(["bash", osp.join(REPO, "scripts", "sempt", script), "oxford_pets", "1", *opts],
                              cwd="/", env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outs.append(proc.stdout)
    run = osp.join(str(tmp_path / "out"), "base2new", "{}", "oxford_pets", "shots_4", "SemPT", "vit_b16_ep50_ctxv1",
                   "seed1")
    train_log = open(osp.join(run.format("train_base"), "log.txt")).read()
    assert "loss_attr" in train_log and "Encoding 111 attribute sentences" in train_log  # 37 classes x 3
    assert "3 of 3 evaluated classes via label embeddings" in train_log
    test_log = open(osp.join(run.format("test_new"), "log.txt")).read()
    assert "0 of 3 evaluated classes via label embeddings (seen in training), 3 via attribute-enhanced" in test_log
    assert "Attribute embeddings loaded from" in test_log  # the frozen embeddings were computed once
    assert "load_epoch: 2" in test_log  # the evaluated epoch comes from the config (OPTIM.MAX_EPOCH 2)
    ckpt = torch.load(osp.join(run.format("train_base"), "prompt_learner", "model.pth.tar-2"), weights_only=True)
    assert ckpt["classnames"] == catalog.classnames("OxfordPets")[:3]
    board = subprocess.run([sys.executable, "-m", "sempt.leaderboard", str(tmp_path / "out"), "--seeds", "1"],
                           cwd=REPO, capture_output=True, text=True)
    assert board.returncode == 0 and "### Base-to-novel: SemPT/vit_b16_ep50_ctxv1" in board.stdout
    assert "| oxford_pets" in board.stdout and "Runs without a result" not in board.stdout
    # a rerun is skipped because the logs show finished runs
    proc = subprocess.run(["bash", osp.join(REPO, "scripts", "sempt", "base2new_train.sh"), "oxford_pets", "1",
                           *opts], cwd="/", env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "Finished run found" in proc.stdout


def test_prompted_encoding_and_learned_tau(pets_root, tiny_clip, tmp_path):
    attr = make_attribute_file(str(tmp_path / "pets_attr.json"), "OxfordPets", catalog.classnames("OxfordPets"))
    out = str(tmp_path / "run")
    run_train("--root", pets_root, "--seed", 1, "--trainer", "SemPT", "--dataset-config-file",
              "configs/datasets/oxford_pets.yaml", "--config-file", "configs/trainers/SemPT/vit_b16_ep50_ctxv1.yaml",
              "--output-dir", out, "MODEL.BACKBONE.NAME", tiny_clip["state_dict"], *TINY_OPTS,
              "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SEMPT.ATTRIBUTES_FILE", attr,
              "TRAINER.SEMPT.NUM_ATTRIBUTES", "2", "TRAINER.SEMPT.ENCODING", "prompted",
              "TRAINER.SEMPT.LEARN_TAU", "True", "TRAINER.SEMPT.MU", "1.0", "TRAINER.SEMPT.INFERENCE", "ensemble")
    log = open(osp.join(out, "log.txt")).read()
    assert "pull" in log and "SemPT inference (ensemble)" in log and "Encoding" not in log
    sd = torch.load(osp.join(out, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]
    assert set(sd) >= {"ctx", "log_tau"} and sd["log_tau"].item() != pytest.approx(math.log(0.01))


def test_bad_sempt_settings_are_named(pets_root, tiny_clip, tmp_path):
    proc = run_train("--root", pets_root, "--trainer", "SemPT", "--dataset-config-file",
                     "configs/datasets/oxford_pets.yaml", "--output-dir", tmp_path / "x", "MODEL.BACKBONE.NAME",
                     tiny_clip["state_dict"], *TINY_OPTS, "TRAINER.SEMPT.INFERENCE", "best", check=False)
    assert proc.returncode == 2 and "TRAINER.SEMPT.INFERENCE must be one of" in proc.stderr
    proc = run_train("--root", pets_root, "--trainer", "SemPT", "--dataset-config-file",
                     "configs/datasets/oxford_pets.yaml", "--output-dir", tmp_path / "y", "MODEL.BACKBONE.NAME",
                     tiny_clip["state_dict"], *TINY_OPTS, "TRAINER.SEMPT.ATTRIBUTES_FILE",
                     str(tmp_path / "none.json"), check=False)
    assert proc.returncode == 2 and "none.json not found" in proc.stderr


def test_cross_dataset_and_cross_domain_label_spaces(tiny_clip, tmp_path):
    """ImageNet-trained SemPT through xd_train.sh / xd_test.sh: ImageNet-A's classes were all seen,
    Caltech101 mixes seen names (e.g. 'accordion') with unseen ones."""
    from sempt.testing import make_dataset_tree
    root = str(tmp_path / "data")
    for reader in ("ImageNet", "ImageNetA", "Caltech101"):
        make_dataset_tree(root, reader, per_class=(1, 1, 1), image_size=32)
    attr_dir = tmp_path / "attributes"
    make_attribute_file(str(attr_dir / "imagenet.json"), "ImageNet", catalog.classnames("ImageNet"))
    make_attribute_file(str(attr_dir / "caltech101.json"), "Caltech101", catalog.classnames("Caltech101"))
    env = dict(os.environ, DATA=root, OUTPUT=str(tmp_path / "out"), BACKBONE=tiny_clip["state_dict"], SHOTS="1",
               PYTHON=sys.executable)
    opts = ["INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "100", "DATALOADER.TEST.BATCH_SIZE", "200",
            "TRAINER.SEMPT.ATTRIBUTES_DIR", str(attr_dir), "TRAINER.SEMPT.NUM_ATTRIBUTES", "3",
            "TRAINER.SEMPT.EMBED_CACHE", str(tmp_path / "emb")]
    scripts = osp.join(REPO, "scripts", "sempt")
    for cmd in (["xd_train.sh", "1"], ["xd_test.sh", "imagenet_a", "1"], ["xd_test.sh", "caltech101", "1"]):
        proc = subprocess.run(["bash", osp.join(scripts, cmd[0]), *cmd[1:], *opts], cwd="/", env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    evaluation = tmp_path / "out" / "evaluation" / "SemPT" / "vit_b16_ep10_ctxv1_xd_1shots"
    log_a = open(evaluation / "imagenet_a" / "seed1" / "log.txt").read()
    assert "200 of 200 evaluated classes via label embeddings" in log_a
    log_c = open(evaluation / "caltech101" / "seed1" / "log.txt").read()
    from sempt.prompt_learner import prompt_key
    exact = sum(c in set(catalog.classnames("ImageNet")) for c in catalog.classnames("Caltech101"))
    keys = {prompt_key(c) for c in catalog.classnames("ImageNet")}
    seen = sum(prompt_key(c) in keys for c in catalog.classnames("Caltech101"))
    assert 0 < exact < seen < 100  # names are compared as the tokenizer sees them
    assert f"{seen} of 100 evaluated classes match a training class ({exact} by exact name" in log_c
    assert f"{seen} of 100 evaluated classes via label embeddings (seen in training), {100 - seen} via" in log_c
    assert osp.isdir(tmp_path / "out" / "imagenet" / "SemPT" / "vit_b16_ep10_ctxv1_xd_1shots" / "seed1")
    proc = subprocess.run(["bash", osp.join(scripts, "few_shot.sh"), "caltech101", "1", "1", *opts], cwd="/",
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    board = subprocess.run([sys.executable, "-m", "sempt.leaderboard", str(tmp_path / "out"), "--seeds", "1"],
                           cwd=REPO, capture_output=True, text=True).stdout
    import re
    assert "### Cross-domain: SemPT/vit_b16_ep10_ctxv1_xd" in board  # source ImageNet (1 shot) + ImageNet-A
    assert re.search(r"\n\| \d+\.\d\d ± 0\.00\s+\| -\s+\| -\s+\| \d+\.\d\d ± 0\.00\s+\| -", board)
    assert "### Cross-dataset: SemPT/vit_b16_ep10_ctxv1_xd" in board
    assert "### Few-shot: SemPT/vit_b16_ep50_ctxv1_fewshot" in board and "| caltech101" in board
