"""The one way the ``sempt`` package reaches the repository's dataset readers (``datasets/``).

The readers are used in place from the repository root, like ``train.py`` (they are not installed: a
top-level ``datasets`` package would shadow the library of that name). ``load_readers()`` imports them by
name, which registers them in the engine's ``DATASET_REGISTRY``; ``registered()`` lists them.

``facts(name)`` is the one place the rest of the package reads a reader's facts (template, attribute file,
name): from the reader class's attributes, or, for a reader whose facts come from its config (the
``ImageFolder`` reader of a user's own dataset), from the class's ``configured_facts(cfg)`` hook. Lookups
that only know ``DATASET.NAME`` (the trainers' template and attribute-file lookups) use the config that was
last made current for that reader with ``use_config(cfg)``; such a reader calls it when it is built, so a
training run's lookups follow its dataset config.
"""
import contextlib
import importlib
import importlib.util
import io
from dataclasses import dataclass, field

__all__ = ["ReadersNotFound", "load_readers", "registered", "reader", "DatasetFacts", "facts", "use_config",
           "current_config", "read_classnames"]


class ReadersNotFound(RuntimeError):
    """The ``datasets`` package on the path is missing or is not this repository's readers."""


def load_readers():
    """Import the repository's ``datasets`` package (registering every reader) and return it."""
    try:
        found = importlib.util.find_spec("datasets")  # the imported module's spec once it is imported
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ReadersNotFound("the dataset readers (the repository's datasets/ package) cannot be imported: run "
                              "from the repository root")
    module = importlib.import_module("datasets")
    if not getattr(module, "SEMPT_READERS", False):
        raise ReadersNotFound(f"the `datasets` package found ({getattr(module, '__file__', None) or found.origin}) "
                              "is not this repository's dataset readers: run from the repository root")
    return module


def registered():
    """Every registered CoOp reader class, in table order (``table_order``, then name)."""
    load_readers()
    from sempt.backend import DATASET_REGISTRY
    from sempt.data.coop import CoOpDataset
    classes = [DATASET_REGISTRY.get(name) for name in DATASET_REGISTRY.registered_names()]
    readers = [c for c in classes if isinstance(c, type) and issubclass(c, CoOpDataset)]
    return sorted(readers, key=lambda c: (c.table_order, c.__name__))


def reader(name):
    """The registered reader class called ``name`` (``DATASET.NAME``); ``KeyError`` if there is none."""
    for cls in registered():
        if cls.__name__ == name:
            return cls
    raise KeyError(f"no registered dataset reader {name!r}")


@dataclass(frozen=True)
class DatasetFacts:
    """What the package needs to know about a dataset, from its reader (and its config, for a reader with
    ``configured_facts``)."""
    reader: str  # the registered reader (DATASET.NAME)
    name: str  # the dataset's name in attribute files and prompts: the reader name, or the configured name
    config_name: str  # configs/datasets/<config_name>.yaml
    template: str  # the hand-crafted prompt ("{}": the class name); None when the reader states none
    method_templates: dict = field(default_factory=dict)  # {method family: template}
    attribute_stem: str = ""  # attribute file <dir>/<attribute_stem>.json
    domain: str = ""  # what the images show (attribute prompts), when the config says
    folder: str = ""  # the dataset folder, when a config with DATASET.ROOT is known
    per_config: bool = False  # the facts come from a config (``configured_facts``)


_current = {}  # reader name -> the config last made current for it (use_config)


def use_config(cfg):
    """Make ``cfg`` the config whose facts lookups by reader name (``facts(cfg.DATASET.NAME)``) return."""
    _current[cfg.DATASET.NAME] = cfg


def current_config(name):
    """The config last made current for reader ``name`` (``use_config``), or ``None``."""
    return _current.get(name)


def facts(name, cfg=None):
    """``DatasetFacts`` of the registered reader ``name``; ``KeyError`` if there is none.

    A reader whose facts depend on its config defines the classmethod ``configured_facts(cfg)``, returning
    the facts that differ from its class attributes (``name``, ``template``, ``method_templates``,
    ``attribute_stem``, ``domain``, ``folder``); ``cfg`` defaults to the current config (``use_config``).
    """
    import os.path as osp
    cls = reader(name)
    out = dict(reader=cls.__name__, name=cls.__name__, config_name=cls.config_name, template=cls.template,
               method_templates=dict(cls.method_templates), attribute_stem=cls.attribute_stem or cls.config_name or "")
    cfg = cfg if cfg is not None else _current.get(cls.__name__)
    hook = getattr(cls, "configured_facts", None)
    if hook is not None and cfg is not None:
        out.update(hook(cfg), per_config=True)
    elif cfg is not None and cfg.DATASET.ROOT and cls.dataset_dir:
        out["folder"] = osp.join(osp.abspath(osp.expanduser(cfg.DATASET.ROOT)), cls.dataset_dir)
    return DatasetFacts(**out)


def read_classnames(cfg):
    """Class names, in label order, of the dataset ``cfg`` describes (all classes), as its reader gives them
    from the data under ``DATASET.ROOT``; nothing is written there (the reader runs read-only, quietly)."""
    from sempt.data.coop import read_only
    cls = reader(cfg.DATASET.NAME)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATASET.NUM_SHOTS = -1
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    with contextlib.redirect_stdout(io.StringIO()), read_only():
        return list(cls(cfg).classnames)
