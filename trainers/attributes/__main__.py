"""python -m trainers.attributes {generate,export,import,validate} ...

    generate --dataset NAME [--model M] [--attributes N] [--batch-size K] [--base-url URL] [--dry-run] [--force]
    export   --dataset NAME --out DIR [--attributes N] [--batch-size K]
    import   --dataset NAME --from DIR [--answered-by TEXT] [--force]
    validate [--dataset NAME ... | --classes FILE | --all] [--root DIR] [--allow-shared] [--word-limit W]

Every command also takes ``--classes FILE`` and ``--root DIR`` (see below) and ``--dir`` (the attribute-file
folder, default ``attributes_cache/``).

NAME is a dataset of the catalog (``OxfordPets`` or ``oxford_pets``), another registered reader
(``CLIPWorld``), a dataset config file, or the name of one in ``configs/datasets/`` (your own dataset: a copy
of ``configs/datasets/image_folder.yaml``). Class names are the shipped lists (``sempt/data/classnames.json``)
or, for a dataset whose names come from its data, read from it under ``--root`` (default ``$DATA``);
``--classes FILE`` (one class per line, or a JSON list) gives them instead, with or without ``--dataset``.
The API key is read from OPENAI_API_KEY only; ``--base-url`` (or OPENAI_BASE_URL) selects any
OpenAI-compatible server.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass

from tabulate import tabulate

from sempt.attributes import DEFAULT_DIR, SHARED_FILES, AttributeFileError, attribute_file_for
from sempt.data import catalog
from sempt.data.coop import DatasetError
from sempt.data.readers import ReadersNotFound
from sempt.fileio import read_class_list

from . import prompts


class TargetError(ValueError):
    """The dataset or class list named on the command line cannot be used; the message says what to pass."""


def read_class_file(path):
    """Class names from ``path`` (``sempt.fileio.read_class_list``: a JSON list or one name per line)."""
    try:
        return read_class_list(path)
    except ValueError as e:
        raise TargetError(str(e)) from None


@dataclass
class Target:
    """One attribute file to work on: the dataset name it states, its path, where its class names come from
    and its domain."""
    name: str  # the "dataset" the file states (reader name, or the configured name of a user's dataset)
    path: str
    ref: object = None  # catalog.DatasetRef, or None for a bare --classes list
    class_file: str = ""
    domain_hint: str = ""  # the domain the dataset's config states

    def classes(self):
        if self.class_file:
            return read_class_file(self.class_file)
        try:
            return catalog.dataset_classnames(self.ref)
        except DatasetError as e:
            if not self.ref.cfg.DATASET.ROOT:
                raise TargetError(f"{self.name}'s class names come from its data: pass --root (or set DATA) to the "
                                  "folder holding the datasets, or --classes FILE") from e
            raise TargetError(f"{self.name}'s class names come from its data, which cannot be read: "
                              f"{str(e).splitlines()[0]} (or pass --classes FILE)") from e

    def domain(self, override=""):
        try:
            return prompts.domain_of(self.name, override or self.domain_hint)
        except KeyError:
            where = (f" or set DATASET.IMAGE_FOLDER.DOMAIN in {self.ref.config_file}" if self.ref is not None
                     and self.ref.facts.per_config else "")
            raise TargetError(f"No domain description for dataset {self.name!r}: pass --domain \"what the images "
                              f"show\" (e.g. \"flower species\"){where}") from None

    def label_spaces(self):
        """``[(label space, dataset to check the file against, class names)]``: the file's own classes, and for
        ImageNet's file also V2, Sketch, A and R."""
        own = (self.name, self.name, self.classes())
        if self.ref is None or self.ref.facts.per_config:
            return [own]
        return [own] + [(v, v, catalog.classnames(v)) for v, base in SHARED_FILES.items() if base == self.name]


def _root(args):
    return getattr(args, "root", "") or ""


def target_of(dataset, args):
    """The ``Target`` of ``--dataset`` (a name or config) and ``--classes``."""
    class_file = getattr(args, "classes", "") or ""
    if not dataset:
        if not class_file:
            raise TargetError("pass --dataset NAME (or a dataset config), or --classes FILE")
        name = osp.splitext(osp.basename(class_file))[0]
        return Target(name, attribute_file_for(name, args.dir), class_file=class_file)
    try:
        ref = catalog.lookup(dataset, _root(args))
    except KeyError as e:
        if class_file:  # a dataset the repository does not know, with its class list
            return Target(dataset, attribute_file_for(dataset, args.dir), class_file=class_file)
        raise TargetError(e.args[0] if e.args else str(e)) from None
    f = ref.facts
    if f.reader in SHARED_FILES:
        raise TargetError(f"{f.reader} uses the {SHARED_FILES[f.reader]} attribute file: name that one")
    path = osp.join(args.dir, f"{f.attribute_stem}.json") if f.per_config else attribute_file_for(f.reader, args.dir)
    return Target(f.name, path, ref=ref, class_file=class_file, domain_hint=f.domain)


def _add_dataset_args(p):
    p.add_argument("--classes", "--classnames-file", dest="classes", default="",
                   help="class names: one per line, or a JSON list (a dataset whose names are not shipped)")
    p.add_argument("--root", default=os.environ.get("DATA", ""),
                   help="folder holding the datasets, to read class names from the data (default: $DATA)")


