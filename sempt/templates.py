"""Hand-crafted prompt templates per dataset, one table per method family, as their authors wrote them.

The templates are facts of the dataset readers (``template`` and ``method_templates`` of
``sempt.data.coop.CoOpDataset``, or, for a reader of a user's dataset, ``DATASET.IMAGE_FOLDER.TEMPLATE`` of
its current config: ``sempt.data.readers.facts``); this module only looks them up.

- ``coop``: the single templates of CoOp's ``ZeroshotCLIP`` baseline (CoOp repository, ``trainers/zsclip.py``
  and ``trainers/coop.py``, ``CUSTOM_TEMPLATES``): each reader's ``template``. Used by ``ZeroshotCLIP`` and, by
  default, by SemPT's hand-crafted prompts (``TRAINER.SEMPT.HAND_TEMPLATES``).
- ``kgcoop``: KgCoOp's own table (KgCoOp repository, ``trainers/kgcoop.py``, ``CUSTOM_TEMPLATES``): a reader's
  ``method_templates["kgcoop"]`` where it has one, else its ``template``. It differs from CoOp's for DTD
  only: ``"a photo of a {}, a type of texture."`` instead of ``"{} texture."``. Used by KgCoOp's
  knowledge-guided penalty.

``imagenet_templates()`` is the list of 60 templates PromptSRC averages for its frozen text targets
(``sempt/data/promptsrc_templates.json``, with its source).

A dataset whose reader states no template gets ``DEFAULT_TEMPLATE``, with a warning (a test fails for such
a registered reader); ``register_template`` gives a dataset read by another kind of reader its template in
every table.
"""
import functools
import json
import os.path as osp

__all__ = ["imagenet_templates", "TEMPLATE_TABLES", "DEFAULT_TEMPLATE", "get_template", "register_template",
           "hand_prompts", "hand_templates"]

DEFAULT_TEMPLATE = "a photo of a {}."

# the method families with a table: a reader's ``method_templates`` keys are among them
TEMPLATE_TABLES = ("coop", "kgcoop")

_REGISTERED = {}  # dataset name -> template, from register_template
_warned = set()


def _check_table(table):
    if table not in TEMPLATE_TABLES:
        raise ValueError(f"Unknown template table {table!r}; choose one of {sorted(TEMPLATE_TABLES)}")


def register_template(dataset_name, template):
    """Give ``dataset_name`` its hand-crafted template in every method's table (for a dataset whose reader
    is not a ``CoOpDataset``; a CoOp reader states its ``template`` itself)."""
    if "{}" not in template:
        raise ValueError(f"A template needs a '{{}}' placeholder for the class name, got {template!r}")
    _REGISTERED[dataset_name] = template


def _reader_template(dataset_name, table):
    """The reader's template in ``table`` (a reader whose facts come from its config, like ``ImageFolder``:
    its current config's ``TEMPLATE``, see ``sempt.data.readers.facts``); ``None`` for no registered reader."""
    from sempt.data.readers import facts
    try:
        f = facts(dataset_name)
    except KeyError:
        return None
    return f.method_templates.get(table, f.template)


def get_template(dataset_name, table="coop"):
    """The hand-crafted template of ``dataset_name`` (a reader name) in the ``table`` method family's table."""
    _check_table(table)
    template = _REGISTERED.get(dataset_name) or _reader_template(dataset_name, table)
    if template is None:
        if dataset_name not in _warned:
            _warned.add(dataset_name)
            print(f"WARNING: dataset {dataset_name!r} states no hand-crafted template (its reader's `template`); "
                  f"using {DEFAULT_TEMPLATE!r}")
        return DEFAULT_TEMPLATE
    return template


def hand_templates(table="coop"):
    """``{reader name: template}`` of every registered reader that states one, in ``table``, in table order."""
    from sempt.data.readers import registered
    _check_table(table)
    out = {c.__name__: t for c in registered() if (t := _reader_template(c.__name__, table))}
    out.update(_REGISTERED)
    return out


def __getattr__(name):  # HAND_TEMPLATES: CoOp's table, as a dict derived from the readers
    if name == "HAND_TEMPLATES":
        return hand_templates("coop")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
