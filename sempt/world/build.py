"""Build (or reuse) a world: pretrained tiny CLIP, CoOp-layout datasets, and attribute files.

Everything lands in ``<cache>/<world key>-<pretraining key>/`` (default cache ``~/.cache/sempt/world``,
outside the repository) and is reused when it is already there:

- ``clip.pt``: the pretrained state dict, read by the project's CLIP loader like any checkpoint;
- ``data/clip_world/``: images, ``split_zhou_CLIPWorld_s<k>.json`` per class split, ``categories.json``;
- ``attributes_noise<p>/clipworld.json``: the attribute file, produced through the attribute pipeline's
  ``import`` with answers supplied by the world (its ground truth), a fraction ``p`` made wrong or vague.
"""
import contextlib
import io
import json
import os
import os.path as osp
import random
import shutil
from dataclasses import asdict

import numpy as np
import torch

from sempt.fileio import mkdir_if_missing, read_json, write_json

from .pretrain import PretrainSpec, pretrain, zero_shot_by_kind
from .render import render
from .spec import ATTRIBUTES, NAME_KINDS, WorldSpec, make_categories

__all__ = ["default_cache", "world_dir", "build_world", "split_order", "write_attribute_file", "DESCRIBE"]

DATASET = "CLIPWorld"
DEFINITIONS = {"shape": "the outline of the main object", "colour": "the colour of the object",
               "pattern": "how the object is filled", "size": "how much of the image the object covers",
               "background": "the brightness of the background"}
DESCRIBE = {  # the world's own answer for (attribute, value)
    "shape": "shaped like a {}", "colour": "coloured {}", "pattern": "{} fill",
    "size": "{} relative to the frame", "background": "on a {} background",
}
VAGUE = {"shape": "a simple geometric outline", "colour": "some colour", "pattern": "a surface with some fill",
         "size": "of some size", "background": "on some background"}


def default_cache():
    root = os.environ.get("XDG_CACHE_HOME") or osp.expanduser("~/.cache")
    return osp.join(root, "sempt", "world")


def world_dir(world, pre, cache=None):
    return osp.join(cache or default_cache(), f"{world.key()}-{_key(pre)}")


def _key(pre):
    import hashlib
    return hashlib.sha256(json.dumps(asdict(pre), sort_keys=True).encode()).hexdigest()[:12]


def _slug(name):
    return name.replace(" ", "_")


def split_order(categories, k):
    """The class order of world split ``k``: kinds interleaved, so base and novel halves get each kind
    equally often; ``k`` shuffles which categories of a kind come first."""
    rng = random.Random(1000 + k)
    by_kind = {kind: [c for c in categories if c.kind == kind] for kind in NAME_KINDS}
    for cats in by_kind.values():
        rng.shuffle(cats)
    order = []
    for i in range(max(len(v) for v in by_kind.values())):
        for kind in NAME_KINDS:
            if i < len(by_kind[kind]):
                order.append(by_kind[kind][i])
    return order


def _write_dataset(world, root, splits, log):
    base = osp.join(root, "clip_world")
    cats = make_categories(world)
    if osp.isfile(osp.join(base, "categories.json")):
        return base
    tmp = base + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    from PIL import Image
    rng = np.random.default_rng(world.seed + 7)
    files = {}
    for c in cats:
        folder = osp.join(tmp, "images", _slug(c.name))
        mkdir_if_missing(folder)
        for part, n in (("train", world.train_per_class), ("val", world.val_per_class), ("test", world.test_per_class)):
            for i in range(n):
                rel = f"{_slug(c.name)}/{part}_{i:03d}.png"
                Image.fromarray(render(c.profile, rng, world.image_size)).save(osp.join(tmp, "images", rel))
                files.setdefault((c.name, part), []).append(rel)
    for k in range(splits):
        order = split_order(cats, k)
        split = {part: [[rel, y, c.name] for y, c in enumerate(order) for rel in files[(c.name, part)]]
                 for part in ("train", "val", "test")}
        write_json(split, osp.join(tmp, f"split_zhou_CLIPWorld_s{k}.json"))
    write_json({"world": asdict(world), "categories": [{"name": c.name, "kind": c.kind, "profile": c.profile}
                                                        for c in cats],
                "splits": {str(k): [c.name for c in split_order(cats, k)] for k in range(splits)}},
               osp.join(tmp, "categories.json"))
    os.replace(tmp, base)
    log(f"[world] wrote {len(cats)} classes x {world.train_per_class + world.val_per_class + world.test_per_class} "
        f"images and {splits} class splits to {base}")
    return base