def _add_common(p):
    p.add_argument("--dataset", default="", help="reader or config name (OxfordPets, oxford_pets, CLIPWorld), a "
                                                 "dataset config file, or the name of one in configs/datasets/")
    _add_dataset_args(p)
    p.add_argument("--domain", default="", help="what the images show (datasets without a built-in domain)")
    p.add_argument("--attributes", type=int, default=6, help="number of shared attributes (step 1)")
    p.add_argument("--batch-size", type=int, default=10, help="classes per step-2 request")
    p.add_argument("--word-limit", type=int, default=20, help="longest description, in words")
    p.add_argument("--dir", default=DEFAULT_DIR, help="attribute-file folder (default: attributes_cache/)")


def cmd_generate(args):
    from .llm import LLMClient
    from .pipeline import dry_run, generate
    t = target_of(args.dataset, args)
    classes = t.classes()
    domain = t.domain(args.domain)
    if args.dry_run:
        dry_run(t.name, classes, domain, args.attributes, args.batch_size, args.word_limit)
        return 0
    client = LLMClient(args.model, base_url=args.base_url, timeout=args.timeout, max_attempts=args.max_attempts,
                       backoff=args.backoff, json_mode=not args.no_json_mode)
    path = generate(client, t.name, classes, domain, args.attributes, args.batch_size, args.word_limit,
                    directory=args.dir, path=t.path, force=args.force, max_repairs=args.max_repairs)
    print(f"Wrote {path}")
    return validate([t], args)


def cmd_export(args):
    from .exchange import export
    t = target_of(args.dataset, args)
    export(t.name, t.classes(), t.domain(args.domain), args.out, args.attributes, args.batch_size, args.word_limit)
    return 0


def cmd_import(args):
    from .exchange import import_answers
    t = target_of(args.dataset, args)
    path = import_answers(t.name, getattr(args, "from"), directory=args.dir, path=t.path,
                          answered_by=args.answered_by, force=args.force)
    print(f"Wrote {path}")
    return validate([t], args)


def validate(targets, args, keep_going=False):
    """Check files against their datasets' label spaces (ImageNet's also against V2, Sketch, A and R).
    ``keep_going``: a dataset whose class names cannot be read is a failed row, not an error (``--all``)."""
    from .quality import check_file
    rows, failed = [], False
    for t in targets:
        try:
            spaces = t.label_spaces()
        except TargetError as e:
            if not keep_going:
                raise
            failed = True
            rows.append([t.name, osp.relpath(t.path), "not checked", "-", "-", str(e)[:110]])
            print(f"  {t.name}: {e}")
            continue
        for space, dataset, classnames in spaces:
            path = t.path if space == t.name else attribute_file_for(space, args.dir)
            errors, warnings, k = check_file(path, dataset, classnames, args.word_limit, args.near_dup_max,
                                             getattr(args, "num_attributes", 0), getattr(args, "allow_shared", False))
            failed |= bool(errors)
            status = "ok" if not errors else f"{len(errors)} error(s)"
            rows.append([space, osp.relpath(path), status, len(warnings),
                         k.provenance.get("method", "?") if k else "-", (errors or warnings or [""])[0][:110]])
            for e in errors[:20]:
                print(f"  {space}: {e}")
    print(tabulate(rows, headers=["label space", "file", "status", "warnings", "made by", "first problem"]))
    return 1 if failed else 0


def _file_target(path, args):
    """The ``Target`` of an attribute file found by ``--all``: by its name (a catalog dataset), else by the
    dataset it states (another reader, or a user's dataset config); ``None`` if neither is known."""
    stem = osp.basename(path)[:-len(".json")]
    stems = {d.config: d.reader for d in catalog.CATALOG.values()}
    if stem in stems:
        return target_of(stems[stem], args)
    try:
        with open(path, encoding="utf-8") as f:
            stated = json.load(f).get("dataset")
    except (OSError, ValueError, AttributeError):
        stated = None
    if isinstance(stated, str) and stated:
        try:
            t = target_of(stated, args)
        except TargetError:
            return None
        return t if osp.abspath(t.path) == osp.abspath(path) else None
    return None


def cmd_validate(args):
    if args.all:
        files = sorted(f for f in glob.glob(osp.join(args.dir, "*.json")) if not f.endswith(".partial.json"))
        if not files:
            print(f"No attribute files in {args.dir} yet")
            return 0
        targets = {f: _file_target(f, args) for f in files}
        unknown = [f for f, t in targets.items() if t is None]
        if unknown:
            print(f"error: files for no known dataset: {unknown} (a file for your own dataset is found through its "
                  "dataset config in configs/datasets/)", file=sys.stderr)
            return 1
        return validate(list(targets.values()), args, keep_going=True)
    if not args.dataset and not args.classes:
        print("error: pass --dataset NAME, --classes FILE or --all", file=sys.stderr)
        return 2
    return validate([target_of(d, args) for d in (args.dataset or [""])], args)


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
    v.add_argument("--dataset", nargs="+", help="datasets as for the other commands")
    _add_dataset_args(v)
    v.add_argument("--all", action="store_true", help="every file in --dir")
    v.add_argument("--allow-shared", action="store_true",
                   help="classes may share a description (e.g. the synthetic world's true values): repeats only warn")
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
            ValueError, DatasetError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
