"""Compact progress with ETAs, shared by the job pool (``sempt.sweep``) and so by the world study: one line per
job start and end and, inside a training run, a line at most every ``every`` seconds with the run's epoch and its
own ETA (from the engine's progress lines). Every line ends with ``done D / running R / left L``, the elapsed
time and the ETA of the whole sweep. Full logs stay in files (each job's log, each run's ``log.txt``)."""
import re
import sys
import time

__all__ = ["Progress", "fmt_seconds", "parse_epoch_line"]

_EPOCH = re.compile(r"^epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\].*\beta (\d+):(\d+):(\d+)")


def fmt_seconds(s):
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def parse_epoch_line(line):
    """``(epoch, max_epoch, batch, num_batches, eta_seconds)`` of an engine progress line, else None."""
    m = _EPOCH.match(line.strip())
    if not m:
        return None
    e, E, b, B, h, mi, s = (int(g) for g in m.groups())
    return e, E, b, B, h * 3600 + mi * 60 + s


class Progress:
    """Tracks weighted work (a job's weight ~ its expected seconds) to give the sweep an ETA.

    ``name`` prefixes every line (``[world 12:00:00]``), ``eta_name`` names the overall ETA ("study eta" for
    the world study). ``skip`` takes a job out before it starts (already finished, or not runnable)."""

    def __init__(self, total_weight, n_tasks, every=10.0, stream=None, name="world", eta_name="study eta"):
        self.total = float(total_weight)
        self.n_tasks = n_tasks
        self.done_weight = 0.0
        self.done_tasks = 0
        self.failed_tasks = 0
        self.partial = {}  # task id -> fraction done of a running task
        self.weights = {}
        self.t0 = time.time()
        self.every = every
        self.last = {}
        self.stream = stream or sys.stdout
        self.name, self.eta_name = name, eta_name

    def counts(self):
        """(done, running, left): finished (failed included), started and not finished, not started."""
        running = len(self.partial)
        return self.done_tasks, running, max(0, self.n_tasks - self.done_tasks - running)

    def _eta(self):
        el = time.time() - self.t0
        done = self.done_weight + sum(self.weights[k] * f for k, f in self.partial.items())
        if done <= 0:
            return None
        return el / done * max(0.0, self.total - done)

    def _print(self, text):
        eta = self._eta()
        el = time.time() - self.t0
        done, running, left = self.counts()
        failed = f" ({self.failed_tasks} failed)" if self.failed_tasks else ""
        tail = (f"done {done}{failed} / running {running} / left {left}, elapsed {fmt_seconds(el)}"
                + (f", {self.eta_name} {fmt_seconds(eta)}" if eta is not None else ""))
        print(f"[{self.name} {time.strftime('%H:%M:%S')}] {text} | {tail}", file=self.stream, flush=True)

    def note(self, text):
        """A line of its own, with the counts and the ETA."""
        self._print(text)

    def skip(self, key, weight):
        """Take a job that will not run (already finished, or blocked) out of the totals."""
        self.total -= weight
        self.n_tasks -= 1

    def start(self, key, weight, label):
        self.weights[key] = weight
        self.partial[key] = 0.0
        self.last[key] = time.time()
        self._print(f"start {label}")

    def line(self, key, label, line):
        """Feed one output line of task ``key``; prints a compact line when a training run reports."""
        p = parse_epoch_line(line)
        if p is None:
            return
        e, E, b, B, eta = p
        self.partial[key] = min(0.95, ((e - 1) * B + b) / max(1, E * B))
        now = time.time()
        if now - self.last.get(key, 0) >= self.every or (e == E and b == B):
            self.last[key] = now
            self._print(f"  {label}: epoch {e}/{E}, run eta {fmt_seconds(eta)}")

    def finish(self, key, label, seconds, note=""):
        self.partial.pop(key, None)
        self.done_weight += self.weights.get(key, 0.0)
        self.done_tasks += 1
        self._print(f"done {label} in {fmt_seconds(seconds)}{note}")

    def fail(self, key, label, seconds, rc, log):
        self.partial.pop(key, None)
        self.done_weight += self.weights.get(key, 0.0)
        self.done_tasks += 1
        self.failed_tasks += 1
        self._print(f"FAILED {label} (exit {rc}) after {fmt_seconds(seconds)}; log: {log}")
