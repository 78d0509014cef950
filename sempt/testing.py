"""Tiny random CLIP models and miniature CoOp-layout datasets, made on the spot for tests and demos.

Nothing here downloads anything: ``make_tiny_clip`` builds ``clip.model.CLIP`` with small widths (>= 64,
so ``build_model`` infers 64-wide heads) and the real 49,408-token vocabulary, and saves it both as a
state dict and as a TorchScript archive, exactly the two formats the CLIP loader reads.
``make_coop_dataset`` writes small images and a ``split_zhou_*.json`` in a reader's layout.
"""
import os
import os.path as osp
import random

import numpy as np
import torch
from PIL import Image

from sempt.fileio import mkdir_if_missing, write_json

__all__ = ["make_tiny_clip", "make_coop_dataset", "class_color"]


def make_tiny_clip(out_dir, width=64, layers=1, vision_width=64, vision_layers=1, image_resolution=32,
                   patch_size=16, embed_dim=64, context_length=77, vocab_size=49408, seed=0, resnet=False,
                   torchscript=True):
    """Save a random CLIP under ``out_dir``; returns ``{"state_dict": path, "torchscript": path|None}``.

    ``resnet=True`` builds the ModifiedResNet image tower (``vision_layers`` becomes (1, 1, 1, 1) and
    ``image_resolution`` must be a multiple of 32).
    """
    from clip.model import CLIP
    if width < 64 or vision_width < 64 or width % 64 or vision_width % 64:
        raise ValueError("widths must be multiples of 64 (CLIP derives its head count as width // 64)")
    torch.manual_seed(seed)
    model = CLIP(
        embed_dim=embed_dim,
        image_resolution=image_resolution,
        vision_layers=(1, 1, 1, 1) if resnet else vision_layers,
        vision_width=vision_width,
        vision_patch_size=None if resnet else patch_size,
        context_length=context_length,
        vocab_size=vocab_size,
        transformer_width=width,
        transformer_heads=width // 64,
        transformer_layers=layers,
    ).float().eval()
    mkdir_if_missing(out_dir)
    paths = {"state_dict": osp.join(out_dir, "tiny_clip_state_dict.pt"), "torchscript": None}
    torch.save(model.state_dict(), paths["state_dict"])
    if torchscript:
        from sempt.text_encoder import tokenize
        image = torch.zeros(2, 3, image_resolution, image_resolution)
        text = tokenize(["a photo of a cat.", "a dog."])
        import warnings
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about the attention-mask checks
            traced = torch.jit.trace(model, (image, text), check_trace=False)
        paths["torchscript"] = osp.join(out_dir, "tiny_clip_torchscript.pt")
        traced.save(paths["torchscript"])
    return paths


def class_color(label, n_classes):
    """A distinct RGB colour per class (evenly spaced hues)."""
    import colorsys
    r, g, b = colorsys.hsv_to_rgb(label / max(n_classes, 1), 0.8, 0.9)
    return np.array([r, g, b]) * 255


def _draw(label, n_classes, size, rng):
    base = class_color(label, n_classes)
    img = np.empty((size, size, 3))
    img[:] = base
    img += rng.normal(0, 20, size=img.shape)  # nuisance noise
    stripe = 2 + (label % 4)  # a class-dependent stripe period
    img[:, ::stripe] *= 0.6
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_coop_dataset(root, dataset_dir, image_dir, split_file, classnames, n_train=4, n_val=2, n_test=3,
                      image_size=32, seed=0, ext=".jpg", folder_of=None, write_split=True):
    """Write ``root/dataset_dir/image_dir/...`` images and ``root/dataset_dir/split_file``.

    Images are coloured by class with noise, so a model can learn them. ``folder_of(label, classname)``
    gives the sub-folder of a class's images (default: one folder per label). Returns the split dict.
    """
    rng = np.random.default_rng(seed)
    base = osp.join(root, dataset_dir)
    img_root = osp.join(base, image_dir)
    split = {"train": [], "val": [], "test": []}
    for label, name in enumerate(classnames):
        sub = folder_of(label, name) if folder_of else f"class_{label:04d}"
        mkdir_if_missing(osp.join(img_root, sub))
        for key, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            for i in range(n):
                rel = f"{sub}/{key}_{i:03d}{ext}"
                _draw(label, len(classnames), image_size, rng).save(osp.join(img_root, rel))
                split[key].append([rel, label, name])
    if write_split:
        write_json(split, osp.join(base, split_file))
    return split


def make_demo_assets(folder, n_classes=6, seed=0):
    """A tiny CLIP and a miniature OxfordPets tree under ``folder`` (reused when already there)."""
    import json
    clip_dir = osp.join(folder, "clip")
    data = osp.join(folder, "data")
    sd = osp.join(clip_dir, "tiny_clip_state_dict.pt")
    if not osp.isfile(sd):
        make_tiny_clip(clip_dir, seed=seed, torchscript=False)
    if not osp.isfile(osp.join(data, "oxford_pets", "split_zhou_OxfordPets.json")):
        names_path = osp.join(osp.dirname(__file__), "data", "classnames.json")
        names = json.load(open(names_path, encoding="utf-8"))["datasets"]["oxford_pets"][:n_classes]
        make_coop_dataset(data, "oxford_pets", "images", "split_zhou_OxfordPets.json", names, n_train=8,
                          n_val=2, n_test=6, seed=seed)
    return {"clip": sd, "data": data}


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "demo-assets":
        sys.exit("usage: python -m sempt.testing demo-assets FOLDER")
    assets = make_demo_assets(sys.argv[2])
    print(assets["data"])
    print(assets["clip"])
