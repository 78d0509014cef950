"""The job-pool runner (sempt.sweep): slots and their environment, at most one job per slot and really two at
a time on two slots, progress counts, failures reported while the others go on, skipping finished jobs,
Ctrl-C stopping every job's process group; the world study's executor on it; scripts/benchmark.sh --gpus
(units on the pool) and --slurm (the array script: syntax, #SBATCH lines, task table, one task run locally).
The world study itself on a pool of two CPU slots runs in tests/test_world_study.py (test_mini_study_end_to_end).
"""
import io
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from sempt.config import ConfigError
from sempt.sweep import Job, Pool, make_slots, read_jobs_file, read_units
from sempt.world import study

# a job that registers itself as running, records how many jobs were running then (itself included) and the
# variables its slot set, and, for RENDEZVOUS=1, waits (at most 20 s) until a second job runs beside it
JOB = r"""
set -C
: > "run/$NAME" || echo "clash $NAME" >> seen.txt
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then : > "run/device$CUDA_VISIBLE_DEVICES" || echo "clash device" >> seen.txt; fi
echo "$NAME $(ls run | grep -vc device)" >> seen.txt
echo "env [$CUDA_VISIBLE_DEVICES] [$OMP_NUM_THREADS] [$OMP_WAIT_POLICY]"
i=0
while [ "${RENDEZVOUS:-0}" = 1 ] && [ "$(ls run | grep -vc device)" -lt 2 ]; do
    i=$((i + 1)); [ $i -lt 400 ] || { echo "alone after 20 s"; exit 9; }; sleep 0.05
done
sleep 0.2
rm -f "run/$NAME" "run/device${CUDA_VISIBLE_DEVICES:-none}"
echo "bye $NAME"
"""


def _jobs(tmp_path, names, rendezvous=("a", "b"), **kw):
    (tmp_path / "run").mkdir(exist_ok=True)
    return [Job(n, ["sh", "-c", JOB], env={"NAME": n, "RENDEZVOUS": "1" if n in rendezvous else "0"},
                cwd=str(tmp_path), **kw) for n in names]


def _seen(tmp_path):
    return [line.split() for line in (tmp_path / "seen.txt").read_text().splitlines()]


