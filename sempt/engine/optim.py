"""Optimizers and per-epoch learning-rate schedules with Dassl's config keys and epoch-by-epoch values.

Dassl's warm-up wrappers break on torch >= 2.7 (removed ``verbose`` argument) and pickle their
successor scheduler into checkpoints (unloadable with ``weights_only=True``). ``EpochLRScheduler``
computes the same learning rate for every epoch in closed form and keeps only plain numbers as state.

Values (``e`` = number of ``step()`` calls so far, one per epoch; ``g(k)`` = the main schedule's factor
after ``k`` steps: cosine ``(1 + cos(pi k / MAX_EPOCH)) / 2``, single_step ``GAMMA ** (k // STEPSIZE)``,
multi_step ``GAMMA ** #{milestones <= k}``):

- no warm-up: ``LR * g(e)``
- warm-up of ``W`` epochs, for ``e < W``: constant ``WARMUP_CONS_LR``; linear ``WARMUP_MIN_LR`` at
  ``e = 0`` and ``LR * e / W`` after
- for ``e >= W``: ``LR * g(e - W)`` with ``WARMUP_RECOUNT`` (Dassl's default), else ``LR * g(e) / g(W)``.
"""
import bisect
import math
import warnings

import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["build_optimizer", "build_lr_scheduler", "EpochLRScheduler", "AVAI_OPTIMS", "AVAI_SCHEDS"]

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"]
AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


def build_optimizer(model, optim_cfg, param_groups=None):
    """Build the optimizer named by ``OPTIM.NAME`` over a module's parameters or an iterable of them."""
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        raise ValueError(f"OPTIM.NAME must be one of {AVAI_OPTIMS}, but got {name!r}")
    lr, wd = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)

    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn("OPTIM.STAGED_LR is ignored when param_groups are given")
    if param_groups is None:
        if optim_cfg.STAGED_LR:
            if not isinstance(model, nn.Module):
                raise TypeError("OPTIM.STAGED_LR needs an nn.Module, not an iterable of parameters")
            if isinstance(model, nn.DataParallel):
                model = model.module
            new_layers = optim_cfg.NEW_LAYERS
            new_layers = [new_layers] if isinstance(new_layers, str) else list(new_layers)
            base_params, new_params = [], []
            for child_name, module in model.named_children():
                (new_params if child_name in new_layers else base_params).extend(module.parameters())
            param_groups = [{"params": base_params, "lr": lr * optim_cfg.BASE_LR_MULT}, {"params": new_params}]
        else:
            param_groups = model.parameters() if isinstance(model, nn.Module) else model

    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=wd, betas=betas, amsgrad=name == "amsgrad")
    if name == "sgd":
        return torch.optim.SGD(param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd,
                               dampening=optim_cfg.SGD_DAMPNING, nesterov=optim_cfg.SGD_NESTEROV)
    if name == "rmsprop":
        return torch.optim.RMSprop(param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd,
                                   alpha=optim_cfg.RMSPROP_ALPHA)
    if name == "radam":
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=wd, betas=betas)
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=wd, betas=betas)


class EpochLRScheduler(LRScheduler):
    """Per-epoch schedule with optional warm-up, computed in closed form (see the module docstring)."""

    def __init__(self, optimizer, kind, max_epoch, stepsize=(-1,), gamma=0.1, warmup_epoch=0,
                 warmup_type="linear", warmup_cons_lr=1e-5, warmup_min_lr=1e-5, warmup_recount=True,
                 last_epoch=-1):
        if kind not in AVAI_SCHEDS:
            raise ValueError(f"OPTIM.LR_SCHEDULER must be one of {AVAI_SCHEDS}, but got {kind!r}")
        if warmup_epoch > 0 and warmup_type not in ("constant", "linear"):
            raise ValueError(f"OPTIM.WARMUP_TYPE must be 'constant' or 'linear', but got {warmup_type!r}")
        self.kind = kind
        self.max_epoch = float(max_epoch)
        if kind == "single_step":
            step = stepsize[-1] if isinstance(stepsize, (list, tuple)) else stepsize
            if not isinstance(step, int):
                raise TypeError(f"OPTIM.STEPSIZE for single_step must be an integer, got {step!r}")
            self.milestones = [int(step) if step > 0 else int(max_epoch)]
        elif kind == "multi_step":
            if not isinstance(stepsize, (list, tuple)):
                raise TypeError(f"OPTIM.STEPSIZE for multi_step must be a list, got {stepsize!r}")
            self.milestones = sorted(int(s) for s in stepsize)
        else:
            self.milestones = []
        self.gamma = float(gamma)
        self.warmup_epoch = int(max(warmup_epoch, 0))
        self.warmup_type = warmup_type
        self.warmup_cons_lr = float(warmup_cons_lr)
        self.warmup_min_lr = float(warmup_min_lr)
        self.warmup_recount = bool(warmup_recount)
        super().__init__(optimizer, last_epoch)

    def _factor(self, k):
        if self.kind == "cosine":
            return (1 + math.cos(math.pi * k / self.max_epoch)) / 2
        if self.kind == "single_step":
            return self.gamma ** (k // self.milestones[0])
        return self.gamma ** bisect.bisect_right(self.milestones, k)

    def lr_at(self, base_lr, epoch):
        """The learning rate used during epoch ``epoch`` (0-based) for a group whose base LR is ``base_lr``."""
        w = self.warmup_epoch
        if w <= 0:
            return base_lr * self._factor(epoch)
        if epoch < w:
            if self.warmup_type == "constant":
                return self.warmup_cons_lr
            return self.warmup_min_lr if epoch == 0 else base_lr * epoch / w
        if self.warmup_recount:
            return base_lr * self._factor(epoch - w)
        ref = self._factor(w)
        return base_lr * (self._factor(epoch) / ref if ref != 0 else self._factor(epoch))

    def get_lr(self):
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]


def build_lr_scheduler(optimizer, optim_cfg):
    """The schedule from ``OPTIM.LR_SCHEDULER`` and the warm-up keys; call ``step()`` once per epoch."""
    return EpochLRScheduler(
        optimizer,
        optim_cfg.LR_SCHEDULER,
        optim_cfg.MAX_EPOCH,
        stepsize=optim_cfg.STEPSIZE,
        gamma=optim_cfg.GAMMA,
        warmup_epoch=optim_cfg.WARMUP_EPOCH,
        warmup_type=optim_cfg.WARMUP_TYPE,
        warmup_cons_lr=optim_cfg.WARMUP_CONS_LR,
        warmup_min_lr=optim_cfg.WARMUP_MIN_LR,
        warmup_recount=optim_cfg.WARMUP_RECOUNT,
    )
