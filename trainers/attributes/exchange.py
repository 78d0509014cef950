"""``export`` / ``import``: the pipeline's prompts as files, answered by any chat assistant or local model.

Folder layout (``<dir>/<dataset>/``)::

    step1_prompt.txt        ->  save the answer as step1_answer.json
    batches.json            (written once step 1 is answered: which classes each step-2 batch holds)
    step2_prompt_000.txt    ->  save the answer as step2_answer_000.json, and so on

Run ``export`` once for step 1, answer it, run ``export`` again for the step-2 prompts, answer them, then
``import``. Answers are checked exactly as ``generate`` checks them, so the file is the same structure.
"""
import glob
import os.path as osp

from sempt.attributes import entry_keys
from sempt.fileio import atomic_write_text, mkdir_if_missing, read_json, write_json

from . import prompts
from .answers import AnswerError, check_step1, check_step2, parse_json
from .pipeline import _duplicates
from .store import Store

__all__ = ["export", "import_answers", "ExchangeError"]


class ExchangeError(RuntimeError):
    """Answers missing or unusable; the message lists what to fix, by file and class."""


def _render(messages):
    return "\n\n".join(f"### {m['role']}\n{m['content']}" for m in messages) + "\n"


def _read_answer(path):
    with open(path, encoding="utf-8") as f:
        return parse_json(f.read())


def export(dataset, classnames, domain, folder, n_attributes=6, batch_size=10, word_limit=20):
    """Write the prompts that can be written now; returns the list of files to answer."""
    d = osp.join(folder, dataset)
    mkdir_if_missing(d)
    classes = entry_keys(dataset, classnames)  # classes that share a name get one entry each
    write_json({"dataset": dataset, "domain": domain, "n_attributes": n_attributes, "batch_size": batch_size,
                "word_limit": word_limit, "prompt_version": prompts.PROMPT_VERSION,
                "prompt_hash": prompts.prompt_hash(), "classes": classes}, osp.join(d, "export.json"))
    s1_answer = osp.join(d, "step1_answer.json")
    if not osp.isfile(s1_answer):
        atomic_write_text(_render(prompts.step1_messages(dataset, domain, list(dict.fromkeys(classnames)),
                                                         n_attributes)),
                          osp.join(d, "step1_prompt.txt"))
        print(f"Wrote {osp.join(d, 'step1_prompt.txt')}: answer it, save the JSON as {s1_answer}, "
              "then run export again for the step-2 prompts")
        return [s1_answer]
    try:
        attributes = check_step1(_read_answer(s1_answer), n_attributes)
    except AnswerError as e:
        raise ExchangeError(f"{s1_answer}: {e}") from e
    batches = [classes[i:i + batch_size] for i in range(0, len(classes), batch_size)]
    write_json({"batches": batches}, osp.join(d, "batches.json"))
    todo = []
    for i, batch in enumerate(batches):
        atomic_write_text(_render(prompts.step2_messages(dataset, domain, attributes, batch, word_limit)),
                          osp.join(d, f"step2_prompt_{i:03d}.txt"))
        todo.append(osp.join(d, f"step2_answer_{i:03d}.json"))
    print(f"Wrote {len(batches)} step-2 prompts in {d}: save each answer as step2_answer_NNN.json, then run import")
    return todo


def import_answers(dataset, folder, directory=None, path=None, answered_by="", force=False, allow_duplicates=False):
    """Check all answers and write the attribute file; raises ``ExchangeError`` listing every problem."""
    d = osp.join(folder, dataset)
    meta_path = osp.join(d, "export.json")
    if not osp.isfile(meta_path):
        raise ExchangeError(f"{meta_path} not found: run export for {dataset} into {folder} first")
    meta = read_json(meta_path)
    s1 = osp.join(d, "step1_answer.json")
    if not osp.isfile(s1):
        raise ExchangeError(f"{s1} is missing: answer step1_prompt.txt and save the JSON there")
    try:
        attributes = check_step1(_read_answer(s1), meta["n_attributes"])
    except AnswerError as e:
        raise ExchangeError(f"{s1}: {e}") from e
    batches_path = osp.join(d, "batches.json")
    if not osp.isfile(batches_path):
        raise ExchangeError(f"{batches_path} is missing: run export again now that step 1 is answered")
    store = Store(dataset, directory, path)
    if store.final_exists() and not force:
        raise ExchangeError(f"{store.final_path} exists: pass --force to replace it")
    store.attributes = attributes
    problems = []
    names = [a["name"] for a in attributes]
    for i, batch in enumerate(read_json(batches_path)["batches"]):
        answer = osp.join(d, f"step2_answer_{i:03d}.json")
        if not osp.isfile(answer):
            problems.append(f"{answer}: missing (answer step2_prompt_{i:03d}.txt)")
            continue
        try:
            good, bad = check_step2(_read_answer(answer), batch, attributes, meta["word_limit"])
        except AnswerError as e:
            problems.append(f"{answer}: {e}")
            continue
        if not allow_duplicates:  # a synthetic world's classes share attribute values exactly
            bad.update(_duplicates(store, good, names))
        for c in bad:
            good.pop(c, None)
        store.classes.update(good)
        problems += [f"{answer}: class {c!r}: {why}" for c, why in bad.items()]
    if problems:
        listing = "\n".join(f"  {p}" for p in problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        raise ExchangeError(f"{len(problems)} problem(s) in the answers for {dataset}:\n{listing}{more}")
    store.provenance = {"method": "export/import", "answered_by": answered_by or "not stated",
                        "prompt_version": meta["prompt_version"], "prompt_hash": meta["prompt_hash"],
                        "word_limit": meta["word_limit"], "answer_files": len(glob.glob(osp.join(d, "step2_answer_*.json")))}
    return store.finalize({})
