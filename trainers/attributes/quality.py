"""Checks an attribute file must pass: coverage, lengths, duplicates, near-duplicates, other class names.

Errors make ``validate`` fail; warnings are listed (and the shipped files are kept free of them).

Errors: a missing class or description; a description over the word limit or only repeating the class
name; the same description for two classes; a description naming another class as if it were this one;
near-duplicates (equal after lower-casing and dropping articles and punctuation) for more than
``near_dup_max`` of the classes of one attribute; classes that share a name in the label space (ImageNet's
"missile" and "sunglasses") without distinct ``by_id`` entries, or with identical ones.

Warnings: near-duplicates; the same words in another order (e.g. "low wing, two engines" and "two engines,
low wing"); one class with the same description under several (or all) attributes; a description that names
another class in a comparison ("taller than the Staffordshire Bull Terrier": the text encoder sees the
other class's name); weights and sizes in units a photo cannot show (kg, cm, inches, ...).
"""
import re
from collections import defaultdict, namedtuple

from sempt.attributes import AttributeFileError, class_ids, load_attributes

__all__ = ["check_file", "normalise", "word_set", "unit_mentions", "comparison_mentions"]

_ARTICLES = {"a", "an", "the"}
_CONTRAST = re.compile(r"\b(unlike|than|compared|versus|vs\.?|not|rather|instead|differs?|like|similar)\b", re.I)
_COMPARE_WORD = re.compile(r"(?<![\w-])(?:than|unlike|like|compared (?:with|to)|versus|vs\.?|similar to|resembl\w*)\s+"
                           r"(?:(?:a|an|the|that of (?:a|an|the)?|those of (?:a|an|the)?)\s+)?", re.I)
_NUMBER = r"\d+(?:[.,]\d+)?(?:\s*(?:-|–|to)\s*\d+(?:[.,]\d+)?)?"
_UNITS = (r"mm|cm|m|km|millimet(?:re|er)s?|centimet(?:re|er)s?|met(?:re|er)s?|kilomet(?:re|er)s?|inch(?:es)?|in\.|"
          r"ft|feet|foot|yards?|yd|miles?|kg|g|grams?|kilograms?|lbs?|pounds?|oz|ounces?|t|tonnes?|tons?|"
          r"mph|km/h|kph|knots?|kts|l|litres?|liters?|ml|cc|hp|horsepower|kw|kilowatts?")
_UNIT = re.compile(rf"(?<![\w-])({_NUMBER})\s*-?\s*({_UNITS})(?![\w/])", re.I)
_WEIGH = re.compile(r"\bweigh(?:s|ing|ed)\b", re.I)


def normalise(text):
    tokens = re.findall(r"[a-z0-9]+", text.lower())
    return " ".join(t for t in tokens if t not in _ARTICLES)


def word_set(text):
    """The words of a description regardless of order and repetition (articles dropped)."""
    return frozenset(normalise(text).split())


def _words(text):
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower().replace("_", " "))


