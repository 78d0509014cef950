"""Novel-class accuracy split by name kind (descriptive / known / unknown), from per-class results."""
import re
from collections import defaultdict

import numpy as np

from sempt.fileio import read_json
from sempt.leaderboard import discover

__all__ = ["kind_table"]

_PER_CLASS = re.compile(r"^\* class: \d+ \((.+)\)\ttotal: ([\d,]+)\tcorrect: ([\d,]+)\tacc:")


def _per_class(log_path):
    out = {}
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            m = _PER_CLASS.match(line.rstrip("\n"))
            if m:
                out[m.group(1)] = (int(m.group(3).replace(",", "")), int(m.group(2).replace(",", "")))
    return out


def kind_table(output_root, categories_json):
    """Rows (method, dataset, descriptive, known, unknown) of mean novel accuracy over seeds."""
    kinds = {c["name"]: c["kind"] for c in read_json(categories_json)["categories"]}
    acc = defaultdict(lambda: defaultdict(list))
    for run in discover(output_root):
        if run.setting != "base2new" or run.kind != "test_new" or run.result is None:
            continue
        per = _per_class(run.result["file"])
        for kind in ("descriptive", "known", "unknown"):
            hits = [per[c] for c in per if kinds.get(c) == kind]
            if hits:
                acc[(run.method, run.dataset)][kind].append(100.0 * sum(h[0] for h in hits) / sum(h[1] for h in hits))
    rows = []
    for (method, dataset), by_kind in sorted(acc.items()):
        rows.append([method, dataset] + [
            f"{np.mean(by_kind[k]):.1f} ± {np.std(by_kind[k]):.1f}" if by_kind.get(k) else "-"
            for k in ("descriptive", "known", "unknown")])
    return rows
