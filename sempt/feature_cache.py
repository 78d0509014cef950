"""Image features of an evaluated split, computed once per backbone and cached on disk.

For trainers whose image side is CLIP's own frozen, unprompted image encoder
(``PromptTrainer.FROZEN_IMAGE_ENCODER = True``: ZeroshotCLIP, CoOp, KgCoOp, CoCoOp, SemPT), the unit image
features of the test images are the same for every method, seed and checkpoint. Their models split
``forward(image)`` into ``logits_from_features(encode_image(image))``, so ``PromptTrainer.test`` encodes an
evaluated split once, stores the features here, and every later evaluation of the same split computes only
the text side.

The key (``feature_key``) holds everything that can change a feature: the backbone file's content (SHA-256,
remembered per file by ``sempt.attribute_embeddings.file_fingerprint``), the evaluated split's images in
order (path, label and the file's size, modification/change times and inode, so base/new subsampling,
another split file or a replaced image give another key), the test transform (its ``repr`` and the
``INPUT`` keys it is built from), the data wrapper, the model's dtype and device type, the test batch size
(so the cached features are computed in exactly the batches an uncached run uses: identical bits on CPU),
the torch version and this file's format version.

Files: ``<folder>/<dataset>-<split>-<all|base|new>-<key[:20]>.pt``, a ``torch.save``'d dict of tensors and plain values
(``format``, ``key``, ``features``, ``labels``, ``meta``), read with ``weights_only=True`` (nothing in a
file is ever unpickled as an object), written atomically (temp file + rename). A damaged or mismatched file
is rebuilt with a one-line note; a folder that cannot be written is noted and the evaluation goes on.

``TEST.FEATURE_CACHE`` (``extend_cfg``): ``auto`` (default) = ``$XDG_CACHE_HOME/sempt/test_features``
(``~/.cache/sempt/test_features``), a folder path, or ``off`` / ``""`` to switch the cache off. A
distributed (``torchrun``) evaluation does not use it.
"""
import hashlib
import os
import os.path as osp
import time

import torch
from tqdm import tqdm

from sempt.distributed import is_distributed, world_size

__all__ = ["FORMAT", "DEFAULT", "extend_cfg", "cache_folder", "default_cache_dir", "split_fingerprint",
           "transform_description", "feature_key", "load_or_encode"]

FORMAT = "sempt-image-features-v1"
DEFAULT = "auto"
OFF = ("", "off", "none", "false", "0")
GUARD_IMAGES = 4  # images re-run through model(image) to check the cached path (see ``load_or_encode``)
GUARD_TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-6}  # relative to max |logit|; fp16/bf16: 1e-2
_noted = []  # the distributed note was printed


def extend_cfg(cfg):
    """Declare ``TEST.FEATURE_CACHE``: ``auto`` (the default folder), a folder, or ``off`` / ``""``."""
    cfg.TEST.FEATURE_CACHE = DEFAULT


def default_cache_dir():
    root = os.environ.get("XDG_CACHE_HOME") or osp.expanduser("~/.cache")
    return osp.join(root, "sempt", "test_features")


def cache_folder(cfg):
    """The cache folder ``TEST.FEATURE_CACHE`` names, or None when the cache is off."""
    value = cfg.TEST.get("FEATURE_CACHE", DEFAULT)
    value = "" if value is None else str(value).strip()
    if value.lower() in OFF:
        return None
    if value == DEFAULT:
        return default_cache_dir()
    return osp.abspath(osp.expanduser(value))


def split_fingerprint(data_source):
    """SHA-256 of the ordered (image path, label, size, mtime, ctime, inode) of a split's ``Datum`` items."""
    h = hashlib.sha256()
    for item in data_source:
        try:
            st = os.stat(item.impath)
            stamp = f"{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
        except OSError:  # encoding will stop with the file named; never a key that matches a good file
            stamp = "missing"
        h.update(f"{item.impath}\t{item.label}\t{stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def transform_description(cfg, loader):
    """What decides the pixels the encoder sees: the test transform's repr and the INPUT keys it is built
    from (the training augmentations in INPUT.TRANSFORMS do not matter, only whether it normalises)."""
    i = cfg.INPUT
    wrapper = type(loader.dataset)
    return "|".join([
        repr(getattr(loader.dataset, "transform", None)),
        f"size={tuple(i.SIZE)}", f"interp={i.INTERPOLATION}", f"mean={list(i.PIXEL_MEAN)}",
        f"std={list(i.PIXEL_STD)}", f"normalize={'normalize' in i.TRANSFORMS}", f"no_transform={i.NO_TRANSFORM}",
        f"wrapper={wrapper.__module__}.{wrapper.__qualname__}",
    ])


def _backbone_id(cfg, folder):
    from sempt.attribute_embeddings import file_fingerprint
    from sempt.clip_loader import resolve_clip_file
    return file_fingerprint(resolve_clip_file(cfg.MODEL.BACKBONE.NAME, download=False), folder)


def feature_key(cfg, loader, model_dtype, device, folder):
    """``(key, parts)``: the SHA-256 of everything a cached feature depends on, and the parts as text."""
    parts = {
        "format": FORMAT,
        "backbone": _backbone_id(cfg, folder),
        "split": split_fingerprint(loader.dataset.data_source),
        "images": str(len(loader.dataset.data_source)),
        "transform": transform_description(cfg, loader),
        "dtype": str(model_dtype),
        "device": torch.device(device).type,
        "batch_size": str(loader.batch_size),
        "torch": str(torch.__version__),
    }
    text = "\n".join(f"{k}={v}" for k, v in parts.items())
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), parts


