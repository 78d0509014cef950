"""``generate``: step 1 (shared attributes) then step 2 (descriptions, several classes per request)."""
import math
import os.path as osp
import sys

from tabulate import tabulate
from tqdm import tqdm

from sempt.attributes import entry_keys

from . import prompts
from .answers import AnswerError, check_step1, check_step2, parse_json
from .quality import normalise
from .store import Store

__all__ = ["generate", "dry_run", "GenerationIncomplete"]


class GenerationIncomplete(RuntimeError):
    """Some classes could not be described; the partial file keeps everything else."""


def _ask_json(client, messages, check, max_repairs, log):
    """Ask, parse and check; on a malformed answer, ask again with a short repair instruction."""
    messages = list(messages)
    for attempt in range(max_repairs + 1):
        text = client.chat(messages, on_retry=log)
        try:
            return check(parse_json(text))
        except AnswerError as e:
            if attempt == max_repairs:
                raise
            log(f"answer unusable ({e}); asking for a repair")
            messages += [{"role": "assistant", "content": text}, prompts.repair_message(str(e))]
    raise AssertionError("unreachable")


def _duplicates(store, new, attributes):
    """Classes in ``new`` whose description equals (after normalising) another class's for some attribute."""
    seen = {}
    for c, descs in store.classes.items():
        for a in attributes:
            seen.setdefault((a, normalise(descs[a])), c)
    clashes = {}
    for c, descs in new.items():
        for a in attributes:
            key = (a, normalise(descs[a]))
            if key in seen and seen[key] != c:
                clashes[c] = f"its {a!r} description is the same as for {seen[key]!r}; make it specific to {c!r}"
                break
            seen[key] = c
    return clashes


def dry_run(dataset, classnames, domain, n_attributes, batch_size, word_limit, out=sys.stdout):
    """Print the prompts and the request and token estimates; call nothing."""
    classes = entry_keys(dataset, classnames)
    n_batches = math.ceil(len(classes) / batch_size)
    s1 = prompts.step1_messages(dataset, domain, list(dict.fromkeys(classnames)), n_attributes)
    placeholder = [{"name": f"<attribute {i + 1}>", "definition": "<from step 1>"} for i in range(n_attributes)]
    s2 = prompts.step2_messages(dataset, domain, placeholder, classes[:batch_size], word_limit)
    chars_in = sum(len(m["content"]) for m in s1) + n_batches * sum(len(m["content"]) for m in s2)
    tokens_out = n_attributes * 30 + len(classes) * n_attributes * (word_limit * 0.8 + 8)
    print("=== step 1 prompt ===", file=out)
    for m in s1:
        print(f"[{m['role']}]\n{m['content']}\n", file=out)
    print(f"=== step 2 prompt (first of {n_batches} batches) ===", file=out)
    for m in s2:
        print(f"[{m['role']}]\n{m['content']}\n", file=out)
    print(tabulate([["classes", len(classes)], ["attributes", n_attributes], ["requests (without repairs)", 1 + n_batches],
                    ["estimated input tokens", f"~{chars_in // 4:,}"], ["estimated output tokens", f"~{int(tokens_out):,}"]],
                   tablefmt="simple"), file=out)
    return 1 + n_batches


