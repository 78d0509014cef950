"""The attribute knowledge file, ``attributes_cache/<dataset>.json``: format, lookup and validation.

Format (``schema`` 1)::

    {"schema": 1,
     "dataset": "<reader name, e.g. OxfordPets>",
     "attributes": [{"name": "coat colour", "definition": "..."}, ...],
     "classes": {"<class name exactly as the reader gives it>": {"<attribute name>": "<description>", ...}},
     "by_id": {"<class name>": {"<class id>": {"<attribute name>": "<description>", ...}, ...}},   (optional)
     "provenance": {...}}

``by_id`` holds distinct entries for classes that share a name: ImageNet, as CoOp lists it, has two
classes called "missile" (n03773504, n04008634) and two called "sunglasses" (n04355933, n04356056). A class
id is the WordNet id for the ImageNet family and the label index (as a string, e.g. ``"#12"``) in the
reader's full class list otherwise (``class_ids``). A lookup that knows the ids uses the ``by_id`` entry;
one that does not (older readers, an unknown label space) uses the name's ``classes`` entry, which must
therefore exist too and describe what both classes share. Files without ``by_id`` stay valid.

The ImageNet variants (V2, Sketch, A, R) use the ImageNet file. A user's own dataset (the ``ImageFolder``
reader) has ``<DATASET.IMAGE_FOLDER.NAME>.json`` with that name as ``dataset``. Written by the attribute pipeline
(``python -m trainers.attributes``), read by the SemPT trainer, validated by both.
"""
import hashlib
import json
import os.path as osp

from sempt.data.catalog import SHARED_ATTRIBUTE_FILES

__all__ = ["SCHEMA", "AttributeFileError", "AttributeKnowledge", "attribute_file_for", "attribute_file_of",
           "file_dataset_for", "load_attributes",
           "REGENERATE_HINT", "class_ids", "entry_keys", "variant_key", "split_variant_key"]

SCHEMA = 1
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_DIR = osp.join(REPO_ROOT, "attributes_cache")
# reader name -> the reader whose attribute file it uses (its ``attribute_stem``: the ImageNet variants use
# ImageNet's); derived from the registered readers when used
SHARED_FILES = SHARED_ATTRIBUTE_FILES
REGENERATE_HINT = ("Regenerate it with `python -m trainers.attributes generate --dataset {dataset}` (or "
                   "`export`/`import` without API access), then `python -m trainers.attributes validate "
                   "--dataset {dataset}`.")


