"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``.

The layout is Dassl's: ``<dir>/<model name>/model.pth.tar-<epoch>`` holding
``{"state_dict", "epoch", "optimizer", "scheduler", "val_result", ...}`` and a text file ``checkpoint``
naming the newest one. Everything stored is tensors, numbers, strings, lists and dicts, so loading
never runs pickled code.
"""
import os
import os.path as osp
import re
import shutil
from collections import OrderedDict

import torch

from sempt.fileio import atomic_write_text, mkdir_if_missing

__all__ = [
    "CheckpointError", "KeyRenames", "save_checkpoint", "load_checkpoint", "resume_from_checkpoint",
    "load_pretrained_weights", "checkpoint_path",
]


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


class KeyRenames:
    """Renames state-dict keys between this repository's modules and another code base's checkpoint layout.

    Each rule is ``(ours, theirs)`` or ``(ours, theirs, offset)``: key patterns in which ``#`` stands for a
    layer index (their index = ours + ``offset``). A rule matches a whole key or a prefix of it followed by
    ``.``; the first matching rule wins. ``to_theirs`` maps every key (unmatched ones pass unchanged);
    ``to_ours`` returns ``None`` for a key that no rule produces.
    """

    def __init__(self, rules):
        self.rules = [(rule[0], rule[1], rule[2] if len(rule) > 2 else 0) for rule in rules]

    @staticmethod
    def _regex(pattern):
        return re.compile("^" + re.escape(pattern).replace("\\#", "#").replace("#", r"(\d+)") + r"(\..*)?$")

    @classmethod
    def _rename(cls, key, src, dst, offset):
        m = cls._regex(src).match(key)
        if m is None:
            return None
        groups = m.groups()
        index, rest = (groups[0], groups[1]) if "#" in src else (None, groups[0])
        out = dst.replace("#", str(int(index) + offset)) if index is not None else dst
        return out + (rest or "")

    def to_theirs(self, key):
        for ours, theirs, offset in self.rules:
            out = self._rename(key, ours, theirs, offset)
            if out is not None:
                return out
        return key

    def to_ours(self, key):
        for ours, theirs, offset in self.rules:
            out = self._rename(key, theirs, ours, -offset)
            if out is not None:
                return out
        return None


def checkpoint_path(directory, name, epoch=None):
    """``<directory>/<name>/model.pth.tar-<epoch>`` (``model-best.pth.tar`` when ``epoch`` is None)."""
    fname = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
    return osp.join(directory, name, fname)


def _atomic_torch_save(obj, fpath):
    tmp = f"{fpath}.tmp-{os.getpid()}"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, fpath)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def save_checkpoint(state, save_dir, is_best=False, remove_module_from_keys=True, model_name=""):
    """Save ``state`` to ``save_dir/model.pth.tar-<state['epoch']>`` (or ``model_name``)."""
    mkdir_if_missing(save_dir)
    state = dict(state)
    if remove_module_from_keys:
        state["state_dict"] = OrderedDict(
            (k[7:] if k.startswith("module.") else k, v) for k, v in state["state_dict"].items()
        )
    fpath = osp.join(save_dir, model_name or f"model.pth.tar-{state['epoch']}")
    _atomic_torch_save(state, fpath)
    print(f"Checkpoint saved to {fpath}")
    atomic_write_text(osp.basename(fpath) + "\n", osp.join(save_dir, "checkpoint"))
    if is_best:
        best = osp.join(osp.dirname(fpath), "model-best.pth.tar")
        shutil.copy(fpath, best + ".tmp")
        os.replace(best + ".tmp", best)
        print(f'Best checkpoint saved to "{best}"')
    return fpath


def load_checkpoint(fpath, map_location=None):
    """Load a checkpoint safely. Errors name the file and say what to do."""
    if not fpath:
        raise ValueError("File path is empty")
    if not osp.exists(fpath):
        parent = osp.dirname(fpath)
        hint = ""
        if osp.isdir(parent):
            present = sorted(f for f in os.listdir(parent) if f.startswith("model"))
            hint = f" Files there: {present}." if present else " That folder holds no checkpoint."
            hint += " Pass --load-epoch with one of the saved epochs (or train first)."
        else:
            hint = (" The model folder does not exist: check --model-dir (it must be the training run's "
                    "output folder, the one holding the registered model's sub-folder).")
        raise FileNotFoundError(f'No checkpoint at "{fpath}".{hint}')
    if map_location is None:
        map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with advice
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f'Cannot load "{fpath}" safely (weights_only=True): {msg}. Checkpoints written by this project '
            "hold only tensors and plain values. A file saved by original Dassl may embed Python objects "
            "(its warm-up scheduler); if you trust it, set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for that run."
        ) from e


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None, translate=None):
    """Restore model, optimizer and scheduler from the file named in ``fdir/checkpoint``; return the epoch.
    ``translate(state_dict, path)`` maps the file's keys to the model's (another code base's layout)."""
    with open(osp.join(fdir, "checkpoint"), "r") as f:
        fpath = osp.join(fdir, f.readline().strip())
    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    state_dict = checkpoint["state_dict"]
    model.load_state_dict(translate(state_dict, fpath) if translate else state_dict, strict=translate is None)
    print("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")
    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def load_pretrained_weights(model, weight_path):
    """Load matching weights (same name and shape) into ``model``; report what was skipped."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    model_dict = model.state_dict()
    matched, discarded = OrderedDict(), []
    for k, v in state_dict.items():
        k = k[7:] if k.startswith("module.") else k
        if k in model_dict and model_dict[k].size() == v.size():
            matched[k] = v
        else:
            discarded.append(k)
    if not matched:
        raise CheckpointError(
            f'"{weight_path}" has no weight whose name and shape match the model; is it for another model?'
        )
    model_dict.update(matched)
    model.load_state_dict(model_dict)
    print(f'Loaded pretrained weights from "{weight_path}"')
    if discarded:
        print(f"** The following layers are discarded due to unmatched keys or layer size: {discarded}")
