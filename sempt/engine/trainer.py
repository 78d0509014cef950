"""Trainer life cycle with Dassl's interface: ``TrainerBase`` -> ``SimpleTrainer`` -> ``TrainerX``.

What differs from Dassl (fixes, same interface): checkpoints load with ``weights_only=True`` and are
written atomically; ``load_model`` works when a checkpoint has no ``val_result``; tensorboard is used
only when installed.
"""
import datetime
import os.path as osp
import time
from collections import OrderedDict

import numpy as np
import torch
from tqdm import tqdm

from sempt import distributed
from sempt.checkpoint import checkpoint_path, load_checkpoint, resume_from_checkpoint, save_checkpoint

from .data_manager import DataManager
from .evaluation import build_evaluator
from .registry import Registry
from .utils import AverageMeter, MetricMeter, mkdir_if_missing, tolist_if_not

__all__ = ["TRAINER_REGISTRY", "build_trainer", "TrainerBase", "SimpleTrainer", "TrainerX"]

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg):
    return TRAINER_REGISTRY.build(cfg.TRAINER.NAME, cfg, verbose=cfg.VERBOSE)


class TrainerBase:
    """Registered models/optimizers/schedulers, checkpoints and the generic epoch loop."""

    def __init__(self):
        self._models = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None

    def register_model(self, name="model", model=None, optim=None, sched=None):
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if name in self._models:
            raise KeyError(f"A model named {name!r} is already registered")
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None):
        real = list(self._models.keys())
        if names is None:
            return real
        names = tolist_if_not(names)
        for name in names:
            if name not in real:
                raise KeyError(f"No registered model named {name!r}; registered: {real}")
        return names

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """Dassl's layout and keys; a trainer adds to it through ``checkpoint_state(name)`` (what is saved of
        a model, default its whole state dict) and ``checkpoint_extras()`` (more entries, default none).
        In a distributed run only rank 0 writes; every process waits until the files are there."""
        if not distributed.is_main_process():
            distributed.barrier()
            return
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self.checkpoint_state(name),
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": val_result,
            }
            state.update(self.checkpoint_extras())
            save_checkpoint(state, osp.join(directory, name), is_best=is_best, model_name=model_name)
        distributed.barrier()

    def checkpoint_state(self, name):
        return self._models[name].state_dict()

    def checkpoint_extras(self):
        return {}

    def resume_model_if_exist(self, directory):
        """Continue from the newest checkpoint in ``directory``; a trainer adapts it through
        ``state_from_checkpoint(name, state_dict, path)`` (the file's keys to the model's; None: as they are)
        and ``load_trainer_state(checkpoint)`` (whatever else the file holds)."""
        names = self.get_model_names()
        if not all(osp.exists(osp.join(directory, name, "checkpoint")) for name in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        translate = getattr(self, "state_from_checkpoint", None)
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name], self._scheds[name],
                translate=(lambda sd, path, name=name: translate(name, sd, path)) if translate else None,
                on_loaded=getattr(self, "load_trainer_state", None))
        return start_epoch

    def load_model(self, directory, epoch=None):
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            path = checkpoint_path(directory, name, epoch)
            checkpoint = load_checkpoint(path)
            val = checkpoint.get("val_result")
            val_txt = f", val_result={val:.1f}" if isinstance(val, (int, float)) else ""
            print(f"Load {path} to {name} (epoch={checkpoint['epoch']}{val_txt})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

    def set_model_mode(self, mode="train", names=None):
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f"mode must be 'train', 'test' or 'eval', got {mode!r}")

    def update_lr(self, names=None):
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss):
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    def init_writer(self, log_dir):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                return
            print(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag, scalar_value, global_step=None):
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    def train(self, start_epoch, max_epoch):
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_epoch(self):
        pass

    def after_epoch(self):
        pass

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError

    def model_zero_grad(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss):
        self.detect_anomaly(loss)
        loss.backward()
        if distributed.is_distributed():  # the mean over the processes, weighted by their share of the batch
            distributed.all_reduce_grads(distributed.optimizer_parameters(self._optims.values()),
                                         getattr(self, "batch_share", 1))

    def model_update(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss, names=None):
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from a config; trains, checkpoints and tests."""

    def __init__(self, cfg):
        super().__init__()
        self.check_cfg(cfg)
        use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
        if use_cuda and distributed.is_distributed():
            self.device = torch.device("cuda", distributed.local_rank())  # torchrun: process r on GPU LOCAL_RANK
        else:
            self.device = torch.device("cuda" if use_cuda else "cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf
        if distributed.is_distributed():
            # every process starts from rank 0's prompts (equal already with a shared seed; now guaranteed);
            # the seed that makes the other processes' augmentations their own (run_epoch)
            distributed.broadcast_parameters(distributed.optimizer_parameters(self._optims.values()))
            self.dist_seed = distributed.broadcast_object(torch.initial_seed())
            if not distributed.is_main_process():
                self.init_writer = lambda log_dir: None  # tensorboard events come from rank 0 only

    def check_cfg(self, cfg):
        pass

    def build_data_loader(self):
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self):
        raise NotImplementedError(
            f"{type(self).__name__} must implement build_model() (the built-in engine has no generic "
            "backbone zoo; prompt-learning trainers build their CLIP model themselves)")

    def train(self):
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self):
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        writer_dir = osp.join(self.output_dir, "tensorboard")
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)
        self.time_start = time.time()
        from sempt.curves import EpochCurves, current_lr  # per-epoch curves.csv beside log.txt
        self.curves = EpochCurves(self.output_dir, resume_dir=self.cfg.RESUME).start(self.start_epoch,
                                                                                      current_lr(self))

    def after_train(self):
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - self.time_start)))
        print(f"Elapsed: {elapsed}")
        if getattr(self, "curves", None) is not None and self.curves.enabled:
            print(f"Training curves (one row per epoch): {self.curves.path}")
        self.close_writer()

    def after_epoch(self):
        last_epoch = (self.epoch + 1) == self.max_epoch
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_freq = freq > 0 and (self.epoch + 1) % freq == 0
        curr, evaluated = None, {}
        if not self.cfg.TEST.NO_TEST and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr = self.test(split="val")
            evaluated = {("val_acc" if self.val_loader is not None else "test_acc"): curr}
        if getattr(self, "curves", None) is not None:  # the row goes first: a checkpoint never outruns its row
            from sempt.curves import current_lr
            meters = self.__dict__.pop("epoch_meters", None)  # set by this epoch's run_epoch, never a stale one
            means = {k: m.avg for k, m in meters.meters.items()} if meters is not None else {}
            self.curves.end_epoch(self.epoch + 1, means, current_lr(self), evaluated, self.write_scalar)
        if curr is not None and curr > self.best_result:
            self.best_result = curr
            self.save_model(self.epoch, self.output_dir, val_result=curr, model_name="model-best.pth.tar")
        if meet_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)

    @torch.no_grad()
    def test(self, split=None):
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            loader = self.val_loader
        else:
            split, loader = "test", self.test_loader
        print(f"Evaluate on the *{split}* set")
        main = distributed.is_main_process()
        for batch in tqdm(loader, desc=f"eval {split}", dynamic_ncols=True, mininterval=2.0, disable=not main):
            input, label = self.parse_batch_test(batch)
            self.evaluator.process(self.model_inference(input), label)
        if distributed.is_distributed():  # each process saw its shard: gather them, in the split's order
            self.evaluator.gather(loader.sampler.shard_indices, len(loader.dataset))
        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names=None):
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """Trains on labelled data only, printing progress lines with an ETA."""

    def run_epoch(self):
        self.set_model_mode("train")
        losses, batch_time, data_time = MetricMeter(), AverageMeter(), AverageMeter()
        self.num_batches = len(self.train_loader_x)
        dist = distributed.is_distributed()
        if dist and not distributed.is_main_process():
            # rank 0 keeps the single-process random stream; the others draw their augmentations from a
            # stream of their own, fixed by (seed, epoch, rank) so that a resumed run repeats it (the batch
            # order never depends on it: its seed comes from rank 0)
            key = np.random.SeedSequence([self.dist_seed, self.epoch, distributed.rank()])
            torch.manual_seed(int(key.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            data_time.update(time.time() - end)
            if dist:
                self.batch_share = len(batch["label"])  # this process's part of the global batch
            loss_summary = self.forward_backward(batch)
            if dist:  # the progress line reports the whole global batch
                loss_summary = distributed.average_scalars(loss_summary, self.batch_share)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)
            meet_freq = (self.batch_idx + 1) % self.cfg.TRAIN.PRINT_FREQ == 0
            if meet_freq or self.num_batches < self.cfg.TRAIN.PRINT_FREQ:
                remaining = (self.num_batches - self.batch_idx - 1) + (
                    self.max_epoch - self.epoch - 1) * self.num_batches
                eta = str(datetime.timedelta(seconds=int(batch_time.avg * remaining)))
                print(
                    f"epoch [{self.epoch + 1}/{self.max_epoch}] batch [{self.batch_idx + 1}/{self.num_batches}] "
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f}) data {data_time.val:.3f} "
                    f"({data_time.avg:.3f}) {losses} lr {self.get_current_lr():.4e} eta {eta}"
                )
            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()
        self.epoch_meters = losses  # the epoch's means, for the curves row of after_epoch

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device), batch["domain"].to(self.device)
