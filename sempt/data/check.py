"""``python -m sempt.data check --root $DATA``: one table row per dataset, found or missing or broken.

Each dataset is read by its real reader (all classes, no few-shot), so a row says exactly what a run would
meet: the folder, the split file, every listed image (present and decodable: all of them, or a sample with
``quick``), and the class names against the shipped lists. The check is read-only: it writes nothing into
the data folder (a split file that training would have to build is reported instead; a user's
``ImageFolder`` dataset whose split is not built yet is split in memory).

``--dataset`` also takes a dataset config file or the name of one in ``configs/datasets/`` (a user's own
dataset, ``configs/datasets/<name>.yaml``): its row has no CoOp counts or shipped class names to compare.
"""
import contextlib
import io
import os.path as osp
import random
import sys

from sempt.data import catalog
from sempt.data.catalog import info

__all__ = ["check_dataset", "check_all"]


def _cfg(root, reader):
    from sempt.config import build_cfg
    from sempt.data.readers import load_readers
    return build_cfg([load_readers().extend_cfg], opts=["DATASET.ROOT", root, "DATASET.NAME", reader])


QUICK_SAMPLE = 200  # images decoded per dataset with --quick


def check_dataset(root, reader, quick=False):
    """``dict(dataset, status, classes, train, val, test, problem, bad_images, expected)``; status: ok,
    missing or broken. ``bad_images``: ``[(path, reason)]`` of the images that cannot be decoded. ``reader``
    is anything ``catalog.lookup`` knows: a catalog name, another reader, or a dataset config (file or name:
    a user's ``ImageFolder`` dataset), whose class names are then not compared with a shipped list."""
    from sempt.data.coop import DatasetError, read_only
    from sempt.data.readers import reader as reader_class
    ref = catalog.lookup(reader, root)
    name = ref.facts.reader
    shipped = ref.shipped
    label = name if not ref.facts.per_config else f"{ref.facts.name} ({name})"
    row = {"dataset": label, "status": "ok", "classes": None, "train": None, "val": None, "test": None,
           "problem": "", "bad_images": [], "expected": info(name) if shipped else None}
    cls = reader_class(name)
    folder = ref.facts.folder or osp.join(root, cls.dataset_dir)
    if not osp.isdir(folder):
        row.update(status="missing", problem=f"no folder {folder}")
        return row
    try:
        with contextlib.redirect_stdout(io.StringIO()), read_only():
            ds = cls(_cfg(root, name) if shipped else ref.cfg)
    except (DatasetError, OSError, ValueError, KeyError) as e:
        row.update(status="broken", problem=str(e).splitlines()[0])
        return row
    _sizes_and_names(row, cls, ds, name if shipped else None)
    _decode_images(row, ds, label, quick)
    return row


def _sizes_and_names(row, cls, ds, shipped_name):
    """Split sizes into ``row``; class names compared with the shipped list (``shipped_name``) when there is one."""
    test_only = cls.test_only
    row.update(classes=ds.num_classes, test=len(ds.test),
               train=None if test_only else len(ds.train_x),
               val=None if test_only or ds.val is ds.test else len(ds.val))
    expected = catalog.classnames(shipped_name) if shipped_name else None  # a dataset whose names come from its data
    if expected is not None and ds.classnames != expected:
        diff = next((i for i, (a, b) in enumerate(zip(ds.classnames, expected)) if a != b), None)
        what = (f"label {diff} is {ds.classnames[diff]!r}, expected {expected[diff]!r}" if diff is not None
                else f"{len(ds.classnames)} classes, expected {len(expected)}")
        row.update(status="broken", problem=f"class names differ from CoOp's: {what}")


def _decode_images(row, ds, label, quick):
    """Every image of the splits decoded (a fixed sample of ``QUICK_SAMPLE`` with ``quick``); damage into ``row``."""
    from sempt.data.coop import find_bad_images
    paths = sorted({item.impath for part in (ds.train_x, ds.val or [], ds.test) for item in part})
    if quick and len(paths) > QUICK_SAMPLE:
        paths = random.Random(0).sample(paths, QUICK_SAMPLE)
    row["bad_images"] = find_bad_images(paths, desc=f"{label}: decode {len(paths):,} images")
    if row["bad_images"]:
        path, why = row["bad_images"][0]
        row.update(status="broken", problem=f"{len(row['bad_images'])} of {len(paths):,} decoded images are damaged, "
                                            f"e.g. {path} ({why})" + (f"; {row['problem']}" if row["problem"] else ""))


def _fmt(value, expected):
    if value is None:
        return "-"
    if expected and value != expected:
        return f"{value:,} (CoOp {expected:,})"
    return f"{value:,}"


def check_all(root, names=None, out=None, quick=False):
    """Print the table (and every damaged image) to ``out`` (default: the current ``sys.stdout``); return the
    rows."""
    from tabulate import tabulate
    out = out or sys.stdout
    for name in names or ():
        catalog.lookup(name, root)  # an unknown name stops before any dataset is checked
    readers = list(names) if names else list(catalog.CATALOG)
    rows = []
    n = len(readers)
    for i, reader in enumerate(readers, 1):
        print(f"[{i}/{n}] checking {reader} ...", file=sys.stderr, flush=True)
        rows.append(check_dataset(root, reader, quick=quick))
    table = []
    for r in rows:
        exp = r["expected"] or catalog.DatasetInfo("", "", "", 0, 0, 0, 0)  # a user's dataset: nothing to compare
        table.append([r["dataset"], r["status"], _fmt(r["classes"], exp.n_classes),
                      _fmt(r["train"], exp.train), _fmt(r["val"], exp.val if exp.train else 0),
                      _fmt(r["test"], exp.test), r["problem"][:160]])
    print(tabulate(table, headers=["dataset", "status", "classes", "train", "val", "test", "first problem"]),
          file=out)
    damaged = [(r["dataset"], p, why) for r in rows for p, why in r["bad_images"]]
    if damaged:
        print(f"\nDamaged images ({len(damaged)}): replace them, or train with DATASET.BAD_IMAGES skip", file=out)
        for dataset, path, why in damaged:
            print(f"  {dataset}: {path} ({why})", file=out)
    return rows
