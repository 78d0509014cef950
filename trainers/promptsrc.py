"""PromptSRC: Self-regulating Prompts (Khattak et al., ICCV 2023, arXiv 2307.06948).

Deep *independent* vision and language prompts (each layer below PROMPT_DEPTH_* has its own learnable
tokens), regularised toward the frozen model: ``CE + TEXT_LOSS_WEIGHT * L1(t, t_frozen) +
IMAGE_LOSS_WEIGHT * L1(f, f_frozen) + KL(zero-shot logits || prompted logits)``, and Gaussian prompt
aggregation (GPA): the learnable parameters after every epoch are averaged with Gaussian weights over the
epochs (``GPA_MEAN``, ``GPA_STD``), and the average is what the last checkpoint holds and what is tested.
Only the learnable parameters are aggregated, never the frozen CLIP. The frozen text targets average the
frozen features of ``TEACHER_TEMPLATES``: by default PromptSRC's own list of 60 ImageNet templates
(``sempt.templates.imagenet_templates``), as in the original.
"""
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from sempt.backend import TRAINER_REGISTRY
from sempt.checkpoint import KeyRenames
from sempt.config import ConfigError
from sempt.prompt_learner import CLASS_DEPENDENT_BUFFERS, PromptLearner
from sempt.prompt_trainer import PromptTrainer
from sempt.prompted_clip import DeepPromptCLIP
from sempt.templates import get_template, imagenet_templates
from sempt.text_encoder import encode_texts


def extend_cfg(cfg):
    """TRAINER.PROMPTSRC keys, with PromptSRC's published base-to-novel defaults."""
    S = cfg.TRAINER.PROMPTSRC = CN()
    S.N_CTX_VISION = 4
    S.N_CTX_TEXT = 4
    S.CTX_INIT = "a photo of a"
    S.PREC = "fp16"
    S.PROMPT_DEPTH_VISION = 9
    S.PROMPT_DEPTH_TEXT = 9
    S.TEXT_LOSS_WEIGHT = 25
    S.IMAGE_LOSS_WEIGHT = 10
    S.GPA_MEAN = 15
    S.GPA_STD = 1
    # templates averaged for the frozen text targets: "imagenet" = PromptSRC's 60 ImageNet templates (the
    # original), "hand" = the dataset's hand-crafted template, or any template with "{}"
    S.TEACHER_TEMPLATES = ("imagenet",)


class IndependentPromptLearner(PromptLearner):
    """Text context plus per-layer text and vision prompt tokens, all learnable and independent."""

    def __init__(self, classnames, clip_model, n_ctx_text=4, ctx_init="", n_ctx_vision=4, depth_text=9,
                 depth_vision=9):
        super().__init__(classnames, clip_model, n_ctx=n_ctx_text, ctx_init=ctx_init)
        visual = clip_model.visual
        if not hasattr(visual, "class_embedding"):
            raise ConfigError("PromptSRC needs a ViT image encoder (its prompts are tokens); got a ResNet backbone")
        tw, vw = clip_model.ln_final.weight.shape[0], visual.conv1.weight.shape[0]
        for name, d, layers in (("TEXT", depth_text, len(clip_model.transformer.resblocks)),
                                ("VISION", depth_vision, len(visual.transformer.resblocks))):
            if not 1 <= d <= layers:
                raise ConfigError(f"TRAINER.PROMPTSRC.PROMPT_DEPTH_{name} must be in [1, {layers}], got {d}")

        def tokens(n, width):  # fp32 as in PromptSRC's code, cast to CLIP's dtype where used
            return nn.Parameter(torch.empty(n, width).normal_(std=0.02))
        self.depth_text, self.depth_vision = depth_text, depth_vision
        self.deep_text = nn.ParameterList([tokens(self.n_ctx, tw) for _ in range(depth_text - 1)])
        self.vis_ctx = tokens(n_ctx_vision, vw)
        self.deep_vis = nn.ParameterList([tokens(n_ctx_vision, vw) for _ in range(depth_vision - 1)])

    def vision_prompts(self):
        return self.vis_ctx, list(self.deep_vis)


class PromptSRCCLIP(DeepPromptCLIP):
    def __init__(self, prompt_learner, clip_model, teacher_text):
        super().__init__(prompt_learner, clip_model)
        self.register_buffer("teacher_text", teacher_text, persistent=False)  # class-dependent, rebuilt

    def outputs(self, image):
        f = self.encode_image_prompts(image)
        t = self.text_features()
        scale = self.logit_scale.exp()
        with torch.no_grad():
            f0 = self.image_encoder(image.type(self.dtype))
            f0 = f0 / f0.norm(dim=-1, keepdim=True)
            zs_logits = scale * f0 @ self.teacher_text.type(f0.dtype).t()
        return scale * f @ t.t(), f, t, f0, zs_logits


