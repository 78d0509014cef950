"""One job-pool runner for sweeps: many runs on a pool of local GPUs or CPU slots, or a SLURM job array.

A job is a command, its environment, a name and an expected duration (its weight, for the ETA); it may wait
for other jobs (``deps``) and may know that it already finished (``finished``: then no process is started).
``Pool`` runs jobs on slots:

- ``--gpus 0,1,2,3``: one slot per listed device; each job sees ``CUDA_VISIBLE_DEVICES=<id>`` (repeat an id to
  run two jobs on one device);
- ``--gpus cpu:2``: two CPU slots, GPUs hidden (``CUDA_VISIBLE_DEVICES=``);
- ``--jobs 2``: two slots that leave the devices as they are (the world study's ``--jobs``).

Every slot sets its thread count deliberately (``--threads``; default: the available cores divided among the
slots) with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of stealing the other slots' cores).
Each job's output goes to its own log file (``<log dir>/<job name>.log``); the console gets progress lines that
end with ``done D / running R / left L``, the elapsed time and the ETA (``sempt.world.progress``), and, inside a
training run, its epoch and own ETA. A failed job is reported with its exit status and log (and the end of
it) while the others go on; jobs that depend on it do not start. Ctrl-C (or SIGTERM) stops the process group of
every running job and exits; a rerun skips what has finished. A job may print ``@@run LABEL`` to name the run
it is on (the world study's in-process jobs do).

Command line (``scripts/benchmark.sh --gpus LIST`` and ``--slurm FILE`` go through it)::

    python -m sempt.sweep run [--gpus LIST | --jobs N] [--threads T] [--log-dir DIR] --jobs-file JOBS.json
    python -m sempt.sweep run [--gpus LIST | --jobs N] [--threads T] [--log-dir DIR] --units FILE -- CMD [ARG ...]
    python -m sempt.sweep slurm --out FILE --units FILE [--job-name NAME] [--log-dir DIR] [--partition P]
                                [--time T] [--cpus-per-task N] [--gres gpu:1] [--describe TEXT] -- CMD [ARG ...]

``--jobs-file``: a JSON list of ``{"name", "cmd": [...], "env": {...}, "weight": seconds, "deps": [names],
"cwd"}`` (only name and cmd are required). ``--units`` (``-``: standard input): one job per line,
``[NAME<TAB>]KEY=VALUE KEY=VALUE ...``; each runs CMD with those variables set. ``slurm`` writes (does not
submit) an array script with one task per unit line that sets the line's variables and runs CMD.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import re
import resource
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from sempt.fileio import atomic_write_text, mkdir_if_missing
from sempt.world.progress import Progress, fmt_seconds

__all__ = ["Job", "Slot", "Pool", "Outcome", "make_slots", "thread_env", "read_units", "read_jobs_file",
           "slurm_script", "main"]

RUN_MARK = "@@run "  # a job's output line naming the run it is on
STOP_GRACE = 5.0  # seconds a stopped job gets between SIGTERM and SIGKILL

# what scripts/lib.sh and the method scripts read from the environment; a SLURM script keeps the values they
# had when it was written
SCRIPT_ENV = ("DATA", "OUTPUT", "BACKBONE", "PYTHON", "CFG", "SHOTS", "SUB", "NO_MODEL", "SOURCE", "XD_TARGETS",
              "FAMILY", "NPROC", "SEMPT_CLIP_CACHE", "SEMPT_ENGINE")


def _user_error(msg):
    from sempt.config import ConfigError  # imports torch: only on this path
    return ConfigError(msg)


# --- slots -----------------------------------------------------------------------------------------------
def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_env(threads):
    """Environment of every job: a fixed thread count and OpenMP threads that sleep instead of spinning
    when idle (spinning threads of one job steal the cores of another on a shared machine)."""
    t = str(threads)
    return {"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1"}  # progress lines stream through the pipe as they are printed


@dataclass
class Slot:
    """One place a job runs: its name and the variables it sets (device, threads)."""

    name: str
    env: dict


def _positive(text, what):
    if not re.fullmatch(r"[0-9]+", str(text).strip()) or int(text) < 1:
        raise _user_error(f"{what}: expected a positive whole number, got '{text}'")
    return int(text)


def make_slots(gpus=None, jobs=None, threads=None, cores=None):
    """The pool's slots: ``gpus`` "0,1,2,3" (one per device id; ids may repeat) or "cpu:N" (N CPU slots,
    GPUs hidden); else ``jobs`` slots that leave the devices alone. ``threads`` per slot defaults to the
    available cores divided among the slots (at least 1)."""
    cores = cores or available_cores()
    threads = None if threads is None else _positive(threads, "--threads")
    spec = str(gpus or "").strip()
    if spec == "cpu" or spec.startswith("cpu:"):
        n = _positive(spec[4:] or "1", f"--gpus {spec}")
        return [Slot(f"cpu {i + 1}", dict(thread_env(threads or max(1, cores // n)), CUDA_VISIBLE_DEVICES=""))
                for i in range(n)]
    if spec:
        ids = _device_ids(spec)
        return [Slot(f"gpu {d}", dict(thread_env(threads or max(1, cores // len(ids))), CUDA_VISIBLE_DEVICES=d))
                for d in ids]
    n = _positive(1 if jobs is None else jobs, "--jobs")
    return [Slot(f"slot {i + 1}", thread_env(threads or max(1, cores // n))) for i in range(n)]


def _device_ids(spec):
    ids = [s.strip() for s in spec.split(",")]
    bad = [s for s in ids if not re.fullmatch(r"[0-9]+|(GPU|MIG)-[A-Za-z0-9/_:-]+", s)]
    if bad:
        raise _user_error(f"--gpus {spec}: '{bad[0]}' is not a device id; give ids like --gpus 0,1,2,3 "
                          "(or GPU-/MIG- UUIDs), or --gpus cpu:N for N CPU processes")
    return ids


# --- jobs ------------------------------------------------------------------------------------------------
@dataclass
class Job:
    """A command to run: ``env`` is set over the runner's environment (the slot's device and threads over
    that), ``weight`` its expected seconds (relative weights are enough for the ETA), ``deps`` the names of
    jobs that must finish first, ``finished`` a callable that says it has already finished."""

    name: str
    cmd: list
    env: dict = field(default_factory=dict)
    weight: float = 1.0
    deps: list = field(default_factory=list)
    label: str = None
    cwd: str = None
    finished: object = None

    def __post_init__(self):
        self.label = self.label or self.name


@dataclass
class Outcome:
    """What a sweep did: names done / skipped (finished before), (name, exit status, log) of failures,
    (name, reason) of jobs not run, the wall time and the CPU time of all jobs."""

    done: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    blocked: list = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0

    @property
    def ok(self):
        return not self.failed and not self.blocked


def _slug(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "job"


def _check_jobs(jobs):
    names = [j.name for j in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _user_error(f"job names must be unique: '{dup[0]}' is used {names.count(dup[0])} times")
    slugs = {}
    for n in names:
        if slugs.setdefault(_slug(n), n) != n:
            raise _user_error(f"jobs '{slugs[_slug(n)]}' and '{n}' would share the log file {_slug(n)}.log; rename one")
    known = set(names)
    for j in jobs:
        if not j.cmd:
            raise _user_error(f"job '{j.name}' has an empty command")
        missing = [d for d in j.deps if d not in known]
        if missing:
            raise _user_error(f"job '{j.name}' depends on '{missing[0]}', which is not among the jobs")


def _children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)  # every job leads its own process group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def _exited(pid):
    """True when child ``pid`` has exited, without reaping it (so its process group id stays ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a cluster's or ``timeout``'s stop) stops the running jobs as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _signals_held():
    """While the running jobs are being stopped, a second Ctrl-C or SIGTERM does not cut that short (it takes
    at most the grace period)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@dataclass
class _Running:
    job: Job
    proc: subprocess.Popen
    slot: Slot
    log: object
    path: str
    t0: float
    label: str
    buf: bytes = b""
    tail: deque = field(default_factory=lambda: deque(maxlen=200))


class Pool:
    """Runs jobs on ``slots`` (``make_slots``), at most one per slot, in list order as their dependencies
    allow; logs in ``log_dir``; progress lines prefixed ``[name HH:MM:SS]`` (at most every ``every`` seconds
    per training run); the last ``tail`` lines of a failed job's output are printed; a stopped job gets
    ``stop_grace`` seconds between SIGTERM and SIGKILL."""

    def __init__(self, slots, log_dir, every=10.0, name="sweep", eta_name="eta", stream=None, cwd=None, tail=20,
                 stop_grace=STOP_GRACE):
        if not slots:
            raise _user_error("a pool needs at least one slot")
        self.slots, self.log_dir, self.every = list(slots), osp.abspath(log_dir), every
        self.name, self.eta_name, self.cwd, self.tail = name, eta_name, cwd, tail
        self.stream = stream or sys.stdout
        self.stop_grace = stop_grace

    def log_path(self, job):
        return osp.join(self.log_dir, _slug(job.name) + ".log")

    def run(self, jobs):
        """Run every job; returns an ``Outcome``. Ctrl-C / SIGTERM: the running jobs are stopped (process
        group: SIGTERM, then SIGKILL after a grace period) and KeyboardInterrupt is raised again."""
        jobs = list(jobs)
        _check_jobs(jobs)
        mkdir_if_missing(self.log_dir)
        self._reset(jobs)
        with _sigterm_as_interrupt():
            try:
                self._loop()
            except KeyboardInterrupt:
                with _signals_held():
                    self._stop_all()
                raise
            finally:
                self._sel.close()
        return self._summary()

    # -- state
    def _reset(self, jobs):
        self.out = Outcome()
        self._running, self._free = {}, list(self.slots)
        self._ok, self._bad = set(), set()  # names finished (or skipped) / failed or not run
        self._sel = selectors.DefaultSelector()
        self._cpu0 = _children_cpu()
        self._prog = Progress(sum(j.weight for j in jobs), len(jobs), every=self.every, stream=self.stream,
                              name=self.name, eta_name=self.eta_name)
        self._pending = []
        for j in jobs:
            if j.finished is not None and j.finished():
                self.out.skipped.append(j.name)
                self._ok.add(j.name)
                self._prog.skip(j.name, j.weight)
            else:
                self._pending.append(j)
        self._prog.note(f"{len(jobs)} job(s) on {len(self.slots)} slot(s) ({', '.join(s.name for s in self.slots)}), "
                        f"{len(self.out.skipped)} already finished (skipped); logs in {self.log_dir}")

    def _loop(self):
        while self._pending or self._running:
            self._fill()
            if not self._running:  # every slot is free and nothing could start
                self._block_failed_dependents()
                for j in list(self._pending):  # what is left waits on itself: a dependency cycle
                    self._block(j, "its dependencies wait on each other")
                break
            self._poll()

    def _block(self, job, reason):
        self._pending.remove(job)
        self._bad.add(job.name)
        self.out.blocked.append((job.name, reason))
        self._prog.skip(job.name, job.weight)
        self._prog.note(f"not run: {job.label} ({reason})")

    def _block_failed_dependents(self):
        changed = True
        while changed:
            changed = False
            for j in list(self._pending):
                bad = next((d for d in j.deps if d in self._bad), None)
                if bad is not None:
                    self._block(j, f"needs '{bad}', which did not finish")
                    changed = True

    def _fill(self):
        self._block_failed_dependents()
        while self._free:
            job = next((j for j in self._pending if all(d in self._ok for d in j.deps)), None)
            if job is None:
                return
            self._pending.remove(job)
            self._launch(job, self._free.pop(0))

    # -- one job
    def _launch(self, job, slot):
        path = self.log_path(job)
        env = dict(os.environ)
        env.update({k: str(v) for k, v in job.env.items()})
        env.update(slot.env)
        log = open(path, "wb")
        slot_vars = " ".join(f"{k}={v}" for k, v in slot.env.items())
        log.write(f"# {shlex.join(map(str, job.cmd))}\n# {slot.name}: {slot_vars}; started "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        self._prog.start(job.name, job.weight, f"{job.label} [{slot.name}]")
        try:
            proc = subprocess.Popen([str(c) for c in job.cmd], cwd=job.cwd or self.cwd, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            log.write(f"cannot start: {e}\n".encode())
            log.close()
            self._release(slot)
            self._failed(job, 127, path, 0.0, [f"cannot start: {e}"])
            return
        r = _Running(job, proc, slot, log, path, time.time(), job.label)
        self._running[job.name] = r
        self._sel.register(proc.stdout, selectors.EVENT_READ, r)

    def _release(self, slot):
        self._free.append(slot)
        self._free.sort(key=self.slots.index)

    def _poll(self):
        for key, _ in self._sel.select(timeout=1.0):
            r = key.data
            chunk = os.read(r.proc.stdout.fileno(), 65536)
            if chunk:
                self._feed(r, chunk)
            else:
                self._reap(r)

    def _feed(self, r, chunk, final=False):
        r.log.write(chunk)
        r.log.flush()
        r.buf += chunk
        *lines, r.buf = re.split(rb"\r\n|\n|\r", r.buf)
        if final and r.buf:
            lines, r.buf = lines + [r.buf], b""
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            r.tail.append(line)
            if line.startswith(RUN_MARK):
                r.label = line[len(RUN_MARK):].strip()
            else:
                self._prog.line(r.job.name, r.label, line)

    def _reap(self, r):
        self._sel.unregister(r.proc.stdout)
        r.proc.stdout.close()
        rc = r.proc.wait()
        self._feed(r, b"", final=True)
        r.log.close()
        del self._running[r.job.name]
        self._release(r.slot)
        seconds = time.time() - r.t0
        if rc == 0:
            self.out.done.append(r.job.name)
            self._ok.add(r.job.name)
            self._prog.finish(r.job.name, r.job.label, seconds)
        else:
            self._failed(r.job, rc, r.path, seconds, list(r.tail))

    def _failed(self, job, rc, path, seconds, tail):
        self.out.failed.append((job.name, rc, path))
        self._bad.add(job.name)
        self._prog.fail(job.name, job.label, seconds, rc, path)
        for line in tail[-self.tail:]:
            print(f"    | {line}", file=self.stream)
        self.stream.flush()

    def _stop_all(self):
        running = list(self._running.values())
        for r in running:
            _signal_group(r.proc.pid, signal.SIGTERM)
        deadline = time.time() + self.stop_grace
        while time.time() < deadline and not all(_exited(r.proc.pid) for r in running):
            time.sleep(0.05)
        for r in running:  # whatever is left of each group, the leaders not reaped yet, so the ids are still ours
            _signal_group(r.proc.pid, signal.SIGKILL)
        for r in running:
            r.proc.wait()
            with contextlib.suppress(Exception):
                r.log.write(b"\n# stopped by the sweep runner (interrupted)\n")
                r.log.close()
        self._running.clear()
        names = ", ".join(r.job.label for r in running) or "none"
        print(f"[{self.name}] interrupted: stopped {len(running)} running job(s) ({names}); finished runs are kept, "
              "a rerun resumes", file=self.stream, flush=True)

    def _summary(self):
        out = self.out
        out.wall = time.time() - self._prog.t0
        out.cpu = _children_cpu() - self._cpu0
        n = len(out.done) + len(out.failed) + len(out.skipped) + len(out.blocked)
        p = f"[{self.name}]"
        print(f"{p} {n} job(s): {len(out.done)} done, {len(out.failed)} failed, {len(out.skipped)} skipped (finished "
              f"before), {len(out.blocked)} not run | {fmt_seconds(out.wall)} wall, {fmt_seconds(out.cpu)} CPU in the "
              f"jobs ({out.cpu / max(out.wall, 1e-9):.2f} cores busy on average; load average now "
              f"{os.getloadavg()[0]:.1f})", file=self.stream)
        for name, rc, path in out.failed:
            print(f"{p} failed: {name} (exit {rc}); log: {path}", file=self.stream)
        for name, reason in out.blocked:
            print(f"{p} not run: {name} ({reason})", file=self.stream)
        self.stream.flush()
        return out


# --- job lists from files ----------------------------------------------------------------------------------
_VAR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


def read_units(text, source="units"):
    """[(name, {VAR: value})] from lines ``[NAME<TAB>]KEY=VALUE ...`` (blank lines and ``#`` comments skipped);
    the name defaults to the values joined by spaces."""
    units = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, assigns = line.rpartition("\t")
        env = {}
        for tok in assigns.split():
            m = _VAR.fullmatch(tok)
            if not m:
                raise _user_error(f"{source} line {i}: '{tok}' is not KEY=VALUE (one job per line: "
                                  "[NAME<TAB>]KEY=VALUE KEY=VALUE ...)")
            env[m.group(1)] = m.group(2)
        if not env:
            raise _user_error(f"{source} line {i}: no KEY=VALUE to set")
        units.append((name.strip() or " ".join(env.values()), env))
    if not units:
        raise _user_error(f"{source}: no jobs (one per line: [NAME<TAB>]KEY=VALUE ...)")
    return units


def read_jobs_file(path):
    """Jobs from a JSON list of {"name", "cmd", "env", "weight", "deps", "cwd"}."""
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
    except OSError as e:
        raise _user_error(f"{path}: cannot read the jobs file ({e.strerror})") from None
    except ValueError as e:
        raise _user_error(f"{path}: not valid JSON ({e})") from None
    if not isinstance(items, list):
        raise _user_error(f"{path}: expected a JSON list of jobs")
    jobs = []
    for i, it in enumerate(items):
        ok = (isinstance(it, dict) and isinstance(it.get("name"), str) and isinstance(it.get("cmd"), list)
              and it["cmd"] and all(isinstance(c, str) for c in it["cmd"])
              and isinstance(it.get("env", {}), dict) and isinstance(it.get("deps", []), list)
              and isinstance(it.get("weight", 1.0), (int, float)))
        if not ok:
            raise _user_error(f"{path}: job {i} needs \"name\" (text) and \"cmd\" (a list of strings); optional "
                              "\"env\" (object), \"weight\" (seconds), \"deps\" (names), \"cwd\"")
        jobs.append(Job(it["name"], it["cmd"], env=it.get("env", {}), weight=float(it.get("weight", 1.0)),
                        deps=list(it.get("deps", [])), cwd=it.get("cwd")))
    return jobs


# --- SLURM ---------------------------------------------------------------------------------------------------
def _sbatch_value(flag, value):
    value = str(value)
    if not value or re.search(r"\s", value):
        raise _user_error(f"--{flag} '{value}': an #SBATCH value cannot be empty or contain spaces")
    return value


def slurm_script(units, cmd, job_name, log_dir, workdir, partition=None, time_limit=None, cpus=None,
                 gres="gpu:1", env=None, path="FILE", describe=None):
    """Text of a SLURM array script (to be saved as ``path``): task i sets the variables of ``units[i]`` and
    runs ``cmd`` in ``workdir``; ``env``: variables exported for every task (the values they have now)."""
    n = len(units)
    sb = {"job-name": job_name, "array": f"0-{n - 1}", "output": osp.join(log_dir, f"{job_name}_%A_%a.log")}
    extra = {"gres": gres, "partition": partition, "time": time_limit, "cpus-per-task": cpus}
    sb.update({k: v for k, v in extra.items() if v not in (None, "")})
    lines = ["#!/usr/bin/env bash",
             f"# SLURM job array written by `python -m sempt.sweep slurm` on {time.strftime('%Y-%m-%d %H:%M')}: "
             f"{n} task(s), one per line of the table below.",
             *([f"# {line}" for line in describe.splitlines()] if describe else []),
             f"# Submit it with: sbatch {shlex.quote(path)}   (each task logs to {log_dir})",
             *[f"#SBATCH --{k}={_sbatch_value(k, v)}" for k, v in sb.items()],
             "set -euo pipefail",
             f"cd {shlex.quote(workdir)}"]
    for k, v in sorted((env or {}).items()):
        lines.append(f"export {k}={shlex.quote(v)}")
    lines += ['if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export OMP_NUM_THREADS="$SLURM_CPUS_PER_TASK"; fi',
              "export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1",
              'task="${SLURM_ARRAY_TASK_ID:?submit this file with sbatch: it is a job array}"',
              'case "$task" in']
    for i, (name, assigns) in enumerate(units):
        sets = " ".join(f"{k}={shlex.quote(v)}" for k, v in assigns.items())
        lines.append(f"    {i}) name={shlex.quote(name)}; export {sets} ;;")
    lines += [f'    *) echo "error: this array has tasks 0-{n - 1}, not $task" >&2; exit 2 ;;',
              "esac",
              'echo "array task $task of job ${SLURM_ARRAY_JOB_ID:-?}: $name"',
              "exec " + shlex.join(map(str, cmd))]
    return "\n".join(lines) + "\n"


def write_slurm(path, units, cmd, job_name, log_dir, workdir=None, **opts):
    """Write the array script to ``path`` (executable) and create ``log_dir`` (SLURM does not)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", job_name):
        raise _user_error(f"--job-name '{job_name}': use letters, digits, '.', '_' and '-' only")
    log_dir = osp.abspath(log_dir)
    env = {k: os.environ[k] for k in SCRIPT_ENV if os.environ.get(k)}
    text = slurm_script(units, cmd, job_name, log_dir, osp.abspath(workdir or os.getcwd()), env=env,
                        path=osp.abspath(path), **opts)
    mkdir_if_missing(log_dir)
    atomic_write_text(text, path)
    os.chmod(path, 0o755)
    return text


# --- command line ------------------------------------------------------------------------------------------
def _split_cmd(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _read_units_arg(arg):
    if arg == "-":
        return read_units(sys.stdin.read(), "standard input")
    try:
        with open(arg, encoding="utf-8") as f:
            return read_units(f.read(), arg)
    except OSError as e:
        raise _user_error(f"{arg}: cannot read the units file ({e.strerror})") from None


def _parser():
    p = argparse.ArgumentParser(prog="python -m sempt.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run jobs on a pool of local GPUs or CPU slots")
    pool = r.add_mutually_exclusive_group()
    pool.add_argument("--gpus", help="device ids (0,1,2,3; repeat one to share it) or cpu:N")
    pool.add_argument("--jobs", type=int, help="N slots that leave the devices alone (default 1)")
    r.add_argument("--threads", type=int, help="threads per job (default: the cores divided among the slots)")
    r.add_argument("--log-dir", default="sweep_logs", help="one log file per job (default ./sweep_logs)")
    r.add_argument("--every", type=float, default=15.0, help="seconds between a training run's progress lines")
    r.add_argument("--name", default="sweep", help="prefix of the progress lines")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--jobs-file", help="JSON list of jobs")
    src.add_argument("--units", help="unit lines ('-': standard input); each runs the command after --")
    s = sub.add_parser("slurm", help="write (not submit) a SLURM array script: one task per unit line")
    s.add_argument("--out", required=True, help="the script to write")
    s.add_argument("--units", required=True, help="unit lines ('-': standard input)")
    s.add_argument("--job-name", default="sempt-sweep")
    s.add_argument("--log-dir", default="slurm_logs", help="folder of the tasks' logs (%%A_%%a); created now")
    s.add_argument("--workdir", help="folder the tasks run in (default: the current one)")
    s.add_argument("--partition")
    s.add_argument("--time", help="time limit per task, e.g. 04:00:00")
    s.add_argument("--cpus-per-task", help="also each task's OMP_NUM_THREADS")
    s.add_argument("--gres", default="gpu:1", help="generic resources per task (default gpu:1; '' for none)")
    s.add_argument("--describe", help="a comment for the script's head: what each task runs")
    return p


def _run(args, cmd):
    if args.jobs_file:
        if cmd:
            raise _user_error("a command after -- goes with --units, not with --jobs-file")
        jobs = read_jobs_file(args.jobs_file)
    else:
        if not cmd:
            raise _user_error("--units needs the command each unit runs, after --")
        jobs = [Job(name, cmd, env=assigns) for name, assigns in _read_units_arg(args.units)]
    slots = make_slots(gpus=args.gpus, jobs=args.jobs, threads=args.threads)
    out = Pool(slots, args.log_dir, every=args.every, name=args.name).run(jobs)
    return 0 if out.ok else 1


def _slurm(args, cmd):
    if not cmd:
        raise _user_error("slurm needs the command each array task runs, after --")
    units = _read_units_arg(args.units)
    write_slurm(args.out, units, cmd, args.job_name, args.log_dir, workdir=args.workdir, partition=args.partition,
                time_limit=args.time, cpus=args.cpus_per_task, gres=args.gres, describe=args.describe)
    print(f"wrote {args.out}: a SLURM array of {len(units)} task(s) (logs in {osp.abspath(args.log_dir)}); "
          f"submit it with: sbatch {args.out}")
    return 0


def main(argv=None):
    own, cmd = _split_cmd(argv)
    args = _parser().parse_args(own)
    try:
        return _run(args, cmd) if args.command == "run" else _slurm(args, cmd)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        config = sys.modules.get("sempt.config")  # imported (by _user_error) when a ConfigError was raised
        if config is not None and isinstance(e, config.ConfigError):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
