"""python -m sempt.world {build,benchmark,report,figures}

    build      [--splits 3] [--noise 0 0.3 0.6]  pretrain (cached) and write datasets and attribute files
    benchmark  [--splits 3] [--seeds 1 2 3] [--no-ablations] [--ablation-splits 0] [--ablation-seeds 1]
               [--jobs 2 | --gpus 0,1] [--threads 1]
               base-to-novel for ZeroshotCLIP, CoOp, KgCoOp and SemPT over class splits and seeds through the
               normal scripts, the "zero-shot + attributes" row and SemPT's ablations; prints the tables
               (mean ± seed sd [split sd]), checks the calibration targets, writes study.md, study.json,
               base_novel.png and world.png into the output folder; runs go through the job pool of
               ``python -m sempt.sweep`` (one log per task in OUTPUT/tasks; Ctrl-C stops every run; a rerun resumes)
    report     OUTPUT [--splits ..] [--seeds ..]   the tables again from finished runs (nothing is run)

    every command: [--world KEY=VALUE ..] [--pretrain KEY=VALUE ..] another world (WorldSpec fields, e.g.
               per_kind=24) or pretraining (PretrainSpec fields, e.g. steps=1200), cached under its own key;
               with --opts (recipe options) this is how the calibration probes of
               benchmarks/world_calibration.md were run. The shipped study uses none of them.
"""
import argparse
import os
import os.path as osp
import sys
import time

from tabulate import tabulate

from .build import build_world
from .pretrain import PretrainSpec
from .spec import WorldSpec

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from here: python -m sempt.world

NOISES = (0.0, 0.3, 0.6)


def _overrides(cls, pairs, flag):
    """``cls()`` with ``KEY=VALUE`` fields replaced (calibration probes); a one-line error names a bad key."""
    from dataclasses import fields, replace
    types = {f.name: f.type for f in fields(cls)}
    changes = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or key not in types:
            raise SystemExit(f"error: {flag} {pair!r}: expected KEY=VALUE with KEY one of {', '.join(types)}")
        cast = types[key] if types[key] in (int, float) else str
        try:
            changes[key] = cast(value)
        except ValueError:
            raise SystemExit(f"error: {flag} {pair!r}: {key} takes a number") from None
    return replace(cls(), **changes)


def _build(args, log=print):
    t = time.time()
    world = _overrides(WorldSpec, ["seed=%d" % args.world_seed] + list(args.world), "--world")
    info = build_world(world, _overrides(PretrainSpec, args.pretrain, "--pretrain"), cache=args.cache,
                       splits=max(3, args.splits), noises=NOISES, log=log)
    zs = info["stats"]["zero_shot"]
    print(tabulate([[f"{zs['descriptive']:.1f}", f"{zs['known']:.1f}", f"{zs['unknown']:.1f}", f"{zs['chance']:.1f}",
                     info["stats"]["logit_scale"], info["stats"]["seconds"]]],
                   headers=[f"zero-shot ({round(100 / zs['chance'])}-way): descriptive", "known", "unknown", "chance",
                            "logit scale", "pretrain s"]))
    print(f"[world] ready in {time.time() - t:.0f}s: {info['root']}", flush=True)
    return info


def _planner(args, info):
    from .study import Planner
    splits = list(range(args.splits))
    ab_seeds = args.ablation_seeds or args.seeds
    return Planner(info, args.output, splits, args.seeds, shots=args.shots, ablations=not args.no_ablations,
                   ablation_seeds=ab_seeds, methods=args.methods, extra_opts=args.opts,
                   ablation_splits=args.ablation_splits,
                   epochs=_epochs(args.opts))


def _epochs(opts):
    """OPTIM.MAX_EPOCH among the extra options (the epoch whose checkpoint the tests load)."""
    opts = list(opts or [])
    if "OPTIM.MAX_EPOCH" in opts:
        e = int(opts[opts.index("OPTIM.MAX_EPOCH") + 1])
        return {"coop": e, "kgcoop": e, "sempt": e}
    return None


def _report(args, info, planner, seconds=None):
    from sempt.fileio import read_json

    from .study import collect, report
    cats = read_json(osp.join(info["data"], "clip_world", "categories.json"))
    results = collect(planner, cats)
    text = report(planner, results, cats, osp.abspath(args.output), level=args.targets, seconds=seconds)
    print("\n" + text, flush=True)
    return results


