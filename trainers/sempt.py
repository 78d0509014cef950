"""SemPT: Semantic Prompt Tuning for Vision-Language Models (Shi, Ou, Chen, arXiv 2508.10645, 2025).

As specified in the project's method notes (equations there; every choice below is a config key):

- label embeddings ``t_c``: CoOp's shared learnable context (``PromptLearner``);
- attribute-description embeddings ``e_{c,m}``: frozen CLIP text features of
  ``TEMPLATE.format(class, attribute, description)``, computed once and cached on disk (``frozen``), or
  encoded each step with the learned context in front (``prompted``);
- visually guided weighting ``w_{c,m}(x) = softmax_m(<f(x), e_{c,m}> / tau)``;
- attribute-enhanced embedding ``a_c(x) = normalise((1 - beta) t_c + beta sum_m w_{c,m}(x) e_{c,m})``;
- loss ``CE(s<f,t_c>) + lambda CE(s<f,a_c(x)>) + mu mean_c(1 - <t_c, t_c^hand>)``;
- inference: classes seen in training use ``t_c``, unseen ones ``a_c(x)`` (``dynamic``), or one mode for all.

The attribute logits never build ``a_c(x)`` explicitly: with unit ``f``, ``t_c`` and ``e_{c,m}``,
``<f, a_c> = ((1-b)<f,t_c> + b sum_m w_m <f,e_m>) / sqrt((1-b)^2 + 2b(1-b) sum_m w_m <t_c,e_m> + b^2 w^T G_c w)``
with ``G_c = E_c E_c^T`` (M x M), so a step adds a B x C x M contraction, not a B x C x D tensor.
"""
import math
from collections import Counter

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from sempt.attribute_embeddings import (attribute_sentence, default_cache_dir, file_fingerprint,
                                        load_or_compute_embeddings)
from sempt.attributes import attribute_file_of, class_ids, load_attributes
from sempt.backend import TRAINER_REGISTRY
from sempt.clip_loader import resolve_clip_file
from sempt.config import ConfigError
from sempt.prompt_learner import PromptLearner, prompt_key
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import CoOpCLIP
from sempt.templates import TEMPLATE_TABLES, get_template


ENCODINGS = ("frozen", "prompted")
INFERENCE_MODES = ("dynamic", "label", "attribute", "ensemble")
UNSEEN_LABELS = ("learned", "hand")


def extend_cfg(cfg):
    """TRAINER.SEMPT keys; defaults are the method notes' (see docs in trainers/sempt.py)."""
    S = cfg.TRAINER.SEMPT = CN()
    S.N_CTX = 4  # learnable context length (ignored when CTX_INIT is set)
    S.CTX_INIT = "a photo of a"  # words that initialise the context
    S.CSC = False  # class-specific context (frozen encoding only)
    S.CLASS_TOKEN_POSITION = "end"
    S.PREC = "fp16"  # fp16, fp32 or amp (fp32 on CPU)
    S.ATTRIBUTES_DIR = ""  # folder of <dataset>.json attribute files (default: the repository's attributes_cache/)
    S.ATTRIBUTES_FILE = ""  # one explicit file (default: <ATTRIBUTES_DIR>/<dataset>.json; ImageNet variants: imagenet.json)
    S.NUM_ATTRIBUTES = 6  # use the first M attributes of the file (0: all of them)
    S.TEMPLATE = "a photo of a {class}, {attribute}: {description}."
    S.ENCODING = "frozen"  # frozen: cached frozen text features; prompted: learned context, M+1 text passes
    S.BETA = 0.5  # weight of the attribute part in a_c(x) during training
    S.BETA_TEST = -1.0  # beta at inference (negative: same as BETA)
    S.TAU = 0.01  # temperature of the visually guided weighting
    S.LEARN_TAU = False  # learn log(tau) with the context
    S.LAMBDA = 1.0  # weight of the attribute-enhanced cross-entropy
    S.MU = 0.0  # weight of the pull toward hand-crafted label embeddings (KgCoOp-style)
    S.INFERENCE = "dynamic"  # dynamic, label, attribute or ensemble
    S.UNSEEN_LABEL = "learned"  # label part t_c of unseen classes: learned context or frozen hand prompt
    S.HAND_TEMPLATES = "coop"  # template table of the hand prompts (MU term, UNSEEN_LABEL hand): coop or kgcoop
    S.EMBED_CACHE = ""  # folder of the attribute-embedding cache (default ~/.cache/sempt/attribute_embeddings)


