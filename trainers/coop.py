"""CoOp: Learning to Prompt for Vision-Language Models (Zhou et al., IJCV 2022, arXiv 2109.01134)."""
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.prompt_learner import PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import CoOpCLIP


def extend_cfg(cfg):
    """TRAINER.COOP keys, with CoOp's defaults."""
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COOP.CSC = False  # class-specific context
    cfg.TRAINER.COOP.CTX_INIT = ""  # initialisation words, e.g. "a photo of a"
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16, fp32 or amp (fp32 on CPU whatever is asked)
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


@TRAINER_REGISTRY.register()
class CoOp(PromptTrainer):
    """Context Optimization: one learnable context shared by all classes (or one per class with CSC)."""

    CFG_SECTION = "COOP"
    FROZEN_IMAGE_ENCODER = True  # CoOpCLIP's forward: test features are cached (sempt.feature_cache)

    def build_custom_clip(self, classnames, clip_model):
        return CoOpCLIP(PromptLearner.from_config(self.tcfg, classnames, clip_model), clip_model)