def _read(path, key, labels, dtype):
    """``(features, None)``, or ``(None, reason)`` when the file is damaged or is not this key's."""
    import pickle
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    except pickle.UnpicklingError:
        return None, "it holds Python objects other than tensors and plain values, which are never loaded"
    except Exception as e:  # noqa: BLE001 - truncated, not a torch file, unreadable: rebuilt
        return None, f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("key") != key:
        return None, "written for another key or format"
    features, stored = obj.get("features"), obj.get("labels")
    if not isinstance(features, torch.Tensor) or not isinstance(stored, torch.Tensor) or features.dim() != 2 \
            or features.shape[0] != len(labels) or features.dtype != dtype or not torch.equal(stored, labels):
        return None, "its tensors do not match the split (count, labels or dtype)"
    return features, None


def _write(path, key, features, labels, meta):
    from sempt.checkpoint import _atomic_torch_save
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        _atomic_torch_save({"format": FORMAT, "key": key, "features": features.contiguous(), "labels": labels,
                            "meta": meta}, path)
        return True
    except OSError as e:  # a full disk or a read-only folder: the evaluation goes on without caching
        print(f"Note: could not write the test-feature cache {path} ({e.strerror or e}); continuing without it")
        return False


def _encode(model, loader, split, device):
    """Unit image features and labels of every image of ``loader``, in its order and batches."""
    feats, labels = [], []
    for batch in tqdm(loader, desc=f"encode {split} features", dynamic_ncols=True, mininterval=2.0):
        feats.append(model.encode_image(batch["img"].to(device)).cpu())
        labels.append(torch.as_tensor(batch["label"]).cpu())
    return torch.cat(feats), torch.cat(labels).long()


def _guard(model, loader, features, device, inference):
    """Relative difference between ``inference(image)`` (the uncached path) and the cached path on the
    split's first images; a large one means the trainer's image side is not the frozen encoder (or the
    images changed without their size, times or inode changing)."""
    from torch.utils.data import default_collate
    n = min(GUARD_IMAGES, len(features))
    batch = default_collate([loader.dataset[i] for i in range(n)])
    ref = inference(batch["img"].to(device)).float()
    got = model.logits_from_features(features[:n].to(device)).float()
    return ((ref - got).abs().max() / ref.abs().max().clamp_min(1e-12)).item()


@torch.no_grad()
def load_or_encode(model, loader, cfg, split, device, inference=None):
    """``(features, labels)`` of ``loader``'s images (features on CPU, in the model's dtype), from the cache
    or encoded now and cached; None when the cache is off or does not apply here (the caller then runs the
    engine's uncached loop). ``inference(image) -> logits`` is the uncached path (default ``model``); it is
    compared with ``model.logits_from_features`` on the first images, and the cache is not used when they
    disagree beyond rounding."""
    folder = cache_folder(cfg)
    if folder is None:
        return None
    if is_distributed():
        if not _noted:  # once per process, not at every validation
            print(f"Test-feature cache: not used in a distributed run (world size {world_size()}); every process "
                  "encodes its share of the images")
            _noted.append(True)
        return None
    if not isinstance(loader.sampler, torch.utils.data.SequentialSampler):
        print(f"Note: test-feature cache not used: the {split} loader's sampler is "
              f"{type(loader.sampler).__name__}, not the SequentialSampler whose order the cache keeps")
        return None
    inference = inference or model
    dtype = model.dtype
    data = loader.dataset.data_source
    labels = torch.tensor([item.label for item in data], dtype=torch.long)
    t0 = time.time()
    try:
        key, parts = feature_key(cfg, loader, dtype, device, folder)
    except Exception as e:  # noqa: BLE001 - e.g. an unreadable backbone file: evaluate without the cache
        print(f"Note: test-feature cache not used: cannot key it ({type(e).__name__}: {e})")
        return None
    name = f"{cfg.DATASET.NAME}-{split}-{cfg.DATASET.get('SUBSAMPLE_CLASSES', 'all')}-{key[:20]}.pt"
    path = osp.join(folder, name.replace(os.sep, "_"))
    features, reason = (None, None)
    if osp.isfile(path):
        features, reason = _read(path, key, labels, dtype)
        if features is None:
            print(f"Note: test-feature cache {path} is unusable ({reason}); rebuilding it")
    if features is not None:
        print(f"Test-feature cache: hit, {len(features):,} {split} image features read from {path} "
              f"in {time.time() - t0:.2f}s")
    else:
        print(f"Test-feature cache: miss, encoding {len(data):,} {split} images once with the frozen image encoder "
              f"into {path}")
        features, encoded_labels = _encode(model, loader, split, device)
        if not torch.equal(encoded_labels, labels):
            print("Note: test-feature cache not used: the loader's labels are not the split's in order")
            return None
        meta = {"dataset": cfg.DATASET.NAME, "split": split, "backbone": cfg.MODEL.BACKBONE.NAME,
                "parts": parts, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if _write(path, key, features, labels, meta):
            size = features.numel() * features.element_size() / 2 ** 20
            print(f"Test-feature cache: written ({len(features):,} x {features.shape[1]} {str(dtype)[6:]}, "
                  f"{size:.1f} MiB)")
    tolerance = GUARD_TOLERANCE.get(dtype, 1e-2)
    diff = _guard(model, loader, features, device, inference)
    if not diff <= tolerance:
        print(f"Note: test-feature cache not used: logits from cached features differ from the model's own by "
              f"{diff:.2g} (relative; at most {tolerance:g} expected) on the first images; evaluating without it")
        return None
    return features, labels
