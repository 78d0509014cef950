"""Pictures next to the study's table: what the world looks like, and Base vs Novel per method."""
import os.path as osp

import numpy as np

from .render import render
from .spec import make_categories

__all__ = ["world_figure", "base_novel_figure"]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def world_figure(world, path, samples=4, seed=0, base_names=None):
    """A grid: one row per category (name, kind, base/novel in split 0), ``samples`` renders each."""
    plt = _plt()
    cats = make_categories(world)
    rng = np.random.default_rng(seed)
    cols = 3  # categories side by side
    rows = int(np.ceil(len(cats) / cols))
    fig, axes = plt.subplots(rows, cols * samples, figsize=(cols * samples * 0.9, rows * 1.0))
    for i, c in enumerate(cats):
        r, k = divmod(i, cols)
        for j in range(samples):
            ax = axes[r, k * samples + j]
            ax.imshow(render(c.profile, rng, world.image_size), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                where = "" if base_names is None else (" base" if c.name in base_names else " novel")
                ax.set_title(f"{c.name} ({c.kind}{where})", fontsize=6, loc="left")
    for i in range(len(cats), rows * cols):
        r, k = divmod(i, cols)
        for j in range(samples):
            axes[r, k * samples + j].axis("off")
    fig.suptitle("The CLIP world: categories (name kind; base/novel in class split 0) and renders", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def base_novel_figure(points, path, title="Base vs Novel (mean ± seed sd; grey: split sd)"):
    """``points``: [(label, base_summary, novel_summary)] with summaries from ``study.summarise``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, b, n) in enumerate(points):
        c = colours[i % len(colours)]
        ax.errorbar(b["mean"], n["mean"], xerr=b["split_sd"], yerr=n["split_sd"], fmt="none", ecolor="0.75",
                    elinewidth=4, alpha=0.6)
        ax.errorbar(b["mean"], n["mean"], xerr=b["seed_sd"], yerr=n["seed_sd"], fmt="o", color=c, capsize=3,
                    label=label)
    lo = min(min(b["mean"], n["mean"]) for _, b, n in points) - 5
    hi = max(max(b["mean"], n["mean"]) for _, b, n in points) + 5
    ax.plot([lo, hi], [lo, hi], ":", color="0.6", linewidth=1)
    ax.set_xlabel("Base accuracy (%)")
    ax.set_ylabel("Novel accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return osp.abspath(path)
