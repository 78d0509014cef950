"""The test-feature cache (sempt.feature_cache): cached and uncached evaluation give bit-identical logits and
accuracies for every trainer whose image side is CLIP's frozen encoder; a second method reads the first one's
features; the key follows the backbone's content, the split, the transform and the precision; damaged,
foreign or malicious files are rebuilt without being unpickled; off, distributed and unwritable set-ups fall
back to the engine's loop."""
import json
import os
import os.path as osp
import pickle
import shutil

import pytest
import torch

from conftest import CLASSNAMES, TINY_OPTS
from sempt import feature_cache

FROZEN = ["ZeroshotCLIP", "CoOp", "KgCoOp", "CoCoOp", "SemPT"]
OPTS = {"CoCoOp": ["TRAINER.COCOOP.N_CTX", "4"], "SemPT": ["TRAINER.SEMPT.NUM_ATTRIBUTES", "3"],
        "MaPLe": ["TRAINER.MAPLE.PROMPT_DEPTH", "1"]}


def _cfg(data, clip, out, cache, *opts, extend=True):
    import datasets
    import trainers
    from sempt.config import build_cfg
    extenders = [datasets.extend_cfg, trainers.extend_cfg] + ([feature_cache.extend_cfg] if extend else [])
    return build_cfg(extenders, opts=["DATASET.ROOT", data, "DATASET.NAME", "OxfordPets", "OUTPUT_DIR", out,
                                      "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "TEST.FEATURE_CACHE", cache,
                                      *opts])


def _trainer(name, data, clip, tmp_path, cache, *opts):
    from sempt.engine import build_trainer, set_random_seed
    from sempt.testing import make_attribute_file
    attr_dir = str(tmp_path / "attributes")
    if not osp.isfile(osp.join(attr_dir, "oxford_pets.json")):
        make_attribute_file(osp.join(attr_dir, "oxford_pets.json"), "OxfordPets", CLASSNAMES["oxford_pets"][:6])
    set_random_seed(3)
    return build_trainer(_cfg(data, clip, str(tmp_path / f"out-{name}"), cache, "TRAINER.NAME", name,
                              "TRAINER.SEMPT.ATTRIBUTES_DIR", attr_dir, "TRAINER.SEMPT.EMBED_CACHE",
                              str(tmp_path / "emb"), *OPTS.get(name, []), *opts))


def _evaluate(trainer, cache, split=None):
    """``(accuracy, logits of every image, predictions)`` of ``trainer.test()`` with TEST.FEATURE_CACHE ``cache``."""
    trainer.cfg.defrost()
    trainer.cfg.TEST.FEATURE_CACHE = cache
    trainer.cfg.freeze()
    seen, process = [], trainer.evaluator.process
    trainer.evaluator.process = lambda mo, gt: (seen.append(mo.detach().clone()), process(mo, gt))
    try:
        accuracy = trainer.test(split)
    finally:
        del trainer.evaluator.process
    return accuracy, torch.cat(seen), list(trainer.evaluator._y_pred)


def _files(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".pt")) if osp.isdir(folder) else []


@pytest.mark.parametrize("name", FROZEN)
def test_cached_evaluation_is_bit_identical(name, pets_root, tiny_clip, tmp_path, capsys):
    cache = str(tmp_path / "features")
    trainer = _trainer(name, pets_root, tiny_clip["state_dict"], tmp_path, cache)
    assert type(trainer).FROZEN_IMAGE_ENCODER is True
    if name == "SemPT":  # as if trained on half the classes: both the label and the attribute path are used
        trainer.trained_here = True
        trainer.model.set_seen([True, False] * 3)
    capsys.readouterr()
    ref = _evaluate(trainer, "off")
    assert "Test-feature cache" not in capsys.readouterr().out
    result = json.load(open(osp.join(trainer.cfg.OUTPUT_DIR, "results.json")))["accuracy"]
    for status in ("miss", "hit"):
        got = _evaluate(trainer, cache)
        out = capsys.readouterr().out
        (path,) = [osp.join(cache, f) for f in _files(cache)]
        assert f"Test-feature cache: {status}" in out and path in out
        assert out.count("Evaluate on the *test* set") == 1 and "* accuracy:" in out
        assert got[1].shape == (18, 6) and torch.equal(got[1], ref[1]), f"{name}: {status} logits differ"
        assert got[0] == ref[0] and got[2] == ref[2]
        assert json.load(open(osp.join(trainer.cfg.OUTPUT_DIR, "results.json")))["accuracy"] == result == ref[0]
    # the split is forward's own computation, per trainer
    image = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(trainer.model(image), trainer.model.logits_from_features(trainer.model.encode_image(image)))


