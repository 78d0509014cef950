"""Reading test results from run folders, whatever wrote the logs.

A run folder holds ``log.txt`` and possibly rotated logs (``log.txt-<time>``: Dassl writes the *new* run
there, this project moves the *old* one there). The newest log (by modification time) that holds a
finished result wins. A training run counts as finished after "Finish training" (newer Dassl) or
"Finished training" (older Dassl); an evaluation-only run after its "=> result" block.
"""
import glob
import os
import os.path as osp
import re

__all__ = ["END_MARKERS", "parse_log", "candidate_logs", "read_run", "read_config", "RunResult"]

END_MARKERS = ("Finish training", "Finished training")
_METRIC = re.compile(r"^\* (\w+): ([\d.eE+-]+)%\s*$")
_TOP_KEY = re.compile(r"^[A-Z][A-Z0-9_]*:")


class RunResult(dict):
    """Metrics of one run (``accuracy``, ``error``, ``macro_f1``, ...) plus ``file`` and ``kind``."""


def parse_log(path, test_log=None):
    """Metrics of the last result block in ``path`` after the end signal, or ``None``.

    ``test_log``: True for evaluation-only logs (the end signal is "=> result"), False for training logs,
    None to accept either (a training log needs its end marker before the result).
    """
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f]
    except OSError:
        return None
    trained = any(line in END_MARKERS for line in lines)
    if test_log is False and not trained:
        return None
    started = test_log is not False and not trained  # an eval-only log: results count right away
    result, current = None, None
    for line in lines:
        if line in END_MARKERS:
            started = True
            continue
        if not started:
            continue
        if line == "=> result":
            current = RunResult(file=path, kind="train" if trained else "test")
            result = current
            continue
        m = _METRIC.match(line)
        if m and current is not None:
            current[m.group(1)] = float(m.group(2))
        elif current is not None and line and not line.startswith("*"):
            current = None  # the block ended
    if result is None or "accuracy" not in result:
        return None
    return result


def candidate_logs(run_dir):
    """``log.txt`` and rotated logs in ``run_dir``, newest first."""
    paths = [p for p in glob.glob(osp.join(run_dir, "log.txt*")) if not p.endswith(".tmp")]
    return sorted(paths, key=lambda p: (os.path.getmtime(p), p), reverse=True)


def read_run(run_dir, test_log=None):
    """The result of the newest finished log in ``run_dir``, or ``None``."""
    for path in candidate_logs(run_dir):
        result = parse_log(path, test_log=test_log)
        if result is not None:
            return result
    return None


def read_config(log_path):
    """The run's config as nested dicts of strings, read from the block Dassl (and ``train.py``) prints after
    ``** Config **`` in ``log_path`` (yacs prints strings unquoted, so this is read by indentation, not as
    YAML); ``None`` when the log has no config block."""
    try:
        with open(log_path, "r", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    try:
        start = lines.index("** Config **") + 1
    except ValueError:
        return None
    if start < len(lines) and lines[start] and set(lines[start]) == {"*"}:
        start += 1
    root = {}
    stack = [(-1, root)]  # (indent, dict) of the open sections
    for line in lines[start:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0 and not _TOP_KEY.match(line):
            break  # the config ends at the first line that is neither indented nor an upper-case key
        key, sep, value = line.strip().partition(":")
        if not sep or key.startswith("- "):
            continue
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = value.strip()
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root or None


def _main(argv=None):
    """``python -m sempt.results finished RUN_DIR [--test-log]``: exit 0 when the run has a result."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m sempt.results")
    p.add_argument("command", choices=["finished", "show"])
    p.add_argument("run_dir")
    p.add_argument("--test-log", action="store_true", help="an evaluation-only run")
    args = p.parse_args(argv)
    res = read_run(args.run_dir, test_log=True if args.test_log else False)
    if args.command == "show":
        print(res if res is not None else "no finished result")
    return 0 if res is not None else 1


if __name__ == "__main__":
    raise SystemExit(_main())