def test_slots_set_device_and_threads_deliberately():
    cpu = make_slots(gpus="cpu:2", cores=8)
    assert [s.name for s in cpu] == ["cpu 1", "cpu 2"]
    assert cpu[0].env["CUDA_VISIBLE_DEVICES"] == "" and cpu[0].env["OMP_NUM_THREADS"] == "4"
    assert cpu[1].env["OMP_WAIT_POLICY"] == "PASSIVE" and cpu[1].env["MKL_NUM_THREADS"] == "4"
    gpus = make_slots(gpus="0,1,1,3", cores=16)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in gpus] == ["0", "1", "1", "3"]
    assert {s.env["OMP_NUM_THREADS"] for s in gpus} == {"4"}
    jobs = make_slots(jobs=2, threads=1, cores=2)  # the world study's --jobs 2 --threads 1: devices left alone
    assert len(jobs) == 2 and "CUDA_VISIBLE_DEVICES" not in jobs[0].env and jobs[0].env["OMP_NUM_THREADS"] == "1"
    assert make_slots(gpus="cpu:4", cores=2)[0].env["OMP_NUM_THREADS"] == "1"  # never 0 threads
    for bad, words in (("0,x", "'x' is not a device id"), ("cpu:0", "positive whole number"), ("0,,1", "'' is not")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            make_slots(gpus=bad)
    with pytest.raises(ConfigError, match="--jobs"):
        make_slots(jobs=0)


def test_two_cpu_slots_run_two_jobs_at_a_time_with_progress_and_logs(tmp_path):
    stream = io.StringIO()
    pool = Pool(make_slots(gpus="cpu:2", threads=3), tmp_path / "logs", stream=stream, name="t")
    out = pool.run(_jobs(tmp_path, ["a", "b", "c", "d", "e"]))
    assert out.ok and sorted(out.done) == ["a", "b", "c", "d", "e"] and out.failed == [] and out.skipped == []
    seen = _seen(tmp_path)
    assert not [s for s in seen if s[0] == "clash"]
    counts = {name: int(n) for name, n in seen}
    assert max(counts.values()) == 2  # never three at once; a and b met, so two ran side by side
    for n in "abcde":
        log = (tmp_path / "logs" / f"{n}.log").read_text()
        assert "env [] [3] [PASSIVE]" in log and f"bye {n}" in log and log.startswith("# sh -c")
    text = stream.getvalue()
    assert "start a [cpu 1]" in text and "start b [cpu 2]" in text
    assert "| done 0 / running 2 / left 3, elapsed" in text
    assert re.search(r"done e in \d+s \| done 5 / running 0 / left 0, elapsed \d+s, eta 0s", text)
    assert "[t] 5 job(s): 5 done, 0 failed, 0 skipped" in text


def test_gpu_slots_give_each_running_job_its_own_device(tmp_path):
    out = Pool(make_slots(gpus="3,5"), tmp_path / "logs", stream=io.StringIO()).run(
        _jobs(tmp_path, ["a", "b", "c", "d"]))
    assert out.ok
    assert not [s for s in _seen(tmp_path) if s[0] == "clash"]  # no device held by two jobs at once
    devices = {re.search(r"env \[(\d*)\]", (tmp_path / "logs" / f"{n}.log").read_text()).group(1) for n in "abcd"}
    assert devices == {"3", "5"}


def test_a_failure_is_reported_and_the_rest_goes_on(tmp_path):
    stream = io.StringIO()
    jobs = _jobs(tmp_path, ["a", "b"], rendezvous=())
    jobs.insert(1, Job("boom", ["sh", "-c", "echo about to fail; exit 3"]))
    jobs.append(Job("after boom", ["sh", "-c", "echo never"], deps=["boom"]))
    jobs.append(Job("after a", ["sh", "-c", "echo fine"], deps=["a"]))
    jobs.append(Job("missing", ["/no/such/program"]))
    jobs.append(Job("after missing", ["sh", "-c", "echo never"], deps=["missing"]))
    out = Pool(make_slots(jobs=2), tmp_path / "logs", stream=stream).run(jobs)
    log = str(tmp_path / "logs" / "boom.log")
    assert sorted(out.done) == ["a", "after a", "b"]
    assert out.failed == [("boom", 3, log), ("missing", 127, str(tmp_path / "logs" / "missing.log"))]
    assert out.blocked == [("after boom", "needs 'boom', which did not finish"),
                           ("after missing", "needs 'missing', which did not finish")] and not out.ok
    assert "about to fail" in open(log).read() and not (tmp_path / "logs" / "after_boom.log").exists()
    text = stream.getvalue()
    assert f"FAILED boom (exit 3) after 0s; log: {log}" in text and "    | about to fail" in text
    assert f"failed: boom (exit 3); log: {log}" in text and "not run: after boom" in text
    assert "3 done, 2 failed, 0 skipped (finished before), 2 not run" in text


def test_finished_jobs_are_skipped_and_bad_job_lists_refused(tmp_path):
    ran = tmp_path / "ran"
    jobs = [Job("old", ["sh", "-c", f"echo old >> {ran}"], finished=lambda: True),
            Job("new", ["sh", "-c", f"echo new >> {ran}"], deps=["old"], finished=lambda: False)]
    out = Pool(make_slots(jobs=1), tmp_path / "logs", stream=io.StringIO()).run(jobs)
    assert out.skipped == ["old"] and out.done == ["new"] and ran.read_text() == "new\n"
    loop = [Job("x", ["true"], deps=["y"]), Job("y", ["true"], deps=["x"]), Job("z", ["true"])]
    out = Pool(make_slots(jobs=2), tmp_path / "logs", stream=io.StringIO()).run(loop)
    assert out.done == ["z"] and out.blocked == [("x", "its dependencies wait on each other"),
                                                 ("y", "its dependencies wait on each other")]
    with pytest.raises(ConfigError, match="'x' is used 2 times"):
        Pool(make_slots(jobs=1), tmp_path).run([Job("x", ["true"]), Job("x", ["true"])])
    with pytest.raises(ConfigError, match="depends on 'nope'"):
        Pool(make_slots(jobs=1), tmp_path).run([Job("x", ["true"], deps=["nope"])])
    assert read_units("caltech101 seed 1\tDATASETS=caltech101 SEEDS=1\n\n# note\nA=1 B=x\n") == [
        ("caltech101 seed 1", {"DATASETS": "caltech101", "SEEDS": "1"}), ("1 x", {"A": "1", "B": "x"})]
    with pytest.raises(ConfigError, match=r"units line 2: 'oops' is not KEY=VALUE"):
        read_units("A=1\noops\n")
    bad = tmp_path / "jobs.json"
    bad.write_text(json.dumps([{"name": "a", "cmd": "echo hi"}]))
    with pytest.raises(ConfigError, match=r"jobs.json: job 0 needs \"name\" \(text\) and \"cmd\" \(a list"):
        read_jobs_file(str(bad))


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def _wait_for(paths, timeout=30):
    t = time.time()
    while not all(osp.exists(p) and open(p).read().strip() for p in paths):
        assert time.time() - t < timeout, f"jobs did not start: {paths}"
        time.sleep(0.05)


def _ctrl_c_reaches():
    """For a child that a test stops with SIGINT, as Ctrl-C at a terminal would: a shell that starts the test
    suite in the background without job control (``nohup ... &``) leaves SIGINT ignored, children inherit
    that, and Python then never raises KeyboardInterrupt. Restore the default before the child starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


STOP = """
import sys
from sempt.sweep import Job, Pool, make_slots
jobs = [Job("child", ["sh", "-c", "sleep 60 & echo $! > grandchild.pid; echo $$ > child.pid; wait"]),
        Job("stubborn", ["sh", "-c", "trap '' TERM; echo $$ > stubborn.pid; while :; do sleep 0.1; done"]),
        Job("queued", ["sh", "-c", "echo started > queued.txt"])]
try:
    Pool(make_slots(gpus="cpu:2"), "logs", stop_grace=0.5).run(jobs)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _started_in_background():
    """The ``nohup ... &`` condition: SIGINT ignored from the start."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig, preexec", [(signal.SIGINT, _ctrl_c_reaches), (signal.SIGTERM, _started_in_background)],
                         ids=["ctrl-c", "sigterm-with-sigint-ignored"])
def test_ctrl_c_stops_every_job_and_its_children(tmp_path, sig, preexec):
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([sys.executable, "-c", STOP], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=preexec)
    pids = [tmp_path / f"{n}.pid" for n in ("child", "grandchild", "stubborn")]
    _wait_for(pids)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: stopped 2 running job(s) (child, stubborn)" in out
    for p in pids:  # the stubborn job ignores SIGTERM: it got SIGKILL after the grace period
        assert not _alive(int(p.read_text())), p.name
    assert not (tmp_path / "queued.txt").exists()
    assert "stopped by the sweep runner" in (tmp_path / "logs" / "stubborn.log").read_text()


def test_sweep_cli_exit_codes_and_ctrl_c(tmp_path):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"name": "ok", "cmd": ["sh", "-c", "echo $GREETING"], "env": {"GREETING": "hello"}},
                                {"name": "no", "cmd": ["sh", "-c", "exit 5"], "weight": 2}]))
    run = [sys.executable, "-m", "sempt.sweep", "run"]
    done = subprocess.run(run + ["--gpus", "cpu:2", "--jobs-file", str(jobs), "--log-dir", str(tmp_path / "l")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1 and "failed: no (exit 5)" in done.stdout
    assert "hello" in (tmp_path / "l" / "ok.log").read_text()
    bad = subprocess.run(run + ["--gpus", "0,x", "--jobs-file", str(jobs)], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --gpus 0,x: 'x' is not a device id")
    assert "Traceback" not in bad.stderr
    slow = subprocess.Popen(run + ["--jobs", "2", "--units", "-", "--log-dir", str(tmp_path / "s"), "--", "sh", "-c",
                                   "echo $$ > $N.pid; exec sleep 60"], cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_ctrl_c_reaches)
    slow.stdin.write("first\tN=one\nsecond\tN=two\n")
    slow.stdin.close()
    _wait_for([tmp_path / "one.pid", tmp_path / "two.pid"])
    slow.send_signal(signal.SIGINT)
    out = slow.stdout.read()
    assert slow.wait(timeout=60) == 130 and "stopped 2 running job(s) (first, second)" in out
    assert not _alive(int((tmp_path / "one.pid").read_text())) and not _alive(int((tmp_path / "two.pid").read_text()))


def test_world_study_executor_runs_on_the_pool_and_names_failures(tmp_path):
    e = dict(os.environ)
    tasks = [study.Task("bad", "bad task", "script", 1.0, [], ["sh", "-c", "echo boom; exit 4"], e),
             study.Task("after bad", "after bad", "script", 1.0, ["bad"], ["sh", "-c", "true"], e),
             study.Task("good", "good task", "script", 1.0, [], ["sh", "-c", "echo fine $OMP_NUM_THREADS"], e)]
    with pytest.raises(SystemExit) as err:
        study.execute(tasks, e, jobs=2, every=0.0, log_dir=str(tmp_path), threads=1)
    log = tmp_path / "bad.log"
    assert str(err.value) == f"[world] 1 task(s) failed: bad (exit 4; log {log}); 1 not run"
    assert "boom" in log.read_text() and "fine 1" in (tmp_path / "good.log").read_text()


# --- scripts/benchmark.sh -----------------------------------------------------------------------------------
BENCH = osp.join(REPO, "scripts", "benchmark.sh")


def _bench_env(tmp_path, **kw):
    return dict(os.environ, DATA=str(tmp_path / "no_data"), OUTPUT=str(tmp_path / "out"), PYTHON=sys.executable,
                DATASETS="eurosat dtd caltech101", SEEDS="1 2", **kw)


def test_benchmark_gpus_runs_each_dataset_and_seed_as_a_unit_on_the_pool(tmp_path):
    """DATA is missing, so every unit stops in scripts/lib.sh at once: what is tested is that each dataset x
    seed ran as its own unit on the pool, with its own log, and that the failures are reported."""
    proc = subprocess.run(["bash", BENCH, "--gpus", "cpu:2", "coop", "base2new", "OPTIM.MAX_EPOCH", "1"],
                          cwd=str(tmp_path), env=_bench_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    logs = tmp_path / "out" / "sweep" / "coop_base2new"
    assert sorted(os.listdir(logs)) == sorted(f"{d}_seed_{s}.log" for d in ("eurosat", "dtd", "caltech101")
                                              for s in (1, 2))
    text = (logs / "dtd_seed_2.log").read_text()
    assert "=== [1/1] coop base2new dtd seed 2" in text
    assert f"error: DATA={tmp_path / 'no_data'} is not a folder" in text
    assert "6 job(s): 0 done, 6 failed" in proc.stdout and "on 2 slot(s) (cpu 1, cpu 2)" in proc.stdout


def test_benchmark_slurm_writes_a_valid_array_script(tmp_path):
    script = tmp_path / "coop.sbatch"
    env = _bench_env(tmp_path, SEMPT_SLURM_PARTITION="gpu-short")
    proc = subprocess.run(["bash", BENCH, "--slurm", str(script), "--time", "02:00:00", "--cpus-per-task", "8",
                           "coop", "base2new", "OPTIM.MAX_EPOCH", "1"], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a SLURM array of 6 task(s)" in proc.stdout
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert os.access(script, os.X_OK)
    text = script.read_text()
    sbatch = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)$", text, re.M))
    out = str(tmp_path / "out")
    assert sbatch == {"job-name": "sempt-coop-base2new", "array": "0-5", "gres": "gpu:1", "partition": "gpu-short",
                      "time": "02:00:00", "cpus-per-task": "8",
                      "output": f"{out}/slurm/sempt-coop-base2new_%A_%a.log"}
    assert osp.isdir(f"{out}/slurm")  # SLURM does not create the folder of --output
    first_command = next(i for i, line in enumerate(text.splitlines()) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(text.splitlines()) if line.startswith("#SBATCH"))
    table = re.findall(r"^    (\d+)\) name='([^']*)'; export DATASETS=(\S+) SEEDS=(\d+) ;;$", text, re.M)
    assert [int(i) for i, *_ in table] == list(range(6))
    pairs = [(d, s) for _, _, d, s in table]
    assert sorted(pairs) == sorted((d, s) for d in ("eurosat", "dtd", "caltech101") for s in ("1", "2"))
    assert len(set(pairs)) == 6
    assert f"exec bash {BENCH} coop base2new OPTIM.MAX_EPOCH 1" in text
    # one array task, run here: it runs the benchmark restricted to its dataset and seed (and stops at DATA)
    task = subprocess.run(["bash", str(script)], env=dict(os.environ, SLURM_ARRAY_TASK_ID="3"), capture_output=True,
                          text=True, cwd=str(tmp_path))
    assert "array task 3 of job ?: dtd seed 2" in task.stdout and "=== [1/1] coop base2new dtd seed 2" in task.stdout
    assert task.returncode == 2 and f"DATA={tmp_path / 'no_data'} is not a folder" in task.stderr
    outside = subprocess.run(["bash", str(script)], env=dict(os.environ, SLURM_ARRAY_TASK_ID="6"), capture_output=True,
                             text=True)
    assert outside.returncode == 2 and "this array has tasks 0-5, not 6" in outside.stderr
    both = subprocess.run(["bash", BENCH, "--gpus", "0", "--slurm", str(script), "coop", "base2new"],
                          env=env, capture_output=True, text=True)
    assert both.returncode == 2 and "give one of them" in both.stderr
