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

from sempt.results import candidate_logs, read_config, read_run

__all__ = ["Run", "discover", "build_tables", "compare_with_published", "load_published", "merge_protocols", "protocol",
           "render", "main", "hm", "ELEVEN", "XD_TARGETS", "DOMAIN_TARGETS"]

# the benchmark lists are the readers' ``groups`` (sempt.data.catalog.group), read when a table is built
_GROUPS = {"ELEVEN": "base2new", "XD_TARGETS": "xd_target", "DOMAIN_TARGETS": "domain_target"}


def _datasets(group):
    """Config names of a benchmark group's datasets (``base2new``: the eleven), in the papers' order."""
    from sempt.data.catalog import group as group_datasets
    return group_datasets(group)


def __getattr__(name):  # ELEVEN, XD_TARGETS, DOMAIN_TARGETS
    if name in _GROUPS:
        return _datasets(_GROUPS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

SHOTS_RE = re.compile(r"^(.*)_(\d+)shots$")
SEED_RE = re.compile(r"^seed(\d+)$")


def hm(a, b):
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


# trainer name -> the method name of sempt/data/published.json
PUBLISHED_NAMES = {"ZeroshotCLIP": "CLIP", "CoOp": "CoOp", "CoCoOp": "CoCoOp", "KgCoOp": "KgCoOp", "MaPLe": "MaPLe",
                   "PromptSRC": "PromptSRC"}
PUBLISHED_TABLES = {"base2new": "base2new", "cross-dataset": "cross_dataset", "cross-domain": "domain_generalization",
                    "few_shot": "few_shot"}


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
    config: dict = field(default=None, repr=False)  # the run's config as printed in its log (strings)
    method: str = ""  # "<trainer>/<cfg>", or the merged protocol label (see ``merge_protocols``)

    def __post_init__(self):
        self.method = self.method or f"{self.trainer}/{self.cfg}"


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
        log = run.result["file"] if run.result else next(iter(candidate_logs(dirpath)), None)
        run.config = read_config(log) if log else None
        runs.append(run)
    merge_protocols(runs)
    return sorted(runs, key=lambda r: (r.setting, r.method, r.dataset, r.shots, r.kind, r.seed))


def _cells(runs):
    """The table cells a set of runs fills: datasets (base-to-novel, transfer) or (dataset, shots)."""
    return {(r.dataset, r.shots) if r.setting == "few_shot" else r.dataset for r in runs}


def merge_protocols(runs):
    """One row per trainer and protocol, where a protocol may pick the config per dataset or shot count.

    Within a setting, configs of one trainer that fill disjoint cells are one protocol (CoOp's base-to-novel
    runs use ``vit_b16_ctxv1`` on ten datasets and ``vit_b16_ep50_ctxv1`` on ImageNet; its few-shot runs use
    50, 100 or 200 epochs by shot count). Configs that overlap stay separate rows. Sets ``Run.method``.
    """
    setting_of = {"xd_source": "xd", "xd_target": "xd"}
    by_trainer = defaultdict(lambda: defaultdict(list))
    for r in runs:
        by_trainer[(setting_of.get(r.setting, r.setting), r.trainer)][r.cfg].append(r)
    for (_, trainer), by_cfg in by_trainer.items():
        groups = []  # [[cfg, ...], cells]
        for cfg in sorted(by_cfg, key=lambda c: (-len(_cells(by_cfg[c])), c)):
            cells = _cells(by_cfg[cfg])
            group = next((g for g in groups if not g[1] & cells), None)
            if group is None:
                groups.append([[cfg], set(cells)])
            else:
                group[0].append(cfg)
                group[1] |= cells
        for cfgs, _ in groups:
            label = f"{trainer}/{cfgs[0]}"
            if len(cfgs) > 1:
                label += " + " + ", ".join(cfgs[1:])
            for cfg in cfgs:
                for r in by_cfg[cfg]:
                    r.method = label


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


def _setting_tables(runs, setting):
    return sorted(_group(runs, setting).items())


def _base2new_tables(runs):
    tables = []
    for method, rs in _setting_tables(runs, "base2new"):
        by = defaultdict(list)
        for r in rs:
            by[(r.dataset, r.kind)].append(r)
        rows, bases, novels, averaged = [], [], [], []
        eleven = _datasets("base2new")
        for d in _order({r.dataset for r in rs}, eleven):
            base = _cell(by[(d, "test_base")]) if by[(d, "test_base")] else _cell(by[(d, "train_base")])
            novel = _cell(by[(d, "test_new")])
            h = hm(base.mean, novel.mean) if base.n and novel.n else None
            if base.n and novel.n:
                bases.append(base.mean)
                novels.append(novel.mean)
                averaged.append(d)
            rows.append([d, base, novel, h])
        if bases:
            k = len(bases)
            label = "Average" if k == len(eleven) else f"Average ({k} of {len(eleven)} datasets)"
            mb, mn = float(np.mean(bases)), float(np.mean(novels))
            rows.append([label, mb, mn, hm(mb, mn)])
        tables.append({"title": f"Base-to-novel: {method}", "columns": ["Dataset", "Base", "Novel", "HM"], "rows": rows,
                       "setting": "base2new", "method": method, "trainer": rs[0].trainer, "protocol": protocol(rs),
                       "averaged": averaged})
    return tables


def _transfer_tables(runs):
    tables = []
    sources, targets = dict(_setting_tables(runs, "xd_source")), dict(_setting_tables(runs, "xd_target"))
    for method in sorted(set(sources) | set(targets)):
        src = _cell(sources.get(method, []))
        by = defaultdict(list)
        for r in targets.get(method, []):
            by[r.dataset].append(r)
        for title, names in (("Cross-dataset", _datasets("xd_target")), ("Cross-domain", _datasets("domain_target"))):
            if not any(by.get(n) for n in names):
                continue
            cells = [_cell(by.get(n, [])) for n in names]
            got = [c.mean for c in cells if c.n]
            avg = float(np.mean(got)) if got else None
            avg_label = "Average" if len(got) == len(names) else f"Average ({len(got)} of {len(names)})"
            rs = sources.get(method, []) + [r for n in names for r in by.get(n, [])]
            tables.append({"title": f"{title}: {method}", "columns": ["Source: imagenet"] + names + [avg_label],
                           "rows": [[src] + cells + [avg]], "setting": title.lower(), "method": method,
                           "trainer": rs[0].trainer, "protocol": protocol(rs), "datasets": ["imagenet"] + names,
                           "averaged": [n for n, c in zip(names, cells) if c.n]})
    return tables


def _few_shot_tables(runs):
    tables = []
    for method, rs in _setting_tables(runs, "few_shot"):
        shots = sorted({r.shots for r in rs})
        by = defaultdict(list)
        for r in rs:
            by[(r.dataset, r.shots)].append(r)
        datasets = _order({r.dataset for r in rs}, _datasets("few_shot"))
        rows = [[d] + [_cell(by[(d, k)]) if by[(d, k)] else None for k in shots] for d in datasets]
        tables.append({"title": f"Few-shot: {method}", "columns": ["Dataset"] + [f"{k} shots" for k in shots],
                       "rows": rows, "setting": "few_shot", "method": method, "trainer": rs[0].trainer,
                       "protocol": protocol(rs), "shots": shots})
    return tables


def build_tables(runs):
    """A list of ``{"title", "columns", "rows", "setting", "method", "trainer", "protocol", ...}``; row cells
    are ``Cell``, float, str or None."""
    return _base2new_tables(runs) + _transfer_tables(runs) + _few_shot_tables(runs)


# --- protocol of a row ---------------------------------------------------------------------------------------

def _config_value(config, *keys):
    node = config
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _join(values):
    return ", ".join(str(v) for v in sorted(values, key=lambda v: (isinstance(v, str), v)))


def _where(runs):
    """The datasets or shot counts a config covers, for a row whose configs differ by cell."""
    if runs[0].setting == "few_shot":
        shots = {r.shots for r in runs}
        return f"{_join(shots)} shot" + ("s" if shots != {1} else "")
    datasets = {r.dataset for r in runs}
    return _join(datasets) if len(datasets) <= 3 else f"{len(datasets)} datasets"


def protocol(runs):
    """One line naming what a row's runs used: config(s) with epochs (and where each applies when a row
    picks the config per dataset or shot count), shots, backbone, seeds."""
    trained = [r for r in runs if r.kind in ("train", "train_base")]
    by_cfg = defaultdict(list)
    for r in trained or runs:
        by_cfg[r.cfg].append(r)
    parts = []
    for cfg, rs in sorted(by_cfg.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        epochs = {_config_value(r.config, "OPTIM", "MAX_EPOCH") for r in rs} - {None}
        what = [f"{_join(epochs)} epochs"] if epochs else [] if trained else ["evaluation only"]
        if len(by_cfg) > 1:
            what.append(_where(rs))
        parts.append(cfg + (f" ({', '.join(what)})" if what else ""))
    names = {_config_value(r.config, "MODEL", "BACKBONE", "NAME") for r in runs} - {None}
    backbones = {osp.basename(n) if osp.splitext(n)[1] else n for n in names}  # a weights file: its name only
    return (f"config {'; '.join(parts)}; {_join({r.shots for r in runs})} shots; "
            f"backbone {_join(backbones) if backbones else 'not recorded'}; seeds {_join({r.seed for r in runs})}")


# --- published numbers ---------------------------------------------------------------------------------------

def load_published(path=None):
    """``sempt/data/published.json``: published results, each row with its source."""
    path = path or osp.join(osp.dirname(__file__), "data", "published.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _published_row(published, table):
    rows = published.get(PUBLISHED_TABLES[table["setting"]], [])
    name = PUBLISHED_NAMES.get(table["trainer"])
    return next((row for row in rows if row["method"] == name), None)


def _published_average(table, pub):
    """The published average over the datasets the measured average covers: the paper's own average when
    they are all of them, else the mean over the same datasets (``None`` when one is not published)."""
    averaged = table["averaged"]
    full = _datasets("base2new") if table["setting"] == "base2new" else table["datasets"][1:]
    if set(averaged) == set(full):
        return pub.get("average")
    if not averaged or any(d not in pub for d in averaged):
        return None
    if table["setting"] != "base2new":
        return float(np.mean([pub[d] for d in averaged]))
    b, n = (float(np.mean([pub[d][k] for d in averaged])) for k in ("base", "novel"))
    return {"base": b, "novel": n, "hm": hm(b, n)}


def _delta(measured, pub):
    m = measured.mean if isinstance(measured, Cell) else measured
    return m - pub if m is not None and pub is not None else None


def compare_with_published(table, published):
    """``table`` with the published cell and the difference (measured - published) next to every measured
    one; unchanged when no published row fits its trainer and setting. Adds ``source``."""
    row = _published_row(published, table)
    if row is None:
        return table
    out = dict(table, source=published["sources"].get(row["source"], row["source"]),
               published_method=row["method"])
    pub = row["datasets"]
    if table["setting"] == "base2new":
        out["columns"] = ["Dataset"] + [f"{c}{s}" for c in ("Base", "Novel", "HM") for s in ("", " pub.", " Δ")]
        rows = []
        for d, *measured in table["rows"]:
            entry = (_published_average(table, pub) if str(d).startswith("Average") else pub.get(d)) or {}
            cells = []
            for key, m in zip(("base", "novel", "hm"), measured):
                cells += [m, entry.get(key), _delta(m, entry.get(key))]
            rows.append([d] + cells)
        out["rows"] = rows
    elif table["setting"] == "few_shot":
        rows = []
        for d, *measured in table["rows"]:
            rows.append([d] + measured)
            if d in pub:
                values = [pub[d].get(str(k)) for k in table["shots"]]
                rows.append(["  published"] + values)
                rows.append(["  Δ"] + [_delta(m, v) for m, v in zip(measured, values)])
        out["rows"] = rows
    else:  # one row over the source and the targets
        (measured,) = table["rows"]
        values = [pub.get(d) for d in table["datasets"]] + [_published_average(table, pub)]
        out["columns"] = [""] + table["columns"]
        out["rows"] = [["measured"] + measured, ["published"] + values,
                       ["Δ"] + [_delta(m, v) for m, v in zip(measured, values)]]
    return out


def _summary(tables, published=None):
    rows = []
    for t in tables:
        if t["setting"] == "base2new" and t["rows"] and str(t["rows"][-1][0]).startswith("Average"):
            label, b, n, h = t["rows"][-1]
            row = [t["method"], b, n, h, label.replace("Average", "").strip(" ()") or "11 of 11 datasets"]
            if published is not None:
                pub_row = _published_row(published, t)
                pub = (_published_average(t, pub_row["datasets"]) if pub_row else None) or {}
                row += [pub.get("hm"), _delta(h, pub.get("hm"))]
            rows.append(row)
    return rows


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


def _blocks(runs, published):
    """(title, notes, columns, rows) of every table of the report."""
    tables = build_tables(runs)
    blocks = []
    summary = _summary(tables, published)
    if summary or published is not None:
        cols = ["Method", "Base", "Novel", "HM", "Datasets"] + (["HM pub.", "HM Δ"] if published is not None else [])
        blocks.append(("Base-to-novel, average over datasets (measured here)", [], cols, summary))
    if published is not None:
        pub = []
        for row in published["base2new"]:
            avg = row["datasets"]["average"]
            pub.append([row["method"], avg["base"], avg["novel"], avg["hm"], published["sources"][row["source"]]])
        blocks.append(("Published base-to-novel averages (not measured here)", [],
                       ["Method", "Base", "Novel", "HM", "Source"], pub))
    for t in tables:
        if published is not None:
            t = compare_with_published(t, published)
        notes = [f"Protocol: {t['protocol']}"]
        if t.get("source"):
            notes.append(f"Published ({t['published_method']}): {t['source']}")
        blocks.append((t["title"], notes, t["columns"], t["rows"]))
    return blocks


def _render_csv(blocks, out, want_seeds):
    writer = csv.writer(out)
    for title, notes, cols, rows in blocks:
        writer.writerow([f"# {title}"])
        for note in notes:
            writer.writerow([f"# {note}"])
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_fmt(v, "csv", want_seeds) for v in row])
        writer.writerow([])


def _render_tables(blocks, out, fmt, want_seeds):
    from tabulate import tabulate
    tablefmt = {"github": "github", "latex": "latex_booktabs"}[fmt]
    comment = "" if fmt == "github" else "% "
    for title, notes, cols, rows in blocks:
        print(f"\n{'### ' if fmt == 'github' else '% '}{title}\n", file=out)
        for note in notes:
            print(f"{comment}{note}\n", file=out)
        print(tabulate([[_fmt(v, fmt, want_seeds) for v in row] for row in rows], headers=cols, tablefmt=tablefmt,
                       disable_numparse=True), file=out)


def _render_footnotes(runs, blocks, out, want_seeds, published):
    cells = [v for _, _, _, rows in blocks for row in rows for v in row if isinstance(v, Cell) and v.n]
    if any(c.n < want_seeds for c in cells):
        print(f"\n† fewer than {want_seeds} seeds (--seeds) in this cell.", file=out)
    if published:
        print("\npub.: the published number (source under each table); Δ: measured mean minus published.", file=out)
    problems = problems_report(runs, want_seeds)
    if problems:
        print("\nRuns without a result (not averaged):", file=out)
        for p in problems:
            print(f"  {p}", file=out)


def render(runs, fmt="github", want_seeds=3, published=False):
    """The whole report as text; ``published``: also compare with ``sempt/data/published.json``."""
    blocks = _blocks(runs, load_published() if published else None)
    out = io.StringIO()
    if fmt == "csv":
        _render_csv(blocks, out, want_seeds)
    else:
        _render_tables(blocks, out, fmt, want_seeds)
        _render_footnotes(runs, blocks, out, want_seeds, published)
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


def _save(fig, path, plt):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_few_shot(tables, folder, plt):
    """One figure per dataset: accuracy against shots, one line (with seed spread) per method."""
    few = [t for t in tables if t["setting"] == "few_shot"]
    written = []
    for d in sorted({row[0] for t in few for row in t["rows"]}):
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for t in few:
            row = next((r for r in t["rows"] if r[0] == d), None)
            pts = [(k, c) for k, c in zip(t["shots"], row[1:]) if isinstance(c, Cell) and c.n] if row else []
            if pts:
                ax.errorbar([k for k, _ in pts], [c.mean for _, c in pts], yerr=[c.std for _, c in pts],
                            marker="o", capsize=3, label=t["method"])
        ax.set(xlabel="shots per class", ylabel="accuracy (%)", title=f"Few-shot: {d}")
        ax.set_xscale("log", base=2)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        written.append(_save(fig, osp.join(folder, f"few_shot_{d}.png"), plt))
    return written


def _plot_base2new(tables, folder, plt):
    """One bar chart per method: Base and Novel per dataset."""
    def val(v):
        return (v.mean if isinstance(v, Cell) else v) or 0

    written = []
    for t in (t for t in tables if t["setting"] == "base2new"):
        rows = [r for r in t["rows"] if isinstance(r[1], (Cell, float)) and isinstance(r[2], (Cell, float))]
        if not rows:
            continue
        x = np.arange(len(rows))
        fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows) + 2), 3.6))
        ax.bar(x - 0.2, [val(r[1]) for r in rows], 0.4, label="Base")
        ax.bar(x + 0.2, [val(r[2]) for r in rows], 0.4, label="Novel")
        ax.set_xticks(x, [r[0] for r in rows], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(t["title"], fontsize=9)
        ax.legend(fontsize=7)
        name = "base2new_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", t["method"]) + ".png"
        written.append(_save(fig, osp.join(folder, name), plt))
    return written


