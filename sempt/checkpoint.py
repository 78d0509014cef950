"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``.

The layout is Dassl's: ``<dir>/<model name>/model.pth.tar-<epoch>`` holding
``{"state_dict", "epoch", "optimizer", "scheduler", "val_result", ...}`` and a text file ``checkpoint``
naming the newest one. Everything stored is tensors, numbers, strings, lists and dicts, so loading
never runs pickled code.
"""
import os
import os.path as osp
import pickle
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


class _Opaque:
    """Stands in for a Python object pickled inside a checkpoint (``opaque_objects``): built from nothing,
    keeps nothing, runs nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _empty_dict(*args, **kwargs):  # stands in for a pickled defaultdict, so its items can still be set
    return {}


_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL (\S+)")


def _load_with_placeholders(fpath, map_location):
    """``torch.load(weights_only=True)``, replacing every global the file names that torch does not allow
    by an inert placeholder; returns ``(obj, names replaced)``."""
    names = []
    while True:
        stubs = [(_empty_dict if n == "collections.defaultdict" else _Opaque, n if "." in n else f"builtins.{n}")
                 for n in names]
        try:
            with torch.serialization.safe_globals(stubs):
                return torch.load(fpath, map_location=map_location, weights_only=True), names
        except pickle.UnpicklingError as e:
            m = _UNSUPPORTED.search(str(e))
            if m is None or m.group(1) in names or len(names) >= 64:
                raise
            names.append(m.group(1))


def load_checkpoint(fpath, map_location=None, opaque_objects=False):
    """Load a checkpoint safely (``weights_only=True``). Errors name the file and say what to do.

    ``opaque_objects``: Python objects pickled in the file (the original code's Dassl warm-up scheduler and
    its optimizer) are replaced by inert placeholders instead of refusing the file: nothing from the file
    runs, the tensors load, and what was replaced is printed. Enough to evaluate learned weights; a run
    cannot resume from such placeholders.
    """
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
        if opaque_objects:
            obj, replaced = _load_with_placeholders(fpath, map_location)
            if replaced:
                print(f"Note: {fpath} holds pickled Python objects ({', '.join(replaced)}), as the original code's "
                      "Dassl writes them; they were replaced by inert placeholders (never run). The weights load.")
        else:
            obj = torch.load(fpath, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        m = _UNSUPPORTED.search(str(e))
        if m is None:
            raise CheckpointError(f'Cannot read "{fpath}": {str(e).splitlines()[0]}. The file is damaged; '
                                  "copy or save it again (or retrain).") from e
        raise CheckpointError(
            f'"{fpath}" holds a pickled Python object ({m.group(1)}) that is not loaded, for safety: files '
            "written by this project hold only tensors and plain values. A file from the original code (Dassl's "
            "warm-up scheduler) can still be evaluated with --eval-only --model-dir, but not resumed: start the "
            "run again in a new output folder.") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:  # torch's zip reader: truncated or not a checkpoint
        raise CheckpointError(
            f'Cannot read "{fpath}": {type(e).__name__}: {str(e).splitlines()[0] if str(e) else "empty"}. The file '
            "is damaged or truncated (an interrupted copy or save?); copy or save it again, or retrain.") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f'"{fpath}" holds a {type(obj).__name__}, not a checkpoint dict with a "state_dict"')
    return obj


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None, translate=None, on_loaded=None):
    """Restore model, optimizer and scheduler from the file named in ``fdir/checkpoint``; return the epoch.
    ``translate(state_dict, path)`` maps the file's keys to the model's (another code base's layout);
    ``on_loaded(checkpoint)`` restores whatever else the file holds."""
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
    if on_loaded is not None:
        on_loaded(checkpoint)
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
