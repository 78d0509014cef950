"""Zero-shot CLIP with the per-dataset hand-crafted template (CoOp's ``ZeroshotCLIP`` baseline)."""
import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.prompt_trainer import PromptTrainer
from sempt.templates import get_template, hand_prompts
from sempt.text_encoder import encode_texts


def extend_cfg(cfg):
    cfg.TRAINER.ZSCLIP = CN()
    cfg.TRAINER.ZSCLIP.PREC = "fp16"


class ZeroshotModel(nn.Module):
    def __init__(self, clip_model, text_features):
        super().__init__()
        self.clip_model = clip_model
        self.register_buffer("text_features", text_features, persistent=False)

    @property
    def dtype(self):
        return self.clip_model.dtype

    def encode_image(self, image):
        """CLIP's unit image features."""
        f = self.clip_model.encode_image(image.type(self.clip_model.dtype))
        return f / f.norm(dim=-1, keepdim=True)

    def logits_from_features(self, features):
        """Logits for unit image features: ``forward(image) = logits_from_features(encode_image(image))``."""
        return self.clip_model.logit_scale.exp() * features @ self.text_features.t()

    def forward(self, image):
        return self.logits_from_features(self.encode_image(image))


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(PromptTrainer):
    """Nothing is learned: run it with ``--eval-only`` (no ``--model-dir`` needed)."""

    CFG_SECTION = "ZSCLIP"
    LEARNABLE = ()
    FROZEN_IMAGE_ENCODER = True  # test features are cached (sempt.feature_cache)
    MODEL_NAME = None

    def build_model(self):
        classnames = self.dm.dataset.classnames
        clip_model = self.load_clip_model()
        print(f"Template: {get_template(self.cfg.DATASET.NAME)!r}")
        with torch.no_grad():
            text = encode_texts(clip_model, hand_prompts(self.cfg.DATASET.NAME, classnames))
        self.model = ZeroshotModel(clip_model, text).to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.train_classnames = list(classnames)

    def train(self, *args, **kwargs):
        raise RuntimeError("ZeroshotCLIP learns nothing: run it with --eval-only")