def generate(client, dataset, classnames, domain, n_attributes=6, batch_size=10, word_limit=20, directory=None,
             path=None, force=False, max_repairs=2, max_reasks=2):
    """Run both steps into the attribute file; resumes a partial run. Returns the final path.

    A partial file started with other settings, a damaged partial or final file: ``ResumeError`` saying
    what to do. Requests, retries and tokens are counted over every run that built the file."""
    store = Store(dataset, directory, path)
    classes = entry_keys(dataset, classnames)  # classes that share a name get one entry each (see sempt.attributes)
    if not force and store.check_final(classes):
        print(f"{store.final_path} exists and is complete: nothing to do (--force to generate it again)")
        return store.final_path
    settings = {"attributes": n_attributes, "word_limit": word_limit, "model": client.model, "domain": domain,
                "prompt_version": prompts.PROMPT_VERSION, "prompt_hash": prompts.prompt_hash()}
    print(store.start(force=force, settings=settings))
    (prior, runs) = store.prior_counts()
    store.provenance.update({"method": "generate", "model": client.model, "endpoint_host": client.host,
                             "prompt_version": prompts.PROMPT_VERSION, "prompt_hash": prompts.prompt_hash(),
                             "word_limit": word_limit, "runs": runs + 1})
    base = (client.requests, client.retries, client.tokens)  # a client may have been used before

    def counts():
        return {"requests": prior["requests"] + client.requests - base[0],
                "retries": prior["retries"] + client.retries - base[1],
                "tokens": prior["tokens"] + client.tokens - base[2]}

    def save():
        store.provenance.update(counts())
        store.save()

    try:
        return _generate(client, store, dataset, classes, list(dict.fromkeys(classnames)), domain, n_attributes,
                         batch_size, word_limit, max_repairs, max_reasks, save, counts)
    except BaseException:
        if store.attributes or osp.isfile(store.partial_path):
            save()  # the requests of an interrupted or failed run still count
        raise


def _generate(client, store, dataset, classes, names, domain, n_attributes, batch_size, word_limit, max_repairs,
              max_reasks, save, counts):
    bar = tqdm(total=len(classes), initial=len([c for c in classes if c in store.classes]), unit="class",
               desc=f"{dataset}", dynamic_ncols=True)
    try:
        failed = _steps(client, store, bar, dataset, classes, names, domain, n_attributes, batch_size, word_limit,
                        max_repairs, max_reasks, save)
    finally:
        bar.close()  # an error message then starts on a line of its own
    total = counts()
    rows = [["classes described", f"{len(store.classes)}/{len(classes)}"], ["attributes", len(store.attributes)],
            ["requests (all runs)", total["requests"]], ["retries (all runs)", total["retries"]],
            ["tokens (all runs)", f"{total['tokens']:,}"]]
    print(tabulate(rows, tablefmt="simple"))
    if failed:
        save()
        listing = "\n".join(f"  {c!r}: {why}" for c, why in list(failed.items())[:20])
        raise GenerationIncomplete(
            f"{len(failed)} class(es) could not be described:\n{listing}\nProgress is saved in {store.partial_path}; "
            "rerun the same command to ask for the missing classes again.")
    store.provenance.update(total)
    return store.finalize({})


def _steps(client, store, bar, dataset, classes, names, domain, n_attributes, batch_size, word_limit, max_repairs,
           max_reasks, save):
    """Steps 1 and 2; returns the classes that could not be described, with why."""
    def log(msg):
        bar.write(f"  {msg}")

    def postfix():
        bar.set_postfix(requests=client.requests, tokens=client.tokens, retries=client.retries)

    if not store.attributes:
        bar.write("step 1: choosing the shared attributes")
        msgs = prompts.step1_messages(dataset, domain, names, n_attributes)
        store.attributes = _ask_json(client, msgs, lambda o: check_step1(o, n_attributes), max_repairs, log)
        save()
        bar.write("  attributes: " + ", ".join(a["name"] for a in store.attributes))
        postfix()
    attr_names = [a["name"] for a in store.attributes]
    todo = [c for c in classes if c not in store.classes]
    failed = {}
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        pending, reasks = list(batch), 0
        while pending:
            msgs = prompts.step2_messages(dataset, domain, store.attributes, pending, word_limit)
            try:
                good, problems = _ask_json(
                    client, msgs, lambda o, p=pending: check_step2(o, p, store.attributes, word_limit),
                    max_repairs, log)
            except AnswerError as e:
                good, problems = {}, {c: f"unusable answer after {max_repairs} repairs: {e}" for c in pending}
            problems.update(_duplicates(store, good, attr_names))
            for c in problems:
                good.pop(c, None)
            store.classes.update(good)
            save()
            bar.update(len(good))
            postfix()
            pending = [c for c in pending if c in problems]
            if pending and reasks < max_reasks:
                reasks += 1
                log(f"re-asking {len(pending)} class(es): " + "; ".join(f"{c!r}: {problems[c]}" for c in pending[:3]))
                continue
            failed.update({c: problems[c] for c in pending})
            pending = []
    return failed
