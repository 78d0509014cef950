"""Thread settings for the world's small runs: wall time of the same short CoOp training under several
settings, on whatever load the machine has (printed), so the choice in `python -m sempt.world benchmark`
(--jobs, --threads, OMP_WAIT_POLICY=PASSIVE) can be checked on the machine at hand.

    python -m benchmarks.world_threads [--epochs 5] [--repeats 1]

Settings: torch's default thread count (all cores) with OpenMP's default wait policy; the same with
OMP_WAIT_POLICY=PASSIVE; 1 thread; and two 1-thread runs side by side (the benchmark's default, reported as
wall time per run). Prints seconds per run and the load average before and after each setting.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))  # run from here: python -m benchmarks.world_threads


def _cmd(info, out, epochs, seed):
    return [sys.executable, "train.py", "--root", info["data"], "--seed", str(seed), "--trainer", "CoOp",
            "--dataset-config-file", osp.join(REPO, "configs", "datasets", "clip_world.yaml"),
            "--config-file", osp.join(REPO, "configs", "trainers", "CoOp", "world.yaml"), "--output-dir", out,
            "DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base", "MODEL.BACKBONE.NAME", info["clip"],
            "OPTIM.MAX_EPOCH", str(epochs)]


def _env(threads, passive):
    e = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY"):
        e.pop(k, None)
    if threads:
        e["OMP_NUM_THREADS"] = e["MKL_NUM_THREADS"] = str(threads)
    if passive:
        e["OMP_WAIT_POLICY"] = "PASSIVE"
    return e


def run(info, epochs, threads, passive, parallel, tmp, tag):
    t0 = time.time()
    procs = [subprocess.Popen(_cmd(info, osp.join(tmp, f"{tag}_{i}"), epochs, 1 + i), cwd=REPO,
                              env=_env(threads, passive), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(parallel)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"run failed: {tag}")
    return (time.time() - t0) / parallel


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    from sempt.world.build import build_world
    info = build_world(log=lambda m: None)
    settings = [("default threads, default wait policy", None, False, 1),
                ("default threads, OMP_WAIT_POLICY=PASSIVE", None, True, 1),
                ("1 thread, PASSIVE", 1, True, 1),
                ("2 runs side by side, 1 thread each, PASSIVE (per run)", 1, True, 2)]
    print(f"CoOp on the world, {args.epochs} epochs, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for i, (name, threads, passive, parallel) in enumerate(settings):
                before = os.getloadavg()[0]
                s = run(info, args.epochs, threads, passive, parallel, tmp, f"r{r}s{i}")
                print(f"{name:<58} {s:6.1f} s/run   load {before:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
