"""The one way the ``sempt`` package reaches the repository's dataset readers (``datasets/``).

The readers are used in place from the repository root, like ``train.py`` (they are not installed: a
top-level ``datasets`` package would shadow the library of that name). ``load_readers()`` imports them by
name, which registers them in the engine's ``DATASET_REGISTRY``; ``registered()`` lists them.
"""
import importlib
import importlib.util

__all__ = ["ReadersNotFound", "load_readers", "registered", "reader"]


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
