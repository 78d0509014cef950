"""The world study: plan, run and summarise base-to-novel for every method, class split and seed, plus
SemPT's ablations.

Runs of ZeroshotCLIP, CoOp, KgCoOp and SemPT (defaults) go through the ordinary scripts
(``scripts/<method>/base2new_{train,test}.sh`` with ``CFG=world``), one process per script call, output in
``<output>/methods`` (a normal output tree: ``python -m sempt.leaderboard <output>/methods`` reads it).
The "zero-shot + attributes" row and SemPT's ablations run ``train.py`` in-process (the same arguments
the scripts pass, one Python process per class split and seed, which saves ~4 s of imports per run),
output in ``<output>/ablations/<variant>``. Every task runs on the shared job pool (``sempt.sweep``: ``--jobs``
slots or one per device of ``--gpus``, logs in ``<output>/tasks/<task>.log``, progress with the study's ETA).

Statistics (``summarise``): for a quantity measured on every (class split, seed) run, ``mean`` is the
mean over all runs, ``seed_sd`` the within-split standard deviation over seeds (root mean of the
per-split variances; population sd, as the leaderboard), ``split_sd`` the standard deviation of the
per-split means. A difference between two rows is paired run by run; it "exceeds the spread" when its
absolute value is larger than the larger seed sd and the larger split sd of the two rows, and the number
of runs in which it has the same sign is given.
"""
import json
import os.path as osp
import sys
from dataclasses import dataclass, field

import numpy as np

from sempt.fileio import atomic_write_text, mkdir_if_missing, write_json
from sempt.results import read_run
from sempt.sweep import Job, Pool, make_slots, thread_env  # noqa: F401 (thread_env: every run's environment)

from .progress import fmt_seconds
from .spec import NAME_KINDS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAINERS = {"zsclip": "ZeroshotCLIP", "coop": "CoOp", "kgcoop": "KgCoOp", "sempt": "SemPT"}
CFG = "world"
MAIN = ["ZeroshotCLIP", "CoOp", "KgCoOp", "SemPT"]


def dataset_of(split):
    return "clip_world" if split == 0 else f"clip_world_s{split}"


@dataclass
class Variant:
    """One row: how Base and Novel are obtained for a (split, seed)."""

    name: str
    method: str  # zsclip | coop | kgcoop | sempt
    group: str  # methods | zero-shot + attributes | an ablation's name
    train_opts: list = None  # None: no training of its own
    test_opts: list = field(default_factory=list)
    model_from: str = None  # variant whose trained model is evaluated (test-time ablations)
    base_from: str = "train"  # train: Base from the training log; test: own test_base run; variant name: copy
    noise: float = 0.0
    inprocess: bool = True

    @property
    def slug(self):
        return self.name.replace(" ", "_").replace("=", "").replace("+", "").replace("/", "_").replace(",", "")


def variants(ablations=True):
    """Every row of the study, in table order."""
    v = [Variant("ZeroshotCLIP", "zsclip", "methods", base_from="test", inprocess=False),
         Variant("CoOp", "coop", "methods", train_opts=[], inprocess=False),
         Variant("KgCoOp", "kgcoop", "methods", train_opts=[], inprocess=False),
         Variant("SemPT", "sempt", "methods", train_opts=[], inprocess=False)]
    if not ablations:
        return v
    S = "TRAINER.SEMPT."
    v.append(Variant("zero-shot + attributes", "sempt", "zero-shot + attributes", base_from="test",
                     test_opts=[S + "INFERENCE", "attribute", S + "UNSEEN_LABEL", "hand"]))
    v.append(Variant("UNSEEN_LABEL hand", "sempt", "UNSEEN_LABEL", model_from="SemPT", base_from="SemPT",
                     test_opts=[S + "UNSEEN_LABEL", "hand"]))
    for mode in ("label", "attribute", "ensemble"):
        v.append(Variant(f"INFERENCE {mode}", "sempt", "INFERENCE", model_from="SemPT", base_from="test",
                         test_opts=[S + "INFERENCE", mode]))
    for beta in (0.0, 0.25, 0.75, 1.0):
        v.append(Variant(f"BETA {beta:g}", "sempt", "BETA", train_opts=[S + "BETA", str(beta)],
                         test_opts=[S + "BETA", str(beta)]))
    for m in (1, 3):
        v.append(Variant(f"NUM_ATTRIBUTES {m}", "sempt", "NUM_ATTRIBUTES", train_opts=[S + "NUM_ATTRIBUTES", str(m)],
                         test_opts=[S + "NUM_ATTRIBUTES", str(m)]))
    v.append(Variant("LAMBDA 0", "sempt", "LAMBDA", train_opts=[S + "LAMBDA", "0.0"], test_opts=[S + "LAMBDA", "0.0"]))
    for p in (0.3, 0.6):
        v.append(Variant(f"noise {p:g}", "sempt", "noise", train_opts=[], noise=p))
    return v


