"""python -m sempt.world {build,report,benchmark}

    build      [--splits 3] [--noise 0 0.3]   pretrain (cached) and write datasets and attribute files
    report     OUTPUT_ROOT                     novel accuracy by name kind (descriptive / known / unknown)
    benchmark  [--methods zsclip coop kgcoop sempt] [--splits 3] [--seeds 1 2 3] [--noise 0 0.3]
               run base-to-novel for every method, class split, seed (and, for SemPT, attribute noise)
               through the normal scripts, then print the leaderboard and the name-kind table
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tabulate import tabulate  # noqa: E402

from .build import build_world  # noqa: E402
from .pretrain import PretrainSpec  # noqa: E402
from .report import kind_table  # noqa: E402
from .spec import WorldSpec  # noqa: E402

METHODS = {"zsclip": "ZeroshotCLIP", "coop": "CoOp", "kgcoop": "KgCoOp", "sempt": "SemPT"}


def _build(args):
    t = time.time()
    info = build_world(WorldSpec(seed=args.world_seed), PretrainSpec(), cache=args.cache, splits=args.splits,
                       noises=tuple(args.noise))
    zs = info["stats"]["zero_shot"]
    print(tabulate([[f"{zs['descriptive']:.1f}", f"{zs['known']:.1f}", f"{zs['unknown']:.1f}", f"{zs['chance']:.1f}",
                     info["stats"]["logit_scale"], info["stats"]["seconds"]]],
                   headers=["zero-shot: descriptive", "known", "unknown", "chance", "logit scale", "pretrain s"]))
    print(f"[world] ready in {time.time() - t:.0f}s: {info['root']}")
    return info


def _run(cmd, env):
    proc = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return proc.stdout


def benchmark(args):
    info = _build(args)
    output = osp.abspath(args.output)
    env = dict(os.environ, DATA=info["data"], BACKBONE=info["clip"], OUTPUT=output, SHOTS=str(args.shots),
               PYTHON=sys.executable, CFG="world")
    jobs = []
    for split in range(args.splits):
        dataset = "clip_world" if split == 0 else f"clip_world_s{split}"
        for seed in args.seeds:
            for m in args.methods:
                noises = args.noise if m == "sempt" else [None]
                for p in noises:
                    jobs.append((dataset, seed, m, p))
    t0 = time.time()
    for i, (dataset, seed, m, p) in enumerate(jobs, 1):
        extra, e = [], dict(env)
        if m == "sempt":
            extra = ["TRAINER.SEMPT.ATTRIBUTES_DIR", osp.dirname(info["attributes"][p])]
            if p:  # runs with noisy attribute answers get their own output tree
                e["OUTPUT"] = osp.join(output, f"noise{p:g}")
        scripts = osp.join(REPO, "scripts", m)
        if m == "zsclip":
            for sub in ("base", "new"):
                _run(["bash", osp.join(scripts, "base2new_test.sh"), dataset, str(seed)], dict(e, SUB=sub))
        else:
            _run(["bash", osp.join(scripts, "base2new_train.sh"), dataset, str(seed), *extra], e)
            _run(["bash", osp.join(scripts, "base2new_test.sh"), dataset, str(seed), *extra], e)
        el = time.time() - t0
        print(f"[world] {i}/{len(jobs)} {METHODS[m]} {dataset} seed {seed}"
              f"{'' if p is None else f' noise {p:g}'}  elapsed {el:.0f}s eta {el / i * (len(jobs) - i):.0f}s",
              flush=True)
    roots = [output] + [osp.join(output, f"noise{p:g}") for p in args.noise if p and "sempt" in args.methods]
    for root in roots:
        print(f"\n## Results in {root}")
        print(subprocess.run([sys.executable, "-m", "sempt.leaderboard", root, "--seeds", str(len(args.seeds))],
                             cwd=REPO, capture_output=True, text=True).stdout)
        cats = osp.join(info["data"], "clip_world", "categories.json")
        print("### Novel accuracy by name kind (mean ± std over seeds)\n")
        print(tabulate(kind_table(root, cats), headers=["method", "split", "descriptive", "known", "unknown"],
                       tablefmt="github"))
    print(f"\n[world] benchmark done in {time.time() - t0:.0f}s")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sempt.world", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("build", "benchmark"):
        s = sub.add_parser(name)
        s.add_argument("--splits", type=int, default=3, help="base/novel class assignments")
        s.add_argument("--noise", type=float, nargs="+", default=[0.0], help="fractions of wrong/vague attributes")
        s.add_argument("--cache", default=None, help="world cache folder (default ~/.cache/sempt/world)")
        s.add_argument("--world-seed", type=int, default=0)
        if name == "benchmark":
            s.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
            s.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
            s.add_argument("--shots", type=int, default=16)
            s.add_argument("--output", default=osp.join(REPO, "output", "world"))
    r = sub.add_parser("report")
    r.add_argument("root")
    r.add_argument("--categories", required=True, help="the world's categories.json")
    args = p.parse_args(argv)
    if args.command == "build":
        _build(args)
    elif args.command == "benchmark":
        benchmark(args)
    else:
        print(tabulate(kind_table(args.root, args.categories), headers=["method", "split", "descriptive", "known",
                                                                          "unknown"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
