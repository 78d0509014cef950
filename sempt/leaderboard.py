"""From output folders to the tables papers publish: ``python -m sempt.leaderboard OUTPUT_ROOT``.

Discovers every ``seed<N>`` run folder in the CoOp-family layouts (this repository's, and trees written by
CoOp, CoCoOp, KgCoOp, MaPLe or PromptSRC with either log end marker), groups runs by setting, trainer,
config and dataset, and prints:

- base-to-novel: Base, Novel and HM per dataset plus the average, HM taken of the averaged Base and
  Novel (as papers do), mean +- std over seeds;
- cross-dataset: source ImageNet, the ten targets and their average;
- cross-domain: ImageNet, -V2, -Sketch, -A, -R and the average of the four;
- few-shot: accuracy per dataset and shot count.

Runs without a result are listed, never averaged away; a cell with fewer seeds than ``--seeds`` is marked.
"""
import argparse
import csv
import io
import json
import os
import os.path as osp
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from sempt.results import candidate_logs, read_run

__all__ = ["Run", "discover", "build_tables", "render", "main", "hm", "ELEVEN", "XD_TARGETS", "DOMAIN_TARGETS"]

ELEVEN = ["imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
          "sun397", "dtd", "eurosat", "ucf101"]
XD_TARGETS = ELEVEN[1:]
DOMAIN_TARGETS = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
SHOTS_RE = re.compile(r"^(.*)_(\d+)shots$")
SEED_RE = re.compile(r"^seed(\d+)$")


def hm(a, b):
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


@dataclass
class Run:
    setting: str  # base2new | xd_source | xd_target | few_shot
    kind: str  # train_base | test_new | test_base | train | test
    dataset: str
    trainer: str
    cfg: str
    shots: int
    seed: int
    path: str
    result: dict = field(default=None, repr=False)

    @property
    def method(self):
        return f"{self.trainer}/{self.cfg}"


def _classify(parts):
    """(setting, kind, dataset, trainer, cfg, shots) from the path parts above ``seed<N>``, or None."""
    if "base2new" in parts:
        i = parts.index("base2new")
        rest = parts[i + 1:]
        if len(rest) < 5:
            return None
        kind, dataset, shots_dir, trainer, *cfg = rest
        m = re.match(r"^shots_(\d+)", shots_dir)
        return ("base2new", kind, dataset, trainer, "/".join(cfg), int(m.group(1)) if m else 0) if m else None
    if "evaluation" in parts:
        i = parts.index("evaluation")
        rest = parts[i + 1:]
        if len(rest) < 3:
            return None
        trainer, cfg_dir, *extra = rest
        dataset = extra[-1]
        m = SHOTS_RE.match(cfg_dir)
        cfg = "/".join([m.group(1) if m else cfg_dir] + extra[:-1])
        return ("xd_target", "test", dataset, trainer, cfg, int(m.group(2)) if m else 16)
    for j, part in enumerate(parts):
        m = SHOTS_RE.match(part)
        if m and j >= 2:
            cfg = "/".join([m.group(1)] + parts[j + 1:])
            trainer, dataset = parts[j - 1], parts[j - 2]
            shots = int(m.group(2))
            if "few_shot" not in parts and dataset == "imagenet":  # the cross-dataset/-domain source run
                return ("xd_source", "train", dataset, trainer, cfg, shots)
            return ("few_shot", "train", dataset, trainer, cfg, shots)
    return None


def discover(root):
    """Every run folder under ``root`` with its result (``None`` when unfinished)."""
    runs = []
    for dirpath, dirnames, _ in os.walk(root):
        m = SEED_RE.match(osp.basename(dirpath))
        if not m:
            continue
        dirnames[:] = []
        parts = osp.relpath(osp.dirname(dirpath), root).split(os.sep)
        found = _classify(parts)
        if found is None:
            continue
        setting, kind, dataset, trainer, cfg, shots = found
        test_log = kind.startswith("test")
        run = Run(setting, kind, dataset, trainer, cfg, shots, int(m.group(1)), dirpath)
        run.result = read_run(dirpath, test_log=True if test_log else False)
        runs.append(run)
    return sorted(runs, key=lambda r: (r.setting, r.method, r.dataset, r.shots, r.kind, r.seed))


class Cell:
    """Accuracies of one table cell over seeds."""

    def __init__(self, values, seeds):
        self.values = list(values)
        self.seeds = list(seeds)

    @property
    def mean(self):
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self):
        return float(np.std(self.values)) if self.values else None

    @property
    def n(self):
        return len(self.values)


def _cell(runs):
    ok = [r for r in runs if r.result is not None]
    return Cell([r.result["accuracy"] for r in ok], [r.seed for r in ok])


