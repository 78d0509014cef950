"""CoCoOp: Conditional Prompt Learning for Vision-Language Models (Zhou et al., CVPR 2022, arXiv 2203.05557).

A light meta-network (Linear(d, d/16) -> ReLU -> Linear(d/16, width)) turns each image's feature into a
bias added to every context vector, so each image gets its own prompts. The original encodes the C
prompts of one image at a time in a Python loop; here the B x C prompts of a batch go through the text
encoder together, in chunks of at most ``TRAINER.COCOOP.TEXT_CHUNK`` sequences (0: all at once, or one
image's C prompts per chunk when the text encoder checkpoints its activations).
Memory grows with B x C x 77 x width activations (kept for backward in training): with activation
checkpointing (``MODEL.TEXT_ACTIVATION_CHECKPOINTING``, on by default for large B x C, see
``sempt.text_encoder``) each block keeps only its input; lower TEXT_CHUNK or the batch size when it still
does not fit. The results do not change.
"""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.checkpoint import KeyRenames
from sempt.prompt_learner import PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import CoOpCLIP


def extend_cfg(cfg):
    """TRAINER.COCOOP keys, with CoCoOp's defaults."""
    cfg.TRAINER.COCOOP = CN()
    cfg.TRAINER.COCOOP.N_CTX = 16
    cfg.TRAINER.COCOOP.CTX_INIT = ""
    cfg.TRAINER.COCOOP.PREC = "fp16"
    cfg.TRAINER.COCOOP.TEXT_CHUNK = 0  # prompts per text-encoder call (0: all at once; one image's with checkpointing)


class ConditionalPromptLearner(PromptLearner):
    """``PromptLearner`` whose shared context is shifted per image by a meta-network."""

    def __init__(self, classnames, clip_model, n_ctx=16, ctx_init=""):
        super().__init__(classnames, clip_model, n_ctx=n_ctx, ctx_init=ctx_init)
        vis_dim = clip_model.visual.output_dim
        ctx_dim = clip_model.ln_final.weight.shape[0]
        # CoCoOp's layer names, so checkpoints load in either code base
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)), ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim))])).to(clip_model.dtype)

    def forward(self, image_features):
        """(B, C, L, width) prompts for unit image features (B, vis_dim)."""
        bias = self.meta_net(image_features.to(self.ctx.dtype))  # (B, width)
        ctx = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # (B, n_ctx, width)
        b, c = ctx.shape[0], self.n_cls
        prefix = self.token_prefix.unsqueeze(0).expand(b, -1, -1, -1)
        suffix = self.token_suffix.unsqueeze(0).expand(b, -1, -1, -1)
        return torch.cat([prefix, ctx.unsqueeze(1).expand(-1, c, -1, -1), suffix], dim=2)


class CoCoOpCLIP(CoOpCLIP):
    def __init__(self, prompt_learner, clip_model, text_chunk=0):
        super().__init__(prompt_learner, clip_model)
        self.text_chunk = text_chunk

    def forward(self, image):
        return self.logits_from_features(self.encode_image(image))

    def encode_prompt_batch(self, flat, tokens, n_cls):
        """Text features of the B x C prompts ``flat`` (B * C, L, width), in chunks of ``text_chunk`` prompts.

        Activation checkpointing is decided once for the whole batch (its activations are kept for backward
        across all chunks); with it on and ``text_chunk`` 0, each chunk is one image's ``n_cls`` prompts, so
        at most one chunk's block is recomputed at a time. Same features and gradients either way."""
        ckpt = self.text_encoder.wants_checkpointing(flat)
        step = self.text_chunk if self.text_chunk > 0 else (n_cls if ckpt else len(flat))
        return torch.cat([self.text_encoder(flat[i:i + step], tokens[i:i + step], checkpoint=ckpt)
                          for i in range(0, len(flat), step)])

    def logits_from_features(self, f):
        """Logits for unit image features (the meta-net takes only the features; ``sempt.feature_cache``)."""
        prompts = self.prompt_learner(f)  # (B, C, L, D)
        b, c = prompts.shape[:2]
        flat = prompts.reshape(b * c, *prompts.shape[2:])
        tokens = self.prompt_learner.tokenized_prompts.repeat(b, 1)
        t = self.encode_prompt_batch(flat, tokens, c)
        t = (t / t.norm(dim=-1, keepdim=True)).view(b, c, -1)
        return self.logit_scale.exp() * torch.einsum("bd,bcd->bc", f, t)


@TRAINER_REGISTRY.register()
class CoCoOp(PromptTrainer):
    CFG_SECTION = "COCOOP"
    FROZEN_IMAGE_ENCODER = True  # the meta-net takes only CLIP's image features: test features are cached
    LEGACY_KEYS = KeyRenames([("meta_net.linear1", "meta_net.0"), ("meta_net.linear2", "meta_net.2")])

    def build_custom_clip(self, classnames, clip_model):
        S = self.tcfg
        pl = ConditionalPromptLearner(classnames, clip_model, n_ctx=S.N_CTX, ctx_init=S.CTX_INIT)
        return CoCoOpCLIP(pl, clip_model, text_chunk=S.TEXT_CHUNK)

    def compute_loss(self, image, label):
        logits = self.model(image)
        return F.cross_entropy(logits, label), logits, {}
