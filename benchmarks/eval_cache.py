"""The test-feature cache on the synthetic world: evaluation time without the cache, with a cold cache (the
first evaluation encodes and writes the features) and with a warm one (every later evaluation: another seed,
checkpoint or method on the same test set), and the speed-up, per method; plus the accuracies of every mode,
which must be identical.

    python -m benchmarks.eval_cache [--subsample all] [--repeats 3] [--threads 1]
                                    [--methods ZeroshotCLIP CoOp SemPT]

Each evaluation is one freshly built trainer's first ``test()`` (as in a separate ``train.py --eval-only``
process, so the text side is encoded in every one); the trainer's construction (CLIP, data, attribute
embeddings) is timed apart. The first method meets a cold cache; every later method reads the features the
first one wrote, which is the real use case. Runs in this process on the world's test set
(``configs/datasets/clip_world.yaml``, the methods' ``world.yaml`` configs, untrained prompts: evaluation
costs the same whatever the weights), cache in a temporary folder. Builds the world first if it is not
cached (``python -m sempt.world build``; minutes). Prints medians over ``--repeats`` and the load average.
"""
import argparse
import contextlib
import io
import os
import os.path as osp
import re
import shutil
import statistics
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))  # run from here: python -m benchmarks.eval_cache


def build(info, method, subsample, out, cache):
    import datasets
    import trainers
    from sempt import feature_cache
    from sempt.config import build_cfg
    from sempt.engine import build_trainer, set_random_seed
    opts = ["DATASET.ROOT", info["data"], "TRAINER.NAME", method, "OUTPUT_DIR", out, "SEED", "1",
            "DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", subsample, "MODEL.BACKBONE.NAME", info["clip"],
            "TEST.FEATURE_CACHE", cache]
    if method == "SemPT":
        opts += ["TRAINER.SEMPT.ATTRIBUTES_DIR", osp.dirname(info["attributes"][0.0])]
    cfg = build_cfg([datasets.extend_cfg, trainers.extend_cfg, feature_cache.extend_cfg],
                    dataset_config_file=osp.join(REPO, "configs", "datasets", "clip_world.yaml"),
                    config_file=osp.join(REPO, "configs", "trainers", method, "world.yaml"), opts=opts)
    set_random_seed(1)
    return build_trainer(cfg)


def evaluate(info, method, subsample, out, cache):
    """``(build seconds, test seconds, accuracy, predictions, cache status)`` of one fresh trainer."""
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(io.StringIO()):
        t0 = time.perf_counter()
        trainer = build(info, method, subsample, out, cache)
        t1 = time.perf_counter()
        accuracy = trainer.test()
        t2 = time.perf_counter()
    m = re.search(r"Test-feature cache: (hit|miss)", log.getvalue())
    status = m.group(1) if m else "off"
    return t1 - t0, t2 - t1, accuracy, list(trainer.evaluator._y_pred), status


def measure_method(info, method, k, args, tmp, cache):
    """Uncached, first and warm-cache evaluations of ``method`` (the ``k``-th measured): its table row and
    the problems found (cache status not as expected, predictions that differ between modes)."""
    runs = {"uncached": [], "first": [], "warm": []}
    for mode, n in (("uncached", args.repeats), ("first", 1), ("warm", args.repeats)):
        for r in range(n):
            res = evaluate(info, method, args.subsample, osp.join(tmp, f"{method}-{mode}-{r}"),
                           "off" if mode == "uncached" else cache)
            runs[mode].append(res)
            print(f"  {method:<13} {mode:<9} build {res[0]:6.2f}s  test {res[1]:6.2f}s  "
                  f"accuracy {res[2]:.2f}  cache {res[4]}", flush=True)
    problems = []
    expected = {"uncached": "off", "first": "miss" if k == 0 else "hit", "warm": "hit"}
    for mode, rs in runs.items():
        if any(r[4] != expected[mode] for r in rs):
            problems.append(f"{method} {mode}: cache {[r[4] for r in rs]}, expected {expected[mode]}")
    ref = runs["uncached"][0]
    same = all(r[2] == ref[2] and r[3] == ref[3] for rs in runs.values() for r in rs)
    if not same:
        problems.append(f"{method}: predictions differ between modes")
    t = {mode: statistics.median(r[1] for r in rs) for mode, rs in runs.items()}
    b = statistics.median(r[0] for rs in runs.values() for r in rs)
    row = [method, len(ref[3]), f"{b:.2f}", f"{t['uncached']:.2f}",
           f"{t['first']:.2f} ({'cold' if k == 0 else 'warm'})", f"{t['warm']:.3f}",
           f"{t['uncached'] / t['warm']:.1f}x", f"{(b + t['uncached']) / (b + t['warm']):.2f}x",
           f"{ref[2]:.2f}" + (" (all identical)" if same else " (DIFFER)")]
    return row, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subsample", default="all", choices=["all", "base", "new"],
                    help="test classes: all 36 (1,800 images), or the base/new 18 of class split 0")
    ap.add_argument("--methods", nargs="+", default=["ZeroshotCLIP", "CoOp", "SemPT"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("SEMPT_ENGINE", "builtin")
    from tabulate import tabulate
    from sempt.world.build import build_world
    info = build_world(log=print)
    tmp = tempfile.mkdtemp(prefix="sempt-eval-cache-")
    cache = osp.join(tmp, "features")
    load0 = os.getloadavg()
    rows, problems = [], []
    try:
        for k, method in enumerate(args.methods):
            row, method_problems = measure_method(info, method, k, args, tmp, cache)
            rows.append(row)
            problems += method_problems
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()
    print()
    print(tabulate(rows, headers=["method", "images", "build s", "test s uncached", "test s first with cache",
                                  "test s warm cache", "test speed-up", "build+test speed-up", "accuracy"]))
    print(f"\nMedians of {args.repeats} fresh trainers per mode ({args.threads or torch.get_num_threads()} torch "
          f"thread(s)); load average {load0[0]:.2f} before, {load1[0]:.2f} after; torch {torch.__version__}.")
    print("test speed-up = uncached test() / warm-cache test(); build+test adds the trainer construction to both.")
    for p in problems:
        print(f"PROBLEM: {p}")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
