"""Tiny random CLIP models and miniature CoOp-layout datasets, made on the spot for tests and demos.

Nothing here downloads anything: ``make_tiny_clip`` builds ``clip.model.CLIP`` with small widths (>= 64,
so ``build_model`` infers 64-wide heads) and the real 49,408-token vocabulary, and saves it both as a
state dict and as a TorchScript archive, exactly the two formats the CLIP loader reads.
``make_coop_dataset`` writes small images and a ``split_zhou_*.json`` in a reader's layout.
"""
import os.path as osp

import numpy as np
import torch
from PIL import Image

from sempt.clip_loader import random_clip
from sempt.fileio import mkdir_if_missing, write_json

build_random_clip = random_clip  # the name the tests use

__all__ = ["build_random_clip", "make_tiny_clip", "make_coop_dataset", "class_color"]


def make_tiny_clip(out_dir, width=64, layers=1, vision_width=64, vision_layers=1, image_resolution=32,
                   patch_size=16, embed_dim=64, context_length=77, vocab_size=49408, seed=0, resnet=False,
                   torchscript=True):
    """Save a random CLIP under ``out_dir``; returns ``{"state_dict": path, "torchscript": path|None}``.

    ``resnet=True`` builds the ModifiedResNet image tower (``vision_layers`` becomes (1, 1, 1, 1) and
    ``image_resolution`` must be a multiple of 32).
    """
    model = random_clip(width, layers, vision_width, vision_layers, image_resolution, patch_size, embed_dim,
                              context_length, vocab_size, seed, resnet)
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


# ---------------------------------------------------------------------------------------------------
# Miniature trees of the benchmark datasets, each in its reader's exact layout
# ---------------------------------------------------------------------------------------------------

def _jpeg_bytes(label, n_classes, size):
    import io
    buf = io.BytesIO()
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = class_color(label, n_classes).astype(np.uint8)
    Image.fromarray(img).save(buf, format="JPEG")
    return buf.getvalue()


def make_dataset_tree(root, reader, per_class=(2, 1, 1), image_size=8):
    """Write a miniature ``reader`` dataset under ``root`` in the exact CoOp layout; returns its folder.

    Every class is present with ``per_class`` = (train, val, test) images (test-only ImageNet variants
    use the test count); split files use the real format, raw-annotation datasets get their raw files.
    The layout is the reader's own (``CoOpDataset.write_test_tree``); ``reader`` is a reader or config name
    of the catalog (``sempt.data.catalog``).
    """
    from sempt.data import catalog
    from sempt.data.readers import reader as reader_class
    name = catalog.resolve(reader)
    names = catalog.classnames(name)
    images = {}

    def image(label):
        if label not in images:
            images[label] = _jpeg_bytes(label, len(names), image_size)
        return images[label]

    return reader_class(name).write_test_tree(root, names, tuple(per_class), image)


def make_attribute_file(path, dataset, classnames, attributes=("colour", "pattern", "size")):
    """A small valid attribute file (schema 1) with distinct, made-up descriptions per class."""
    colours = ["red", "orange", "yellow", "green", "teal", "blue", "violet", "pink", "brown", "grey"]
    data = {
        "schema": 1,
        "dataset": dataset,
        "attributes": [{"name": a, "definition": f"the {a} of the object"} for a in attributes],
        "classes": {
            c: {a: f"{colours[(i + j) % len(colours)]} {a} number {i}" for j, a in enumerate(attributes)}
            for i, c in enumerate(classnames)
        },
        "provenance": {"generator": "sempt.testing.make_attribute_file"},
    }
    write_json(data, path)
    return path