# the rows the ablation tables compare with SemPT's defaults (the "SemPT" row), by group
DEFAULT_OF_GROUP = {"UNSEEN_LABEL": "UNSEEN_LABEL learned", "INFERENCE": "INFERENCE dynamic", "BETA": "BETA 0.5",
                    "NUM_ATTRIBUTES": "NUM_ATTRIBUTES all", "LAMBDA": "LAMBDA 1", "noise": "noise 0"}


def run_dir(root, step, split, seed, method, shots):
    return osp.join(root, "base2new", step, dataset_of(split), f"shots_{shots}", TRAINERS[method], CFG, f"seed{seed}")


@dataclass
class Task:
    key: str
    label: str
    kind: str  # script | inprocess
    weight: float
    deps: list
    cmd: list = None  # script task: command and env
    env: dict = None
    runs: list = None  # inprocess task: list of (label, argv)
    outputs: list = None  # [(run folder, is a test log)]: the task is skipped when all hold finished results

    def finished(self):
        return bool(self.outputs) and all(osp.isdir(d) and read_run(d, test_log=t) is not None
                                          for d, t in self.outputs)


class Planner:
    def __init__(self, world, output, splits, seeds, shots=16, ablations=True, ablation_seeds=None, epochs=None,
                 methods=None, extra_opts=(), ablation_splits=None):
        self.world, self.output, self.shots = world, osp.abspath(output), shots
        self.extra_opts = list(extra_opts)  # appended to every run's options (tests: OPTIM.MAX_EPOCH 1)
        self.splits, self.seeds = list(splits), list(seeds)
        self.ablation_seeds = list(ablation_seeds or seeds)
        self.ablation_splits = list(self.splits if ablation_splits is None else ablation_splits)
        methods = list(methods or TRAINERS)
        self.variants = [v for v in variants(ablations and "sempt" in methods)
                         if v.group != "methods" or v.method in methods]
        self.epochs = dict(_config_epochs(), **(epochs or {}))

    def root(self, v):
        return osp.join(self.output, "methods") if v.group == "methods" else osp.join(self.output, "ablations", v.slug)

    def seeds_of(self, v):
        return self.seeds if v.group == "methods" else self.ablation_seeds

    def splits_of(self, v):
        return self.splits if v.group == "methods" else self.ablation_splits

    def attributes_dir(self, v):
        return osp.dirname(self.world["attributes"][v.noise])

    def _argv(self, v, step, split, seed, opts):
        ds = dataset_of(split)
        trainer = TRAINERS[v.method]
        argv = ["--root", self.world["data"], "--seed", str(seed), "--trainer", trainer,
                "--dataset-config-file", osp.join(REPO, "configs", "datasets", f"{ds}.yaml"),
                "--config-file", osp.join(REPO, "configs", "trainers", trainer, f"{CFG}.yaml"),
                "--output-dir", run_dir(self.root(v), step, split, seed, v.method, self.shots)]
        sub = "base" if step == "train_base" else step.split("_")[1]
        if step != "train_base":
            model_v = self.by_name(v.model_from) if v.model_from else v
            if v.train_opts is not None or v.model_from:
                argv += ["--model-dir", run_dir(self.root(model_v), "train_base", split, seed, v.method, self.shots),
                         "--load-epoch", str(self.epochs[v.method]), "--eval-only"]
            else:
                argv += ["--eval-only", "--untrained"]  # no model: the untrained prompts, on purpose
        argv += ["DATASET.NUM_SHOTS", str(self.shots), "DATASET.SUBSAMPLE_CLASSES", sub,
                 "MODEL.BACKBONE.NAME", self.world["clip"]]
        if v.method == "sempt":
            argv += ["TRAINER.SEMPT.ATTRIBUTES_DIR", self.attributes_dir(v)]
        return argv + self.extra_opts + list(opts)

    def by_name(self, name):
        return next(v for v in self.variants if v.name == name)

    def steps(self, v):
        """(step, opts) of a variant's runs for one (split, seed)."""
        out = []
        if v.train_opts is not None:
            out.append(("train_base", v.train_opts))
        if v.base_from == "test":
            out.append(("test_base", v.test_opts))
        out.append(("test_new", v.test_opts))
        return out

    def tasks(self, env):
        """Script tasks for the main methods, one in-process task per (split, seed) for the rest."""
        return self._script_tasks(env) + self._ablation_tasks()

    def _train_weights(self):
        return {m: 6 + 0.45 * e for m, e in self.epochs.items()}  # ~seconds on two quiet cores

    def _script_tasks(self, env):
        tasks = []
        for split in self.splits:
            for seed in self.seeds:
                for v in self.variants:
                    if not v.inprocess:
                        tasks += self._variant_script_tasks(v, split, seed, env)
        return tasks

    def _variant_script_tasks(self, v, split, seed, env):
        """A method's train task (when it trains) and its test tasks for one (split, seed), run by the scripts."""
        ds = dataset_of(split)
        e = dict(env, OUTPUT=self.root(v))
        script = osp.join(REPO, "scripts", v.method)
        tag = f"{v.name} {ds} seed {seed}"
        extra = ["TRAINER.SEMPT.ATTRIBUTES_DIR", self.attributes_dir(v)] if v.method == "sempt" else []
        extra = extra + self.extra_opts
        trained = v.train_opts is not None
        tasks = []
        if trained:
            train_dir = run_dir(self.root(v), "train_base", split, seed, v.method, self.shots)
            tasks.append(Task(f"{tag} train", f"{tag} train", "script", self._train_weights()[v.method], [],
                              ["bash", osp.join(script, "base2new_train.sh"), ds, str(seed), *extra], e,
                              outputs=[(train_dir, False)]))
        for step, _ in self.steps(v):
            if step == "train_base":
                continue
            sub = step.split("_")[1]
            tasks.append(Task(f"{tag} {step}", f"{tag} test ({sub})", "script", 7, [f"{tag} train"] if trained else [],
                              ["bash", osp.join(script, "base2new_test.sh"), ds, str(seed), *extra], dict(e, SUB=sub),
                              outputs=[(run_dir(self.root(v), step, split, seed, v.method, self.shots), True)]))
        return tasks

    def _ablation_tasks(self):
        """SemPT's ablations after every main run; one in-process task per (split, seed, group of rows), so two
        of them can run side by side."""
        tasks = []
        for split in self.ablation_splits:
            for seed in self.ablation_seeds:
                for gname, member in ABLATION_TASK_GROUPS:
                    task = self._ablation_task(gname, member, split, seed)
                    if task is not None:
                        tasks.append(task)
        return tasks

    def _ablation_task(self, gname, member, split, seed):
        ds = dataset_of(split)
        train_w = self._train_weights()
        runs, weight, deps, outputs = [], 4.0, set(), []
        for v in self.variants:
            if not v.inprocess or not member(v):
                continue
            for step, opts in self.steps(v):
                runs.append((f"{v.name} {ds} seed {seed} {step}", self._argv(v, step, split, seed, opts)))
                outputs.append((run_dir(self.root(v), step, split, seed, v.method, self.shots), step != "train_base"))
                weight += train_w[v.method] - 4 if step == "train_base" else 2
            if v.model_from:
                deps.add(f"{v.model_from} {ds} seed {seed} train")
        if not runs:
            return None
        key = f"ablations ({gname}) {ds} seed {seed}"
        return Task(key, key, "inprocess", weight, sorted(deps), runs=runs, outputs=outputs)