def test_cached_features_match_an_independent_encoding(pets_root, tiny_clip, tmp_path):
    import torchvision.transforms as T
    from PIL import Image
    from sempt.clip_loader import load_clip
    cache = str(tmp_path / "features")
    trainer = _trainer("ZeroshotCLIP", pets_root, tiny_clip["state_dict"], tmp_path, cache)
    _evaluate(trainer, cache)
    (name,) = _files(cache)
    stored = torch.load(osp.join(cache, name), weights_only=True)
    assert stored["format"] == feature_cache.FORMAT and stored["features"].dtype == torch.float32
    # the test images, read and encoded here without the engine: CoOp's test transform for 32x32, no normalize
    split = json.load(open(osp.join(pets_root, "oxford_pets", "split_zhou_OxfordPets.json")))["test"]
    tf = T.Compose([T.Resize(32, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(32), T.ToTensor()])
    images = torch.stack([tf(Image.open(osp.join(pets_root, "oxford_pets", "images", p)).convert("RGB"))
                          for p, _, _ in split])
    with torch.no_grad():
        f = load_clip(tiny_clip["state_dict"], device="cpu").encode_image(images)
    assert stored["labels"].tolist() == [label for _, label, _ in split]
    assert torch.allclose(stored["features"], f / f.norm(dim=-1, keepdim=True), atol=1e-6)


def test_second_method_reads_the_first_ones_features_and_prompted_encoders_do_not(pets_root, tiny_clip, tmp_path,
                                                                                   capsys):
    from trainers.maple import MaPLe
    from trainers.promptsrc import PromptSRC
    assert MaPLe.FROZEN_IMAGE_ENCODER is False and PromptSRC.FROZEN_IMAGE_ENCODER is False
    cache = str(tmp_path / "features")
    first = _trainer("ZeroshotCLIP", pets_root, tiny_clip["state_dict"], tmp_path, cache)
    _evaluate(first, cache)
    (name,) = _files(cache)
    capsys.readouterr()
    second = _trainer("CoOp", pets_root, tiny_clip["state_dict"], tmp_path, cache)
    _evaluate(second, cache)
    assert f"Test-feature cache: hit, 18 test image features read from {osp.join(cache, name)}" \
        in capsys.readouterr().out
    maple = _trainer("MaPLe", pets_root, tiny_clip["state_dict"], tmp_path, cache)
    ref = _evaluate(maple, "off")
    assert torch.equal(_evaluate(maple, cache)[1], ref[1])
    out = capsys.readouterr().out
    assert "Test-feature cache" not in out and _files(cache) == [name]


def test_val_split_has_its_own_entry(pets_root, tiny_clip, tmp_path, capsys):
    cache = str(tmp_path / "features")
    trainer = _trainer("ZeroshotCLIP", pets_root, tiny_clip["state_dict"], tmp_path, cache)
    ref = _evaluate(trainer, "off", split="val")
    capsys.readouterr()
    for status in ("miss", "hit"):
        got = _evaluate(trainer, cache, split="val")
        out = capsys.readouterr().out
        assert f"Test-feature cache: {status}, " in out and "Evaluate on the *val* set" in out
        assert torch.equal(got[1], ref[1]) and got[1].shape == (12, 6)
    (name,) = _files(cache)
    assert name.startswith("OxfordPets-val-all-")


def _loader(data, clip, tmp_path, *opts):
    from sempt.engine.data_manager import DataManager
    return DataManager(_cfg(data, clip, str(tmp_path / "out"), "unused", *opts)).test_loader


def test_key_follows_backbone_content_split_transform_and_precision(pets_root, tiny_clip, tmp_path):
    from sempt.testing import make_tiny_clip
    folder = str(tmp_path / "features")
    clip = tiny_clip["state_dict"]

    def key(*opts, clip=clip, dtype=torch.float32, device="cpu"):
        cfg = _cfg(pets_root, clip, "o", folder, *opts)
        return feature_cache.feature_key(cfg, _loader(pets_root, clip, tmp_path, *opts), dtype, device, folder)[0]

    base = key()
    assert key() == base
    copy = str(tmp_path / "copy.pt")
    shutil.copy(clip, copy)
    assert key(clip=copy) == base  # the backbone's content, not its path
    other = make_tiny_clip(str(tmp_path / "other"), seed=1, torchscript=False)["state_dict"]
    assert key(clip=other) != base
    assert key("INPUT.TRANSFORMS", "['random_flip']") == base  # training augmentations do not touch test images
    changed = [key("DATASET.SUBSAMPLE_CLASSES", "base"), key("DATASET.SUBSAMPLE_CLASSES", "new"),
               key("INPUT.INTERPOLATION", "bicubic"), key("INPUT.TRANSFORMS", "['normalize']"),
               key("INPUT.TRANSFORMS", "['normalize']", "INPUT.PIXEL_MEAN", "[0.5, 0.5, 0.5]"),
               key(dtype=torch.float16), key("DATALOADER.TEST.BATCH_SIZE", "4")]
    assert len(set(changed + [base])) == len(changed) + 1
    # an image replaced in place (same path, same label) gives another key
    split = json.load(open(osp.join(pets_root, "oxford_pets", "split_zhou_OxfordPets.json")))["test"]
    image = osp.join(pets_root, "oxford_pets", "images", split[0][0])
    st = os.stat(image)
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert key() != base


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_damaged_foreign_or_malicious_files_are_rebuilt_never_unpickled(pets_root, tiny_clip, tmp_path, capsys):
    cache = str(tmp_path / "features")
    trainer = _trainer("ZeroshotCLIP", pets_root, tiny_clip["state_dict"], tmp_path, cache)
    ref = _evaluate(trainer, cache)
    (name,) = _files(cache)
    path = osp.join(cache, name)
    good = open(path, "rb").read()
    stored = torch.load(path, weights_only=True)
    marker = str(tmp_path / "executed")
    wrong_labels = dict(stored, labels=stored["labels"].flip(0))
    cases = [("truncated", lambda: open(path, "wb").write(good[: len(good) // 2]), "unusable (RuntimeError"),
             ("malicious", lambda: torch.save(dict(stored, features=_Evil(marker)), path),
              "holds Python objects other than tensors"),
             ("raw pickle", lambda: open(path, "wb").write(pickle.dumps(_Evil(marker), protocol=2)),
              "holds Python objects other than tensors"),
             ("another key", lambda: torch.save(dict(stored, key="0" * 64), path), "written for another key"),
             ("wrong labels", lambda: torch.save(wrong_labels, path), "do not match the split")]
    capsys.readouterr()
    for what, spoil, note in cases:
        spoil()
        got = _evaluate(trainer, cache)
        out = capsys.readouterr().out
        assert f"Note: test-feature cache {path} is unusable" in out and note in out, what
        assert "rebuilding it" in out and "Test-feature cache: miss" in out, what
        assert not osp.exists(marker), f"{what}: the file was unpickled"
        assert torch.equal(got[1], ref[1]) and got[0] == ref[0], what
        assert torch.equal(torch.load(path, weights_only=True)["features"], stored["features"]), what
    assert _files(cache) == [name] and not [f for f in os.listdir(cache) if ".tmp" in f]


def test_off_distributed_unwritable_and_mismatched_fall_back_to_the_engine(pets_root, tiny_clip, tmp_path, capsys,
                                                                           monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    trainer = _trainer("CoOp", pets_root, tiny_clip["state_dict"], tmp_path, "auto")
    ref = _evaluate(trainer, "off")
    got = _evaluate(trainer, "")
    assert torch.equal(got[1], ref[1]) and got[0] == ref[0]
    assert not osp.exists(tmp_path / "xdg")  # off: nothing written anywhere
    assert feature_cache.cache_folder(trainer.cfg) is None
    capsys.readouterr()
    # auto: the default folder under XDG_CACHE_HOME
    assert torch.equal(_evaluate(trainer, "auto")[1], ref[1])
    assert _files(str(tmp_path / "xdg" / "sempt" / "test_features"))
    assert "Test-feature cache: miss" in capsys.readouterr().out

    # a distributed run encodes its own share: the cache is bypassed, with a note
    with monkeypatch.context() as m:
        m.setattr(feature_cache, "is_distributed", lambda: True)
        m.setattr(feature_cache, "world_size", lambda: 2)
        m.setattr(feature_cache, "_noted", [])
        cache = str(tmp_path / "dist")
        assert torch.equal(_evaluate(trainer, cache)[1], ref[1])
        assert "not used in a distributed run (world size 2)" in capsys.readouterr().out and not _files(cache)

    # a folder that cannot be created: a note, and the evaluation goes on
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file in the way")
    got = _evaluate(trainer, str(blocker / "features"))
    assert torch.equal(got[1], ref[1]) and got[0] == ref[0]
    assert "Note: test-feature cache not used: cannot key it" in capsys.readouterr().out

    # a loader that does not keep the split's order
    loader = trainer.test_loader
    trainer.test_loader = torch.utils.data.DataLoader(loader.dataset, batch_size=16, shuffle=True)
    got = _evaluate(trainer, str(tmp_path / "shuffled"))
    assert got[0] == ref[0] and not _files(str(tmp_path / "shuffled"))
    assert "sampler is RandomSampler, not the SequentialSampler" in capsys.readouterr().out
    trainer.test_loader = loader

    # a cache file that cannot be written (a folder in its place): a note, and the evaluation goes on
    folder = tmp_path / "xdg" / "sempt" / "test_features"
    (name,) = _files(str(folder))
    os.remove(folder / name)
    os.mkdir(folder / name)
    got = _evaluate(trainer, "auto")
    assert torch.equal(got[1], ref[1]) and got[0] == ref[0]
    assert f"Note: could not write the test-feature cache {folder / name}" in capsys.readouterr().out
    assert not [f for f in os.listdir(folder) if ".tmp" in f]

    # a model whose inference is not logits_from_features(encode_image(image)) (a prompted image encoder
    # wrongly declared frozen): the check on the first images catches it and the engine's loop runs
    trainer.model_inference = lambda image: trainer.model(torch.flip(image, dims=[-1]))
    flipped = _evaluate(trainer, "off")
    assert not torch.equal(flipped[1], ref[1])
    got = _evaluate(trainer, str(tmp_path / "guard"))
    out = capsys.readouterr().out
    assert "logits from cached features differ from the model's own" in out and "evaluating without it" in out
    assert torch.equal(got[1], flipped[1])


def test_config_key_is_declared_and_not_fingerprinted():
    """TEST.FEATURE_CACHE is settable from the command line and, since it changes no number, not part of a
    run's fingerprint (a finished run is still found after switching the cache on or off)."""
    import datasets
    import trainers
    from sempt.config import build_cfg, flat_config
    cfg = build_cfg([datasets.extend_cfg, trainers.extend_cfg], opts=["TEST.FEATURE_CACHE", "off"])
    assert feature_cache.cache_folder(cfg) is None
    assert build_cfg([datasets.extend_cfg, trainers.extend_cfg]).TEST.FEATURE_CACHE == feature_cache.DEFAULT
    assert "TEST.FEATURE_CACHE" not in flat_config(cfg)
