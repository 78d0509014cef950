"""Hand-crafted prompt templates per dataset, one table per method family, as their authors wrote them.

- ``coop``: the single templates of CoOp's ``ZeroshotCLIP`` baseline (CoOp repository, ``trainers/zsclip.py``
  and ``trainers/coop.py``, ``CUSTOM_TEMPLATES``). Used by ``ZeroshotCLIP`` and, by default, by SemPT's
  hand-crafted prompts (``TRAINER.SEMPT.HAND_TEMPLATES``).
- ``kgcoop``: KgCoOp's own table (KgCoOp repository, ``trainers/kgcoop.py``, ``CUSTOM_TEMPLATES``). It differs
  from CoOp's for DTD only: ``"a photo of a {}, a type of texture."`` instead of ``"{} texture."``. Used by
  KgCoOp's knowledge-guided penalty.

``imagenet_templates()`` is the list of 60 templates PromptSRC averages for its frozen text targets
(``sempt/data/promptsrc_templates.json``, with its source).

A dataset not listed gets ``DEFAULT_TEMPLATE``; a reader can add its own with ``register_template``, which
registers it in every table.
"""
import functools
import json
import os.path as osp

__all__ = ["imagenet_templates", "TEMPLATE_TABLES", "HAND_TEMPLATES", "DEFAULT_TEMPLATE", "get_template", "register_template",
           "hand_prompts"]

DEFAULT_TEMPLATE = "a photo of a {}."

HAND_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}

TEMPLATE_TABLES = {
    "coop": HAND_TEMPLATES,
    "kgcoop": {**HAND_TEMPLATES, "DescribableTextures": "a photo of a {}, a type of texture."},
}


def _table(table):
    try:
        return TEMPLATE_TABLES[table]
    except KeyError:
        raise ValueError(f"Unknown template table {table!r}; choose one of {sorted(TEMPLATE_TABLES)}") from None


def register_template(dataset_name, template):
    """Give ``dataset_name`` its hand-crafted template in every method's table."""
    if "{}" not in template:
        raise ValueError(f"A template needs a '{{}}' placeholder for the class name, got {template!r}")
    for table in TEMPLATE_TABLES.values():
        table[dataset_name] = template


def get_template(dataset_name, table="coop"):
    return _table(table).get(dataset_name, DEFAULT_TEMPLATE)


def hand_prompts(dataset_name, classnames, table="coop"):
    """The hand-crafted prompt of every class (``_`` in names becomes a space)."""
    template = get_template(dataset_name, table)
    return [template.format(name.replace("_", " ")) for name in classnames]


@functools.lru_cache(maxsize=1)
def _imagenet_templates():
    with open(osp.join(osp.dirname(__file__), "data", "promptsrc_templates.json"), encoding="utf-8") as f:
        return tuple(json.load(f)["templates"])


def imagenet_templates():
    """PromptSRC's 60 ImageNet templates (its ``IMAGENET_TEMPLATES``), in its order."""
    return list(_imagenet_templates())
