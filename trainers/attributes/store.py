"""Progress and final attribute files.

Work in progress lives in ``<dir>/<stem>.partial.json`` (written atomically after every batch, so Ctrl-C
or a crash leaves a valid file); only a complete result replaces ``<dir>/<stem>.json``. Finished classes
are never dropped or overwritten unless the user passes ``--force``.
"""
import datetime
import os
import os.path as osp

from sempt.attributes import SCHEMA, attribute_file_for
from sempt.fileio import read_json, write_json

__all__ = ["Store"]


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

    def start(self, force=False):
        """Resume from the partial file unless ``force``; returns a line for the log."""
        if force:
            if osp.isfile(self.partial_path):
                os.remove(self.partial_path)
            return "starting from scratch (--force)"
        if osp.isfile(self.partial_path):
            data = read_json(self.partial_path)
            if data.get("dataset") != self.dataset or data.get("schema") != SCHEMA:
                raise ValueError(f"{self.partial_path} belongs to another dataset or schema; remove it or use --force")
            self.attributes = data.get("attributes") or None
            self.classes = data.get("classes", {})
            self.provenance = data.get("provenance", {})
            return (f"resuming from {self.partial_path}: {len(self.classes)} classes done"
                    + ("" if self.attributes else ", attributes not chosen yet"))
        return "starting a new file"

    def _payload(self, provenance):
        return {"schema": SCHEMA, "dataset": self.dataset, "attributes": self.attributes or [],
                "classes": self.classes, "provenance": provenance}

    def save(self):
        write_json(self._payload(dict(self.provenance, status="partial")), self.partial_path)

    def finalize(self, provenance):
        provenance = dict(self.provenance, **provenance, status="complete",
                          date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          counts={"classes": len(self.classes), "attributes": len(self.attributes or [])})
        write_json(self._payload(provenance), self.final_path)
        if osp.isfile(self.partial_path):
            os.remove(self.partial_path)
        return self.final_path
