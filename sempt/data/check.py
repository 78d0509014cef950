"""``python -m sempt.data check --root $DATA``: one table row per dataset, found or missing or broken.

Each dataset is read by its real reader (all classes, no few-shot), so a row says exactly what a run would
meet: the folder, the split file, every listed image, and the class names against the shipped lists.
"""
import contextlib
import io
import os
import os.path as osp
import sys

from sempt.data import catalog

__all__ = ["check_dataset", "check_all"]


def _cfg(root, reader):
    import datasets
    from sempt.config import build_cfg
    return build_cfg([datasets.extend_cfg], opts=["DATASET.ROOT", root, "DATASET.NAME", reader])


def check_dataset(root, reader):
    """``dict(dataset, status, classes, train, val, test, problem)``; status: ok, missing or broken."""
    from sempt.backend import DATASET_REGISTRY
    from sempt.data.coop import DatasetError
    info = catalog.info(reader)
    row = {"dataset": reader, "status": "ok", "classes": None, "train": None, "val": None, "test": None,
           "problem": ""}
    cls = DATASET_REGISTRY.get(reader)
    if not osp.isdir(osp.join(root, cls.dataset_dir)):
        row.update(status="missing", problem=f"no folder {osp.join(root, cls.dataset_dir)}")
        return row
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            ds = cls(_cfg(root, reader))
    except (DatasetError, OSError, ValueError, KeyError) as e:
        row.update(status="broken", problem=str(e).splitlines()[0])
        return row
    test_only = cls.test_only
    row.update(classes=ds.num_classes, test=len(ds.test),
               train=None if test_only else len(ds.train_x),
               val=None if test_only or ds.val is ds.test else len(ds.val))
    expected = catalog.classnames(reader)
    if ds.classnames != expected:
        diff = next((i for i, (a, b) in enumerate(zip(ds.classnames, expected)) if a != b), None)
        what = (f"label {diff} is {ds.classnames[diff]!r}, expected {expected[diff]!r}" if diff is not None
                else f"{len(ds.classnames)} classes, expected {len(expected)}")
        row.update(status="broken", problem=f"class names differ from CoOp's: {what}")
    return row


def _fmt(value, expected):
    if value is None:
        return "-"
    if expected and value != expected:
        return f"{value:,} (CoOp {expected:,})"
    return f"{value:,}"


def check_all(root, names=None, out=sys.stdout):
    """Print the table; return the rows."""
    from tabulate import tabulate
    import datasets  # noqa: F401  (registers the readers)
    readers = [catalog.resolve(n) for n in names] if names else list(catalog.CATALOG)
    rows = []
    n = len(readers)
    for i, reader in enumerate(readers, 1):
        print(f"[{i}/{n}] checking {reader} ...", file=sys.stderr, flush=True)
        rows.append(check_dataset(root, reader))
    table = []
    for r in rows:
        info = catalog.info(r["dataset"])
        table.append([r["dataset"], r["status"], _fmt(r["classes"], info.n_classes),
                      _fmt(r["train"], info.train), _fmt(r["val"], info.val if info.train else 0),
                      _fmt(r["test"], info.test), r["problem"][:160]])
    print(tabulate(table, headers=["dataset", "status", "classes", "train", "val", "test", "first problem"]),
          file=out)
    return rows