def benchmark(args):
    from .study import execute, thread_env
    t0 = time.time()
    info = _build(args)
    planner = _planner(args, info)
    env = dict(os.environ, DATA=info["data"], BACKBONE=info["clip"], SHOTS=str(args.shots), PYTHON=sys.executable,
               CFG="world", **thread_env(args.threads))
    tasks = planner.tasks(env)
    where = f"one per device of --gpus {args.gpus}" if args.gpus else f"{args.jobs} at a time"
    print(f"[world] {len(tasks)} tasks ({sum(len(t.runs) if t.runs else 1 for t in tasks)} runs), {where}, "
          f"{args.threads} thread(s) each, OMP_WAIT_POLICY=PASSIVE; finished runs are skipped; output "
          f"{osp.abspath(args.output)}", flush=True)
    seconds = execute(tasks, env, jobs=args.jobs, every=args.progress_every,
                      log_dir=osp.join(osp.abspath(args.output), "tasks"), threads=args.threads, gpus=args.gpus)
    print(f"[world] runs done in {seconds:.0f}s", flush=True)
    _report(args, info, planner, seconds=time.time() - t0)
    print(f"[world] benchmark done in {time.time() - t0:.0f}s", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sempt.world", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("build", "benchmark", "report"):
        s = sub.add_parser(name)
        s.add_argument("--splits", type=int, default=3, help="base/novel class assignments")
        s.add_argument("--cache", default=None, help="world cache folder (default ~/.cache/sempt/world)")
        s.add_argument("--world-seed", type=int, default=0)
        s.add_argument("--world", nargs="+", default=[], metavar="KEY=VALUE",
                       help="WorldSpec fields to change (calibration probes; the shipped study uses none)")
        s.add_argument("--pretrain", nargs="+", default=[], metavar="KEY=VALUE",
                       help="PretrainSpec fields to change (calibration probes; the shipped study uses none)")
        if name in ("benchmark", "report"):
            s.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
            s.add_argument("--ablation-seeds", type=int, nargs="+", default=[1],
                           help="seeds of SemPT's ablation runs (default 1)")
            s.add_argument("--ablation-splits", type=int, nargs="+", default=[0],
                           help="class splits of SemPT's ablation runs (default 0; the demo's and the study's)")
            s.add_argument("--no-ablations", action="store_true", help="only the four methods")
            s.add_argument("--methods", nargs="+", default=["zsclip", "coop", "kgcoop", "sempt"],
                           choices=["zsclip", "coop", "kgcoop", "sempt"],
                           help="main methods (without sempt: no ablations either; calibration runs use this)")
            s.add_argument("--shots", type=int, default=16)
            s.add_argument("--targets", choices=("strict", "loose"), default="strict",
                           help="calibration targets to check (loose: the demo-size test's)")
            s.add_argument("--jobs", type=int, default=2, help="runs at a time (one process each)")
            s.add_argument("--gpus", default=None,
                           help="run on these devices instead, one run per listed id (0,1,2,3) or cpu:N")
            s.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per run")
            s.add_argument("--progress-every", type=float, default=15.0, help="seconds between progress lines")
            s.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                           help="config options for every run (calibration probes; the shipped study uses none)")
        if name == "benchmark":
            s.add_argument("--output", default=osp.join(REPO, "output", "world"))
        if name == "report":
            s.add_argument("output")
    i = sub.add_parser("_inprocess", help=argparse.SUPPRESS)
    i.add_argument("spec")
    args = p.parse_args(argv)
    if args.command == "build":
        _build(args)
    elif args.command == "benchmark":
        from sempt.config import ConfigError
        try:
            benchmark(args)
        except KeyboardInterrupt:  # the pool has stopped every run and said so
            return 130
        except ConfigError as e:  # e.g. a --gpus list that names no device
            print(f"error: {e}", file=sys.stderr)
            return 2
    elif args.command == "report":
        info = _build(args, log=lambda m: None)
        _report(args, info, _planner(args, info))
    else:
        from .study import run_inprocess
        run_inprocess(args.spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
