"""Deterministic procedural images: a shape with a colour and a fill pattern, on a background, with
position, scale and colour jitter and pixel noise. ``render(profile, rng, size)`` -> uint8 (size, size, 3)."""
import numpy as np

__all__ = ["render", "COLOURS", "BACKGROUNDS"]

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230), "yellow": (235, 215, 40),
           "purple": (150, 60, 200), "white": (235, 235, 235)}
BACKGROUNDS = {"dark": (35, 35, 45), "light": (185, 185, 175)}


def _shape_mask(shape, xx, yy, r):
    ax, ay = np.abs(xx), np.abs(yy)
    if shape == "circle":
        return xx ** 2 + yy ** 2 <= r ** 2
    if shape == "ring":
        d = np.sqrt(xx ** 2 + yy ** 2)
        return (d <= r) & (d >= 0.55 * r)
    if shape == "square":
        return (ax <= 0.85 * r) & (ay <= 0.85 * r)
    if shape == "diamond":
        return ax + ay <= r
    if shape == "cross":
        return ((ax <= 0.33 * r) & (ay <= r)) | ((ay <= 0.33 * r) & (ax <= r))
    if shape == "triangle":
        return (yy <= 0.8 * r) & (yy >= -r + 2 * ax * 0.9)
    raise ValueError(shape)


def _pattern_mask(pattern, xx, yy, phase):
    if pattern == "solid":
        return np.ones_like(xx, dtype=bool)
    if pattern == "striped":
        return ((xx + phase) // 2.5 % 2) == 0
    if pattern == "dotted":
        return (((xx + phase) % 4) - 2) ** 2 + (((yy + phase) % 4) - 2) ** 2 > 1.2
    if pattern == "checkered":
        return (((xx + phase) // 3 + (yy + phase) // 3) % 2) == 0
    raise ValueError(pattern)


# Nuisance variation (pixel values 0-255; scale: +- fraction of the radius). Stronger jitter was tried to make
# per-class accuracy graded instead of all-or-nothing (benchmarks/world_calibration.md, runs 4 and 5): the tiny
# image encoder then fits the base classes no better than zero-shot, so the world keeps these values.
JITTER = {"colour": 12.0, "background": 12.0, "pixel": 8.0, "scale": 0.15}


def render(profile, rng, size=32):
    """One image of ``profile`` (attribute -> value); ``rng`` is a ``numpy.random.Generator``."""
    scale = size / 32.0
    radius = (11.5 if profile["size"] == "large" else 6.5) * scale * rng.uniform(1 - JITTER["scale"],
                                                                                  1 + JITTER["scale"])
    radius = min(radius, size / 2 - 1.5)
    margin = radius + 1
    cx = rng.uniform(margin, size - margin) if size - 2 * margin > 0 else size / 2
    cy = rng.uniform(margin, size - margin) if size - 2 * margin > 0 else size / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xx, yy = xs - cx, ys - cy
    bg = np.array(BACKGROUNDS[profile["background"]], np.float32) + rng.normal(0, JITTER["background"], 3)
    fg = np.array(COLOURS[profile["colour"]], np.float32) + rng.normal(0, JITTER["colour"], 3)
    img = np.empty((size, size, 3), np.float32)
    img[:] = bg
    shape = _shape_mask(profile["shape"], xx, yy, radius)
    fill = _pattern_mask(profile["pattern"], xx, yy, rng.uniform(0, 4)) | (profile["pattern"] == "solid")
    img[shape & fill] = fg
    img[shape & ~fill] = 0.45 * fg + 0.55 * bg  # the pattern's gaps: a darker/lighter mix
    img += rng.normal(0, JITTER["pixel"], img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