class AttributeFileError(ValueError):
    """An attribute file that is missing, malformed, or does not cover the label space. ``reason`` is the
    problem alone (without the file name and the advice), for callers that give their own advice."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


def class_ids(label_space, classnames):
    """Ids of ``classnames`` (``by_id`` keys) when they are the reader's class list for ``label_space`` or its
    base or new half (CoOp's ``SUBSAMPLE_CLASSES``), in order; ``None`` when that cannot be told."""
    from sempt.data import catalog
    try:
        full = catalog.classnames(label_space)
    except (KeyError, ValueError):
        return None
    try:
        ids = catalog.wnids(label_space)
    except (KeyError, ValueError):
        ids = None
    if not ids or len(ids) != len(full):
        ids = [f"#{i}" for i in range(len(full))]
    names = list(classnames)
    n = len(names)
    half = (len(full) + 1) // 2
    for start in (0, half, len(full) - n):
        if 0 <= start and full[start:start + n] == names:
            return list(ids[start:start + n])
    return None


def _configured(dataset_name):
    """The facts of a reader whose facts come from its config (``ImageFolder``), else ``None``."""
    from sempt.data.readers import ReadersNotFound, facts
    try:
        f = facts(dataset_name)
    except (KeyError, ReadersNotFound):
        return None
    return f if f.per_config else None


def attribute_file_for(dataset_name, directory=None):
    """``<directory>/<attribute_stem>.json`` for a reader name (its reader's ``attribute_stem``: the ImageNet
    variants share ImageNet's file; a user's ``ImageFolder`` dataset: ``DATASET.IMAGE_FOLDER.NAME`` of its
    current config). Other names: the name in lower case (the synthetic world's ``clipworld.json``)."""
    from sempt.data import catalog
    try:
        stem = catalog.info(dataset_name).attribute_stem
    except KeyError:
        configured = _configured(dataset_name)
        stem = configured.attribute_stem if configured else dataset_name.lower()
    return osp.join(directory or DEFAULT_DIR, f"{stem}.json")


def attribute_file_of(cfg, section):
    """The attribute file a run uses: ``TRAINER.<section>.ATTRIBUTES_FILE``, else ``<ATTRIBUTES_DIR>/<stem>.json``
    for its dataset (``attribute_file_for``; a reader whose facts come from its config looks them up in the
    config made current with ``sempt.data.readers.use_config``). The one place this choice is made: SemPT's
    trainer and ``sempt.predict`` both ask here."""
    S = cfg.TRAINER[section]
    return S.ATTRIBUTES_FILE or attribute_file_for(cfg.DATASET.NAME, S.ATTRIBUTES_DIR or None)


def file_dataset_for(dataset_name):
    """The ``dataset`` an attribute file for reader ``dataset_name`` states: the reader whose file it shares
    (ImageNet's variants), the configured name (``ImageFolder``), or the name itself."""
    if dataset_name in SHARED_FILES:
        return SHARED_FILES[dataset_name]
    configured = _configured(dataset_name)
    return configured.name if configured else dataset_name


def variant_key(name, class_id):
    """How the attribute pipeline names one of several classes that share ``name`` while it works on them."""
    return f"{name} [{class_id}]"


def split_variant_key(key):
    """``(name, class_id)`` of a ``variant_key``; ``(key, None)`` for an ordinary class name."""
    if key.endswith("]") and " [" in key:
        name, _, class_id = key[:-1].rpartition(" [")
        return name, class_id
    return key, None


def entry_keys(label_space, classnames):
    """The entries a file needs for a label space: each name once, plus one ``variant_key`` per class whose
    name is shared (when the ids can be told, see ``class_ids``)."""
    classnames = list(classnames)
    names = list(dict.fromkeys(classnames))
    if len(names) == len(classnames):
        return names
    ids = class_ids(label_space, classnames)
    if ids is None:
        return names
    shared = {c for c in names if classnames.count(c) > 1}
    return names + [variant_key(c, i) for c, i in zip(classnames, ids) if c in shared]


class AttributeKnowledge:
    """Validated attribute descriptions: ``attributes`` (names), ``descriptions[class][attribute]``."""

    def __init__(self, path, dataset, attributes, definitions, classes, provenance, content_hash, by_id=None):
        self.path = path
        self.by_id = by_id or {}
        self.dataset = dataset
        self.attributes = attributes
        self.definitions = definitions
        self.classes = classes
        self.provenance = provenance
        self.content_hash = content_hash

    def entry(self, classname, class_id=None):
        """The descriptions of one class: its ``by_id`` entry when ``class_id`` has one, else its name's."""
        if class_id is not None and class_id in self.by_id.get(classname, {}):
            return self.by_id[classname][class_id]
        return self.classes[classname]

    def all_entries(self):
        """Every entry by key: class names, and ``variant_key(name, id)`` for the ``by_id`` entries (an
        embedding cache can encode them all once; ``split_variant_key`` gives the name to write)."""
        entries = dict(self.classes)
        entries.update({variant_key(c, i): d for c, by in self.by_id.items() for i, d in by.items()})
        return entries

    def row_keys(self, classnames, ids=None):
        """The ``all_entries`` key of each class of a label space (its ``by_id`` entry when it has one)."""
        ids = list(ids) if ids is not None else [None] * len(classnames)
        return [variant_key(c, i) if i is not None and i in self.by_id.get(c, {}) else c
                for c, i in zip(classnames, ids)]

    def descriptions_for(self, classnames, n_attributes=0, ids=None):
        """``(attribute names, [[description per attribute] per class])`` for a label space, validated.

        ``n_attributes`` > 0 keeps the first ``n_attributes`` attributes of the file. ``ids`` (one per class,
        see ``class_ids``) selects the distinct ``by_id`` entries of classes that share a name.
        """
        classnames = list(classnames)
        if ids is not None and len(ids) != len(classnames):
            raise ValueError(f"descriptions_for: {len(ids)} ids for {len(classnames)} classes")
        ids = list(ids) if ids is not None else [None] * len(classnames)
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
        for c, i in zip(classnames, ids):
            row = []
            entry = self.entry(c, i)
            for a in attrs:
                desc = entry.get(a)
                if desc is None:
                    raise AttributeFileError(f"{self.path}: class {c!r} has no description for attribute {a!r}. {hint}")
                if not isinstance(desc, str) or not desc.strip():
                    raise AttributeFileError(f"{self.path}: class {c!r}, attribute {a!r}: empty description. {hint}")
                row.append(desc.strip())
            table.append(row)
        return list(attrs), table


def _read_json(path, fail):
    """``(raw bytes, parsed JSON)`` of an attribute file that exists; ``fail(reason)`` makes the error."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        cut = isinstance(e, json.JSONDecodeError) and e.pos >= len(text.rstrip()) - 1
        raise fail(f"not valid UTF-8 JSON{' (the file looks cut off)' if cut else ''}: {e}") from None
    return raw, data


def _check_header(data, dataset, fail, hint):
    """Check the file is an object of this schema for ``dataset`` (when given); return the file's dataset."""
    if not isinstance(data, dict):
        raise fail("the file must hold a JSON object")
    if data.get("schema") != SCHEMA:
        raise fail(f"schema is {data.get('schema')!r}, this version reads schema {SCHEMA}")
    file_dataset = data.get("dataset")
    if dataset is not None and file_dataset != file_dataset_for(dataset):
        raise fail(f"the file is for dataset {file_dataset!r}, not {file_dataset_for(dataset)!r}",
                   f"Point TRAINER.SEMPT.ATTRIBUTES_FILE at the right file. {hint}")
    return file_dataset


def _check_attribute_list(data, fail):
    """The ``attributes`` list, checked: non-empty, each with a name, no name twice."""
    attrs = data.get("attributes")
    if not isinstance(attrs, list) or not attrs or not all(isinstance(a, dict) and a.get("name") for a in attrs):
        raise fail("'attributes' must be a non-empty list of {'name', 'definition'}")
    names = [a["name"] for a in attrs]
    if len(set(names)) != len(names):
        raise fail(f"attribute names repeat: {names}")
    return attrs


def _check_entry(what, descs, names, fail):
    """One class's descriptions must map known attribute ``names`` to descriptions."""
    if not isinstance(descs, dict):
        raise fail(f"{what} must map attribute names to descriptions")
    unknown = [a for a in descs if a not in names]
    if unknown:
        raise fail(f"{what} describes unknown attribute(s) {unknown}")


def _check_classes(data, names, fail):
    """The ``classes`` table, checked against the attribute ``names``."""
    classes = data.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise fail("'classes' must map class names to descriptions")
    for c, descs in classes.items():
        _check_entry(f"class {c!r}", descs, names, fail)
    return classes


def _check_by_id(data, classes, names, fail):
    """The optional ``by_id`` table, checked: each name also in ``classes``, each id's entry well formed."""
    by_id = data.get("by_id", {})
    if not isinstance(by_id, dict):
        raise fail("'by_id' must map class names to {class id: descriptions}")
    for c, entries in by_id.items():
        if c not in classes:
            raise fail(f"'by_id' has entries for {c!r}, which 'classes' lacks (it needs the shared entry too, "
                       "for readers that do not know class ids)",
                       f"Add {c!r} to 'classes' with descriptions true of all its classes.")
        if not isinstance(entries, dict) or not entries:
            raise fail(f"'by_id' / {c!r} must map class ids (e.g. WordNet ids) to descriptions")
        for i, descs in entries.items():
            _check_entry(f"class {c!r} with id {i!r}", descs, names, fail)
    return by_id


def load_attributes(path, dataset=None):
    """Read and check the structure of an attribute file; errors name the file and the fix."""
    hint = REGENERATE_HINT.format(dataset=file_dataset_for(dataset) if dataset else "<dataset>")

    def fail(reason, advice=hint):
        return AttributeFileError(f"{path}: {reason}. {advice}", reason=reason)

    if not osp.isfile(path):
        raise AttributeFileError(f"Attribute file {path} not found. {hint}", reason="not found")
    raw, data = _read_json(path, fail)
    file_dataset = _check_header(data, dataset, fail, hint)
    attrs = _check_attribute_list(data, fail)
    names = [a["name"] for a in attrs]
    classes = _check_classes(data, names, fail)
    by_id = _check_by_id(data, classes, names, fail)
    return AttributeKnowledge(
        path=osp.abspath(path), dataset=file_dataset, attributes=names,
        definitions={a["name"]: a.get("definition", "") for a in attrs}, classes=classes,
        provenance=data.get("provenance", {}), content_hash=hashlib.sha256(raw).hexdigest(), by_id=by_id)