def write_attribute_file(world, directory, noise=0.0, seed=0):
    """Answer the pipeline's exported prompts with the world's ground truth (a fraction ``noise`` wrong or
    vague) and import them; returns the attribute file path."""
    from trainers.attributes.exchange import export, import_answers
    cats = make_categories(world)
    names = [c.name for c in cats]
    path = osp.join(directory, "clipworld.json")
    if osp.isfile(path):
        return path
    with contextlib.redirect_stdout(io.StringIO()):  # the exchange's instructions are for people
        return _answer_and_import(world, directory, noise, seed, cats, names, export, import_answers)


def _answer_and_import(world, directory, noise, seed, cats, names, export, import_answers):
    rng = random.Random(seed + int(noise * 1000))
    folder = osp.join(directory, "exchange")
    domain = "simple coloured shapes with fill patterns on plain backgrounds"
    attrs = list(ATTRIBUTES)
    export(DATASET, names, domain, folder, n_attributes=len(attrs), batch_size=12, word_limit=20)
    d = osp.join(folder, DATASET)
    write_json({"attributes": [{"name": a, "definition": DEFINITIONS[a]} for a in attrs]},
               osp.join(d, "step1_answer.json"))
    export(DATASET, names, domain, folder, n_attributes=len(attrs), batch_size=12, word_limit=20)
    by_name = {c.name: c for c in cats}
    for i, batch in enumerate(read_json(osp.join(d, "batches.json"))["batches"]):
        answer = {}
        for name in batch:
            profile = by_name[name].profile
            answer[name] = {}
            for a in attrs:
                value = profile[a]
                if rng.random() < noise:
                    if rng.random() < 0.5:  # wrong: another value of the same attribute
                        value = rng.choice([v for v in ATTRIBUTES[a] if v != value])
                    else:  # vague
                        answer[name][a] = VAGUE[a]
                        continue
                answer[name][a] = DESCRIBE[a].format(value)
        write_json({"classes": answer}, osp.join(d, f"step2_answer_{i:03d}.json"))
    return import_answers(DATASET, folder, directory=directory, force=True, allow_duplicates=True,
                          answered_by=f"sempt.world ground truth, {noise:.0%} of descriptions wrong or vague")


def build_world(world=None, pre=None, cache=None, splits=3, noises=(0.0,), log=print):
    """Build what is missing; returns a dict of paths and the zero-shot accuracy by name kind."""
    world, pre = world or WorldSpec(), pre or PretrainSpec()
    root = world_dir(world, pre, cache)
    mkdir_if_missing(root)
    clip_path = osp.join(root, "clip.pt")
    stats_path = osp.join(root, "stats.json")
    if not osp.isfile(clip_path):
        log(f"[world] pretraining a tiny CLIP ({pre.steps} steps); cached in {root}")
        model, stats = pretrain(world, pre, log=log)
        stats["zero_shot"] = zero_shot_by_kind(model, world)
        tmp = clip_path + ".tmp"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, clip_path)
        write_json(stats, stats_path)
    else:
        log(f"[world] reusing the pretrained CLIP in {root}")
    data = osp.join(root, "data")
    _write_dataset(world, data, splits, log)
    attrs = {p: write_attribute_file(world, osp.join(root, f"attributes_noise{p:g}"), noise=p) for p in noises}
    return {"root": root, "clip": clip_path, "data": data, "attributes": attrs, "stats": read_json(stats_path)}