# the in-process tasks' groups of ablation rows (one task per group, split and seed)
ABLATION_TASK_GROUPS = [("no training", lambda v: v.train_opts is None), ("BETA", lambda v: v.group == "BETA"),
                        ("NUM_ATTRIBUTES, LAMBDA", lambda v: v.group in ("NUM_ATTRIBUTES", "LAMBDA")),
                        ("noise", lambda v: v.group == "noise")]


def _config_epochs():
    import yaml
    out = {}
    for m, t in TRAINERS.items():
        with open(osp.join(REPO, "configs", "trainers", t, f"{CFG}.yaml")) as f:
            out[m] = int(((yaml.safe_load(f) or {}).get("OPTIM") or {}).get("MAX_EPOCH", 0))
    return out


# --- running --------------------------------------------------------------------------------------------
def _job(task, env, log_dir):
    """The shared pool's job for a task: a script call, or the in-process worker on the task's spec file."""
    if task.kind == "script":
        cmd, job_env = task.cmd, task.env
    else:
        spec = osp.join(log_dir, f"{task.key.replace(' ', '_')}.json")
        write_json({"runs": task.runs}, spec)
        cmd, job_env = [sys.executable, "-m", "sempt.world", "_inprocess", spec], env
    return Job(task.key, cmd, env=job_env, weight=task.weight, deps=list(task.deps), label=task.label, cwd=REPO,
               finished=task.finished)


