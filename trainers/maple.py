"""MaPLe: Multi-modal Prompt Learning (Khattak et al., CVPR 2023, arXiv 2210.03117).

Coupled deep prompts: the text context (``N_CTX`` tokens, CoOp's learner) is projected into vision
prompt tokens appended to the image tokens; for layers ``1 .. PROMPT_DEPTH-1`` new learnable text prompts
replace the context positions of the text sequence, and their projections replace the vision prompt tokens.
CLIP's own transformer blocks are run one by one from here (the ``clip`` package is not modified); widths
come from the model, so any ViT backbone works. ``VISION_PROMPTS False`` with ``PROMPT_DEPTH 1`` is CoOp.
"""
import copy

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.checkpoint import KeyRenames
from sempt.config import ConfigError
from sempt.prompt_learner import PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import DeepPromptCLIP



def extend_cfg(cfg):
    """TRAINER.MAPLE keys, with MaPLe's published defaults."""
    cfg.TRAINER.MAPLE = CN()
    cfg.TRAINER.MAPLE.N_CTX = 2
    cfg.TRAINER.MAPLE.CTX_INIT = "a photo of a"  # MaPLe learns the first N_CTX tokens of it
    cfg.TRAINER.MAPLE.PREC = "fp16"
    cfg.TRAINER.MAPLE.PROMPT_DEPTH = 9  # layers that receive prompts (1: the input only)
    cfg.TRAINER.MAPLE.VISION_PROMPTS = True  # False (with depth 1): text prompts only


class MultiModalPromptLearner(PromptLearner):
    """CoOp's learner plus deep text prompts and text-to-vision projections (all learnable)."""

    def __init__(self, classnames, clip_model, n_ctx=2, ctx_init="", depth=9, vision=True):
        if ctx_init:  # the prompt reads CTX_INIT + class; only its first N_CTX words are learned
            words = ctx_init.replace("_", " ").split(" ")
            if len(words) > n_ctx:
                rest = " ".join(words[n_ctx:])
                classnames = [f"{rest} {c}" for c in classnames]
            ctx_init = " ".join(words[:n_ctx])
        super().__init__(classnames, clip_model, n_ctx=n_ctx, ctx_init=ctx_init)
        text_width = clip_model.ln_final.weight.shape[0]
        visual = clip_model.visual
        if not hasattr(visual, "conv1") or not hasattr(visual, "class_embedding"):
            raise ConfigError("MaPLe needs a ViT image encoder (its prompts are tokens); got a ResNet backbone")
        vis_width = visual.conv1.weight.shape[0]
        n_layers = len(clip_model.transformer.resblocks)
        if not 1 <= depth <= min(n_layers, len(visual.transformer.resblocks)):
            raise ConfigError(f"TRAINER.MAPLE.PROMPT_DEPTH must be in [1, {n_layers}], got {depth}")
        self.depth, self.vision = depth, vision
        self.depth_text = self.depth_vision = depth
        # As in MaPLe's code: the first projection is in CLIP's dtype; the deeper text prompts and their
        # projections are fp32 parameters (cast to CLIP's dtype where they are used, so fp16 updates are not
        # lost to rounding), and the deeper projections start as copies of one freshly initialised layer.
        self.proj = nn.Linear(text_width, vis_width).to(clip_model.dtype) if vision else None
        self.deep_text = nn.ParameterList([nn.Parameter(torch.empty(n_ctx, text_width)) for _ in range(depth - 1)])
        for p in self.deep_text:
            nn.init.normal_(p, std=0.02)
        if vision and depth > 1:
            first = nn.Linear(text_width, vis_width)
            self.deep_proj = nn.ModuleList([copy.deepcopy(first) for _ in range(depth - 1)])
        else:
            self.deep_proj = nn.ModuleList()

    def vision_prompts(self):
        """Input-layer vision prompts and one per deeper layer (empty lists without vision prompts)."""
        if not self.vision:
            return None, []
        return self.proj(self.ctx), [p(t) for p, t in zip(self.deep_proj, self.deep_text)]


MaPLeCLIP = DeepPromptCLIP  # MaPLe's model: the deep-prompt towers with its coupled learner


@TRAINER_REGISTRY.register()
class MaPLe(PromptTrainer):
    CFG_SECTION = "MAPLE"
    # MaPLe's layout: the whole model registered as "MultiModalPromptLearner" (only learned tensors saved here)
    CHECKPOINT_NAME = "MultiModalPromptLearner"
    CHECKPOINT_KEYS = KeyRenames([("ctx", "prompt_learner.ctx"), ("proj", "prompt_learner.proj"),
                                  ("deep_text.#", "prompt_learner.compound_prompts_text.#"),
                                  ("deep_proj.#", "prompt_learner.compound_prompt_projections.#")])
    IGNORED_KEYS = (r"(image_encoder|text_encoder)\.", r"logit_scale$")  # MaPLe's files also hold the frozen CLIP

    def build_custom_clip(self, classnames, clip_model):
        S = self.tcfg
        pl = MultiModalPromptLearner(classnames, clip_model, n_ctx=S.N_CTX, ctx_init=S.CTX_INIT,
                                     depth=S.PROMPT_DEPTH, vision=S.VISION_PROMPTS)
        return MaPLeCLIP(pl, clip_model)
