"""Prompt texts of both steps; ``PROMPT_VERSION`` and ``prompt_hash()`` go into each file's provenance."""
import hashlib
import json

__all__ = ["PROMPT_VERSION", "DOMAINS", "domain_of", "step1_messages", "step2_messages", "repair_message",
           "prompt_hash", "SYSTEM", "SAME_NAME_NOTES"]

PROMPT_VERSION = "1"

# what the images of each benchmark show (step 1 needs the domain)
DOMAINS = {
    "ImageNet": "everyday objects, animals, plants, food and scenes (ImageNet-1k categories)",
    "Caltech101": "common objects and animals (Caltech-101 categories)",
    "OxfordPets": "cat and dog breeds (Oxford-IIIT Pets)",
    "StanfordCars": "car models by make, model, body style and year (Stanford Cars)",
    "OxfordFlowers": "flower species (Oxford Flowers-102)",
    "Food101": "dishes and food (Food-101)",
    "FGVCAircraft": "aircraft model variants (FGVC-Aircraft)",
    "SUN397": "scene categories, indoor and outdoor (SUN397)",
    "DescribableTextures": "surface textures (Describable Textures Dataset)",
    "EuroSAT": "land use and land cover seen in Sentinel-2 satellite images (EuroSAT)",
    "UCF101": "human actions, seen in a single video frame (UCF101)",
}

# What each of the classes that share a name is (their WordNet synsets), for step-2 prompts that ask for one
# entry per class: "missile [n03773504]" and "missile [n04008634]" are described separately.
SAME_NAME_NOTES = {
    "n03773504": "WordNet 'missile': a rocket that carries an explosive warhead",
    "n04008634": "WordNet 'projectile, missile': a weapon fired or launched at a target",
    "n04355933": "WordNet 'sunglass': a convex lens that concentrates sunlight, e.g. to light a fire",
    "n04356056": "WordNet 'sunglasses, dark glasses, shades': tinted spectacles worn against glare",
}

SYSTEM = ("You are a careful visual taxonomist. You describe only what can be seen in a photograph, you answer "
          "with JSON only, and you copy class names exactly as given.")


def domain_of(dataset, override=""):
    if override:
        return override
    if dataset not in DOMAINS:
        raise KeyError(f"No domain description for dataset {dataset!r}: pass --domain \"what the images show\"")
    return DOMAINS[dataset]


def step1_messages(dataset, domain, classnames, n_attributes):
    listing = "\n".join(f"- {c}" for c in classnames)
    user = (
        f"Dataset: {dataset}. Domain: {domain}.\n"
        f"Here are all {len(classnames)} categories:\n{listing}\n\n"
        f"Name exactly {n_attributes} visual attributes that EVERY one of these categories has and whose values "
        "tell the categories apart in a photo (for example, for pets: coat colour, coat length, ear shape). "
        "Attributes must be visible, not facts such as price, origin or behaviour. Give each a short name "
        "(1 to 4 words) and a one-sentence definition.\n"
        'Answer with JSON only: {"attributes": [{"name": "...", "definition": "..."}, ...]}'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _same_name_notes(classes):
    """A note for categories written "name [id]" (classes that share a name), or ""."""
    lines = []
    for c in classes:
        if c.endswith("]") and " [" in c:
            class_id = c[:-1].rpartition(" [")[2]
            lines.append(f"- {c}: {SAME_NAME_NOTES.get(class_id, 'one of several categories with this name')}")
    if not lines:
        return ""
    return ("\n\nSome categories share a name and are told apart by the id in brackets; describe each as the "
            "category it is, so that their descriptions differ:\n" + "\n".join(lines))


def step2_messages(dataset, domain, attributes, classes, word_limit):
    attr_lines = "\n".join(f"- {a['name']}: {a.get('definition', '')}" for a in attributes)
    class_lines = "\n".join(f"- {c}" for c in classes) + _same_name_notes(classes)
    example = {classes[0]: {a["name"]: "..." for a in attributes}}
    user = (
        f"Dataset: {dataset}. Domain: {domain}.\n"
        f"Attributes:\n{attr_lines}\n\n"
        f"Describe each of these {len(classes)} categories under every attribute:\n{class_lines}\n\n"
        f"Rules: one short visual phrase per attribute (at most {word_limit} words) that is true for the "
        "category and tells it apart from similar categories; do not repeat the category name; no filler "
        "such as 'distinctive'; nothing that cannot be seen (price, history, taste). Copy each category name "
        "exactly as written above, including case, spaces and underscores.\n"
        f"Answer with JSON only, one key per category: {json.dumps({'classes': example})}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def repair_message(problem):
    return {"role": "user", "content": f"Your answer could not be used: {problem}. Reply with the corrected JSON "
                                       "only, following the format and rules above exactly."}


def prompt_hash():
    """A short hash of the prompt texts, so files record which prompts produced them."""
    sample = json.dumps([SYSTEM, step1_messages("D", "d", ["a", "b"], 6),
                         step2_messages("D", "d", [{"name": "x", "definition": "y"}], ["a"], 20),
                         repair_message("p")])
    return hashlib.sha256(sample.encode()).hexdigest()[:12]