def _group(runs, setting):
    out = defaultdict(list)
    for r in runs:
        if r.setting == setting:
            out[r.method].append(r)
    return out


def _order(datasets, canonical):
    known = [d for d in canonical if d in datasets]
    return known + sorted(d for d in datasets if d not in canonical)


def build_tables(runs):
    """A list of ``{"title", "columns", "rows"}``; row cells are ``Cell``, float, str or None."""
    tables = []
    for method, rs in sorted(_group(runs, "base2new").items()):
        by = defaultdict(list)
        for r in rs:
            by[(r.dataset, r.kind)].append(r)
        datasets = _order({r.dataset for r in rs}, ELEVEN)
        rows, bases, novels = [], [], []
        for d in datasets:
            base = _cell(by[(d, "test_base")]) if by[(d, "test_base")] else _cell(by[(d, "train_base")])
            novel = _cell(by[(d, "test_new")])
            h = hm(base.mean, novel.mean) if base.n and novel.n else None
            if base.n and novel.n:
                bases.append(base.mean)
                novels.append(novel.mean)
            rows.append([d, base, novel, h])
        if bases:
            k = len(bases)
            label = "Average" if k == len(ELEVEN) else f"Average ({k} of {len(ELEVEN)} datasets)"
            mb, mn = float(np.mean(bases)), float(np.mean(novels))
            rows.append([label, mb, mn, hm(mb, mn)])
        tables.append({"title": f"Base-to-novel: {method}", "columns": ["Dataset", "Base", "Novel", "HM"], "rows": rows,
                       "setting": "base2new", "method": method})

    sources = _group(runs, "xd_source")
    targets = _group(runs, "xd_target")
    for method in sorted(set(sources) | set(targets)):
        src = _cell(sources.get(method, []))
        by = defaultdict(list)
        for r in targets.get(method, []):
            by[r.dataset].append(r)
        for title, names in (("Cross-dataset", XD_TARGETS), ("Cross-domain", DOMAIN_TARGETS)):
            if not any(by.get(n) for n in names):
                continue
            cells = [_cell(by.get(n, [])) for n in names]
            got = [c.mean for c in cells if c.n]
            avg = float(np.mean(got)) if got else None
            avg_label = "Average" if len(got) == len(names) else f"Average ({len(got)} of {len(names)})"
            tables.append({"title": f"{title}: {method}", "columns": ["Source: imagenet"] + names + [avg_label],
                           "rows": [[src] + cells + [avg]], "setting": title.lower(), "method": method})

    for method, rs in sorted(_group(runs, "few_shot").items()):
        shots = sorted({r.shots for r in rs})
        by = defaultdict(list)
        for r in rs:
            by[(r.dataset, r.shots)].append(r)
        datasets = _order({r.dataset for r in rs}, ELEVEN)
        rows = [[d] + [_cell(by[(d, k)]) if by[(d, k)] else None for k in shots] for d in datasets]
        tables.append({"title": f"Few-shot: {method}", "columns": ["Dataset"] + [f"{k} shots" for k in shots],
                       "rows": rows, "setting": "few_shot", "method": method})
    return tables


def _summary(tables):
    rows = []
    for t in tables:
        if t["setting"] == "base2new" and t["rows"] and str(t["rows"][-1][0]).startswith("Average"):
            label, b, n, h = t["rows"][-1]
            rows.append([t["method"], b, n, h, label.replace("Average", "").strip(" ()") or "11 of 11 datasets"])
    return rows


