"""Test results of run folders: ``results.json`` written by this project, or the logs of any CoOp-family code.

Evaluation writes ``results.json`` beside ``log.txt`` (``write_results``): accuracy, error rate, macro F1,
per-class accuracy, the evaluated split and label space, and the config fingerprint. ``read_run`` reads it
when present; CoOp-era trees without it are read from their logs. A run folder holds ``log.txt`` and possibly rotated logs (``log.txt-<time>``: Dassl writes the *new* run
there, this project moves the *old* one there). The newest log (by modification time) that holds a
finished result wins. A training run counts as finished after "Finish training" (newer Dassl) or
"Finished training" (older Dassl); an evaluation-only run after its "=> result" block.
"""
import glob
import os
import os.path as osp
import re

__all__ = ["END_MARKERS", "RESULTS_FILE", "parse_log", "candidate_logs", "read_run", "read_config", "RunResult",
           "write_results", "read_results", "rotate_results"]

RESULTS_FILE = "results.json"

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


def write_results(run_dir, results):
    """Write ``results`` (a JSON-serialisable dict) to ``run_dir/results.json`` atomically."""
    from sempt.fileio import write_json
    write_json(results, osp.join(run_dir, RESULTS_FILE))


def read_results(run_dir):
    """``run_dir/results.json`` as a dict, or ``None`` when absent or unreadable."""
    import json
    try:
        with open(osp.join(run_dir, RESULTS_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "accuracy" in data else None


def rotate_results(run_dir):
    """Move a previous run's ``results.json`` aside (``results.json-<time>``) before a new run starts."""
    path = osp.join(run_dir, RESULTS_FILE)
    if osp.exists(path):
        import time
        os.replace(path, path + time.strftime("-%Y-%m-%d-%H-%M-%S", time.localtime(osp.getmtime(path))))


def read_run(run_dir, test_log=None):
    """The run's result: its ``results.json`` when present (``test_log`` True: an evaluation-only run's,
    False: a training run's), else the newest finished log; ``None`` when there is none."""
    data = read_results(run_dir)
    if data is not None and (test_log is None or bool(data.get("eval_only")) == test_log):
        result = RunResult(accuracy=data["accuracy"], error=data.get("error_rate"), macro_f1=data.get("macro_f1"),
                           kind="test" if data.get("eval_only") else "train",
                           results_file=osp.join(run_dir, RESULTS_FILE), per_class=data.get("per_class"))
        logs = candidate_logs(run_dir)
        result["file"] = logs[0] if logs else result["results_file"]
        return result
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
