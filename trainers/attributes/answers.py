"""Strict parsing and checking of the model's answers; every problem is a sentence the model can act on."""
import json
import re

__all__ = ["AnswerError", "parse_json", "check_step1", "check_step2"]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


class AnswerError(ValueError):
    """An answer that cannot be used; ``str()`` is the repair instruction's reason."""


def parse_json(text):
    """Parse a JSON object; a single surrounding Markdown code fence is tolerated, nothing else."""
    text = (text or "").strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnswerError(f"it is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    if not isinstance(obj, dict):
        raise AnswerError("the JSON must be an object")
    return obj


def check_step1(obj, n_attributes):
    attrs = obj.get("attributes")
    if not isinstance(attrs, list):
        raise AnswerError('the object needs an "attributes" list')
    out = []
    for i, a in enumerate(attrs):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"].strip():
            raise AnswerError(f'attribute {i + 1} needs a non-empty "name"')
        out.append({"name": a["name"].strip(), "definition": str(a.get("definition", "")).strip()})
    names = [a["name"].lower() for a in out]
    if len(set(names)) != len(names):
        raise AnswerError("attribute names repeat")
    if len(out) != n_attributes:
        raise AnswerError(f"exactly {n_attributes} attributes were asked for, the answer has {len(out)}")
    return out


def words(text):
    return len(text.split())


def _step2_table(obj, classes):
    """The answer's ``classes`` object; ``AnswerError`` when it is missing or has keys not asked for."""
    table = obj.get("classes")
    if not isinstance(table, dict):
        raise AnswerError('the object needs a "classes" object mapping each category to its descriptions')
    unknown = [k for k in table if k not in classes]
    if unknown:
        raise AnswerError(f"these keys are not among the categories asked for (copy names exactly): {unknown[:5]}")
    return table


def _description_problem(descs, names, word_limit):
    """Why one class's answer ``descs`` is unusable (a sentence), or ``None`` when it is good."""
    if descs is None:
        return "missing from the answer"
    if not isinstance(descs, dict):
        return "its value is not an object of attribute descriptions"
    missing = [a for a in names if not isinstance(descs.get(a), str) or not descs[a].strip()]
    extra = [a for a in descs if a not in names]
    long = [a for a in names if a not in missing and words(descs[a]) > word_limit]
    parts = []
    if missing:
        parts.append(f"no description for {missing}")
    if extra:
        parts.append(f"unknown attributes {extra}")
    if long:
        parts.append(f"over {word_limit} words for {long}")
    return "; ".join(parts) or None


def check_step2(obj, classes, attributes, word_limit):
    """``(good, problems)``: good maps each fully and correctly described class to its descriptions;
    problems maps a class (asked but unusable) to the reason. Unknown keys raise ``AnswerError``."""
    table = _step2_table(obj, classes)
    names = [a["name"] for a in attributes]
    good, problems = {}, {}
    for c in classes:
        descs = table.get(c)
        problem = _description_problem(descs, names, word_limit)
        if problem is not None:
            problems[c] = problem
            continue
        good[c] = {a: " ".join(descs[a].split()) for a in names}
    return good, problems
