"""The world: attributes, categories and names. Everything is a pure function of ``WorldSpec``."""
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field

__all__ = ["ATTRIBUTES", "WorldSpec", "Category", "make_categories", "NAME_KINDS"]

# attribute name -> values (the order is part of the world definition)
ATTRIBUTES = {
    "shape": ["circle", "square", "triangle", "diamond", "cross", "ring"],
    "colour": ["red", "green", "blue", "yellow", "purple", "white"],
    "pattern": ["solid", "striped", "dotted", "checkered"],
    "size": ["small", "large"],
    "background": ["dark", "light"],
}
NAME_KINDS = ("descriptive", "known", "unknown")

_SYLLABLES = ["bli", "ket", "dax", "wug", "fep", "zor", "tup", "mib", "gorp", "lum", "vex", "quin", "sna", "roo",
              "pim", "tal", "dro", "kes", "ny", "bo", "sep", "fli", "mar", "gu"]


@dataclass(frozen=True)
class Category:
    name: str
    kind: str  # descriptive | known | unknown
    profile: dict = field(hash=False)  # attribute -> value


@dataclass(frozen=True)
class WorldSpec:
    """The world's settings (fixed from zero-shot behaviour alone, before any method was run)."""

    seed: int = 0
    # of the renderer and captions, part of the cache key from 2 on. 1: the frozen world; 2: reworded
    # pretraining captions (captions._reworded; calibration probe 12, not adopted)
    version: int = 1
    per_kind: int = 12  # categories of each name kind (36 in all: 18 base and 18 novel per class split)
    image_size: int = 32
    train_per_class: int = 20
    val_per_class: int = 4
    test_per_class: int = 50

    def key(self):
        d = asdict(self)
        if d["version"] == 1:  # worlds of the first renderer keep the keys they had before versions existed
            del d["version"]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _invented_names(rng, n, taken):
    names = []
    while len(names) < n:
        name = "".join(rng.sample(_SYLLABLES, rng.choice([2, 3])))
        if name not in taken and name not in names:
            names.append(name)
    return names


def make_categories(spec):
    """``3 * per_kind`` categories with distinct (colour, pattern, shape), interleaved by kind."""
    rng = random.Random(spec.seed)
    triples = [(c, p, s) for c in ATTRIBUTES["colour"] for p in ATTRIBUTES["pattern"] for s in ATTRIBUTES["shape"]]
    rng.shuffle(triples)
    n = 3 * spec.per_kind
    if n > len(triples):
        raise ValueError(f"at most {len(triples) // 3} categories per kind")
    invented = _invented_names(rng, 2 * spec.per_kind, set())
    cats = []
    for i, (colour, pattern, shape) in enumerate(triples[:n]):
        profile = {"shape": shape, "colour": colour, "pattern": pattern, "size": rng.choice(ATTRIBUTES["size"]),
                   "background": rng.choice(ATTRIBUTES["background"])}
        kind = NAME_KINDS[i % 3]
        name = f"{colour} {pattern} {shape}" if kind == "descriptive" else invented.pop(0)
        cats.append(Category(name, kind, profile))
    return cats
