"""``PromptTrainer``: what every CLIP prompt-learning trainer shares, on either engine.

A method subclasses it, names its config section (``CFG_SECTION``), and implements
``build_custom_clip(classnames, clip_model)`` returning a module whose learnable parts live in the
sub-modules listed in ``LEARNABLE`` (default ``("prompt_learner",)``). Optionally it overrides
``compute_loss``. This base class then:

- loads CLIP (``sempt.clip_loader``) at the precision of ``TRAINER.<SECTION>.PREC`` (fp32 on CPU),
- checks ``INPUT.SIZE`` against the backbone's input resolution,
- freezes everything but the learnable modules, builds optimizer and scheduler, registers the model,
- runs fp16 / amp / fp32 steps and steps the scheduler once per epoch,
- saves checkpoints safely, with the class names seen in training, and loads them for other class
  names (class-dependent buffers are dropped and rebuilt from the evaluated label space).
"""
import re
import time
from collections import Counter, OrderedDict
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from sempt import distributed
from sempt.backend import TrainerX, build_lr_scheduler, build_optimizer, compute_accuracy
from sempt.checkpoint import CheckpointError, KeyRenames, checkpoint_path, load_checkpoint
from sempt.clip_loader import effective_precision, load_clip
from sempt.engine.trainer import TrainerBase as EngineTrainerBase
from sempt.engine.utils import get_rng_states, set_rng_states
from sempt.config import ConfigError
from sempt.prompt_learner import CLASS_DEPENDENT_BUFFERS
from sempt.results import write_results
from sempt.text_encoder import set_text_checkpointing

__all__ = ["PromptTrainer"]


