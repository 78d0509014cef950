"""Mean and spread of test results over seeds: a drop-in for the CoOp family's ``parse_test_res.py``.

    python parse_test_res.py output/base2new/train_base/oxford_pets/shots_16/SemPT/vit_b16/
    python parse_test_res.py output/base2new/test_new/oxford_pets/shots_16/SemPT/vit_b16/ --test-log
    python parse_test_res.py output/some_experiment --multi-exp [--ci95] [--keyword macro_f1]

Unlike the original it never trips over ``Finish training`` vs ``Finished training`` or over rotated
logs, and it lists runs that have no result instead of failing or averaging them away.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np

from sempt.results import read_run


def spread(values, ci95):
    sd = float(np.std(values))
    return 1.96 * sd / np.sqrt(len(values)) if ci95 else sd


def parse_directory(directory, args):
    print(f"Parsing files in {directory}")
    subdirs = sorted(d for d in os.listdir(directory) if not d.startswith(".") and osp.isdir(osp.join(directory, d)))
    values, missing = [], []
    for sub in subdirs:
        res = read_run(osp.join(directory, sub), test_log=True if args.test_log else None)
        if res is None or args.keyword not in res:
            missing.append(sub)
            continue
        values.append(res[args.keyword])
        print(f"file: {res['file']}. {args.keyword}: {res[args.keyword]:.2f}%. ")
    for sub in missing:
        print(f"no finished result in {osp.join(directory, sub)}")
    print("===")
    print(f"Summary of directory: {directory}")
    if not values:
        print(f"* {args.keyword}: no result")
        print("===")
        return None
    avg = float(np.mean(values))
    print(f"* {args.keyword}: {avg:.2f}% +- {spread(values, args.ci95):.2f}% (n={len(values)})")
    print("===")
    return avg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", type=str, help="path to directory")
    p.add_argument("--ci95", action="store_true", help="compute 95%% confidence interval")
    p.add_argument("--test-log", action="store_true", help="parse test-only logs")
    p.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    p.add_argument("--keyword", default="accuracy", type=str, help="which keyword to extract")
    args = p.parse_args(argv)
    if not osp.isdir(args.directory):
        print(f"error: {args.directory} is not a directory", file=sys.stderr)
        return 2
    if args.multi_exp:
        avgs = []
        for d in sorted(os.listdir(args.directory)):
            full = osp.join(args.directory, d)
            if osp.isdir(full) and not d.startswith("."):
                avg = parse_directory(full, args)
                if avg is not None:
                    avgs.append(avg)
        print("Average performance")
        print(f"* {args.keyword}: {np.mean(avgs):.2f}%" if avgs else f"* {args.keyword}: no result")
        return 0 if avgs else 1
    return 0 if parse_directory(args.directory, args) is not None else 1


if __name__ == "__main__":
    sys.exit(main())
