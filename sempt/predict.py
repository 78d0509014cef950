"""Predict with a trained run: ``python -m sempt.predict`` and ``sempt.Predictor``.

    python -m sempt.predict --model-dir OUTPUT_DIR [--load-epoch N] IMAGE_OR_FOLDER... \\
        [--classes FILE] [--dataset NAME] [--topk 5] [--format table|json|csv] [--explain]
    python -m sempt.predict --trainer ZeroshotCLIP --backbone ViT-B/16 --dataset oxford_pets IMAGE_OR_FOLDER...

Everything comes from the run's output folder: its config (``config.json``, written by ``train.py`` when the
run starts, else the ``config`` that ``results.json`` records after testing) names the trainer, backbone, input
size and transforms, the method's keys and SemPT's attribute file; its checkpoint (the newest, or
``--load-epoch``) holds the learned weights and the class names seen in training. The model is the trainer's
own, built through the registry without a dataset (``PromptTrainer.for_classnames``) and loaded by the
trainer's ``load_model`` (with its checkpoint-key translation); images get the run's test transform, and the
probabilities are the softmax of the logits the trainer's evaluation computes.

The label space is, in this order: the names in ``--classes FILE`` (one per line), the full class list of
``--dataset`` (which also sets the dataset whose hand-crafted template and attribute file are used), or the
classes seen in training. ``--trainer ZeroshotCLIP`` predicts with zero-shot CLIP instead (the run's backbone
and dataset, or ``--backbone`` and ``--dataset`` without a run).

SemPT: every class needs descriptions in the attribute file (``--attributes FILE`` points at another one); a
class seen in training (same prompt after normalising case and ``_``) is scored by its label embedding, any
other by its attribute-enhanced embedding, and the output says which. ``--explain`` adds the attribute weights
``w_{c,m}(x)`` of the top classes: which descriptions the image matched.

A user's own dataset (``ImageFolder``): the template and attribute file are those of the run's dataset config
(``DATASET.IMAGE_FOLDER.TEMPLATE`` and ``NAME``), or of the config ``--dataset`` names. The result goes to stdout
(a reader that stops early, ``| head``, ends the command quietly with status 141), the summary to stderr.
"""
import argparse
import contextlib
import csv
import glob
import io
import json
import os
import os.path as osp
import re
import sys

__all__ = ["Predictor", "load_run", "newest_epoch", "expand_images", "print_result", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
ZERO_SHOT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "configs", "trainers", "ZeroshotCLIP",
                            "vit_b16.yaml")


# --- the run's config (config.json: sempt.run_folder) -------------------------------------------------------
def _registries():
    """Import the repository's dataset readers and trainers (registering them); return their modules."""
    import importlib

    from sempt.config import ConfigError
    from sempt.data.readers import ReadersNotFound, load_readers
    try:
        readers = load_readers()
    except ReadersNotFound as e:
        raise ConfigError(str(e)) from None
    try:
        trainers = importlib.import_module("trainers")
    except ImportError as e:
        raise ConfigError(f"the trainers (the repository's trainers/ package) cannot be imported ({e}): run from "
                          "the repository root") from None
    return readers, trainers


def _default_cfg(extenders):
    from sempt.backend import get_cfg_default
    cfg = get_cfg_default()
    for extend in extenders:
        extend(cfg)
    return cfg


def _lookup(cfg, key):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def newest_epoch(run_dir, name):
    """The epoch of the newest checkpoint in ``run_dir/name`` (``None`` for ``model-best.pth.tar``)."""
    from sempt.checkpoint import CheckpointError
    folder = osp.join(run_dir, name)
    if not osp.isdir(folder):
        raise CheckpointError(f"{run_dir} has no checkpoint folder {name}/: pass the training run's output folder as "
                              "--model-dir (an evaluation-only run's folder holds no checkpoint)")
    marker = osp.join(folder, "checkpoint")  # names the newest file (the engine writes it with every checkpoint)
    if osp.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            fname = f.readline().strip()
        m = re.fullmatch(r"model\.pth\.tar-(\d+)", fname)
        if m and osp.isfile(osp.join(folder, fname)):
            return int(m.group(1))
        if fname == "model-best.pth.tar" and osp.isfile(osp.join(folder, fname)):
            return None
    epochs = [int(m.group(1)) for f in os.listdir(folder) if (m := re.fullmatch(r"model\.pth\.tar-(\d+)", f))]
    if epochs:
        return max(epochs)
    if osp.isfile(osp.join(folder, "model-best.pth.tar")):
        return None
    raise CheckpointError(f"{folder} holds no checkpoint (model.pth.tar-N): train first, or check --model-dir")


