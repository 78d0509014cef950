"""Prompt-learning trainers, one module per method; each declares its config keys in ``extend_cfg``.

Importing this package imports every module of this folder (sub-packages such as ``attributes`` and names
starting with ``_`` aside), which registers each trainer in the engine's ``TRAINER_REGISTRY``. To add a
method, write ``trainers/<method>.py`` with an ``extend_cfg(cfg)`` and a registered ``PromptTrainer``
subclass: nothing else to edit here.
"""
import importlib
import pkgutil

MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg and not m.name.startswith("_"))

_loaded = [importlib.import_module(f"{__name__}.{m}") for m in MODULES]


def extend_cfg(cfg):
    """Add every trainer's own keys (``TRAINER.<SECTION>.*``) to ``cfg``."""
    for module in _loaded:
        module.extend_cfg(cfg)