def attribute_logits(f, t, E, beta, tau, gram=None):
    """``<f(x), a_c(x)>`` for every image and class (without the logit scale).

    Args:
        f: (B, D) unit image features; t: (C, D) unit label embeddings; E: (C, M, D) unit attribute
        embeddings; gram: optional precomputed ``E E^T`` (C, M, M).
    Returns ``(cos, w)``: (B, C) cosines and the (B, C, M) attribute weights.
    """
    s_fe = torch.einsum("bd,cmd->bcm", f, E)
    w = torch.softmax(s_fe / tau, dim=-1)
    s_ft = f @ t.t()
    num = (1 - beta) * s_ft + beta * (w * s_fe).sum(-1)
    if beta == 0:
        return num, w
    te = torch.einsum("cd,cmd->cm", t, E)
    gram = torch.einsum("cmd,cnd->cmn", E, E) if gram is None else gram
    quad = torch.einsum("bcm,cmn,bcn->bc", w, gram, w)
    norm2 = (1 - beta) ** 2 + 2 * beta * (1 - beta) * (w * te.unsqueeze(0)).sum(-1) + beta ** 2 * quad
    return num / norm2.clamp_min(1e-12).sqrt(), w


class SemPTCLIP(CoOpCLIP):
    """CoOp's model plus attribute-enhanced embeddings and per-class inference paths."""

    def __init__(self, prompt_learner, clip_model, hand_features, attr_embeddings=None, attr_learner=None,
                 tau=0.01, learn_tau=False, beta=0.5, beta_test=0.5, mode="dynamic", unseen_label="learned"):
        """Configured once, here; the classes seen in training are set with ``set_seen`` (all by default)."""
        super().__init__(prompt_learner, clip_model)
        self.register_buffer("hand_features", hand_features.float(), persistent=False)
        self.attr_learner = attr_learner  # prompted encoding: shares prompt_learner.ctx
        if attr_embeddings is not None:
            self.register_buffer("attr_embeddings", attr_embeddings.float(), persistent=False)
            self.register_buffer("attr_gram", torch.einsum("cmd,cnd->cmn", attr_embeddings.float(),
                                                           attr_embeddings.float()), persistent=False)
        n_cls = hand_features.shape[0]
        self.register_buffer("seen", torch.ones(n_cls, dtype=torch.bool), persistent=False)
        if learn_tau:
            self.prompt_learner.log_tau = nn.Parameter(torch.tensor(math.log(tau)))
        self.fixed_tau = tau
        self.beta, self.beta_test = beta, beta_test
        self.mode = mode  # dynamic, label, attribute or ensemble
        self.unseen_label = unseen_label  # label part of unseen classes: learned context or hand prompt

    def set_seen(self, seen):
        """Which evaluated classes were seen in training (a boolean per class)."""
        self.seen.copy_(torch.as_tensor(seen, dtype=torch.bool, device=self.seen.device))

    def scoring_paths(self):
        """Which embedding scores each class at inference: "label" (t_c), "attribute" (a_c(x)) or "ensemble"."""
        if self.mode == "dynamic":
            return ["label" if s else "attribute" for s in self.seen.tolist()]
        return [self.mode] * self.seen.numel()

    @torch.no_grad()
    def explain(self, image_features):
        """The attribute weights ``w_{c,m}(x)`` (B, C, M) of the inference attribute path for unit image features
        (B, D) from ``encode_image``: how much each class's description m counts for each image."""
        t = self.text_features().float()
        E, gram = self.attribute_embeddings()
        return attribute_logits(image_features.float(), t, E, self.beta_test, self.tau(), gram)[1]

    def tau(self):
        log_tau = getattr(self.prompt_learner, "log_tau", None)
        return log_tau.exp() if log_tau is not None else self.fixed_tau

    def attribute_embeddings(self):
        """(C, M, D) unit embeddings and their Gram matrices."""
        if self.attr_learner is None:
            return self.attr_embeddings, self.attr_gram
        n_cls = self.hand_features.shape[0]
        e = self.cached_text_features(
            lambda: self.text_encoder(self.attr_learner(), self.attr_learner.tokenized_prompts).float(), "attributes")
        return e.view(n_cls, -1, e.shape[-1]), None

    def logits(self, image):
        """``(label_logits, attribute_logits)`` with training's beta and all classes' learned t_c."""
        f = self.encode_image(image).float()
        t = self.text_features().float()
        E, gram = self.attribute_embeddings()
        scale = self.logit_scale.exp().float()
        cos, _ = attribute_logits(f, t, E, self.beta, self.tau(), gram)
        return scale * f @ t.t(), scale * cos, t

    @torch.no_grad()
    def forward(self, image):
        return self.logits_from_features(self.encode_image(image))

    @torch.no_grad()
    def logits_from_features(self, features):
        """Inference logits for unit image features (the image weighting takes only the features, so cached
        test features give the logits of the images; ``sempt.feature_cache``)."""
        f = features.float()
        t = self.text_features().float()
        if self.unseen_label == "hand":
            t = torch.where(self.seen.unsqueeze(1), t, self.hand_features)
        scale = self.logit_scale.exp().float()
        label = scale * f @ t.t()
        if self.mode == "label":
            return label
        E, gram = self.attribute_embeddings()
        attr = scale * attribute_logits(f, t, E, self.beta_test, self.tau(), gram)[0]
        if self.mode == "attribute":
            return attr
        if self.mode == "ensemble":
            return (label + attr) / 2
        return torch.where(self.seen.unsqueeze(0), label, attr)