def execute(tasks, env, jobs=1, every=10.0, log_dir=None, threads=1, gpus=None):
    """Run ``tasks`` on the shared job pool (``sempt.sweep``) respecting their dependencies, ``jobs`` at a time
    (or one per device of ``gpus``), ``threads`` threads each, with compact progress; each task's output goes
    to ``<log_dir>/<task>.log``. Returns the wall time; stops with the failed tasks and their logs named after
    every other task has run."""
    log_dir = osp.abspath(log_dir or osp.join(REPO, "output", "world", "tasks"))
    mkdir_if_missing(log_dir)
    slots = make_slots(gpus=gpus, jobs=None if gpus else jobs, threads=threads)
    pool = Pool(slots, log_dir, every=every, name="world", eta_name="study eta", cwd=REPO)
    out = pool.run([_job(t, env, log_dir) for t in tasks])
    if not out.ok:
        failed = [f"{name} (exit {rc}; log {path})" for name, rc, path in out.failed]
        raise SystemExit(f"[world] {len(out.failed)} task(s) failed: {'; '.join(failed)}"
                         + (f"; {len(out.blocked)} not run" if out.blocked else ""))
    return out.wall


def run_inprocess(spec_path):
    """Worker: run each ``train.py`` argv of the spec in this process, skipping finished runs."""
    # started with the repository root as its working directory (``launch``), so train.py imports as a
    # module (and registers the readers and trainers)
    import train as train_py
    with open(spec_path) as f:
        runs = json.load(f)["runs"]
    parser = train_py.build_parser()
    console = sys.stdout
    for label, argv in runs:
        args = parser.parse_args(argv)
        out = args.output_dir
        finished = read_run(out, test_log=bool(args.eval_only)) if osp.isdir(out) else None
        print(f"@@run {label}", file=console, flush=True)
        if finished is not None:
            continue
        try:
            train_py.main(args)
        finally:
            if sys.stdout is not console:
                try:
                    sys.stdout.close()
                except Exception:
                    pass
                sys.stdout = console
        sys.stdout = console


