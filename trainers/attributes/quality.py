"""Checks an attribute file must pass: coverage, lengths, duplicates, near-duplicates, other class names.

Errors make ``validate`` fail; warnings are listed. Near-duplicates are descriptions that become equal
after lower-casing and dropping articles and punctuation; per attribute, at most ``near_dup_max`` of the
classes may share one.
"""
import re
from collections import defaultdict

from sempt.attributes import AttributeFileError, load_attributes

__all__ = ["check_file", "normalise"]

_ARTICLES = {"a", "an", "the"}
_CONTRAST = re.compile(r"\b(unlike|than|compared|versus|vs\.?|not|rather|instead|differs?)\b", re.I)


def normalise(text):
    tokens = re.findall(r"[a-z0-9]+", text.lower())
    return " ".join(t for t in tokens if t not in _ARTICLES)


def _words(text):
    return re.findall(r"[\w-]+", text.lower())


def _ngrams(text, longest):
    words = _words(text)
    return {" ".join(words[i:i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)}


def check_file(path, dataset, classnames, word_limit=25, near_dup_max=0.02, n_attributes=0):
    """``(errors, warnings, knowledge)`` for one file against a label space ``classnames``."""
    try:
        k = load_attributes(path, dataset=dataset)
        attrs, table = k.descriptions_for(list(dict.fromkeys(classnames)), n_attributes)
    except AttributeFileError as e:
        return [str(e)], [], None
    errors, warnings = [], []
    names = list(dict.fromkeys(classnames))
    # names that cannot be ordinary words: several words, or a digit (e.g. "737-400")
    distinctive = {" ".join(_words(c)): c for c in names if " " in c.strip() or any(ch.isdigit() for ch in c)}
    longest = max((len(k.split()) for k in distinctive), default=1)
    for j, a in enumerate(attrs):
        exact, near = defaultdict(list), defaultdict(list)
        for c, row in zip(names, table):
            d = row[j]
            if len(d.split()) > word_limit:
                errors.append(f"{c!r} / {a!r}: {len(d.split())} words (limit {word_limit})")
            if normalise(d) == normalise(c.replace("_", " ")):
                errors.append(f"{c!r} / {a!r}: the description only repeats the class name")
            exact[d].append(c)
            near[normalise(d)].append(c)
            grams = _ngrams(d, longest)
            own = " ".join(_words(c))
            if own not in grams and not _CONTRAST.search(d):
                for key in grams & distinctive.keys():
                    other = distinctive[key]
                    if other != c:
                        errors.append(f"{c!r} / {a!r}: mentions another class, {other!r}, as if it were this one: {d!r}")
        for d, cs in exact.items():
            if len(cs) > 1:
                errors.append(f"{a!r}: identical description for {len(cs)} classes {cs[:4]}: {d!r}")
        shared = sum(len(cs) for n, cs in near.items() if len(cs) > 1)
        for n, cs in near.items():
            if len(cs) > 1 and len({table[names.index(c)][j] for c in cs}) > 1:
                warnings.append(f"{a!r}: near-duplicate descriptions for {cs[:4]}")
        if names and shared / len(names) > near_dup_max:
            errors.append(f"{a!r}: {shared} of {len(names)} classes share a near-duplicate description "
                          f"(allowed: {near_dup_max:.0%})")
    return errors, warnings, k