def _published(path=None):
    path = path or osp.join(osp.dirname(__file__), "data", "published.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["base2new_average"]


def _fmt(value, fmt, want_seeds):
    if value is None:
        return "-"
    if isinstance(value, Cell):
        if not value.n:
            return "-"
        mark = "" if value.n >= want_seeds else "†"
        if fmt == "csv":
            return f"{value.mean:.2f}"
        return f"{value.mean:.2f} ± {value.std:.2f}{mark}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(runs, fmt="github", want_seeds=3, published=False):
    """The whole report as text."""
    from tabulate import tabulate
    tables = build_tables(runs)
    out = io.StringIO()
    tablefmt = {"github": "github", "latex": "latex_booktabs"}.get(fmt)
    blocks = []
    summary = _summary(tables)
    if summary or published:
        cols = ["Method", "Base", "Novel", "HM", "Datasets"]
        rows = [list(r) for r in summary]
        blocks.append(("Base-to-novel, average over datasets (measured here)", cols, rows))
        if published:
            pub = [[p["method"], p["base"], p["novel"], p["hm"],
                    ("note: " + p["note"]) if p.get("note") else p["source"]] for p in _published()]
            blocks.append(("Published (not measured here; see sources)", ["Method", "Base", "Novel", "HM", "Source"], pub))
    blocks += [(t["title"], t["columns"], t["rows"]) for t in tables]
    writer = csv.writer(out) if fmt == "csv" else None
    for title, cols, rows in blocks:
        if fmt == "csv":
            writer.writerow([f"# {title}"])
            writer.writerow(cols)
            for row in rows:
                writer.writerow([_fmt(v, fmt, want_seeds) for v in row])
            writer.writerow([])
            continue
        print(f"\n{'### ' if fmt == 'github' else '% '}{title}\n", file=out)
        print(tabulate([[_fmt(v, fmt, want_seeds) for v in row] for row in rows], headers=cols, tablefmt=tablefmt,
                       disable_numparse=True), file=out)
    if fmt != "csv":
        cells = [v for _, _, rows in blocks for row in rows for v in row if isinstance(v, Cell) and v.n]
        if any(c.n < want_seeds for c in cells):
            print(f"\n† fewer than {want_seeds} seeds (--seeds) in this cell.", file=out)
        problems = problems_report(runs, want_seeds)
        if problems:
            print("\nRuns without a result (not averaged):", file=out)
            for p in problems:
                print(f"  {p}", file=out)
    return out.getvalue()


def problems_report(runs, want_seeds):
    lines = [f"unfinished: {r.path}" + ("" if candidate_logs(r.path) else " (no log)") for r in runs
             if r.result is None]
    groups = defaultdict(set)
    for r in runs:
        groups[(r.setting, r.kind, r.method, r.dataset, r.shots)].add(r.seed)
    for (setting, kind, method, dataset, shots), seeds in sorted(groups.items()):
        missing = sorted(set(range(1, want_seeds + 1)) - seeds)
        if missing:
            lines.append(f"missing seeds {missing}: {setting} {kind} {method} {dataset}" +
                         (f" ({shots} shots)" if setting == "few_shot" else ""))
    return lines


def plot(runs, folder):
    """Few-shot curves per dataset and base/novel bars per method, as PNG files; returns their paths."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib") from e
    os.makedirs(folder, exist_ok=True)
    written = []
    tables = build_tables(runs)
    few = [t for t in tables if t["setting"] == "few_shot"]
    datasets = sorted({row[0] for t in few for row in t["rows"]})
    for d in datasets:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for t in few:
            shots = [int(c.split()[0]) for c in t["columns"][1:]]
            row = next((r for r in t["rows"] if r[0] == d), None)
            if row is None:
                continue
            pts = [(k, c) for k, c in zip(shots, row[1:]) if isinstance(c, Cell) and c.n]
            if pts:
                ax.errorbar([k for k, _ in pts], [c.mean for _, c in pts], yerr=[c.std for _, c in pts],
                            marker="o", capsize=3, label=t["method"])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("shots per class")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"Few-shot: {d}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = osp.join(folder, f"few_shot_{d}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    for t in (t for t in tables if t["setting"] == "base2new"):
        rows = [r for r in t["rows"] if isinstance(r[1], (Cell, float)) and isinstance(r[2], (Cell, float))]
        if not rows:
            continue
        val = lambda v: v.mean if isinstance(v, Cell) else v  # noqa: E731
        names = [r[0] for r in rows]
        x = np.arange(len(rows))
        fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows) + 2), 3.6))
        ax.bar(x - 0.2, [val(r[1]) or 0 for r in rows], 0.4, label="Base")
        ax.bar(x + 0.2, [val(r[2]) or 0 for r in rows], 0.4, label="Novel")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(t["title"], fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = osp.join(folder, "base2new_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", t["method"]) + ".png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sempt.leaderboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="output root (e.g. output/)")
    p.add_argument("--format", choices=["github", "latex", "csv"], default="github")
    p.add_argument("--published", action="store_true", help="add published numbers (sempt/data/published.json)")
    p.add_argument("--seeds", type=int, default=3, help="seeds expected per cell (default 3: seeds 1-3)")
    p.add_argument("--plot", metavar="DIR", help="also write PNG figures to DIR")
    args = p.parse_args(argv)
    if not osp.isdir(args.root):
        print(f"error: {args.root} is not a folder", file=sys.stderr)
        return 2
    runs = discover(args.root)
    if not runs and not args.published:
        print(f"No run folders (seed<N>) in a known layout under {args.root}", file=sys.stderr)
        return 1
    sys.stdout.write(render(runs, args.format, args.seeds, args.published))
    if args.plot:
        for path in plot(runs, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