def _ngrams(text, longest):
    """Word n-grams up to ``longest`` words that do not cross punctuation ("rope, climbing" is no n-gram)."""
    grams = set()
    for part in re.split(r"[,;:.()!?]+", text):
        words = _words(part)
        grams |= {" ".join(words[i:i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)}
    return grams


def unit_mentions(text):
    """Measurements a photo cannot show: ``["30 kg", "60-70 cm", "weighs"]``."""
    found = [f"{m.group(1)} {m.group(2)}" for m in _UNIT.finditer(text)]
    return found + [m.group(0) for m in _WEIGH.finditer(text)]


def comparison_mentions(text, own, names):
    """Other class names (``names``: word key -> class) that ``text`` compares with: any multi-word or numbered
    name in a sentence with a comparison, or any name right after "than", "unlike", "like", "compared with"."""
    own_key = " ".join(_words(own))
    found = []
    if _CONTRAST.search(text):
        distinctive = {k: c for k, c in names.items() if " " in k or any(ch.isdigit() for ch in k)}
        longest = max((len(k.split()) for k in distinctive), default=1)
        for key in _ngrams(text, longest) & distinctive.keys():
            if key != own_key and key not in own_key.split() and distinctive[key] != own:
                found.append(distinctive[key])
    for m in _COMPARE_WORD.finditer(text):
        after = _words(text[m.end():])[:4]
        for n in range(len(after), 0, -1):
            key = " ".join(after[:n])
            if key in names and names[key] != own and key != own_key and names[key] not in found:
                found.append(names[key])
                break
    return found


def _duplicated_names(classnames):
    seen = defaultdict(list)
    for i, c in enumerate(classnames):
        seen[c].append(i)
    return {c: idx for c, idx in seen.items() if len(idx) > 1}


# how descriptions are matched against class names: ``keys`` maps every name written with spaces
# ("staffordshire_bull_terrier" -> "staffordshire bull terrier") to its class; ``distinctive`` holds the names
# that cannot be ordinary words (several words, or a digit, e.g. "737-400"); ``longest`` is the most words in one
_NameKeys = namedtuple("_NameKeys", "keys distinctive longest")


def _name_keys(classnames):
    keys = {" ".join(_words(c)): c for c in dict.fromkeys(classnames)}
    distinctive = {" ".join(_words(c)): c for c in keys.values() if " " in c.strip() or any(ch.isdigit() for ch in c)}
    longest = max((len(key.split()) for key in distinctive), default=1)
    return _NameKeys(keys, distinctive, longest)


def _shared_name_errors(k, dataset, dups, ids):
    """Errors for classes that share a name (``dups``: name -> label indices) without distinct ``by_id`` entries."""
    errors = []
    if ids is None:
        return errors
    for c, idx in dups.items():
        want = [ids[i] for i in idx]
        have = [i for i in want if i in k.by_id.get(c, {})]
        if len(have) < len(want):
            errors.append(f"{c!r} names {len(want)} classes of {dataset} ({', '.join(want)}) but the file has "
                          f"no distinct entries for {sorted(set(want) - set(have))}: add them under \"by_id\" / "
                          f"{c!r} (see sempt/attributes.py)")
    return errors


def _same_description_warnings(classnames, attrs, table):
    """Warnings for a class that has the same description under several attributes."""
    warnings = []
    for c, row in zip(classnames, table):
        groups = defaultdict(list)
        for a, d in zip(attrs, row):
            groups[normalise(d)].append(a)
        for same in groups.values():
            if len(same) > 1:
                what = f"all {len(attrs)} attributes" if len(same) == len(attrs) else f"attributes {same}"
                warnings.append(f"{c!r}: the same description for {what}: {row[attrs.index(same[0])]!r}; describe "
                                "each attribute separately")
    return warnings


def _mention_errors(c, a, d, name_keys):
    """Errors for a description ``d`` (of class ``c``, attribute ``a``) that names another class as if it were
    this one (checked where the description makes no comparison)."""
    own = " ".join(_words(c))
    grams = _ngrams(d, name_keys.longest)
    if own in grams:
        return []
    errors = []
    for key in sorted(grams & name_keys.distinctive.keys()):
        other = name_keys.distinctive[key]
        if other != c and key not in own:
            errors.append(f"{c!r} / {a!r}: mentions another class, {other!r}, as if it were this one: {d!r}")
    return errors


def _description_findings(c, a, d, name_keys, word_limit):
    """``(errors, warnings)`` of one description ``d``, of class ``c`` under attribute ``a``, on its own."""
    errors, warnings = [], []
    if len(d.split()) > word_limit:
        errors.append(f"{c!r} / {a!r}: {len(d.split())} words (limit {word_limit})")
    if normalise(d) == normalise(c.replace("_", " ")):
        errors.append(f"{c!r} / {a!r}: the description only repeats the class name")
    if _CONTRAST.search(d):
        for other in comparison_mentions(d, c, name_keys.keys):
            warnings.append(f"{c!r} / {a!r}: compares with another class, {other!r}: {d!r}; describe this "
                            "class on its own (the text encoder reads the other name too)")
    else:
        errors += _mention_errors(c, a, d, name_keys)
    units = unit_mentions(d)
    if units:
        warnings.append(f"{c!r} / {a!r}: a measurement a photo cannot show ({', '.join(units)}): {d!r}; "
                        "describe what is visible (relative size, proportions)")
    return errors, warnings


def _duplicate_findings(a, classnames, column, near_dup_max, allow_shared=False):
    """``(errors, warnings)`` for descriptions that repeat across the classes of attribute ``a`` (``column``:
    its description of each class): identical, near-duplicate, or the same words in another order.
    ``allow_shared``: classes may share a value (a synthetic world's ground truth), so repeats only warn."""
    exact, near, bag = defaultdict(list), defaultdict(list), defaultdict(list)
    for c, d in zip(classnames, column):
        exact[d].append(c)
        near[normalise(d)].append(c)
        bag[word_set(d)].append((c, normalise(d)))
    errors, warnings = [], []
    for d, cs in exact.items():
        if len(cs) > 1:
            errors.append(f"{a!r}: identical description for {len(cs)} classes {cs[:4]}: {d!r}")
    shared = sum(len(cs) for cs in near.values() if len(cs) > 1)
    for cs in near.values():
        if len(cs) > 1 and len({column[classnames.index(c)] for c in cs}) > 1:
            warnings.append(f"{a!r}: near-duplicate descriptions for {cs[:4]}")
    for members in bag.values():
        if len({n for _, n in members}) > 1:
            cs = [c for c, _ in members]
            warnings.append(f"{a!r}: near-duplicate descriptions (the same words in another order) for {cs[:4]}: "
                            f"{column[classnames.index(cs[0])]!r}")
    if classnames and shared / len(classnames) > near_dup_max:
        errors.append(f"{a!r}: {shared} of {len(classnames)} classes share a near-duplicate description "
                      f"(allowed: {near_dup_max:.0%})")
    if allow_shared:
        return [], errors + warnings
    return errors, warnings


def _attribute_findings(a, classnames, column, name_keys, word_limit, near_dup_max, allow_shared=False):
    """``(errors, warnings)`` for attribute ``a``: each class's description, then repeats across classes."""
    errors, warnings = [], []
    for c, d in zip(classnames, column):
        e, w = _description_findings(c, a, d, name_keys, word_limit)
        errors += e
        warnings += w
    e, w = _duplicate_findings(a, classnames, column, near_dup_max, allow_shared)
    return errors + e, warnings + w


def check_file(path, dataset, classnames, word_limit=25, near_dup_max=0.02, n_attributes=0, allow_shared=False):
    """``(errors, warnings, knowledge)`` for one file against a label space ``classnames`` (in label order).
    ``allow_shared``: descriptions repeated across classes are warnings, not errors (classes that really share
    a value, like the synthetic world's)."""
    classnames = list(classnames)
    dups = _duplicated_names(classnames)
    ids = class_ids(dataset, classnames) if dups else None
    try:
        k = load_attributes(path, dataset=dataset)
        attrs, table = k.descriptions_for(classnames, n_attributes, ids=ids)
    except AttributeFileError as e:
        return [str(e)], [], None
    errors = _shared_name_errors(k, dataset, dups, ids)
    warnings = _same_description_warnings(classnames, attrs, table)
    name_keys = _name_keys(classnames)
    for j, a in enumerate(attrs):
        e, w = _attribute_findings(a, classnames, [row[j] for row in table], name_keys, word_limit, near_dup_max,
                                   allow_shared)
        errors += e
        warnings += w
    return errors, warnings, k
