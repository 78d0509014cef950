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


def build_random_clip(width=64, layers=1, vision_width=64, vision_layers=1, image_resolution=32, patch_size=16,
                      embed_dim=64, context_length=77, vocab_size=49408, seed=0, resnet=False):
    """An fp32 ``clip.model.CLIP`` with random weights (ViT-B/16 sizes: width=512, layers=12,
    vision_width=768, vision_layers=12, image_resolution=224, patch_size=16, embed_dim=512)."""
    from clip.model import CLIP
    if width < 64 or vision_width < 64 or width % 64 or vision_width % 64:
        raise ValueError("widths must be multiples of 64 (CLIP derives its head count as width // 64)")
    torch.manual_seed(seed)
    return CLIP(
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


def make_tiny_clip(out_dir, width=64, layers=1, vision_width=64, vision_layers=1, image_resolution=32,
                   patch_size=16, embed_dim=64, context_length=77, vocab_size=49408, seed=0, resnet=False,
                   torchscript=True):
    """Save a random CLIP under ``out_dir``; returns ``{"state_dict": path, "torchscript": path|None}``.

    ``resnet=True`` builds the ModifiedResNet image tower (``vision_layers`` becomes (1, 1, 1, 1) and
    ``image_resolution`` must be a multiple of 32).
    """
    model = build_random_clip(width, layers, vision_width, vision_layers, image_resolution, patch_size, embed_dim,
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
# Miniature trees of the 15 benchmark datasets, each in its reader's exact layout
# ---------------------------------------------------------------------------------------------------

def _jpeg_bytes(label, n_classes, size):
    import io
    buf = io.BytesIO()
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = class_color(label, n_classes).astype(np.uint8)
    Image.fromarray(img).save(buf, format="JPEG")
    return buf.getvalue()


def _write(path, data):
    mkdir_if_missing(osp.dirname(path))
    with open(path, "wb") as f:
        f.write(data)


def _inverse(mapping):
    return {v: k for k, v in mapping.items()}


def _camel(name):  # "Apply_Eye_Makeup" -> "ApplyEyeMakeup"
    return name.replace("_", "")


def make_dataset_tree(root, reader, per_class=(2, 1, 1), image_size=8):
    """Write a miniature ``reader`` dataset under ``root`` in the exact CoOp layout; returns its folder.

    Every class is present with ``per_class`` = (train, val, test) images (test-only ImageNet variants
    use the test count); split files use the real format, raw-annotation datasets get their raw files.
    """
    from sempt.data import catalog
    reader = catalog.resolve(reader)
    names = catalog.classnames(reader)
    n = len(names)
    n_tr, n_va, n_te = per_class
    img = {y: _jpeg_bytes(y, n, image_size) for y in range(n)}

    def split_dataset(dataset_dir, image_dir, split_file, rel_of):
        base = osp.join(root, dataset_dir)
        split = {"train": [], "val": [], "test": []}
        for y, name in enumerate(names):
            for key, count in (("train", n_tr), ("val", n_va), ("test", n_te)):
                for i in range(count):
                    rel = rel_of(y, name, key, i)
                    _write(osp.join(base, image_dir, rel), img[y])
                    split[key].append([rel, y, name])
        write_json(split, osp.join(base, split_file))
        return base

    if reader == "OxfordPets":
        return split_dataset("oxford_pets", "images", "split_zhou_OxfordPets.json",
                             lambda y, c, k, i: f"{c}_{k}{i + 1}.jpg")
    if reader == "Caltech101":
        from datasets.caltech101 import NEW_CNAMES
        folder = _inverse(NEW_CNAMES)
        return split_dataset("caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
                             lambda y, c, k, i: f"{folder.get(c, c)}/image_{k}{i + 1:04d}.jpg")
    if reader == "DescribableTextures":
        return split_dataset("dtd", "images", "split_zhou_DescribableTextures.json",
                             lambda y, c, k, i: f"{c}/{c}_{k}{i:04d}.jpg")
    if reader == "EuroSAT":
        from datasets.eurosat import NEW_CNAMES
        folder = _inverse(NEW_CNAMES)
        return split_dataset("eurosat", "2750", "split_zhou_EuroSAT.json",
                             lambda y, c, k, i: f"{folder[c]}/{folder[c]}_{k}{i + 1}.jpg")
    if reader == "Food101":
        return split_dataset("food-101", "images", "split_zhou_Food101.json", lambda y, c, k, i: f"{c}/{k}{i}.jpg")
    if reader == "OxfordFlowers":
        counter = iter(range(1, 10 ** 7))
        return split_dataset("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json",
                             lambda y, c, k, i: f"image_{next(counter):05d}.jpg")
    if reader == "StanfordCars":
        counter = iter(range(1, 10 ** 7))
        return split_dataset("stanford_cars", "", "split_zhou_StanfordCars.json",
                             lambda y, c, k, i: f"{'cars_test' if k == 'test' else 'cars_train'}/{next(counter):05d}.jpg")
    if reader == "SUN397":
        return split_dataset("sun397", "SUN397", "split_zhou_SUN397.json",
                             lambda y, c, k, i: f"{c[0]}/{'/'.join(c.split(' ')[::-1])}/sun_{k}{i}.jpg")
    if reader == "UCF101":
        return split_dataset("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json",
                             lambda y, c, k, i: f"{c}/v_{_camel(c)}_g{i + 1:02d}_c01_{k}.jpg")
    if reader == "FGVCAircraft":
        base = osp.join(root, "fgvc_aircraft")
        mkdir_if_missing(base)
        with open(osp.join(base, "variants.txt"), "w") as f:
            f.write("".join(f"{c}\n" for c in names))
        counter = iter(range(1000000, 10 ** 7))
        for key, count in (("train", n_tr), ("val", n_va), ("test", n_te)):
            lines = []
            for y, name in enumerate(names):
                for _ in range(count):
                    image_id = f"{next(counter)}"
                    _write(osp.join(base, "images", image_id + ".jpg"), img[y])
                    lines.append(f"{image_id} {name}\n")
            with open(osp.join(base, f"images_variant_{key}.txt"), "w") as f:
                f.write("".join(lines))
        return base

    # the ImageNet family: class folders named by WordNet id plus classnames.txt
    all_wnids = catalog.wnids("ImageNet")
    in_names = catalog.classnames("ImageNet")
    classnames_txt = "".join(f"{w} {c}\n" for w, c in zip(all_wnids, in_names))

    def family(dataset_dir, image_dir, splits, folder_of):
        base = osp.join(root, dataset_dir)
        mkdir_if_missing(base)
        with open(osp.join(base, "classnames.txt"), "w", encoding="utf-8") as f:
            f.write(classnames_txt)
        ids = catalog.wnids(reader)
        for y in range(n):
            for sub, count in splits:
                for i in range(count):
                    _write(osp.join(base, image_dir, sub, folder_of(y, ids[y]), f"{ids[y]}_{sub or 'img'}{i}.JPEG"),
                           img[y])
        return base

    if reader == "ImageNet":
        return family("imagenet", "images", (("train", n_tr), ("val", n_te)), lambda y, w: w)
    if reader == "ImageNetV2":
        return family("imagenetv2", "imagenetv2-matched-frequency-format-val", (("", n_te),), lambda y, w: str(y))
    if reader == "ImageNetSketch":
        return family("imagenet-sketch", "images", (("", n_te),), lambda y, w: w)
    if reader == "ImageNetA":
        base = family("imagenet-adversarial", "imagenet-a", (("", n_te),), lambda y, w: w)
        open(osp.join(base, "imagenet-a", "README.txt"), "w").write("ImageNet-A\n")
        return base
    if reader == "ImageNetR":
        base = family("imagenet-rendition", "imagenet-r", (("", n_te),), lambda y, w: w)
        open(osp.join(base, "imagenet-r", "README.txt"), "w").write("ImageNet-R\n")
        return base
    raise KeyError(reader)


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
