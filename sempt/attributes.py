"""The attribute knowledge file, ``attributes_cache/<dataset>.json``: format, lookup and validation.

Format (``schema`` 1)::

    {"schema": 1,
     "dataset": "<reader name, e.g. OxfordPets>",
     "attributes": [{"name": "coat colour", "definition": "..."}, ...],
     "classes": {"<class name exactly as the reader gives it>": {"<attribute name>": "<description>", ...}},
     "provenance": {...}}

The ImageNet variants (V2, Sketch, A, R) use the ImageNet file. Written by the attribute pipeline
(``python -m trainers.attributes``), read by the SemPT trainer, validated by both.
"""
import hashlib
import json
import os.path as osp

__all__ = ["SCHEMA", "AttributeFileError", "AttributeKnowledge", "attribute_file_for", "load_attributes",
           "REGENERATE_HINT"]

SCHEMA = 1
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_DIR = osp.join(REPO_ROOT, "attributes_cache")
SHARED_FILES = {"ImageNetV2": "ImageNet", "ImageNetSketch": "ImageNet", "ImageNetA": "ImageNet",
                "ImageNetR": "ImageNet"}
REGENERATE_HINT = ("Regenerate it with `python -m trainers.attributes generate --dataset {dataset}` (or "
                   "`export`/`import` without API access), then `python -m trainers.attributes validate "
                   "--dataset {dataset}`.")


class AttributeFileError(ValueError):
    """An attribute file that is missing, malformed, or does not cover the label space."""


def attribute_file_for(dataset_name, directory=None):
    """``<directory>/<config stem>.json`` for a reader name (ImageNet variants share ImageNet's file)."""
    from sempt.data import catalog
    name = SHARED_FILES.get(dataset_name, dataset_name)
    try:
        stem = catalog.info(name).config
    except KeyError:
        stem = name.lower()
    return osp.join(directory or DEFAULT_DIR, f"{stem}.json")


class AttributeKnowledge:
    """Validated attribute descriptions: ``attributes`` (names), ``descriptions[class][attribute]``."""

    def __init__(self, path, dataset, attributes, definitions, classes, provenance, content_hash):
        self.path = path
        self.dataset = dataset
        self.attributes = attributes
        self.definitions = definitions
        self.classes = classes
        self.provenance = provenance
        self.content_hash = content_hash

    def descriptions_for(self, classnames, n_attributes=0):
        """``(attribute names, [[description per attribute] per class])`` for a label space, validated.

        ``n_attributes`` > 0 keeps the first ``n_attributes`` attributes of the file.
        """
        attrs = self.attributes
        if n_attributes > 0:
            if n_attributes > len(attrs):
                raise AttributeFileError(
                    f"{self.path}: NUM_ATTRIBUTES is {n_attributes} but the file defines {len(attrs)} attributes "
                    f"({attrs}). Lower TRAINER.SEMPT.NUM_ATTRIBUTES or regenerate the file with more.")
            attrs = attrs[:n_attributes]
        hint = REGENERATE_HINT.format(dataset=self.dataset)
        missing = [c for c in classnames if c not in self.classes]
        if missing:
            raise AttributeFileError(
                f"{self.path} has no descriptions for {len(missing)} class(es) of the evaluated label space, e.g. "
                f"{missing[:5]}. Class names must match the reader's exactly. {hint}")
        table = []
        for c in classnames:
            row = []
            for a in attrs:
                desc = self.classes[c].get(a)
                if desc is None:
                    raise AttributeFileError(f"{self.path}: class {c!r} has no description for attribute {a!r}. {hint}")
                if not isinstance(desc, str) or not desc.strip():
                    raise AttributeFileError(f"{self.path}: class {c!r}, attribute {a!r}: empty description. {hint}")
                row.append(desc.strip())
            table.append(row)
        return list(attrs), table


def load_attributes(path, dataset=None):
    """Read and check the structure of an attribute file; errors name the file and the fix."""
    hint = REGENERATE_HINT.format(dataset=dataset or "<dataset>")
    if not osp.isfile(path):
        raise AttributeFileError(f"Attribute file {path} not found. {hint}")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AttributeFileError(f"{path} is not valid UTF-8 JSON ({e}). {hint}") from e
    if not isinstance(data, dict):
        raise AttributeFileError(f"{path} must hold a JSON object. {hint}")
    if data.get("schema") != SCHEMA:
        raise AttributeFileError(f"{path}: schema is {data.get('schema')!r}, this version reads schema {SCHEMA}. {hint}")
    file_dataset = data.get("dataset")
    if dataset is not None and file_dataset != SHARED_FILES.get(dataset, dataset):
        raise AttributeFileError(
            f"{path} is for dataset {file_dataset!r}, not {SHARED_FILES.get(dataset, dataset)!r}. Point "
            f"TRAINER.SEMPT.ATTRIBUTES_FILE at the right file. {hint}")
    attrs = data.get("attributes")
    if not isinstance(attrs, list) or not attrs or not all(isinstance(a, dict) and a.get("name") for a in attrs):
        raise AttributeFileError(f"{path}: 'attributes' must be a non-empty list of {{'name', 'definition'}}. {hint}")
    names = [a["name"] for a in attrs]
    if len(set(names)) != len(names):
        raise AttributeFileError(f"{path}: attribute names repeat: {names}. {hint}")
    classes = data.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise AttributeFileError(f"{path}: 'classes' must map class names to descriptions. {hint}")
    for c, descs in classes.items():
        if not isinstance(descs, dict):
            raise AttributeFileError(f"{path}: class {c!r} must map attribute names to descriptions. {hint}")
        unknown = [a for a in descs if a not in names]
        if unknown:
            raise AttributeFileError(f"{path}: class {c!r} describes unknown attribute(s) {unknown}. {hint}")
    return AttributeKnowledge(
        path=osp.abspath(path), dataset=file_dataset, attributes=names,
        definitions={a["name"]: a.get("definition", "") for a in attrs}, classes=classes,
        provenance=data.get("provenance", {}), content_hash=hashlib.sha256(raw).hexdigest())
