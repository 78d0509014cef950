"""Hand-crafted prompt templates per dataset (the single templates CoOp's zero-shot baseline uses).

Used by ``ZeroshotCLIP`` and as the frozen "hand-crafted" text embeddings of KgCoOp and SemPT. A dataset
not listed gets ``DEFAULT_TEMPLATE``; a reader can add its own with ``register_template``.
"""
__all__ = ["HAND_TEMPLATES", "DEFAULT_TEMPLATE", "get_template", "register_template", "hand_prompts"]

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


def register_template(dataset_name, template):
    if "{}" not in template:
        raise ValueError(f"A template needs a '{{}}' placeholder for the class name, got {template!r}")
    HAND_TEMPLATES[dataset_name] = template


def get_template(dataset_name):
    return HAND_TEMPLATES.get(dataset_name, DEFAULT_TEMPLATE)


def hand_prompts(dataset_name, classnames):
    """The hand-crafted prompt of every class (``_`` in names becomes a space)."""
    template = get_template(dataset_name)
    return [template.format(name.replace("_", " ")) for name in classnames]