# --- reading results ------------------------------------------------------------------------------------
def _per_class(log_path):
    from .report import _per_class as per
    return per(log_path)


def collect(planner, categories):
    """{variant: {(split, seed): {"base", "novel", "hm", kinds...}}} from the run logs."""
    from sempt.leaderboard import hm
    kinds = {c["name"]: c["kind"] for c in categories["categories"]}
    out = {}
    for v in planner.variants:
        rows = {}
        for split in planner.splits_of(v):
            for seed in planner.seeds_of(v):
                root = planner.root(v)
                if v.base_from == "train":
                    b = read_run(run_dir(root, "train_base", split, seed, v.method, planner.shots), test_log=False)
                elif v.base_from == "test":
                    b = read_run(run_dir(root, "test_base", split, seed, v.method, planner.shots), test_log=True)
                else:
                    src = planner.by_name(v.base_from)
                    b = read_run(run_dir(planner.root(src), "train_base", split, seed, v.method, planner.shots),
                                 test_log=False)
                n = read_run(run_dir(root, "test_new", split, seed, v.method, planner.shots), test_log=True)
                if b is None or n is None:
                    continue
                r = {"base": b["accuracy"], "novel": n["accuracy"], "hm": hm(b["accuracy"], n["accuracy"])}
                per = _per_class(n["file"])
                for kind in NAME_KINDS:
                    hits = [per[c] for c in per if kinds.get(c) == kind]
                    if hits:
                        r[kind] = 100.0 * sum(h[0] for h in hits) / sum(h[1] for h in hits)
                rows[(split, seed)] = r
        out[v.name] = rows
    return out


def summarise(values):
    """``values``: {(split, seed): x} -> dict(mean, seed_sd, split_sd, n)."""
    if not values:
        return None
    by_split = {}
    for (split, _), x in values.items():
        by_split.setdefault(split, []).append(x)
    xs = np.array(list(values.values()), dtype=float)
    seed_var = [np.var(v) for v in by_split.values() if len(v) > 1]
    means = [np.mean(v) for v in by_split.values()]
    return {"mean": float(xs.mean()), "seed_sd": float(np.sqrt(np.mean(seed_var))) if seed_var else 0.0,
            "split_sd": float(np.std(means)) if len(means) > 1 else 0.0, "n": int(xs.size),
            "splits": len(by_split)}


def metric(rows, key):
    return {k: r[key] for k, r in rows.items() if key in r}


def difference(rows_a, rows_b, key, ref=None):
    """Paired difference a - b on ``key`` with the spreads it is judged against. ``ref``: a summary whose
    seed and split sd stand in where the paired runs cannot measure one (one seed or one split)."""
    a, b = metric(rows_a, key), metric(rows_b, key)
    common = sorted(set(a) & set(b))
    if not common:
        return None
    d = np.array([a[k] - b[k] for k in common])
    sa, sb = summarise({k: a[k] for k in common}), summarise({k: b[k] for k in common})
    seed_sd = max(sa["seed_sd"], sb["seed_sd"])
    split_sd = max(sa["split_sd"], sb["split_sd"])
    borrowed = []
    seeds_per_split = len(common) / max(1, sa["splits"])
    if ref is not None and seeds_per_split < 2:
        seed_sd, borrowed = max(seed_sd, ref["seed_sd"]), borrowed + ["seed"]
    if ref is not None and sa["splits"] < 2:
        split_sd, borrowed = max(split_sd, ref["split_sd"]), borrowed + ["split"]
    delta = float(d.mean())
    same = int((np.sign(d) == np.sign(delta)).sum()) if delta != 0 else 0
    return {"delta": delta, "seed_sd": seed_sd, "split_sd": split_sd, "n": len(common), "same_sign": same,
            "exceeds": abs(delta) > max(seed_sd, split_sd), "borrowed": borrowed}


