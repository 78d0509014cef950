"""Pretraining captions: varied templates over a profile's attributes; a category's name only for the
"known" kind (names of "unknown" categories never appear, descriptive names are attribute phrases).

World version 2 words captions more like the web text CLIP learns from: the leading "a photo of" is often
another phrase, and a few unrelated words may come first. A text encoder pretrained on one fixed lead-in is
brittle to anything else in front of a name, which is exactly where prompt learners put their context.
Tried as calibration probe 12 (benchmarks/world_calibration.md): it made CoOp's seed spread larger, not
smaller, so the shipped world keeps version 1.
"""

__all__ = ["caption"]

_TEMPLATES = [
    "a photo of a {colour} {shape}.",
    "a {size} {colour} {pattern} {shape}.",
    "a {pattern} {shape} on a {background} background.",
    "a photo of a {colour} {pattern} {shape}.",
    "a {colour} {shape} that is {pattern}.",
    "a {size} {shape}, {colour} and {pattern}.",
    "a {colour} {pattern} {shape} on a {background} background.",
    "a {size} {colour} thing.",
    "a {shape}.",
]
_NAMED = [
    "a photo of a {name}.",
    "a {name}.",
    "a photo of a {name}, a {colour} {pattern} {shape}.",
    "a {name} on a {background} background.",
]


_LEADS = ["a photo of", "an image of", "a picture of", "a close-up photo of", "a rendering of", "a drawing of",
          "a bright photo of", "a dark photo of", "a cropped photo of", "a blurry photo of", "this is", "there is",
          "look at", "a nice picture of", "an old photo of", "a small image of"]
_FILLER = ["vintage", "my", "our", "cool", "new", "simple", "art", "toy", "icon", "sample", "scan", "flat",
           "digital", "tiny", "clean", "plain", "classic", "random", "stock", "quick"]


def _reworded(text, rng):
    """Version 2 wording: another lead-in for "a photo of" half the time, then 0-2 unrelated words first."""
    if text.startswith("a photo of ") and rng.random() < 0.5:
        text = _LEADS[rng.integers(len(_LEADS))] + text[len("a photo of"):]
    n = int(rng.choice([0, 0, 1, 2]))
    return " ".join([_FILLER[i] for i in rng.integers(len(_FILLER), size=n)] + [text])


def caption(profile, rng, name=None, p_name=0.6, version=1):
    """A caption for an image of ``profile``; ``name`` (known categories) is used with probability p_name;
    ``version`` >= 2 rewords it (``_reworded``)."""
    if name is not None and rng.random() < p_name:
        text = _NAMED[rng.integers(len(_NAMED))].format(name=name, **profile)
    else:
        text = _TEMPLATES[rng.integers(len(_TEMPLATES))].format(**profile)
    return _reworded(text, rng) if version >= 2 else text
