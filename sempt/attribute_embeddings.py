"""Frozen CLIP text embeddings of the attribute descriptions, cached on disk.

Keyed by (backbone file content, attribute file content, sentence template): any change recomputes them.
The cache holds every class of the attribute file, so base, new and all label spaces share one file.
Files are ``torch.save``'d tensors and lists, read with ``weights_only=True``, written atomically.
"""
import hashlib
import os
import os.path as osp

import torch

from sempt.fileio import mkdir_if_missing, read_json, write_json

__all__ = ["default_cache_dir", "file_fingerprint", "attribute_sentence", "encode_sentences",
           "load_or_compute_embeddings"]

FORMAT = "sempt-attribute-embeddings-v1"


def default_cache_dir():
    root = os.environ.get("XDG_CACHE_HOME") or osp.expanduser("~/.cache")
    return osp.join(root, "sempt", "attribute_embeddings")


def file_fingerprint(path, cache_dir):
    """SHA-256 of a file, remembered per (path, size, mtime) so a 350 MB backbone is hashed once."""
    st = os.stat(path)
    index_path = osp.join(cache_dir, "file_hashes.json")
    index = read_json(index_path) if osp.isfile(index_path) else {}
    key = f"{osp.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
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


@torch.no_grad()
def encode_sentences(clip_model, sentences, batch_size=256, desc="attribute sentences"):
    """Normalised frozen text features (fp32, on CPU), in batches with a progress bar."""
    from tqdm import tqdm

    from clip import clip as _clip
    device = clip_model.token_embedding.weight.device
    out = []
    for i in tqdm(range(0, len(sentences), batch_size), desc=f"encode {desc}", unit="batch",
                  dynamic_ncols=True, mininterval=2.0):
        tokens = _clip.tokenize(sentences[i:i + batch_size], truncate=True).to(device)
        f = clip_model.encode_text(tokens).float()
        out.append((f / f.norm(dim=-1, keepdim=True)).cpu())
    return torch.cat(out)


def load_or_compute_embeddings(clip_model, knowledge, template, backbone_id, cache_dir=None, batch_size=256):
    """``(classes, attributes, embeddings[C_file, M_file, D])`` for every class of the attribute file."""
    cache_dir = cache_dir or default_cache_dir()
    mkdir_if_missing(cache_dir)
    key = hashlib.sha256(f"{FORMAT}|{backbone_id}|{knowledge.content_hash}|{template}".encode()).hexdigest()
    path = osp.join(cache_dir, f"{knowledge.dataset}-{key[:20]}.pt")
    if osp.isfile(path):
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if cached.get("key") == key:
                print(f"Attribute embeddings loaded from {path}")
                return cached["classes"], cached["attributes"], cached["embeddings"]
        except Exception as e:  # noqa: BLE001 - a broken cache file is recomputed
            print(f"Ignoring unreadable embedding cache {path} ({type(e).__name__})")
    classes = sorted(knowledge.classes)
    attributes = list(knowledge.attributes)
    sentences = [attribute_sentence(template, c, a, knowledge.classes[c].get(a) or "")
                 for c in classes for a in attributes]
    print(f"Encoding {len(sentences):,} attribute sentences ({len(classes)} classes x {len(attributes)} "
          f"attributes) with the frozen text encoder; cached at {path}")
    emb = encode_sentences(clip_model, sentences, batch_size=batch_size).view(len(classes), len(attributes), -1)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save({"key": key, "classes": classes, "attributes": attributes, "embeddings": emb.contiguous()}, tmp)
    os.replace(tmp, path)
    return classes, attributes, emb