def fmt_cell(s, split=True):
    if s is None:
        return "-"
    txt = f"{s['mean']:.2f} ± {s['seed_sd']:.2f}"
    return txt + (f" [{s['split_sd']:.2f}]" if split and s["splits"] > 1 else "")


def fmt_diff(d):
    if d is None:
        return "-"
    verdict = "exceeds" if d["exceeds"] else "within"
    note = f" ({'/'.join(d['borrowed'])} sd borrowed from all runs of the reference row)" if d.get("borrowed") else ""
    return (f"{d['delta']:+.2f} (seed sd {d['seed_sd']:.2f}, split sd {d['split_sd']:.2f}{note}: {verdict}; "
            f"same sign in {d['same_sign']}/{d['n']} runs)")


def hm_of_means(rows):
    from sempt.leaderboard import hm
    b, n = summarise(metric(rows, "base")), summarise(metric(rows, "novel"))
    return hm(b["mean"], n["mean"]) if b and n else None


# --- calibration targets (decided on zero-shot, CoOp and KgCoOp only) -------------------------------------
# loose: the demo-size CI test's (one class split, three seeds). The world does not meet the strict seed-sd
# target (benchmarks/world_calibration.md); the loose bound guards against a world or recipe that gets worse.
TARGETS = {"strict": {"base_gain": 10.0, "novel_loss": 5.0, "kg_margin": 0.0, "hm_seed_sd": 1.0},
           "loose": {"base_gain": 5.0, "novel_loss": 2.0, "kg_margin": 2.0, "hm_seed_sd": 3.5}}


def check_targets(results, level="strict"):
    """[(target, measured, ok)] for the issue's calibration targets."""
    t = TARGETS[level]
    zs, coop, kg = results["ZeroshotCLIP"], results["CoOp"], results["KgCoOp"]
    mean = {m: {k: summarise(metric(results[m], k)) for k in ("base", "novel", "hm")}
            for m in ("ZeroshotCLIP", "CoOp", "KgCoOp")}
    gain = difference(coop, zs, "base")
    loss = difference(zs, coop, "novel")
    out = [(f"CoOp Base - zero-shot Base >= {t['base_gain']:g}", fmt_diff(gain), gain["delta"] >= t["base_gain"]),
           (f"zero-shot Novel - CoOp Novel >= {t['novel_loss']:g}", fmt_diff(loss), loss["delta"] >= t["novel_loss"])]
    kn, cn, zn = mean["KgCoOp"]["novel"]["mean"], mean["CoOp"]["novel"]["mean"], mean["ZeroshotCLIP"]["novel"]["mean"]
    if t["kg_margin"]:
        out.append((f"CoOp Novel < KgCoOp Novel < zero-shot Novel + {t['kg_margin']:g}",
                    f"{cn:.2f} < {kn:.2f} < {zn:.2f} + {t['kg_margin']:g}", cn < kn < zn + t["kg_margin"]))
    else:
        out.append(("CoOp Novel < KgCoOp Novel < zero-shot Novel", f"{cn:.2f} < {kn:.2f} < {zn:.2f}", cn < kn < zn))
    hk, hc = hm_of_means(kg), hm_of_means(coop)
    out.append(("KgCoOp HM > CoOp HM", f"{hk:.2f} > {hc:.2f}; per run {fmt_diff(difference(kg, coop, 'hm'))}",
                hk > hc))
    for m in MAIN:
        if results.get(m):
            s = summarise(metric(results[m], "hm"))
            out.append((f"{m}: seed sd of HM <= {t['hm_seed_sd']:g}", f"{s['seed_sd']:.2f}",
                        s["seed_sd"] <= t["hm_seed_sd"]))
    return out


