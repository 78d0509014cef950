"""Progress and final attribute files.

Work in progress lives in ``<dir>/<stem>.partial.json`` (written atomically after every batch, so Ctrl-C
or a crash leaves a valid file); only a complete result replaces ``<dir>/<stem>.json``. Finished classes
are never dropped or overwritten unless the user passes ``--force``.

The partial file records the settings it was started with (number of attributes, word limit, model,
domain, prompt version and hash); a rerun with other settings stops and says which differ, instead of
mixing two runs in one file. A damaged partial or final file is named with what to do, never reported as
a bare JSON error or as "complete". Request, retry and token counts add up over every run that built the
file.
"""
import datetime
import json
import os
import os.path as osp

from sempt.attributes import SCHEMA, AttributeFileError, attribute_file_for, load_attributes, split_variant_key
from sempt.fileio import write_json

__all__ = ["Store", "ResumeError", "SETTING_FLAGS", "COUNTS"]

# setting -> the command-line option that sets it, for messages
SETTING_FLAGS = {"attributes": "--attributes", "word_limit": "--word-limit", "model": "--model",
                 "domain": "--domain", "prompt_version": "prompt version", "prompt_hash": "prompt hash"}
COUNTS = ("requests", "retries", "tokens")


class ResumeError(RuntimeError):
    """A partial or final file that cannot be continued as asked; the message says what to do."""


def _restore_hint(path):
    from sempt.attributes import DEFAULT_DIR
    if osp.dirname(osp.abspath(path)) == osp.abspath(DEFAULT_DIR):
        rel = osp.relpath(path, osp.dirname(DEFAULT_DIR))
        return f" (a shipped file can also be restored with `git checkout -- {rel}`)"
    return ""


class Store:
    def __init__(self, dataset, directory=None, path=None):
        self.dataset = dataset
        self.final_path = path or attribute_file_for(dataset, directory)
        self.partial_path = self.final_path[:-len(".json")] + ".partial.json"
        self.attributes = None
        self.classes = {}
        self.provenance = {}

    def final_exists(self):
        return osp.isfile(self.final_path)

    def check_final(self, classnames=None):
        """``True`` when the final file exists, is readable and covers ``classnames``; ``False`` when it does
        not exist; ``ResumeError`` saying what to do when it is damaged or incomplete."""
        if not self.final_exists():
            return False
        try:
            k = load_attributes(self.final_path)
        except AttributeFileError as e:
            raise ResumeError(f"{self.final_path} exists but is damaged ({e.reason}): rerun with --force to generate "
                              f"it again{_restore_hint(self.final_path)}") from None
        def has(key):
            name, class_id = split_variant_key(key)
            return key in k.classes if class_id is None else class_id in k.by_id.get(name, {})

        missing = [c for c in (classnames or []) if not has(c)]
        if missing:
            raise ResumeError(f"{self.final_path} exists but has no descriptions for {len(missing)} of the "
                              f"{len(classnames)} classes (e.g. {missing[:3]}): rerun with --force to generate it "
                              "again for this class list")
        return True

    def _read_partial(self):
        why = None
        try:
            with open(self.partial_path, "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            why = f"cut off or not JSON: {e}"
            data = None
        if why is None:
            if not isinstance(data, dict):
                why = "not a JSON object"
            elif not isinstance(data.get("classes", {}), dict) or not isinstance(data.get("attributes") or [], list) \
                    or not isinstance(data.get("provenance", {}), dict) \
                    or not all(isinstance(v, dict) for v in data.get("classes", {}).values()):
                why = "its 'attributes', 'classes' or 'provenance' has the wrong type"
        if why:
            raise ResumeError(f"{self.partial_path} is damaged ({why}), so the run cannot continue from it: rerun "
                              "with --force to start again from scratch (or delete the file)")
        return data

    def start(self, force=False, settings=None):
        """Resume from the partial file unless ``force``; returns a line for the log.

        ``settings`` (``SETTING_FLAGS`` keys) must match those the partial file was started with."""
        settings = dict(settings or {})
        if force:
            if osp.isfile(self.partial_path):
                os.remove(self.partial_path)
            self.provenance = {"settings": settings}
            return "starting from scratch (--force)"
        if not osp.isfile(self.partial_path):
            self.provenance = {"settings": settings}
            return "starting a new file"
        data = self._read_partial()
        if data.get("dataset") != self.dataset or data.get("schema") != SCHEMA:
            raise ResumeError(f"{self.partial_path} belongs to dataset {data.get('dataset')!r} (schema "
                              f"{data.get('schema')!r}), not {self.dataset!r}: rerun with --force to start again")
        attributes = data.get("attributes") or None
        classes = data.get("classes", {})
        provenance = data.get("provenance", {})
        before = dict(provenance.get("settings") or {})
        for key in ("model", "word_limit", "prompt_version", "prompt_hash"):  # files written before "settings"
            if key not in before and key in provenance:
                before[key] = provenance[key]
        if attributes:
            before["attributes"] = len(attributes)
        differ = [k for k in SETTING_FLAGS if k in before and k in settings and before[k] != settings[k]]
        if differ:
            listing = ", ".join(f"{SETTING_FLAGS[k]} {before[k]!r} (now {settings[k]!r})" for k in differ)
            raise ResumeError(
                f"{self.partial_path} was started with other settings: {listing}. Rerun with the same settings to "
                f"continue it, or add --force to start again with the new ones (its {len(classes)} finished "
                "classes are then discarded)")
        self.attributes, self.classes = attributes, classes
        self.provenance = dict(provenance, settings=dict(before, **settings))
        return (f"resuming from {self.partial_path}: {len(self.classes)} classes done"
                + ("" if self.attributes else ", attributes not chosen yet"))

    def prior_counts(self):
        """Requests, retries and tokens of the runs before this one (from the partial file)."""
        return {k: int(self.provenance.get(k, 0) or 0) for k in COUNTS}, int(self.provenance.get("runs", 0) or 0)

    def _payload(self, provenance):
        return {"schema": SCHEMA, "dataset": self.dataset, "attributes": self.attributes or [],
                "classes": self.classes, "provenance": provenance}

    def save(self):
        write_json(self._payload(dict(self.provenance, status="partial")), self.partial_path)

    def finalize(self, provenance):
        """Write the final file: entries of classes that share a name ("name [id]") go under ``by_id``."""
        classes, by_id = {}, {}
        for key, descs in self.classes.items():
            name, class_id = split_variant_key(key)
            if class_id is not None and name in self.classes:
                by_id.setdefault(name, {})[class_id] = descs
            else:
                classes[key] = descs
        provenance = dict(self.provenance, **provenance, status="complete",
                          date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          counts={"classes": len(classes), "attributes": len(self.attributes or []),
                                  **({"distinct entries for shared names": sum(map(len, by_id.values()))}
                                     if by_id else {})})
        payload = self._payload(provenance)
        payload["classes"] = classes
        if by_id:
            payload = {k: payload[k] for k in ("schema", "dataset", "attributes", "classes")}
            payload.update(by_id=by_id, provenance=provenance)
        write_json(payload, self.final_path)
        if osp.isfile(self.partial_path):
            os.remove(self.partial_path)
        return self.final_path
