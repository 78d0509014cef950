"""Prompt-learning trainers, one module per method; each declares its config keys in ``extend_cfg``.

Importing this package registers every trainer in the engine's ``TRAINER_REGISTRY``. To add a method,
write ``trainers/<method>.py`` with an ``extend_cfg(cfg)`` and a registered ``PromptTrainer`` subclass,
then list the module in ``MODULES`` below.
"""
import importlib

MODULES = ["zsclip", "coop", "kgcoop", "cocoop", "maple", "promptsrc", "sempt"]

_loaded = [importlib.import_module(f"{__name__}.{m}") for m in MODULES]


def extend_cfg(cfg):
    """Add every trainer's own keys (``TRAINER.<SECTION>.*``) to ``cfg``."""
    for module in _loaded:
        module.extend_cfg(cfg)
