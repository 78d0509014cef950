"""python -m trainers.attributes {generate,export,import,validate} ...

    generate --dataset NAME [--model M] [--attributes N] [--batch-size K] [--base-url URL] [--dry-run] [--force]
    export   --dataset NAME --out DIR [--attributes N] [--batch-size K]
    import   --dataset NAME --from DIR [--answered-by TEXT] [--force]
    validate [--dataset NAME ... | --all] [--word-limit W] [--near-dup-max F]

Class names come from the project's shipped lists (``sempt/data/classnames.json``); for another dataset
give ``--classnames-file`` (one name per line) and ``--domain``. The API key is read from OPENAI_API_KEY
only; ``--base-url`` (or OPENAI_BASE_URL) selects any OpenAI-compatible server.
"""
import argparse
import glob
import os
import os.path as osp
import sys

from tabulate import tabulate

from sempt.attributes import DEFAULT_DIR, SHARED_FILES, AttributeFileError, attribute_file_for
from sempt.data import catalog
from sempt.data.readers import ReadersNotFound

from . import prompts


def _classes(args):
    if getattr(args, "classnames_file", ""):
        with open(args.classnames_file, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    return catalog.classnames(args.dataset)


def _dataset(name, args):
    if getattr(args, "classnames_file", ""):
        return name
    reader = catalog.resolve(name)
    if reader in SHARED_FILES:
        raise SystemExit(f"error: {reader} uses the {SHARED_FILES[reader]} attribute file: generate that one")
    return reader


def _add_common(p, needs_dataset=True):
    p.add_argument("--dataset", required=needs_dataset, help="reader or config name, e.g. OxfordPets or oxford_pets")
    p.add_argument("--classnames-file", default="", help="class names, one per line (datasets not shipped)")
    p.add_argument("--domain", default="", help="what the images show (datasets without a built-in domain)")
    p.add_argument("--attributes", type=int, default=6, help="number of shared attributes (step 1)")
    p.add_argument("--batch-size", type=int, default=10, help="classes per step-2 request")
    p.add_argument("--word-limit", type=int, default=20, help="longest description, in words")
    p.add_argument("--dir", default=DEFAULT_DIR, help="attribute-file folder (default: attributes_cache/)")


def cmd_generate(args):
    from .llm import LLMClient
    from .pipeline import dry_run, generate
    dataset = _dataset(args.dataset, args)
    classes = _classes(args)
    domain = prompts.domain_of(dataset, args.domain)
    if args.dry_run:
        dry_run(dataset, classes, domain, args.attributes, args.batch_size, args.word_limit)
        return 0
    client = LLMClient(args.model, base_url=args.base_url, timeout=args.timeout, max_attempts=args.max_attempts,
                       backoff=args.backoff, json_mode=not args.no_json_mode)
    path = generate(client, dataset, classes, domain, args.attributes, args.batch_size, args.word_limit,
                    directory=args.dir, force=args.force, max_repairs=args.max_repairs)
    print(f"Wrote {path}")
    return validate([dataset], args)


def cmd_export(args):
    from .exchange import export
    dataset = _dataset(args.dataset, args)
    export(dataset, _classes(args), prompts.domain_of(dataset, args.domain), args.out, args.attributes,
           args.batch_size, args.word_limit)
    return 0


def cmd_import(args):
    from .exchange import import_answers
    dataset = _dataset(args.dataset, args)
    path = import_answers(dataset, getattr(args, "from"), directory=args.dir, answered_by=args.answered_by,
                          force=args.force)
    print(f"Wrote {path}")
    return validate([dataset], args) if not args.classnames_file else 0


def validate(datasets, args):
    """Check files against their readers' label spaces (ImageNet's also against V2, Sketch, A and R)."""
    from .quality import check_file
    rows, failed = [], False
    for ds in datasets:
        spaces = [ds] + [v for v, base in SHARED_FILES.items() if base == ds]
        for space in spaces:
            path = attribute_file_for(space, args.dir)
            errors, warnings, k = check_file(path, space, catalog.classnames(space), args.word_limit,
                                             args.near_dup_max, getattr(args, "num_attributes", 0))
            failed |= bool(errors)
            status = "ok" if not errors else f"{len(errors)} error(s)"
            rows.append([space, osp.relpath(path), status, len(warnings),
                         k.provenance.get("method", "?") if k else "-", (errors or warnings or [""])[0][:110]])
            for e in errors[:20]:
                print(f"  {space}: {e}")
    print(tabulate(rows, headers=["label space", "file", "status", "warnings", "made by", "first problem"]))
    return 1 if failed else 0


def cmd_validate(args):
    if args.all:
        files = sorted(f for f in glob.glob(osp.join(args.dir, "*.json")) if not f.endswith(".partial.json"))
        if not files:
            print(f"No attribute files in {args.dir} yet")
            return 0
        stems = {d.config: d.reader for d in catalog.CATALOG.values()}
        unknown = [f for f in files if osp.basename(f)[:-5] not in stems]
        if unknown:
            print(f"error: files for no known dataset: {unknown}", file=sys.stderr)
            return 1
        return validate([stems[osp.basename(f)[:-5]] for f in files], args)
    if not args.dataset:
        print("error: pass --dataset NAME or --all", file=sys.stderr)
        return 2
    return validate([_dataset(d, args) for d in args.dataset], args)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m trainers.attributes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="both steps through an OpenAI-compatible API")
    _add_common(g)
    g.add_argument("--model", default=os.environ.get("SEMPT_LLM_MODEL", "gpt-4o-mini"))
    g.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL or OpenAI)")
    g.add_argument("--timeout", type=float, default=120.0,
                   help="seconds one whole request may take, however slowly the reply arrives (retried after)")
    g.add_argument("--max-attempts", type=int, default=6, help="tries per request (rate limits, server errors)")
    g.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds (doubles, with jitter)")
    g.add_argument("--max-repairs", type=int, default=2, help="repair requests per malformed answer")
    g.add_argument("--no-json-mode", action="store_true", help="do not send response_format=json_object")
    g.add_argument("--dry-run", action="store_true", help="print prompts and estimates, call nothing")
    g.add_argument("--force", action="store_true", help="regenerate even finished classes")
    g.add_argument("--near-dup-max", type=float, default=0.02)
    e = sub.add_parser("export", help="write the prompts to files")
    _add_common(e)
    e.add_argument("--out", required=True, help="folder for prompts and answers")
    i = sub.add_parser("import", help="read answers from files into the attribute file")
    _add_common(i)
    i.add_argument("--from", required=True, help="the folder given to export")
    i.add_argument("--answered-by", default="", help="who or what answered, for the provenance")
    i.add_argument("--force", action="store_true", help="replace an existing attribute file")
    i.add_argument("--near-dup-max", type=float, default=0.02)
    v = sub.add_parser("validate", help="check attribute files")
    v.add_argument("--dataset", nargs="+")
    v.add_argument("--all", action="store_true")
    v.add_argument("--dir", default=DEFAULT_DIR)
    v.add_argument("--word-limit", type=int, default=20)
    v.add_argument("--near-dup-max", type=float, default=0.02, help="largest share of near-duplicate descriptions")
    args = p.parse_args(argv)
    from .exchange import ExchangeError
    from .llm import LLMError
    from .pipeline import GenerationIncomplete
    from .store import ResumeError
    try:
        return {"generate": cmd_generate, "export": cmd_export, "import": cmd_import,
                "validate": cmd_validate}[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted: progress is saved; rerun the same command to continue", file=sys.stderr)
        return 130
    except (LLMError, ExchangeError, GenerationIncomplete, ResumeError, AttributeFileError, ReadersNotFound, KeyError,
            ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
