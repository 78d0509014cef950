"""File helpers used everywhere: folders, atomic text/JSON writes, JSON reads, class-name lists."""
import json
import os
import os.path as osp

__all__ = ["mkdir_if_missing", "atomic_write_text", "read_json", "write_json", "read_class_list"]


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


def read_class_list(path, flag="--classes"):
    """Class names from a file: a JSON list of names, or one name per line (blank lines and lines starting
    with ``#`` skipped). Raises ``ValueError`` with a one-line message (starting ``{flag} {path}:``) for a
    missing or unreadable file, bad JSON, an empty list or a name given twice."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ValueError(f"{flag} {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{flag} {path}: not a UTF-8 text file") from None
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{flag} {path}: not a valid JSON list ({e})") from None
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(f"{flag} {path}: the JSON list must hold non-empty class names")
        names = [n.strip() for n in names]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise ValueError(f"{flag} {path}: no class names in the file (one per line, or a JSON list)")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f"{flag} {path}: {dups[:5]} appear more than once; give each class once")
    return names