# --- the report -----------------------------------------------------------------------------------------
def _table(headers, rows):
    from tabulate import tabulate
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _row_names(results):
    return [n for n in MAIN if results.get(n)] + (["zero-shot + attributes"] if results.get("zero-shot + attributes")
                                                   else [])


def _calibration_rows_present(results):
    return bool(results.get("ZeroshotCLIP") and results.get("CoOp") and results.get("KgCoOp"))


def _summary_of(results, name, key):
    return summarise(metric(results.get(name, {}), key))


def _method_sections(planner, results):
    lines = [f"Cells: mean ± seed sd [split sd] over {len(planner.splits)} class split(s) x {len(planner.seeds)} "
             f"seed(s) (seed sd: within-split sd over seeds; split sd: sd of the split means). HM: of the mean Base "
             "and Novel, as papers report; 'HM per run': mean ± seed sd [split sd] of each run's HM.\n"]
    names = _row_names(results)
    rows = []
    for name in names:
        S = lambda key: _summary_of(results, name, key)  # noqa: E731
        rows.append([name + (" (no training)" if name in ("ZeroshotCLIP", "zero-shot + attributes") else ""),
                     fmt_cell(S("base")), fmt_cell(S("novel")), f"{hm_of_means(results[name]):.2f}",
                     fmt_cell(S("hm")), str(len(results[name]))])
    lines.append("### Base-to-novel\n")
    lines.append(_table(["method", "Base", "Novel", "HM", "HM per run", "runs"], rows))
    lines.append("\n### Novel accuracy by name kind\n")
    lines.append(_table(["method", "descriptive", "known", "unknown"],
                        [[n] + [fmt_cell(_summary_of(results, n, k)) for k in NAME_KINDS] for n in names]))
    return lines


def _targets_section(results, level):
    if not _calibration_rows_present(results):
        return []
    checks = check_targets(results, level)
    return [f"\n### Calibration targets ({level}; decided on zero-shot, CoOp and KgCoOp only)\n",
            _table(["target", "measured", "holds"], [[a, b, "yes" if ok else "NO"] for a, b, ok in checks])]


DIFFERENCE_PAIRS = [("CoOp", "ZeroshotCLIP"), ("KgCoOp", "ZeroshotCLIP"), ("KgCoOp", "CoOp"), ("SemPT", "ZeroshotCLIP"),
                    ("SemPT", "CoOp"), ("SemPT", "KgCoOp"), ("zero-shot + attributes", "ZeroshotCLIP")]


def _differences_section(results):
    drows = []
    for a, b in DIFFERENCE_PAIRS:
        if not (results.get(a) and results.get(b)):
            continue
        for key in ("base", "novel", "hm"):
            # a row run on fewer splits or seeds (zero-shot + attributes) borrows the other row's spreads
            ref = summarise(metric(results[b], key))
            drows.append([f"{a} - {b}", key.capitalize() if key != "hm" else "HM",
                          fmt_diff(difference(results[a], results[b], key, ref))])
    return ["\n### Differences (paired by split and seed)\n",
            _table(["difference", "metric", "Δ (spread; verdict; sign consistency)"], drows)]


def _ablations_section(planner, results):
    ablation_rows = _ablation_rows(planner, results)
    if not ablation_rows:
        return []
    return [f"\n### SemPT ablations (class split(s) {' '.join(map(str, planner.ablation_splits))}, seed(s) "
            f"{' '.join(map(str, planner.ablation_seeds))}; Δ vs SemPT's defaults (*) in the same runs; where "
            "these runs cannot measure a spread, the seed/split sd of all SemPT runs stands in)\n",
            _table(["ablation", "setting", "Base", "Novel", "HM", "Δ Novel vs default", "Δ HM vs default"],
                   ablation_rows)]