def _attribute_coverage(cfg, section, classnames, classes_file):
    """SemPT describes every class it predicts: a one-line ``AttributeFileError`` naming every class the
    attribute file lacks and the command that generates descriptions for them. Returns the file's path."""
    from sempt.attributes import AttributeFileError, attribute_file_of, load_attributes
    from sempt.data import catalog
    path = attribute_file_of(cfg, section)
    knowledge = load_attributes(path)  # structure only: the trainer checks the rest when it builds
    missing = [c for c in dict.fromkeys(classnames) if c not in knowledge.classes]
    if not missing:
        return knowledge.path
    shown = ", ".join(repr(c) for c in missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
    names_file = classes_file or "classes.txt"
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", osp.splitext(osp.basename(names_file))[0]).strip("_") or "classes"
    try:  # never suggest overwriting a shipped dataset's file
        catalog.resolve(stem)
        stem += "_custom"
    except KeyError:
        pass
    write = "" if classes_file else f"write the {len(classnames)} class names, one per line, to {names_file}, then "
    raise AttributeFileError(
        f"SemPT needs attribute descriptions for every class it predicts, and {path} has none for {len(missing)} of "
        f"the {len(classnames)} classes: {shown}. To generate them, {write}run `python -m trainers.attributes generate "
        f"--dataset {stem} --classnames-file {names_file} --domain \"what the images show\"` (or its export/import "
        f"commands without API access) and predict with `--attributes attributes_cache/{stem}.json`")


@contextlib.contextmanager
def _quiet(verbose):
    """The trainer's build messages go to stderr with ``verbose``, else nowhere (stdout stays the result)."""
    with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
        yield


def _run_trainer(model_dir, trainer, load_epoch):
    """``(flat config of the run, its source, trainer name, trainer class)``, checked against the request."""
    from sempt.config import ConfigError
    from sempt.backend import TRAINER_REGISTRY
    from sempt.run_folder import read_run_config
    flat, source = {}, None
    if model_dir:
        if not osp.isdir(model_dir):
            raise ConfigError(f"--model-dir {model_dir} is not a folder: pass a training run's output folder")
        flat, source = read_run_config(model_dir)
    elif not trainer:
        raise ConfigError("pass --model-dir (a training run's output folder), or --trainer ZeroshotCLIP with "
                          "--backbone and --dataset or --classes")
    name = trainer or flat.get("TRAINER.NAME", "")
    known = TRAINER_REGISTRY.registered_names()
    if name not in known:
        raise ConfigError(f"Unknown trainer {name!r} ({'--trainer' if trainer else source}); registered: "
                          f"{sorted(known)}")
    cls = TRAINER_REGISTRY.get(name)
    learnable = bool(cls.LEARNABLE)
    if learnable and not model_dir:
        raise ConfigError(f"{name} predicts with learned weights: pass --model-dir (its training run's output folder)")
    if load_epoch is not None and not (learnable and model_dir):
        raise ConfigError(f"--load-epoch: {name} loads no checkpoint")
    return flat, source, name, cls


def _read_classes(classnames):
    """``(class names, the file they came from)``: a list passes through; a file is read by
    ``sempt.fileio.read_class_list`` (one name per line, or a JSON list)."""
    from sempt.config import ConfigError
    from sempt.fileio import read_class_list
    if not isinstance(classnames, (str, os.PathLike)):
        return classnames, None
    classes_file = os.fspath(classnames)
    try:
        return read_class_list(classes_file), classes_file
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _dataset_ref(dataset, flat):
    """``(DatasetRef, its config file, the run's flat config without its dataset keys)`` for ``--dataset``."""
    from sempt.config import ConfigError
    from sempt.data import catalog
    if not dataset:
        return None, "", flat
    try:
        ref = catalog.lookup(dataset, root=str(flat.get("DATASET.ROOT", "")))
    except KeyError as e:
        raise ConfigError(f"--dataset: {e.args[0] if e.args else e}") from None
    # the label space's dataset replaces the run's (its template, attribute file and class list)
    flat = {k: v for k, v in flat.items() if not k.startswith("DATASET.") or k == "DATASET.ROOT"}
    return ref, ref.config_file, flat


def _run_flags(flat, defaults, name, cls, ref, dataset_file, backbone, attributes, device):
    """``(flags, ignored keys)``: the run's config as flags (keys this version no longer has are ignored),
    with the request's trainer, dataset, backbone, attribute file and device."""
    from sempt.config import ConfigError
    flags, ignored = {}, []
    for key, value in flat.items():
        try:
            default = _lookup(defaults, key)
        except KeyError:
            ignored.append(key)  # a key this version no longer has
            continue
        flags[key] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
    flags["TRAINER.NAME"] = name
    if ref is not None and not dataset_file:
        flags["DATASET.NAME"] = ref.facts.reader
    if backbone:
        flags["MODEL.BACKBONE.NAME"] = backbone
    if attributes:
        if "ATTRIBUTES_FILE" not in defaults.TRAINER.get(cls.CFG_SECTION, {}):
            raise ConfigError(f"--attributes: {name} uses no attribute file (SemPT does)")
        flags[f"TRAINER.{cls.CFG_SECTION}.ATTRIBUTES_FILE"] = osp.abspath(attributes)
    if device == "cpu":
        flags["USE_CUDA"] = False
    return flags, ignored


def _checkpoint(cls, model_dir, load_epoch, verbose):
    """``(checkpoint folder name, epoch, file, class names seen in training)``; all None without weights."""
    from sempt.checkpoint import checkpoint_path, load_checkpoint
    if not (cls.LEARNABLE and model_dir):
        return None, None, None, None
    ckpt_name = cls.CHECKPOINT_NAME or cls.MODEL_NAME
    epoch = load_epoch if load_epoch is not None else newest_epoch(model_dir, ckpt_name)
    ckpt_file = checkpoint_path(model_dir, ckpt_name, epoch)
    with _quiet(verbose):
        seen = load_checkpoint(ckpt_file, opaque_objects=True).get("classnames")
    return ckpt_name, epoch, ckpt_file, seen


def _training_classes(seen, model_dir, ckpt_file):
    """The label space when none is asked for: the classes seen in training, else those the run evaluated."""
    from sempt.config import ConfigError
    if seen:
        return list(seen)
    if model_dir and isinstance(_results(model_dir).get("classnames"), list):
        return _results(model_dir)["classnames"]
    raise ConfigError("No class names: pass --classes FILE (one name per line) or --dataset NAME"
                      + (f" ({ckpt_file} does not record the classes seen in training)" if ckpt_file else ""))


def load_run(model_dir=None, load_epoch=None, classnames=None, dataset=None, trainer=None, backbone=None,
             attributes=None, opts=(), device=None, verbose=False, load_weights=True):
    """``(trainer, info)``: the run's trainer holding its model for a label space, learned weights loaded
    (``load_weights`` False: not yet; ``trainer.load_model(info["run_dir"], epoch=info["epoch"])`` loads them).

    ``classnames``: a list of names, or a file with one per line; ``dataset``: a reader or config name (its class
    list when ``classnames`` is None, and its template and attribute file); ``trainer``: another trainer than the
    run's (``ZeroshotCLIP``: no checkpoint); ``backbone``: other CLIP weights (moved files); ``attributes``: SemPT's
    attribute file; ``opts``: ``KEY VALUE`` config options; ``device``: "cpu" keeps CUDA unused.
    ``info`` holds the trainer, backbone, checkpoint, epoch, dataset, the class names and (SemPT) the attribute file.
    """
    from sempt.config import ConfigError
    from sempt.config import build_cfg
    from sempt.data import catalog
    from sempt.data.readers import use_config
    readers, trainers = _registries()
    extenders = [readers.extend_cfg, trainers.extend_cfg]
    flat, source, name, cls = _run_trainer(model_dir, trainer, load_epoch)
    classnames, classes_file = _read_classes(classnames)
    ref, dataset_file, flat = _dataset_ref(dataset, flat)
    defaults = _default_cfg(extenders)
    flags, ignored = _run_flags(flat, defaults, name, cls, ref, dataset_file, backbone, attributes, device)
    config_file = ZERO_SHOT_CONFIG if not model_dir and osp.isfile(ZERO_SHOT_CONFIG) else ""
    cfg = build_cfg(extenders, dataset_config_file=dataset_file, config_file=config_file, flags=flags, opts=opts)
    # no dataset reader is built here, and building one is what makes its config current for the lookups by
    # DATASET.NAME (a user's ImageFolder dataset: its template and attribute file come from its config); so the
    # run's dataset config is made current here, for the checks below, the trainer's build and sempt.prompts
    use_config(cfg)
    if not cfg.MODEL.BACKBONE.NAME:
        raise ConfigError("No backbone: pass --backbone (a CLIP name such as ViT-B/16, or a weights file)")

    ckpt_name, epoch, ckpt_file, seen = _checkpoint(cls, model_dir, load_epoch, verbose)
    if classnames is None:
        classnames = catalog.dataset_classnames(ref) if ref is not None else _training_classes(seen, model_dir,
                                                                                              ckpt_file)
    classnames = list(classnames)
    section = cls.CFG_SECTION
    attribute_file = None
    if section and "ATTRIBUTES_FILE" in cfg.TRAINER.get(section, {}):
        attribute_file = _attribute_coverage(cfg, section, classnames, classes_file)

    with _quiet(verbose):
        built = cls.for_classnames(cfg, classnames)
        if ckpt_name and load_weights:
            built.load_model(model_dir, epoch=epoch)
    info = {"trainer": name, "backbone": cfg.MODEL.BACKBONE.NAME, "run_dir": model_dir, "config_file": source,
            "checkpoint": ckpt_file, "epoch": epoch,
            "dataset": cfg.DATASET.NAME, "classnames": classnames, "classes_file": classes_file,
            "attribute_file": attribute_file,
            "seen_in_training": list(seen) if seen else None, "ignored_config_keys": ignored}
    return built, info


def _results(run_dir):
    from sempt.results import read_results
    return read_results(run_dir) or {}


# --- images ------------------------------------------------------------------------------------------------
def expand_images(inputs):
    """``[(name, path or PIL image)]`` for image files, folders (every image below, sorted) and PIL images."""
    from PIL import Image
    if isinstance(inputs, (str, os.PathLike, Image.Image)):  # one image or folder
        inputs = [inputs]
    out = []
    for i, item in enumerate(inputs):
        if isinstance(item, Image.Image):
            out.append((f"<image {i}>", item))
            continue
        path = os.fspath(item)
        if osp.isdir(path):
            found = sorted(p for p in glob.glob(osp.join(glob.escape(path), "**", "*"), recursive=True)
                           if p.lower().endswith(IMAGE_EXTENSIONS) and osp.isfile(p))
            if not found:
                raise FileNotFoundError(f"The folder {path} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
            out.extend((p, p) for p in found)
        elif osp.isfile(path):
            out.append((path, path))
        else:
            raise FileNotFoundError(f"No image or folder at {path}")
    if not out:
        raise FileNotFoundError("No images given")
    return out


def _read_image(name, item):
    from PIL import Image
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    try:
        with Image.open(item) as img:
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError) as e:  # PIL: truncated, not an image, bad header
        from sempt.data.coop import DatasetError
        raise DatasetError(f"Cannot decode the image {name} ({type(e).__name__}: {e})") from None


def _test_transform(cfg):
    """The run's evaluation transform (resize, center crop, tensor, normalisation), from its engine."""
    from sempt.backend import ENGINE
    from sempt.config import ConfigError
    if ENGINE == "dassl":
        from dassl.data.transforms import build_transform
    else:
        from sempt.engine import build_transform
    transform = build_transform(cfg, is_train=False)
    if transform is None:
        raise ConfigError("INPUT.NO_TRANSFORM is True in the run's config: images cannot become tensors")
    return transform


# --- the predictor -----------------------------------------------------------------------------------------
class Predictor:
    """A run's model for a label space: ``Predictor.from_run(dir).predict(images)``.

    ``predict`` returns one dict per image: ``{"image": name, "top": [{"rank", "class", "probability", "logit",
    "scored_by" (SemPT: "label", "attribute" or "ensemble"), "attributes" (with ``explain``: [{"attribute",
    "weight", "description"}], largest weight first)}]}``. ``scores`` gives the full logits.
    """

    def __init__(self, trainer, info):
        self.trainer = trainer
        self.model = trainer.model
        self.info = info
        self.classnames = list(info["classnames"])
        self.device = trainer.device
        self.transform = _test_transform(trainer.cfg)
        self._descriptions = None

    @classmethod
    def from_run(cls, model_dir=None, load_epoch=None, classnames=None, dataset=None, trainer=None, backbone=None,
                 attributes=None, opts=(), device=None, verbose=False):
        """The run in ``model_dir`` (newest checkpoint unless ``load_epoch``); arguments as ``load_run``'s."""
        return cls(*load_run(model_dir, load_epoch, classnames, dataset, trainer, backbone, attributes, opts, device,
                             verbose))

    @property
    def scoring_paths(self):
        """Per class, the embedding that scores it ("label", "attribute", "ensemble"); None for one-path models."""
        paths = getattr(self.model, "scoring_paths", None)
        return paths() if callable(paths) else None

    def _batches(self, images, batch_size, progress):
        import torch
        items = expand_images(images)
        chunks = range(0, len(items), batch_size)
        if progress and len(chunks) > 1:
            from tqdm import tqdm
            chunks = tqdm(chunks, desc="predict", unit="batch", file=sys.stderr, dynamic_ncols=True, mininterval=2.0)
        for i in chunks:
            part = items[i:i + batch_size]
            x = torch.stack([self.transform(_read_image(n, it)) for n, it in part]).to(self.device)
            yield [n for n, _ in part], x

    def scores(self, images, batch_size=32, progress=False):
        """``(names, logits)``: the image names and their (N, C) float logits on the CPU."""
        import torch
        names, out = [], []
        with torch.no_grad():
            for batch_names, x in self._batches(images, batch_size, progress):
                names += batch_names
                out.append(self.model(x).float().cpu())
        return names, torch.cat(out)

    def descriptions(self):
        """``(attribute names, [[description per attribute] per class])`` the SemPT model was built with."""
        if not callable(getattr(self.model, "explain", None)) or not hasattr(self.trainer, "attribute_table"):
            from sempt.config import ConfigError
            raise ConfigError(f"--explain shows SemPT's attribute weights; {self.info['trainer']} has none")
        if self._descriptions is None:
            with _quiet(False):
                _, attrs, table, _ = self.trainer.attribute_table(self.classnames)
            self._descriptions = (attrs, table)
        return self._descriptions

    def predict(self, images, topk=5, explain=False, batch_size=32, progress=False):
        """Top-``topk`` classes with probabilities per image (files, folders or PIL images); see the class."""
        import torch
        topk = max(1, min(int(topk), len(self.classnames)))
        paths = self.scoring_paths
        attrs, table = self.descriptions() if explain else (None, None)
        results = []
        with torch.no_grad():
            for names, x in self._batches(images, batch_size, progress):
                weights = None
                if explain:  # SemPT: the image features once, for the logits and the (B, C, M) attribute weights
                    features = self.model.encode_image(x)
                    logits = self.model.logits_from_features(features).float().cpu()
                    weights = self.model.explain(features).float().cpu()
                else:
                    logits = self.model(x).float().cpu()
                probs = logits.softmax(dim=-1)
                top = probs.topk(topk, dim=-1)
                for b, name in enumerate(names):
                    rows = []
                    for rank, (p, c) in enumerate(zip(top.values[b].tolist(), top.indices[b].tolist()), start=1):
                        row = {"rank": rank, "class": self.classnames[c], "probability": p,
                               "logit": logits[b, c].item()}
                        if paths is not None:
                            row["scored_by"] = paths[c]
                        if weights is not None:
                            order = weights[b, c].argsort(descending=True).tolist()
                            row["attributes"] = [{"attribute": attrs[m], "weight": weights[b, c, m].item(),
                                                  "description": table[c][m]} for m in order]
                        rows.append(row)
                    results.append({"image": name, "top": rows})
        return results

    def summary(self):
        """One line: what predicts, from which checkpoint, over which classes."""
        i = self.info
        where = (f"{i['checkpoint']}" + (f" (epoch {i['epoch']})" if i["epoch"] is not None else "")
                 if i["checkpoint"] else "no checkpoint (zero-shot)")
        text = f"{i['trainer']} on {i['backbone']}, {where}; {len(self.classnames)} classes"
        paths = self.scoring_paths
        if paths is not None:
            n_label = sum(p == "label" for p in paths)
            if set(paths) <= {"label", "attribute"}:
                text += (f" ({n_label} seen in training: label embeddings; {len(paths) - n_label} unseen: "
                         "attribute-enhanced embeddings)")
            else:
                text += f" ({paths[0]} path)"
        return text


# --- output ------------------------------------------------------------------------------------------------
SIGPIPE_STATUS = 141  # 128 + SIGPIPE (13): the status of a Unix tool stopped by a closed pipe (`yes | head`)


def print_result(text):
    """Print ``text`` to stdout; False when the reader closed the pipe first (``... --format json | head``).

    Then nothing more can be written, and the result is not an error: the command ends quietly with
    ``SIGPIPE_STATUS``, like ``cat`` or ``yes`` cut off by ``head``, instead of a ``BrokenPipeError`` traceback.
    Python's documented idiom: stdout is pointed at /dev/null, so the interpreter's own flush at exit, which
    would fail on the closed pipe again, writes nowhere."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):  # stdout is not a file descriptor (captured)
            pass
        return False
    return True


def format_table(results, explain=False):
    from tabulate import tabulate
    blocks = []
    for r in results:
        has_path = "scored_by" in r["top"][0]
        rows = [[t["rank"], t["class"], f"{t['probability']:.4f}"] + ([t["scored_by"]] if has_path else [])
                for t in r["top"]]
        headers = ["rank", "class", "probability"] + (["scored by"] if has_path else [])
        lines = [r["image"], tabulate(rows, headers=headers, disable_numparse=True)]
        if explain:
            lines.append("attribute weights w_{c,m}(x), largest first:")
            for t in r["top"]:
                unused = " (not used: scored by its label embedding)" if t.get("scored_by") == "label" else ""
                lines.append(f"  {t['class']}{unused}: " + "; ".join(
                    f"{a['attribute']} {a['weight']:.3f} \"{a['description']}\"" for a in t["attributes"]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_csv(results, explain=False):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    has_path = bool(results) and "scored_by" in results[0]["top"][0]
    writer.writerow(["image", "rank", "class", "probability", "logit"] + (["scored_by"] if has_path else [])
                    + (["attribute_weights"] if explain else []))
    for r in results:
        for t in r["top"]:
            row = [r["image"], t["rank"], t["class"], f"{t['probability']:.6f}", f"{t['logit']:.6f}"]
            row += [t["scored_by"]] if has_path else []
            row += [";".join(f"{a['attribute']}={a['weight']:.4f}" for a in t["attributes"])] if explain else []
            writer.writerow(row)
    return out.getvalue().rstrip("\n")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m sempt.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders (searched recursively)")
    p.add_argument("--model-dir", default="", help="the training run's output folder")
    p.add_argument("--load-epoch", type=int, default=None, help="checkpoint epoch (default: the newest)")
    p.add_argument("--classes", default="", metavar="FILE", help="class names to predict, one per line")
    p.add_argument("--dataset", default="", help="predict over this dataset's classes (reader or config name)")
    p.add_argument("--trainer", default="", help="another trainer than the run's: ZeroshotCLIP")
    p.add_argument("--backbone", default="", help="CLIP name or weights file (default: the run's)")
    p.add_argument("--attributes", default="", metavar="FILE", help="SemPT: the attribute file to use")
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--explain", action="store_true", help="SemPT: attribute weights of the top classes")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cpu", action="store_true", help="do not use CUDA")
    p.add_argument("--opt", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="a config option, e.g. --opt INPUT.SIZE \"(224, 224)\" (repeatable)")
    p.add_argument("--verbose", action="store_true", help="show the trainer's build messages (on stderr)")
    return p


def main(argv=None):
    from sempt.attributes import AttributeFileError
    from sempt.checkpoint import CheckpointError
    from sempt.clip_loader import CLIPLoadError
    from sempt.config import ConfigError
    from sempt.data.coop import DatasetError
    args = build_parser().parse_args(argv)
    try:
        predictor = Predictor.from_run(
            args.model_dir or None, args.load_epoch, args.classes or None, args.dataset or None, args.trainer or None,
            args.backbone or None, args.attributes or None, [v for pair in args.opt for v in pair],
            "cpu" if args.cpu else None, args.verbose)
        print(predictor.summary(), file=sys.stderr)
        results = predictor.predict(args.images, topk=args.topk, explain=args.explain, batch_size=args.batch_size,
                                    progress=True)
    except (ConfigError, CheckpointError, CLIPLoadError, AttributeFileError, DatasetError, FileNotFoundError) as e:
        text = str(e).strip()
        print(f"error: {text.splitlines()[0] if text else type(e).__name__}", file=sys.stderr)
        return 2
    if args.format == "json":
        info = {k: v for k, v in predictor.info.items() if k not in ("classnames",)}
        text = json.dumps({"run": info, "classes": predictor.classnames, "predictions": results}, indent=2,
                          ensure_ascii=False)
    elif args.format == "csv":
        text = format_csv(results, args.explain)
    else:
        text = format_table(results, args.explain)
    return 0 if print_result(text) else SIGPIPE_STATUS


if __name__ == "__main__":
    sys.exit(main())
