"""CoOp: Learning to Prompt for Vision-Language Models (Zhou et al., IJCV 2022, arXiv 2109.01134)."""
import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.prompt_learner import PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.text_encoder import TextEncoder


def extend_cfg(cfg):
    """TRAINER.COOP keys, with CoOp's defaults."""
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COOP.CSC = False  # class-specific context
    cfg.TRAINER.COOP.CTX_INIT = ""  # initialisation words, e.g. "a photo of a"
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16, fp32 or amp (fp32 on CPU whatever is asked)
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


def prompt_learner_from(section, classnames, clip_model):
    """A ``PromptLearner`` configured by a config section with N_CTX/CTX_INIT/CSC/CLASS_TOKEN_POSITION."""
    return PromptLearner(
        classnames, clip_model, n_ctx=section.N_CTX, ctx_init=section.CTX_INIT, csc=section.CSC,
        class_token_position=section.CLASS_TOKEN_POSITION)


class CoOpCLIP(nn.Module):
    """Frozen CLIP with a learnable text context: logits = scale * <f(x), t_c>."""

    def __init__(self, prompt_learner, clip_model):
        super().__init__()
        self.prompt_learner = prompt_learner
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype

    def encode_image(self, image):
        f = self.image_encoder(image.type(self.dtype))
        return f / f.norm(dim=-1, keepdim=True)

    def cached_text_features(self, encode, name="label"):
        """``normalise(encode())`` (over the last dimension); without autograd (evaluation) the result is
        reused until a learnable parameter changes (checked by tensor version counters), so testing encodes
        the prompts once, not once per batch."""
        if torch.is_grad_enabled():
            t = encode()
            return t / t.norm(dim=-1, keepdim=True)
        key = tuple((id(p), p._version, p.device) for p in self.prompt_learner.parameters())
        caches = self.__dict__.setdefault("_text_caches", {})
        if name not in caches or caches[name][0] != key:
            t = encode()
            caches[name] = (key, t / t.norm(dim=-1, keepdim=True))
        return caches[name][1]

    def text_features(self):
        """Normalised label embeddings t_c of the current classes, (C, D)."""
        return self.cached_text_features(
            lambda: self.text_encoder(self.prompt_learner(), self.prompt_learner.tokenized_prompts))

    def forward(self, image):
        return self.logit_scale.exp() * self.encode_image(image) @ self.text_features().t()


@TRAINER_REGISTRY.register()
class CoOp(PromptTrainer):
    """Context Optimization: one learnable context shared by all classes (or one per class with CSC)."""

    CFG_SECTION = "COOP"

    def build_custom_clip(self, classnames, clip_model):
        return CoOpCLIP(prompt_learner_from(self.tcfg, classnames, clip_model), clip_model)
