"""Frozen CLIP text embeddings of the attribute descriptions, cached on disk.

Keyed by (backbone file content, attribute file content, sentence template, the model's precision and
device type): any change recomputes them.
The cache holds every class of the attribute file, so base, new and all label spaces share one file.
Files are ``torch.save``'d tensors and lists, read with ``weights_only=True``, written atomically.
"""
import hashlib
import os
import os.path as osp

import torch

from sempt.attributes import split_variant_key
from sempt.fileio import mkdir_if_missing, read_json, write_json
from sempt.text_encoder import encode_texts

__all__ = ["default_cache_dir", "file_fingerprint", "attribute_sentence", "load_or_compute_embeddings"]

FORMAT = "sempt-attribute-embeddings-v2"  # v2: by_id rows


def default_cache_dir():
    root = os.environ.get("XDG_CACHE_HOME") or osp.expanduser("~/.cache")
    return osp.join(root, "sempt", "attribute_embeddings")


def file_fingerprint(path, cache_dir):
    """SHA-256 of a file, remembered per (path, size, modification and change times, inode) so a 350 MB
    backbone is hashed once; a file replaced in place, even with its old size and modification time, gets a
    new change time and is hashed again. An unreadable index is rebuilt."""
    st = os.stat(path)
    index_path = osp.join(cache_dir, "file_hashes.json")
    index = {}
    if osp.isfile(index_path):
        try:
            index = read_json(index_path)
            if not isinstance(index, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            print(f"Note: the hash index {index_path} is unreadable ({type(e).__name__}); rebuilding it")
            index = {}
    key = f"{osp.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
    if key not in index:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        index[key] = h.hexdigest()
        write_json(index, index_path)
    return index[key]


def attribute_sentence(template, classname, attribute, description):
    """``template`` with ``{class}``, ``{attribute}`` and ``{description}`` filled in, e.g.
    "a photo of a abyssinian, coat colour: a warm ruddy coat with ticked, banded hairs."."""
    return template.format(**{"class": classname.replace("_", " "), "attribute": attribute,
                              "description": description.strip().rstrip(".")})


def load_or_compute_embeddings(clip_model, knowledge, template, backbone_id, cache_dir=None, batch_size=256):
    """``(classes, attributes, embeddings[C_file, M_file, D])`` for every class of the attribute file."""
    cache_dir = cache_dir or default_cache_dir()
    mkdir_if_missing(cache_dir)
    precision = f"{clip_model.dtype}|{clip_model.token_embedding.weight.device.type}"  # fp16 != fp32 features
    key = hashlib.sha256(f"{FORMAT}|{backbone_id}|{knowledge.content_hash}|{template}|{precision}".encode()).hexdigest()
    path = osp.join(cache_dir, f"{knowledge.dataset}-{key[:20]}.pt")
    if osp.isfile(path):
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if cached.get("key") == key:
                print(f"Attribute embeddings loaded from {path}")
                return cached["classes"], cached["attributes"], cached["embeddings"]
        except Exception as e:  # noqa: BLE001 - a broken cache file is recomputed
            print(f"Ignoring unreadable embedding cache {path} ({type(e).__name__})")
    entries = knowledge.all_entries()  # class names and "name [id]" keys of classes that share a name
    classes = sorted(entries)
    attributes = list(knowledge.attributes)
    sentences = [attribute_sentence(template, split_variant_key(c)[0], a, entries[c].get(a) or "")
                 for c in classes for a in attributes]
    print(f"Encoding {len(sentences):,} attribute sentences ({len(classes)} classes x {len(attributes)} "
          f"attributes) with the frozen text encoder; cached at {path}")
    f = encode_texts(clip_model, sentences, batch_size=batch_size, normalize=False, progress=True, truncate=True,
                     desc="encode attribute sentences").float()
    emb = (f / f.norm(dim=-1, keepdim=True)).cpu().view(len(classes), len(attributes), -1)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        torch.save({"key": key, "classes": classes, "attributes": attributes, "embeddings": emb.contiguous()}, tmp)
        os.replace(tmp, path)
    except OSError as e:  # a full disk or a read-only cache: the run goes on without caching
        print(f"Note: could not write the embedding cache {path} ({e.strerror or e}); continuing without it")
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return classes, attributes, emb
