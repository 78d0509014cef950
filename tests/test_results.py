"""The result parser: both end markers, rotated logs, crashed and eval-only runs."""
import os
import subprocess
import sys
import time

from conftest import REPO
from sempt.results import parse_log, read_run

RESULT = "=> result\n* total: 100\n* correct: {c}\n* accuracy: {a}%\n* error: {e}%\n* macro_f1: {a}%\n"


def _log(path, marker="Finish training", acc=81.5, mtime=None, finished=True):
    body = "epoch [1/1] batch [1/1] loss 1.0\n"
    if finished:
        body += f"{marker}\nDeploy the last-epoch model\nEvaluate on the *test* set\n"
        body += RESULT.format(c=int(acc), a=acc, e=round(100 - acc, 1)) + "Elapsed: 0:00:01\n"
    path.write_text(body)
    if mtime:
        os.utime(path, (mtime, mtime))


def test_both_markers_and_eval_only(tmp_path):
    _log(tmp_path / "a.txt", "Finish training", 70.0)
    _log(tmp_path / "b.txt", "Finished training", 71.0)
    assert parse_log(str(tmp_path / "a.txt"))["accuracy"] == 70.0
    assert parse_log(str(tmp_path / "b.txt"))["macro_f1"] == 71.0
    (tmp_path / "c.txt").write_text("Evaluate on the *test* set\n" + RESULT.format(c=60, a=60.0, e=40.0))
    assert parse_log(str(tmp_path / "c.txt"))["accuracy"] == 60.0
    assert parse_log(str(tmp_path / "c.txt"), test_log=False) is None
    _log(tmp_path / "crash.txt", finished=False)
    assert parse_log(str(tmp_path / "crash.txt")) is None


def test_newest_finished_log_wins_whatever_the_rotation(tmp_path):
    now = time.time()
    dassl_style = tmp_path / "dassl"
    dassl_style.mkdir()  # Dassl kept the old run in log.txt and wrote the new one to log.txt-<time>
    _log(dassl_style / "log.txt", acc=50.0, mtime=now - 100)
    _log(dassl_style / "log.txt-2026-01-01-00-00-00", acc=80.0, mtime=now)
    assert read_run(str(dassl_style))["accuracy"] == 80.0
    crashed_rerun = tmp_path / "crashed"
    crashed_rerun.mkdir()  # the newest run crashed: the previous finished one is reported
    _log(crashed_rerun / "log.txt-2026-01-01-00-00-00", acc=65.0, mtime=now - 100)
    _log(crashed_rerun / "log.txt", finished=False, mtime=now)
    assert read_run(str(crashed_rerun))["accuracy"] == 65.0


def test_parse_test_res_cli_lists_missing_seeds(tmp_path):
    for seed, acc in ((1, 80.0), (2, 82.0)):
        (tmp_path / f"seed{seed}").mkdir()
        _log(tmp_path / f"seed{seed}" / "log.txt", "Finished training" if seed == 1 else "Finish training", acc)
    (tmp_path / "seed3").mkdir()
    _log(tmp_path / "seed3" / "log.txt", finished=False)
    out = subprocess.run([sys.executable, "parse_test_res.py", str(tmp_path)], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    assert "* accuracy: 81.00% +- 1.00% (n=2)" in out
    assert f"no finished result in {tmp_path / 'seed3'}" in out


def test_results_json_is_read_first_and_rotated(tmp_path):
    from sempt.results import read_run, rotate_results, write_results
    _log(tmp_path / "log.txt", acc=70.0)
    write_results(str(tmp_path), {"accuracy": 72.25, "error_rate": 27.75, "macro_f1": 70.0, "eval_only": False,
                                  "per_class": [{"label": 0, "name": "a", "total": 4, "correct": 3}]})
    run = read_run(str(tmp_path))
    assert run["accuracy"] == 72.25 and run["per_class"][0]["correct"] == 3  # unrounded, from results.json
    assert run["file"] == str(tmp_path / "log.txt") and read_run(str(tmp_path), test_log=False)["accuracy"] == 72.25
    # asked for an evaluation-only result, a training run's results.json does not answer; the log parser does
    assert read_run(str(tmp_path), test_log=True)["accuracy"] == 70.0
    rotate_results(str(tmp_path))  # a new run starts: the old results.json no longer speaks for the folder
    assert not (tmp_path / "results.json").exists()
    assert [p.name.startswith("results.json-") for p in tmp_path.iterdir() if p.name != "log.txt"] == [True]
    assert read_run(str(tmp_path))["accuracy"] == 70.0  # back to the log
