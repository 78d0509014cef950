"""Data tools.

    python -m sempt.data check --root $DATA [--dataset NAME ...] [--quick]   one row per dataset; exit 1 if
                                                    broken (every image is decoded; --quick: a sample)
    python -m sempt.data classnames imagenet                          "<wnid> <class name>" lines
    python -m sempt.data classnames oxford_pets                       one class name per line
    python -m sempt.data list base2new [GROUP ...]                    config names of a benchmark group's
                                                    datasets, one a line, in table order (groups: base2new,
                                                    few_shot, xd_source, xd_target, domain_target)

``check`` exits non-zero when a requested dataset (``--dataset``) is missing or broken, or, without
``--dataset``, when a dataset that is present is broken. Every command reads the registered readers of the
repository's ``datasets/`` folder: run it from the repository root.
"""
import argparse
import os
import sys


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sempt.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check dataset folders")
    c.add_argument("--root", default=os.environ.get("DATA", ""), help="dataset root (default: $DATA)")
    c.add_argument("--dataset", nargs="+", help="reader or config names (default: all 15)")
    c.add_argument("--quick", action="store_true", help="decode a sample of 200 images per dataset, not all")
    n = sub.add_parser("classnames", help="print a dataset's class names")
    n.add_argument("dataset")
    g = sub.add_parser("list", help="print the config names of the datasets of benchmark groups")
    g.add_argument("group", nargs="+", help="base2new, few_shot, xd_source, xd_target or domain_target")
    args = p.parse_args(argv)
    from sempt.data.readers import ReadersNotFound
    try:
        return _run(args)
    except ReadersNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args):
    from sempt.data import catalog
    if args.command == "list":
        try:
            print("\n".join(catalog.group(*args.group)))
        except KeyError as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
            return 2
        return 0
    if args.command == "classnames":
        try:
            reader = catalog.resolve(args.dataset)
        except KeyError as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
            return 2
        names = catalog.classnames(reader)
        try:
            lines = [f"{w} {c}" for w, c in zip(catalog.wnids(reader), names)]
        except KeyError:  # no WordNet ids: one name per line
            lines = names
        print("\n".join(lines))
        return 0

    if not args.root:
        print("error: pass --root or set DATA to the folder holding the datasets", file=sys.stderr)
        return 2
    if not os.path.isdir(args.root):
        print(f"error: {args.root} is not a folder", file=sys.stderr)
        return 2
    from sempt.data.check import check_all
    try:
        rows = check_all(os.path.abspath(args.root), args.dataset, quick=args.quick)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    if args.dataset:
        bad = [r for r in rows if r["status"] != "ok"]
    else:
        bad = [r for r in rows if r["status"] == "broken"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