class PromptTrainer(TrainerX):
    CFG_SECTION = None  # e.g. "COOP": the trainer's keys live under cfg.TRAINER.<CFG_SECTION>
    LEARNABLE = ("prompt_learner",)
    MODEL_NAME = "prompt_learner"  # the sub-module of the model that holds what is learned
    CHECKPOINT_NAME = None  # its registered name, the folder of its checkpoints (default: MODEL_NAME)
    CLASS_DEPENDENT = CLASS_DEPENDENT_BUFFERS
    # True when the model's image side is CLIP's frozen, unprompted image encoder and its forward(image) is
    # logits_from_features(encode_image(image)): test features are then cached (sempt.feature_cache)
    FROZEN_IMAGE_ENCODER = False
    # the sempt.templates table (TEMPLATE_TABLES) of this method's hand-crafted prompts, which sempt.prompts
    # measures a learned prompt's drift against; a method whose config chooses it overrides hand_template_table
    HAND_TEMPLATE_TABLE = "coop"

    @classmethod
    def hand_template_table(cls, cfg):
        """The template table of this method's hand-crafted prompts for the run configured by ``cfg``."""
        return cls.HAND_TEMPLATE_TABLE

    def hand_text_features(self, classnames, clip_model):
        """(C, D) text features of this method's hand-crafted prompts (its template table), logged once."""
        from sempt.templates import get_template, hand_prompts
        from sempt.text_encoder import encode_texts
        table, dataset = self.hand_template_table(self.cfg), self.cfg.DATASET.NAME
        print(f"Hand-crafted template ({table} table): {get_template(dataset, table)!r}")
        with torch.no_grad():
            return encode_texts(clip_model, hand_prompts(dataset, classnames, table))

    # --- configuration -------------------------------------------------------------------------------
    @property
    def tcfg(self):
        """This trainer's own config section."""
        return self.cfg.TRAINER[self.CFG_SECTION]

    def check_cfg(self, cfg):
        section = cfg.TRAINER.get(self.CFG_SECTION)
        if section is None:
            raise KeyError(f"Config has no TRAINER.{self.CFG_SECTION}: call this trainer's extend_cfg(cfg) "
                           "before building it (train.py does)")
        if "PREC" in section and section.PREC not in ("fp16", "fp32", "amp"):
            raise ConfigError(f"TRAINER.{self.CFG_SECTION}.PREC must be fp16, fp32 or amp, got {section.PREC!r}")

    @property
    def precision(self):
        return effective_precision(self.tcfg.get("PREC", "fp32"), self.device)

    @property
    def checkpoint_name(self):
        return self.CHECKPOINT_NAME or self.MODEL_NAME

    # --- model ---------------------------------------------------------------------------------------
    def load_clip_model(self):
        cfg = self.cfg
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_clip(cfg.MODEL.BACKBONE.NAME, precision=self.tcfg.get("PREC", "fp32"),
                               device=self.device)
        resolution = clip_model.visual.input_resolution
        if tuple(cfg.INPUT.SIZE) != (resolution, resolution):
            raise ConfigError(
                f"INPUT.SIZE is {tuple(cfg.INPUT.SIZE)} but the backbone {cfg.MODEL.BACKBONE.NAME} expects "
                f"{resolution}x{resolution} images: add `INPUT.SIZE \"({resolution}, {resolution})\"` to the "
                "command line or the config")
        return clip_model

    def build_custom_clip(self, classnames, clip_model):
        raise NotImplementedError

    def learnable_parameters(self):
        return [p for p in self.model.parameters() if p.requires_grad]

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames
        clip_model = self.load_clip_model()
        print(f"Building custom CLIP ({type(self).__name__})")
        self.model = self.build_custom_clip(classnames, clip_model)
        # memory only (same gradients): every TextEncoder of the model, see sempt.text_encoder
        set_text_checkpointing(self.model, cfg.MODEL.get("TEXT_ACTIVATION_CHECKPOINTING", "auto"))
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.split(".")[0] in self.LEARNABLE)
        n_learn = sum(p.numel() for p in self.learnable_parameters())
        print(f"Learnable parameters: {n_learn:,} in {list(self.LEARNABLE)}; everything else frozen")
        module = getattr(self.model, self.MODEL_NAME)
        if cfg.MODEL.INIT_WEIGHTS:
            from sempt.checkpoint import load_pretrained_weights
            load_pretrained_weights(module, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)
        self.optim = build_optimizer(self.learnable_parameters(), cfg.OPTIM) if n_learn else None
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM) if self.optim is not None else None
        self.register_model(self.checkpoint_name, module, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "amp" else None
        self.train_classnames = list(classnames)

    @classmethod
    def for_classnames(cls, cfg, classnames):
        """This trainer with its model built for ``classnames`` and no dataset (no DataManager, loaders or
        evaluator): what prediction and prompt inspection need. ``build_model`` runs as in training, reading
        the class names from a stand-in for the DataManager; ``load_model(run_dir, epoch)`` then loads a run's
        learned weights (in any accepted checkpoint layout) for these class names."""
        self = cls.__new__(cls)
        # the engine's TrainerBase state (Dassl's has the same four attributes)
        self._models, self._optims, self._scheds, self._writer = OrderedDict(), OrderedDict(), OrderedDict(), None
        self.check_cfg(cfg)
        self.cfg = cfg
        self.device = torch.device("cuda" if torch.cuda.is_available() and cfg.USE_CUDA else "cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        classnames = list(classnames)
        self.dm = SimpleNamespace(dataset=SimpleNamespace(classnames=classnames), lab2cname=dict(enumerate(classnames)),
                                  num_classes=len(classnames))
        self.lab2cname, self.num_classes = self.dm.lab2cname, self.dm.num_classes
        self.build_model()
        self.model.eval()
        return self

    # --- training ------------------------------------------------------------------------------------
    def compute_loss(self, image, label):
        """Return ``(loss, logits, extra)``; ``extra`` is a dict of floats added to the progress line."""
        logits = self.model(image)
        return F.cross_entropy(logits, label), logits, {}

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        if self.precision == "amp":
            with torch.autocast(device_type=self.device.type, dtype=torch.float16):
                loss, logits, extra = self.compute_loss(image, label)
            self.optim.zero_grad()
            self.scaler.scale(loss).backward()
            if distributed.is_distributed():  # same scale on every process: average the scaled gradients
                distributed.all_reduce_grads(distributed.optimizer_parameters([self.optim]),
                                             getattr(self, "batch_share", 1))
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            loss, logits, extra = self.compute_loss(image, label)
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "acc": compute_accuracy(logits, label)[0].item()}
        summary.update(extra)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def model_inference(self, input):
        return self.model(input)

    def train(self, *args, **kwargs):
        self.trained_here = True  # results.json says whether a run trained or only evaluated
        return super().train(*args, **kwargs)

    # --- evaluation ----------------------------------------------------------------------------------
    def test(self, split=None):
        """The engine's evaluation (printed as Dassl prints it), then ``results.json`` for the test split.
        Trainers with ``FROZEN_IMAGE_ENCODER`` evaluate from cached image features (``test_from_features``)."""
        result = self.test_from_features(split)
        if result is None:  # the cache is off or does not apply: the engine's own loop
            result = super().test(split)
        if (split or self.cfg.TEST.SPLIT) != "val" and distributed.is_main_process():
            write_results(self.cfg.OUTPUT_DIR, self.results_record("test"))
        return result

    @torch.no_grad()
    def test_from_features(self, split=None):
        """The engine's evaluation, computed from the split's image features cached by ``sempt.feature_cache``
        (encoded once per backbone, split and transform) through ``model.logits_from_features``: the same
        batches, logits and printed lines as the engine's loop, without running the image encoder again.
        None when this trainer's image side is not CLIP's frozen encoder or the cache is off or does not apply
        (the caller then runs the engine's loop)."""
        if not self.FROZEN_IMAGE_ENCODER:
            return None
        from sempt import feature_cache
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            loader = self.val_loader
        else:
            split, loader = "test", self.test_loader
        self.set_model_mode("eval")
        cached = feature_cache.load_or_encode(self.model, loader, self.cfg, split, self.device,
                                              inference=self.model_inference)
        if cached is None:
            return None
        features, labels = cached
        self.evaluator.reset()
        print(f"Evaluate on the *{split}* set")
        step = loader.batch_size
        for i in range(0, len(labels), step):
            logits = self.model.logits_from_features(features[i:i + step].to(self.device))
            self.evaluator.process(logits, labels[i:i + step].to(self.device))
        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def results_record(self, split):
        """What the evaluator saw, as data: overall and per-class numbers, split, label space, provenance."""
        from sempt.config import config_fingerprint, flat_config
        from sempt.engine.evaluation import macro_f1_score
        y_true, y_pred = list(self.evaluator._y_true), list(self.evaluator._y_pred)
        totals, hits = Counter(y_true), Counter(t for t, p in zip(y_true, y_pred) if t == p)  # one pass
        per_class = [{"label": label, "name": self.lab2cname[label], "total": totals[label], "correct": hits[label],
                      "accuracy": 100.0 * hits[label] / totals[label]} for label in sorted(totals)]
        correct = sum(hits.values())
        accuracy = 100.0 * correct / max(len(y_true), 1)
        cfg = self.cfg
        return {
            "accuracy": accuracy, "error_rate": 100.0 - accuracy, "macro_f1": 100.0 * macro_f1_score(y_true, y_pred),
            "total": len(y_true), "correct": correct, "per_class": per_class, "split": split,
            "dataset": cfg.DATASET.NAME, "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
            # a split built here from raw files is not CoOp's: its numbers are not comparable with published ones
            "split_rebuilt": bool(getattr(self.dm.dataset, "split_rebuilt", False)),
            "num_shots": cfg.DATASET.NUM_SHOTS, "classnames": [self.lab2cname[k] for k in sorted(self.lab2cname)],
            "trainer": cfg.TRAINER.NAME, "backbone": cfg.MODEL.BACKBONE.NAME, "seed": cfg.SEED,
            "eval_only": not getattr(self, "trained_here", False), "epoch": self.epoch + 1 if getattr(
                self, "trained_here", False) else None,
            "loaded": {name: {"path": c.get("path"), "epoch": c.get("epoch")}
                       for name, c in getattr(self, "loaded_checkpoints", {}).items()},
            "config_fingerprint": config_fingerprint(cfg), "config": flat_config(cfg),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    # --- checkpoints ---------------------------------------------------------------------------------
    # Files are written in the original code base's layout (folder = CHECKPOINT_NAME, keys renamed by
    # CHECKPOINT_KEYS), holding only what is learned, so the original's load_model reads them; files
    # written by the original (which may hold the whole frozen CLIP too) or by older versions of this
    # repository (LEGACY_KEYS) load here. Class-dependent buffers are never saved and always rebuilt.
    CHECKPOINT_KEYS = KeyRenames([])  # our key -> the original's
    LEGACY_KEYS = KeyRenames([])  # other layouts accepted on load: our key <- theirs
    IGNORED_KEYS = ()  # regexes: keys in the original's files that hold nothing learned (frozen CLIP, unused)

    def checkpoint_state(self, name):
        """The learned state of registered model ``name`` in the checkpoint layout."""
        return OrderedDict((self.CHECKPOINT_KEYS.to_theirs(k), v) for k, v in self._models[name].state_dict().items()
                           if k.split(".")[-1] not in self.CLASS_DEPENDENT)

    def state_from_checkpoint(self, name, state_dict, path):
        """``state_dict`` of a file in any accepted layout, renamed to the keys of registered model ``name``.
        Raises ``CheckpointError`` when a learned tensor is missing or a key is not understood."""
        own = set(self._models[name].state_dict())
        out, unknown, ignored = OrderedDict(), [], 0
        for key, value in state_dict.items():
            key = key[7:] if key.startswith("module.") else key
            if key.split(".")[-1] in self.CLASS_DEPENDENT:
                continue
            ours = self.CHECKPOINT_KEYS.to_ours(key) or self.LEGACY_KEYS.to_ours(key)
            if ours is None and key in own and self.CHECKPOINT_KEYS.to_theirs(key) == key:
                ours = key
            if ours is not None and ours in own:
                out[ours] = value
            elif any(re.match(pattern, key) for pattern in self.IGNORED_KEYS):
                ignored += 1
            else:
                unknown.append(key)
        missing = sorted(k for k in own if k not in out and k.split(".")[-1] not in self.CLASS_DEPENDENT)
        if missing or unknown:
            raise CheckpointError(
                f"{path} does not fit {type(self).__name__}'s {name}: missing {missing[:8]}, not understood "
                f"{unknown[:8]}. Was it trained with another trainer or different N_CTX/CSC/depth settings?")
        if ignored:
            print(f"Ignored {ignored} tensors of {path} that hold nothing learned (frozen CLIP weights or "
                  "modules the original builds but never uses)")
        return out

    # the built-in engine's saving, with this class's hooks, on either engine (real Dassl's would save the
    # class-dependent buffers and none of the extras)
    save_model = EngineTrainerBase.save_model

    def checkpoint_extras(self):
        """Saved beside the weights: the label space seen in training and the state a resume needs."""
        return {"classnames": list(self.train_classnames), "trainer": type(self).__name__,
                "trainer_state": self.trainer_state()}

    # the built-in engine's resume, with this class's key translation and trainer state, on either engine
    resume_model_if_exist = EngineTrainerBase.resume_model_if_exist

    # --- state beyond the weights: a resumed run continues exactly as an uninterrupted one ---------------
    def trainer_state(self):
        """Saved with every checkpoint: the random-number generators' states (the next epoch's batches and
        augmentations) and the method's own running state (``method_state``)."""
        return {"rng": get_rng_states(), "method": self.method_state()}

    def method_state(self):
        """A method's running state that is not a module parameter (tensors and plain values)."""
        return {}

    def load_method_state(self, state):
        pass

    def load_trainer_state(self, checkpoint):
        state = checkpoint.get("trainer_state")
        if not state:  # a file written by the original code or an older version of this repository
            print("Note: the checkpoint holds no random-number or method state; the resumed run continues "
                  "with fresh random numbers (it will not repeat an uninterrupted run exactly)")
            return
        set_rng_states(state["rng"])
        self.load_method_state(state.get("method", {}))

    def load_model(self, directory, epoch=None):
        """Load learned weights for evaluation, whatever the evaluated class names are."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        self.loaded_checkpoints = {}
        for name in self.get_model_names():
            path = checkpoint_path(directory, name, epoch)
            checkpoint = load_checkpoint(path, opaque_objects=True)  # the original code's files may hold Dassl objects
            state = self.state_from_checkpoint(name, checkpoint["state_dict"], path)
            self._models[name].load_state_dict(state, strict=False)
            print(f'Loading weights to {name} from "{path}" (epoch = {checkpoint["epoch"]})')
            self.loaded_checkpoints[name] = dict(checkpoint, path=path)