def teacher_templates(names, dataset_name):
    """The templates named by TRAINER.PROMPTSRC.TEACHER_TEMPLATES, expanded."""
    out = []
    for t in names:
        if t == "imagenet":
            out += imagenet_templates()
        elif t == "hand":
            out.append(get_template(dataset_name))
        elif "{}" in t:
            out.append(t)
        else:
            raise ConfigError(f"TRAINER.PROMPTSRC.TEACHER_TEMPLATES: {t!r} is neither 'imagenet', 'hand' nor a "
                              "template with '{}'")
    if not out:
        raise ConfigError("TRAINER.PROMPTSRC.TEACHER_TEMPLATES is empty: use ('imagenet',), PromptSRC's own")
    return out


def gaussian_weights(n_epochs, mean, std):
    """Normalised Gaussian pdf at epochs 1..n (PromptSRC's GPA weights)."""
    w = [math.exp(-0.5 * ((e - mean) / std) ** 2) for e in range(1, n_epochs + 1)]
    total = sum(w)
    if total == 0:
        raise ConfigError(f"GPA_MEAN={mean} and GPA_STD={std} give every one of the {n_epochs} epochs weight 0")
    return [x / total for x in w]


@TRAINER_REGISTRY.register()
class PromptSRC(PromptTrainer):
    CFG_SECTION = "PROMPTSRC"
    # PromptSRC's layout: the whole model registered as "VLPromptLearner", deep prompts inside CLIP's blocks
    # (only learned tensors are saved here; its files also hold the frozen CLIP and a second image encoder)
    CHECKPOINT_NAME = "VLPromptLearner"
    CHECKPOINT_KEYS = KeyRenames([
        ("ctx", "prompt_learner.ctx"), ("vis_ctx", "image_encoder.VPT"),
        ("deep_text.#", "text_encoder.transformer.resblocks.#.VPT_shallow", 1),
        ("deep_vis.#", "image_encoder.transformer.resblocks.#.VPT_shallow", 1)])
    IGNORED_KEYS = (r"(image_encoder|text_encoder|prompt_learner\.ZS_image_encoder)\.", r"logit_scale$")

    def build_custom_clip(self, classnames, clip_model):
        S = self.tcfg
        pl = IndependentPromptLearner(classnames, clip_model, S.N_CTX_TEXT, S.CTX_INIT, S.N_CTX_VISION,
                                      S.PROMPT_DEPTH_TEXT, S.PROMPT_DEPTH_VISION)
        templates = teacher_templates(S.TEACHER_TEMPLATES, self.cfg.DATASET.NAME)
        # the original encodes its teacher prompts with an fp32 copy of CLIP, whatever PREC says
        teacher_clip = clip_model if clip_model.dtype == torch.float32 else copy.deepcopy(clip_model).float()
        with torch.no_grad():
            feats = [encode_texts(teacher_clip, [t.replace("{}", c.replace("_", " ")) for c in classnames],
                                  normalize=False) for t in templates]
        del teacher_clip
        teacher = torch.stack(feats).float().mean(0)
        teacher = teacher / teacher.norm(dim=-1, keepdim=True)
        self.gpa_weights = gaussian_weights(self.cfg.OPTIM.MAX_EPOCH, S.GPA_MEAN, S.GPA_STD)
        self.gpa_state = None
        return PromptSRCCLIP(pl, clip_model, teacher)

    def compute_loss(self, image, label):
        S = self.tcfg
        logits, f, t, f0, zs_logits = self.model.outputs(image)
        ce = F.cross_entropy(logits, label)
        scl_text = F.l1_loss(t.float(), self.model.teacher_text.float()) * S.TEXT_LOSS_WEIGHT
        scl_image = F.l1_loss(f.float(), f0.float()) * S.IMAGE_LOSS_WEIGHT
        scl_logits = F.kl_div(F.log_softmax(logits.float(), dim=1), F.log_softmax(zs_logits.float(), dim=1),
                              reduction="sum", log_target=True) / logits.numel()
        loss = ce + scl_text + scl_image + scl_logits
        return loss, logits, {"ce": ce.item(), "scl": (scl_text + scl_image + scl_logits).item()}

    def _learnable_state(self):
        return {k: v.detach().clone() for k, v in self.model.prompt_learner.state_dict().items()
                if k.split(".")[-1] not in CLASS_DEPENDENT_BUFFERS and v.is_floating_point()}

    def after_epoch(self):
        """Add this epoch's prompts to the Gaussian-weighted sum; after the last epoch, use the sum (before
        the engine saves the checkpoint)."""
        w = self.gpa_weights[self.epoch]
        state = self._learnable_state()
        if self.gpa_state is None:
            self.gpa_state = {k: v * w for k, v in state.items()}
        else:
            for k, v in state.items():
                self.gpa_state[k] += v * w
        if self.epoch + 1 == self.max_epoch:
            print("Using the Gaussian-aggregated prompts (GPA) for the final model")
            self.model.prompt_learner.load_state_dict(self.gpa_state, strict=False)
        super().after_epoch()

    def method_state(self):
        return {"gpa_state": self.gpa_state}  # the running sum: a resumed run aggregates every epoch

    def load_method_state(self, state):
        self.gpa_state = state.get("gpa_state")
