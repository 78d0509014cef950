"""KgCoOp: Knowledge-guided Context Optimization (Yao et al., CVPR 2023, arXiv 2303.13283).

CoOp plus ``W * (1 - mean_c cos(t_c, t_c^hand))``, pulling the learned label embeddings toward the frozen
hand-crafted ones (KgCoOp's own template table, ``sempt.templates``). With ``W = 0`` it is CoOp step for step.

Seeds: KgCoOp's code builds modules it never uses (a bias vector, a meta-net, an adapter) and loads CLIP a
second time for the hand-crafted features; each draws from torch's random generator before the data
sampler does, so the same seed gives other batches and augmentations than CoOp's code. Here those modules
are not built; ``ORIGINAL_RNG True`` makes the same draws in the same order (and discards them), so a
published KgCoOp seed is reproduced batch for batch.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.prompt_learner import PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import CoOpCLIP


def extend_cfg(cfg):
    """TRAINER.KGCOOP keys, with the defaults of KgCoOp's published scripts."""
    cfg.TRAINER.KGCOOP = CN()
    cfg.TRAINER.KGCOOP.N_CTX = 4
    cfg.TRAINER.KGCOOP.CSC = False
    cfg.TRAINER.KGCOOP.CTX_INIT = "a photo of a"
    cfg.TRAINER.KGCOOP.PREC = "fp16"
    cfg.TRAINER.KGCOOP.CLASS_TOKEN_POSITION = "end"
    cfg.TRAINER.KGCOOP.W = 8.0  # weight of the knowledge-guided penalty
    cfg.TRAINER.KGCOOP.ORIGINAL_RNG = False  # replay the random draws of KgCoOp's constructor (same batches per seed)


def replay_original_draws(clip_model):
    """Draw what KgCoOp's model constructor draws after its context, in its order, and discard it: the
    unused ``bias_vectors`` (1 x 512, CLIP's dtype), a second CLIP built from the same weights (its
    parameter initialisation), the unused meta-net ``Linear(512, 512)`` and the unused adapter
    ``Linear(512, 128)``, ``Linear(128, 512)`` (KgCoOp hard-codes 512)."""
    from clip.model import build_model
    torch.empty(1, 512, dtype=clip_model.dtype).normal_(std=0.02)
    build_model({k: v.cpu() for k, v in clip_model.state_dict().items()})
    nn.Linear(512, 512)
    nn.Linear(512, 128, bias=False)
    nn.Linear(128, 512, bias=False)


class KgCoOpCLIP(CoOpCLIP):
    def __init__(self, prompt_learner, clip_model, hand_features):
        super().__init__(prompt_learner, clip_model)
        # class-dependent: rebuilt from the evaluated class names, never saved
        self.register_buffer("hand_features", hand_features, persistent=False)

    def forward_with_penalty(self, image):
        t = self.text_features()
        logits = self.logit_scale.exp() * self.encode_image(image) @ t.t()
        penalty = 1.0 - F.cosine_similarity(t.float(), self.hand_features.float(), dim=-1, eps=1e-7).mean()
        return logits, penalty


@TRAINER_REGISTRY.register()
class KgCoOp(PromptTrainer):
    CFG_SECTION = "KGCOOP"
    HAND_TEMPLATE_TABLE = "kgcoop"  # its penalty pulls toward KgCoOp's own table (sempt.templates)
    FROZEN_IMAGE_ENCODER = True  # CoOpCLIP's forward: test features are cached (sempt.feature_cache)
    IGNORED_KEYS = (r"bias_vectors$", r"meta_net\.")  # built by KgCoOp's prompt learner, never used

    def build_custom_clip(self, classnames, clip_model):
        hand = self.hand_text_features(classnames, clip_model)
        prompt_learner = PromptLearner.from_config(self.tcfg, classnames, clip_model)
        if self.tcfg.ORIGINAL_RNG:
            print("Replaying the random draws of KgCoOp's model constructor (TRAINER.KGCOOP.ORIGINAL_RNG)")
            replay_original_draws(clip_model)
        return KgCoOpCLIP(prompt_learner, clip_model, hand)

    def compute_loss(self, image, label):
        logits, penalty = self.model.forward_with_penalty(image)
        loss = F.cross_entropy(logits, label) + self.tcfg.W * penalty
        return loss, logits, {"kg": penalty.item()}