# --- training curves (curves.csv of the training runs) ----------------------------------------------------

CURVE_PANELS = (("loss", "training loss"), ("acc", "accuracy (%)"), ("lr", "learning rate"))


def _read_run_curves(run):
    """The rows of a run's ``curves.csv`` (``[]`` when it has none; a malformed file is skipped with a note)."""
    from sempt.curves import CURVES_FILE, CurvesError, read_curves
    try:
        return read_curves(osp.join(run.path, CURVES_FILE))
    except (CurvesError, OSError, UnicodeDecodeError) as e:
        print(f"note: training curves skipped: {e}", file=sys.stderr)
        return []


def curve_groups(runs):
    """``{(setting, dataset, shots): {method: [rows of one seed's curves.csv, ...]}}`` over the runs that
    have a ``curves.csv`` (the training runs), seeds in order."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in sorted(runs, key=lambda r: r.seed):
        rows = _read_run_curves(r)
        if rows:
            groups[(r.setting, r.dataset, r.shots)][r.method].append(rows)
    return groups


def curve_band(seed_rows, column):
    """``(epochs, mean, sd, n)`` arrays of ``column`` over seeds at every epoch a seed has a value for;
    sd is the population standard deviation, as in the tables."""
    by_epoch = defaultdict(list)
    for rows in seed_rows:
        for row in rows:
            if row.get(column) is not None:
                by_epoch[row["epoch"]].append(row[column])
    epochs = sorted(by_epoch)
    values = [by_epoch[e] for e in epochs]
    return (np.array(epochs, dtype=int), np.array([np.mean(v) for v in values]),
            np.array([np.std(v) for v in values]), np.array([len(v) for v in values], dtype=int))


def _draw_band(ax, seed_rows, column, label, color, style="-"):
    epochs, mean, sd, _ = curve_band(seed_rows, column)
    if not len(epochs):
        return
    ax.plot(epochs, mean, style, color=color, label=label, marker="." if len(epochs) < 30 else None)
    if any(sd > 0):
        ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.2 if style == "-" else 0.1, linewidth=0)


def _curve_figure(key, by_method, plt):
    """Loss, accuracy (train solid, validation dashed) and learning rate over epochs, one colour per method:
    the mean over seeds with a band of +- one sd."""
    setting, dataset, shots = key
    fig, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(4.2 * len(CURVE_PANELS), 3.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (method, seed_rows) in enumerate(sorted(by_method.items())):
        color = colors[i % len(colors)]
        label = f"{method} ({len(seed_rows)} seed{'s' if len(seed_rows) != 1 else ''})"
        for ax, (column, _) in zip(axes, CURVE_PANELS):
            _draw_band(ax, seed_rows, column, label if column == "acc" else None, color)
        for column, style in (("val_acc", "--"), ("test_acc", ":")):
            _draw_band(axes[1], seed_rows, column, f"{method}: {column}", color, style)
    from matplotlib.ticker import MaxNLocator
    for ax, (column, ylabel) in zip(axes, CURVE_PANELS):
        ax.set(xlabel="epoch", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if column == "lr" and ax.lines and all(min(line.get_ydata()) > 0 for line in ax.lines):
            ax.set_yscale("log")
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=6)
    where = f"{dataset}, {shots} shots" if setting == "few_shot" else dataset
    fig.suptitle(f"Training curves: {setting}, {where} (mean over seeds, band: ± sd)", fontsize=9)
    return fig


def _plot_curves(runs, folder, plt):
    """One figure per setting and dataset (and shot count for few-shot) from the runs' ``curves.csv``."""
    written = []
    for key, by_method in sorted(curve_groups(runs).items()):
        setting, dataset, shots = key
        stem = f"curves_{setting}_{dataset}" + (f"_{shots}shots" if setting == "few_shot" else "")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) + ".png"
        written.append(_save(_curve_figure(key, by_method, plt), osp.join(folder, name), plt))
    return written


def plot(runs, folder):
    """Few-shot curves per dataset, base/novel bars per method and training curves per setting and dataset
    (from the runs' ``curves.csv``), as PNG files; returns their paths."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib") from e
    os.makedirs(folder, exist_ok=True)
    tables = build_tables(runs)
    return _plot_few_shot(tables, folder, plt) + _plot_base2new(tables, folder, plt) + _plot_curves(runs, folder, plt)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sempt.leaderboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="output root (e.g. output/)")
    p.add_argument("--format", choices=["github", "latex", "csv"], default="github")
    p.add_argument("--published", action="store_true", help="add published numbers (sempt/data/published.json)")
    p.add_argument("--seeds", type=int, default=3, help="seeds expected per cell (default 3: seeds 1-3)")
    p.add_argument("--plot", metavar="DIR", help="also write PNG figures to DIR: few-shot curves, base/novel bars "
                   "and training curves (loss, accuracy, LR per epoch from each run's curves.csv)")
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