def _figures(results, categories, out_dir):
    """(Base vs Novel figure, world figure) paths, written into ``out_dir``."""
    from .figures import base_novel_figure, world_figure
    from .spec import WorldSpec
    points = [(n, _summary_of(results, n, "base"), _summary_of(results, n, "novel")) for n in _row_names(results)]
    png = base_novel_figure(points, osp.join(out_dir, "base_novel.png"))
    base_names = set(categories["splits"]["0"][:len(categories["splits"]["0"]) // 2])
    wpng = world_figure(WorldSpec(**categories["world"]), osp.join(out_dir, "world.png"), base_names=base_names)
    return png, wpng


def _study_json(planner, results, seconds):
    calibrated = _calibration_rows_present(results)
    return {"splits": planner.splits, "seeds": planner.seeds, "ablation_seeds": planner.ablation_seeds,
            "results": {n: {f"{k[0]}/{k[1]}": r for k, r in rows_.items()} for n, rows_ in results.items()},
            "summary": {n: {k: _summary_of(results, n, k) for k in ("base", "novel", "hm") + NAME_KINDS}
                        for n in results},
            "targets": {lvl: [[a, b, bool(ok)] for a, b, ok in check_targets(results, lvl)] for lvl in TARGETS}
            if calibrated else None,
            "seconds": seconds}


def report(planner, results, categories, out_dir, level="strict", seconds=None):
    """Markdown of the study; also writes ``study.md``, ``study.json``, ``base_novel.png``, ``world.png``."""
    lines = (_method_sections(planner, results) + _targets_section(results, level) + _differences_section(results)
             + _ablations_section(planner, results))
    mkdir_if_missing(out_dir)
    png, wpng = _figures(results, categories, out_dir)
    lines.append(f"\nFigures: {png} (Base vs Novel), {wpng} (the world).")
    if seconds is not None:
        lines.append(f"Study time: {fmt_seconds(seconds)}.")
    text = "\n".join(lines) + "\n"
    atomic_write_text(text, osp.join(out_dir, "study.md"))
    write_json(_study_json(planner, results, seconds), osp.join(out_dir, "study.json"))
    return text


def _ablation_rows(planner, results):
    default = results.get("SemPT", {})
    seeds, splits = set(planner.ablation_seeds), set(planner.ablation_splits)
    default = {k: r for k, r in default.items() if k[1] in seeds and k[0] in splits}
    groups = {}
    for v in planner.variants:
        if v.group not in ("methods", "zero-shot + attributes") and results.get(v.name):
            groups.setdefault(v.group, []).append(v.name)
    if not groups or not default:
        return []
    rows = []
    S = lambda rs, key: summarise(metric(rs, key))  # noqa: E731
    order = ["UNSEEN_LABEL", "INFERENCE", "BETA", "NUM_ATTRIBUTES", "LAMBDA", "noise"]
    defaults = {"UNSEEN_LABEL": "learned", "INFERENCE": "dynamic", "BETA": "0.5", "NUM_ATTRIBUTES": "all",
                "LAMBDA": "1", "noise": "0"}
    full = results.get("SemPT", {})
    ref = {k: summarise(metric(full, k)) for k in ("novel", "hm")}
    for g in order:
        if g not in groups:
            continue
        entries = [(defaults[g] + " *", default)] + [(n.split(" ", 1)[1], results[n]) for n in groups[g]]
        entries.sort(key=lambda e: _sort_key(e[0]))
        for setting, rs in entries:
            is_default = rs is default
            rows.append([g, setting, fmt_cell(S(rs, "base")), fmt_cell(S(rs, "novel")), f"{hm_of_means(rs):.2f}",
                         "" if is_default else fmt_diff(difference(rs, default, "novel", ref["novel"])),
                         "" if is_default else fmt_diff(difference(rs, default, "hm", ref["hm"]))])
    return rows


def _sort_key(setting):
    s = setting.rstrip(" *")
    try:
        return (0, float(s), "")
    except ValueError:
        order = ["learned", "hand", "dynamic", "label", "attribute", "ensemble", "1", "3", "all"]
        return (1, order.index(s) if s in order else 99, s)