@TRAINER_REGISTRY.register()
class SemPT(PromptTrainer):
    CFG_SECTION = "SEMPT"
    FROZEN_IMAGE_ENCODER = True  # inference takes only CLIP's image features: test features are cached

    @classmethod
    def hand_template_table(cls, cfg):
        """The table of SemPT's hand-crafted prompts is its config's choice: ``TRAINER.SEMPT.HAND_TEMPLATES``."""
        return cfg.TRAINER.SEMPT.HAND_TEMPLATES

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        S = cfg.TRAINER.SEMPT
        for key, value, allowed in (("ENCODING", S.ENCODING, ENCODINGS), ("INFERENCE", S.INFERENCE, INFERENCE_MODES),
                                    ("UNSEEN_LABEL", S.UNSEEN_LABEL, UNSEEN_LABELS)):
            if value not in allowed:
                raise ConfigError(f"TRAINER.SEMPT.{key} must be one of {allowed}, got {value!r}")
        if not 0.0 <= S.BETA <= 1.0 or S.BETA_TEST > 1.0:
            raise ConfigError(f"TRAINER.SEMPT.BETA must be in [0, 1] (got {S.BETA}); BETA_TEST in [0, 1] or negative")
        if S.HAND_TEMPLATES not in TEMPLATE_TABLES:
            raise ConfigError(f"TRAINER.SEMPT.HAND_TEMPLATES must be one of {sorted(TEMPLATE_TABLES)}, "
                              f"got {S.HAND_TEMPLATES!r}")
        if S.TAU <= 0:
            raise ConfigError(f"TRAINER.SEMPT.TAU must be positive, got {S.TAU}")
        if S.ENCODING == "prompted" and S.CSC:
            raise ConfigError("TRAINER.SEMPT.ENCODING prompted shares one context with the attribute sentences: "
                              "set TRAINER.SEMPT.CSC False")
        for field in ("{class}", "{attribute}", "{description}"):
            if field not in S.TEMPLATE:
                raise ConfigError(f"TRAINER.SEMPT.TEMPLATE must contain {field}, got {S.TEMPLATE!r}")

    # --- model ---------------------------------------------------------------------------------------
    def attribute_table(self, classnames):
        S, cfg = self.tcfg, self.cfg
        path = attribute_file_of(cfg, self.CFG_SECTION)
        knowledge = load_attributes(path, dataset=None if S.ATTRIBUTES_FILE else cfg.DATASET.NAME)
        # classes that share a name (ImageNet's two "missile" and two "sunglasses") take their own "by_id"
        # entries: ids (WordNet ids, or label indices) are known when the names are the reader's list or half
        ids = class_ids(cfg.DATASET.NAME, classnames)
        attrs, table = knowledge.descriptions_for(classnames, S.NUM_ATTRIBUTES, ids=ids)
        print(f"Attributes ({len(attrs)}) from {knowledge.path}: {attrs}")
        shared = sorted(c for c, n in Counter(classnames).items() if n > 1)
        if shared:
            own = [c for c in shared if ids is not None and all(i in knowledge.by_id.get(c, {})
                                                                for n, i in zip(classnames, ids) if n == c)]
            print(f"Classes sharing a name: {shared}; distinct attribute entries for {own or 'none'}"
                  + ("" if len(own) == len(shared) else " (the others share one entry: add them under by_id)"))
        return knowledge, attrs, table, ids

    def build_custom_clip(self, classnames, clip_model):
        S, cfg = self.tcfg, self.cfg
        knowledge, attrs, table, ids = self.attribute_table(classnames)
        prompt_learner = PromptLearner.from_config(S, classnames, clip_model)
        hand = self.hand_text_features(classnames, clip_model).float()
        emb, attr_learner = None, None
        if S.ENCODING == "frozen":
            cache_dir = S.EMBED_CACHE or default_cache_dir()
            backbone_id = file_fingerprint(resolve_clip_file(cfg.MODEL.BACKBONE.NAME, download=False), cache_dir)
            file_classes, file_attrs, all_emb = load_or_compute_embeddings(
                clip_model, knowledge, S.TEMPLATE, backbone_id, cache_dir)
            ci = {c: i for i, c in enumerate(file_classes)}
            ai = [file_attrs.index(a) for a in attrs]
            keys = knowledge.row_keys(classnames, ids)  # classes that share a name: their by_id rows
            emb = all_emb[[ci[k] for k in keys]][:, ai]
        else:
            body = S.TEMPLATE
            prefix = S.CTX_INIT.replace("_", " ").strip()
            if prefix and body.startswith(prefix):
                body = body[len(prefix):].lstrip()
            sentences = [attribute_sentence(body, c, a, d).rstrip(".") for c, row in zip(classnames, table)
                         for a, d in zip(attrs, row)]
            attr_learner = PromptLearner(sentences, clip_model, n_ctx=S.N_CTX, ctx_init=S.CTX_INIT, truncate=True)
            attr_learner.ctx = prompt_learner.ctx  # one shared context
        beta_test = S.BETA if S.BETA_TEST < 0 else S.BETA_TEST
        return SemPTCLIP(prompt_learner, clip_model, hand, emb, attr_learner, tau=S.TAU, learn_tau=S.LEARN_TAU,
                         beta=S.BETA, beta_test=beta_test, mode=S.INFERENCE, unseen_label=S.UNSEEN_LABEL)

    # --- training ------------------------------------------------------------------------------------
    def compute_loss(self, image, label):
        S = self.tcfg
        label_logits, attr_logits, t = self.model.logits(image)
        loss_label = F.cross_entropy(label_logits, label)
        loss_attr = F.cross_entropy(attr_logits, label)
        loss = loss_label + S.LAMBDA * loss_attr
        extra = {"loss_label": loss_label.item(), "loss_attr": loss_attr.item()}
        if S.MU > 0:
            pull = (1 - (t * self.model.hand_features).sum(-1)).mean()
            loss = loss + S.MU * pull
            extra["pull"] = pull.item()
        return loss, label_logits, extra

    # --- inference -----------------------------------------------------------------------------------
    def set_seen_classes(self, seen_names):
        """Mark the evaluated classes whose prompt equals one seen in training. Names are compared as the
        tokenizer sees them (``prompt_key``), so "Beagle"/"beagle" or "hot_dog"/"hot dog" count as seen."""
        classnames = self.dm.dataset.classnames
        seen_keys = {prompt_key(c) for c in seen_names}
        seen = [prompt_key(c) in seen_keys for c in classnames]
        exact = sum(c in set(seen_names) for c in classnames)
        print(f"Seen classes: {sum(seen)} of {len(classnames)} evaluated classes match a training class "
              f"({exact} by exact name, {sum(seen) - exact} more after normalising case, '_' and spacing)")
        self.model.set_seen(seen)

    def load_model(self, directory, epoch=None):
        super().load_model(directory, epoch)
        ckpt = getattr(self, "loaded_checkpoints", {}).get(self.checkpoint_name)
        if ckpt is not None:
            if "classnames" not in ckpt:
                raise ConfigError(f"The checkpoint in {directory} does not record the classes seen in training "
                                  "(was it written by SemPT?)")
            self.set_seen_classes(ckpt["classnames"])

    def test(self, split=None):
        if not getattr(self, "trained_here", False) and not getattr(self, "loaded_checkpoints", None):
            self.model.set_seen([False] * self.model.seen.numel())  # --untrained: nothing was seen in training
        seen = int(self.model.seen.sum().item())
        total = self.model.seen.numel()
        mode = self.model.mode
        if self.model.unseen_label == "hand":
            label_part = (f"the frozen hand-crafted prompt {get_template(self.cfg.DATASET.NAME, self.tcfg.HAND_TEMPLATES)!r}"
                          " as their label part")
        else:
            label_part = "the learned context as their label part"
        if mode == "dynamic":
            print(f"SemPT inference (dynamic): {seen} of {total} evaluated classes via label embeddings (seen in "
                  f"training), {total - seen} via attribute-enhanced embeddings (unseen; {label_part})")
        else:
            print(f"SemPT inference ({mode}): all {total} classes use the {mode} path ({seen} seen in training)")
        return super().test(split)
