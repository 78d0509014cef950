"""File helpers used everywhere: folders, atomic text/JSON writes, JSON reads."""
import json
import os
import os.path as osp

__all__ = ["mkdir_if_missing", "atomic_write_text", "read_json", "write_json"]


def mkdir_if_missing(dirname):
    if dirname:
        os.makedirs(dirname, exist_ok=True)


def atomic_write_text(text, fpath):
    """Write ``text`` to ``fpath`` through a temporary file and a rename: never a half-written file."""
    mkdir_if_missing(osp.dirname(osp.abspath(fpath)))
    tmp = f"{fpath}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fpath)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def read_json(fpath):
    with open(fpath, "r", encoding="utf-8") as f:
        return json.load(f)


def write_json(obj, fpath):
    """Atomically write ``obj`` as indented UTF-8 JSON."""
    atomic_write_text(json.dumps(obj, indent=4, separators=(",", ": "), ensure_ascii=False) + "\n", fpath)
