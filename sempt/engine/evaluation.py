"""The ``Classification`` evaluator: Dassl's printed lines, macro-F1 without scikit-learn."""
import os.path as osp
from collections import OrderedDict, defaultdict

import numpy as np
import torch

from sempt import distributed

from .registry import Registry

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "Classification", "macro_f1_score"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg, **kwargs):
    return EVALUATOR_REGISTRY.build(cfg.TEST.EVALUATOR, cfg, verbose=cfg.VERBOSE, **kwargs)


def macro_f1_score(y_true, y_pred):
    """Mean F1 over the labels present in ``y_true`` (scikit-learn's ``labels=np.unique(y_true)``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in np.unique(y_true):
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        denom = 2 * tp + fp + fn
        scores.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores)) if scores else 0.0


@EVALUATOR_REGISTRY.register()
class Classification:
    """Accumulates predictions; ``evaluate()`` prints and returns accuracy first."""

    def __init__(self, cfg, lab2cname=None, **kwargs):
        self.cfg = cfg
        self._lab2cname = lab2cname
        self._per_class = cfg.TEST.PER_CLASS_RESULT
        if self._per_class and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs lab2cname")
        self.reset()

    def reset(self):
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._per_class_res = defaultdict(list)

    def process(self, mo, gt):
        pred = mo.max(1)[1]
        matches = pred.eq(gt)
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.detach().cpu().tolist())
        self._y_pred.extend(pred.detach().cpu().tolist())
        if self._per_class:
            for label, ok in zip(gt.tolist(), matches.tolist()):
                self._per_class_res[label].append(int(ok))

    def gather(self, shard_indices, total):
        """Distributed evaluation: this process saw the dataset samples ``shard_indices`` (in that order); collect
        every process's labels and predictions so that each process's evaluator holds exactly what a single
        process evaluating the whole split in order would hold. Without a process group: nothing to do."""
        if not distributed.is_distributed():
            return
        shard = (list(shard_indices), list(self._y_true), list(self._y_pred))
        self.load_shards(distributed.all_gather_objects(shard), total)

    def load_shards(self, shards, total):
        """Replace the state by the union of ``shards`` (``(indices, y_true, y_pred)`` per process) restored to
        dataset order; every index in ``range(total)`` must occur exactly once."""
        y_true, y_pred = [None] * total, [None] * total
        seen = 0
        for indices, true, pred in shards:
            if not (len(indices) == len(true) == len(pred)):
                raise RuntimeError(f"A process evaluated {len(true)} samples but was given {len(indices)}: the "
                                   "evaluation loader and its shard disagree")
            for i, t, p in zip(indices, true, pred):
                if not 0 <= i < total or y_true[i] is not None:
                    raise RuntimeError(f"Sample {i} was evaluated twice or lies outside the split of {total}")
                y_true[i], y_pred[i] = t, p
                seen += 1
        if seen != total:
            raise RuntimeError(f"The processes evaluated {seen} of the split's {total} samples")
        self.reset()
        self._y_true, self._y_pred = y_true, y_pred
        self._total = total
        for t, p in zip(y_true, y_pred):
            self._correct += int(t == p)
            if self._per_class:
                self._per_class_res[t].append(int(t == p))

    def evaluate(self):
        if self._total == 0:
            raise RuntimeError("The evaluator saw no sample: the evaluated split is empty")
        results = OrderedDict()
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results["accuracy"] = acc
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )
        if self._per_class:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res):
                res = self._per_class_res[label]
                acc_c = 100.0 * sum(res) / len(res)
                accs.append(acc_c)
                print(f"* class: {label} ({self._lab2cname[label]})\ttotal: {len(res):,}\t"
                      f"correct: {sum(res):,}\tacc: {acc_c:.1f}%")
            results["perclass_accuracy"] = float(np.mean(accs))
            print(f"* average: {results['perclass_accuracy']:.1f}%")
        if self.cfg.TEST.COMPUTE_CMAT and distributed.is_main_process():
            labels = np.unique(np.concatenate([self._y_true, self._y_pred]))
            index = {lab: i for i, lab in enumerate(labels)}
            cmat = np.zeros((len(labels), len(labels)))
            for t, p in zip(self._y_true, self._y_pred):
                cmat[index[t], index[p]] += 1
            cmat = cmat / np.maximum(cmat.sum(1, keepdims=True), 1)
            path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(torch.from_numpy(cmat), path)
            print(f"Confusion matrix is saved to {path}")
        return results
