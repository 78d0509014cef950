"""Pretraining captions: varied templates over a profile's attributes; a category's name only for the
"known" kind (names of "unknown" categories never appear, descriptive names are attribute phrases)."""

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


def caption(profile, rng, name=None, p_name=0.6):
    """A caption for an image of ``profile``; ``name`` (known categories) is used with probability p_name."""
    if name is not None and rng.random() < p_name:
        return _NAMED[rng.integers(len(_NAMED))].format(name=name, **profile)
    return _TEMPLATES[rng.integers(len(_TEMPLATES))].format(**profile)
