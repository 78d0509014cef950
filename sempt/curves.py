"""Per-epoch training curves: ``curves.csv`` beside ``log.txt``, and the same numbers in TensorBoard.

One row per finished epoch, written by the main process only:

- ``epoch``: 1-based, as the progress lines print it;
- ``lr``: the learning rate the epoch's steps used, i.e. at the epoch's *start* (the schedulers step once
  per epoch, after its last batch, so the rate at the epoch's end is already the next epoch's);
- ``loss``, ``acc``: means over the epoch's batches of what ``forward_backward`` returned (the bracketed
  running means of the progress line at the epoch's last batch); a method's extra terms follow as more
  columns (SemPT's ``loss_label``/``loss_attr``, KgCoOp's ``kg``, PromptSRC's ``ce``/``scl``, ...);
- ``val_acc``: accuracy on the validation split when the epoch was evaluated (``TEST.FINAL_MODEL
  best_val``), else empty; ``test_acc`` instead when the dataset has no validation split and the engine
  evaluated the test split in its place;
- ``elapsed_s``: wall seconds of training at the end of the epoch (validation included), summed over the
  sessions of a resumed run.

The file is rewritten whole through a temporary file and a rename after every epoch (a few hundred rows at
most), so it is never half-written. A resumed run replays the epochs after its checkpoint: their rows are
dropped when it starts and written again as they finish, so the file never holds an epoch twice. A run that
starts from scratch moves an older ``curves.csv`` of the folder aside (``curves.csv-<time>``), like
``log.txt`` and ``results.json``.

``python -m sempt.leaderboard ROOT --plot DIR`` draws these files (mean over seeds with a band).
Only the built-in engine writes them (``sempt/engine/trainer.py``); with real Dassl the hooks are not called.
"""
import csv
import io
import math
import os
import os.path as osp
import time

from sempt import distributed
from sempt.fileio import atomic_write_text

__all__ = ["CURVES_FILE", "EpochCurves", "read_curves", "write_curves", "current_lr", "CurvesError"]

CURVES_FILE = "curves.csv"
_FIRST = ("epoch", "lr", "loss", "acc")
_LAST = ("val_acc", "test_acc", "elapsed_s")


class CurvesError(ValueError):
    """A ``curves.csv`` that cannot be read (the message names the file and the line)."""


def _number(text, path, line):
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise CurvesError(f"{path}, line {line}: {text!r} is not a number; delete or fix the file") from None


def read_curves(path):
    """The rows of a ``curves.csv`` as dicts (``epoch`` an int, other cells floats or ``None`` when empty),
    in file order; ``[]`` when the file does not exist. Raises ``CurvesError`` for a malformed file."""
    if not osp.exists(path):
        return []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or header[0] != "epoch":
            raise CurvesError(f"{path}: the first line must be a header starting with 'epoch'; delete the file")
        rows = []
        for line, cells in enumerate(reader, start=2):
            if len(cells) != len(header):
                raise CurvesError(f"{path}, line {line}: {len(cells)} cells for {len(header)} columns; "
                                  "delete or fix the file")
            row = {k: _number(v, path, line) for k, v in zip(header, cells)}
            if row["epoch"] is None:
                raise CurvesError(f"{path}, line {line}: no epoch number; delete or fix the file")
            row["epoch"] = int(row["epoch"])
            rows.append(row)
    return rows


def _columns(rows):
    """``epoch, lr, loss, acc``, the method's extra columns in order of appearance, then ``val_acc``,
    ``test_acc``, ``elapsed_s``; only columns some row has."""
    seen = []
    for row in rows:
        seen += [k for k in row if k not in seen]
    middle = [k for k in seen if k not in _FIRST and k not in _LAST]
    return [k for k in _FIRST if k in seen] + middle + [k for k in _LAST if k in seen]


def _cell(value, key):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key == "epoch":
        return str(int(value))
    return f"{value:.2f}" if key == "elapsed_s" else f"{value:.6g}"


def write_curves(rows, path):
    """Write ``rows`` (dicts) to ``path`` atomically, the columns in ``_columns`` order."""
    columns = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(k), k) for k in columns])
    atomic_write_text(out.getvalue(), path)


def _move_aside(path):
    stamp = time.strftime("-%Y-%m-%d-%H-%M-%S", time.localtime(osp.getmtime(path)))
    target, k = path + stamp, 1
    while osp.exists(target):
        target, k = f"{path}{stamp}.{k}", k + 1
    os.replace(path, target)
    return target


class EpochCurves:
    """The ``curves.csv`` of one training run (and its TensorBoard scalars ``epoch/<column>``).

    ``start(start_epoch, lr)`` when training (re)starts, ``end_epoch(epoch, means, next_lr, ...)`` after
    each epoch. ``enabled`` defaults to "this is the main process": other ranks write nothing.
    """

    def __init__(self, run_dir, resume_dir=None, enabled=None):
        self.path = osp.join(run_dir, CURVES_FILE)
        self.resume_dir = resume_dir
        self.enabled = distributed.is_main_process() if enabled is None else bool(enabled)
        self.rows = []
        self.lr = None
        self.base_elapsed = 0.0
        self.t0 = time.time()

    def _previous_rows(self):
        """The rows a resumed run continues: this folder's file, else the one beside the ``--resume``
        checkpoints; an unreadable file is moved aside (training must not stop for a curve)."""
        candidates = [self.path]
        if self.resume_dir:
            candidates.append(osp.join(self.resume_dir, CURVES_FILE))
        for path in candidates:
            try:
                rows = read_curves(path)
            except (CurvesError, OSError, UnicodeDecodeError) as e:
                if path == self.path:
                    print(f"Note: {e}; moved to {_move_aside(path)}, curves start afresh")
                continue
            if rows:
                return rows
        return []

    def start(self, start_epoch, lr=None):
        """Training starts after ``start_epoch`` finished epochs (0: from scratch) at learning rate ``lr``."""
        self.t0, self.lr = time.time(), lr
        if not self.enabled:
            return self
        rows = self._previous_rows()
        kept = [r for r in rows if r["epoch"] <= start_epoch]
        if start_epoch == 0 and osp.exists(self.path):
            print(f"Moved the previous run's {CURVES_FILE} to {_move_aside(self.path)}")
        elif len(kept) < len(rows):
            dropped = sorted({r["epoch"] for r in rows} - {r["epoch"] for r in kept})
            print(f"{CURVES_FILE}: dropped the rows of epochs {dropped[0]}-{dropped[-1]} (the run resumes after "
                  f"epoch {start_epoch} and trains them again)")
            write_curves(kept, self.path)
        self.rows = kept
        elapsed = [r.get("elapsed_s") for r in kept if r.get("elapsed_s") is not None]
        self.base_elapsed = elapsed[-1] if elapsed else 0.0
        return self

    def end_epoch(self, epoch, means, next_lr=None, evaluated=None, write_scalar=None):
        """Record 1-based ``epoch``: ``means`` (name -> epoch mean), ``evaluated`` (``{"val_acc": x}`` or
        nothing); ``next_lr`` is the rate the next epoch starts with. Returns the row written (or that
        would have been, on a process that does not write)."""
        row = {"epoch": int(epoch), "lr": self.lr}
        row.update({k: float(v) for k, v in (means or {}).items() if k not in ("epoch", "lr", "elapsed_s")})
        row.update(evaluated or {})
        row["elapsed_s"] = self.base_elapsed + time.time() - self.t0
        self.lr = next_lr
        if not self.enabled:
            return row
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        write_curves(self.rows, self.path)
        if write_scalar is not None:
            for key, value in row.items():
                if key not in ("epoch", "elapsed_s") and value is not None:
                    write_scalar(f"epoch/{key}", value, row["epoch"])
        return row


def current_lr(trainer):
    """``trainer.get_current_lr()``, or ``None`` when its first registered model has no optimiser (nothing
    is learned)."""
    names = trainer.get_model_names()
    if not names or trainer._optims.get(names[0]) is None:
        return None
    return trainer.get_current_lr()
