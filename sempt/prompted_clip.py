"""CLIP wrapped for prompt learning, shared by the trainers.

- ``CoOpCLIP``: frozen CLIP with a learnable text context (a ``PromptLearner``): ``logits = scale * <f(x), t_c>``.
  CoOp, KgCoOp, CoCoOp and SemPT build on it.
- ``DeepPromptCLIP``: the same with prompts at several depths of both towers (MaPLe, PromptSRC).

Text features of the class prompts are cached during evaluation (see ``CoOpCLIP.cached_text_features``).
"""
import torch
import torch.nn as nn

from sempt.text_encoder import TextEncoder

__all__ = ["CoOpCLIP", "DeepPromptCLIP"]


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

    def logits_from_features(self, features):
        """Logits for unit image features (``encode_image``'s output): ``forward(image)`` is
        ``logits_from_features(encode_image(image))``, so cached test features (``sempt.feature_cache``)
        give exactly the logits of the images. (``DeepPromptCLIP.forward`` prompts the image encoder instead.)"""
        return self.logit_scale.exp() * features @ self.text_features().t()

    def forward(self, image):
        return self.logits_from_features(self.encode_image(image))


class DeepPromptCLIP(CoOpCLIP):
    """``CoOpCLIP`` whose towers take prompts at several depths (MaPLe, PromptSRC).

    The prompt learner provides ``deep_text`` (one (n_ctx, width) tensor per deeper text layer), ``depth_text``,
    ``depth_vision`` and ``vision_prompts() -> (first, deep)``: vision tokens appended to the image tokens
    at the input, and the ones that replace them before each deeper layer (``first`` is None without vision
    prompts). CLIP's own blocks are run one by one; the ``clip`` package is not modified.
    """

    def text_features(self):
        """Label embeddings with this layer-wise text prompts (cached in evaluation, see ``CoOpCLIP``)."""
        return self.cached_text_features(lambda: self.text_encoder(
            self.prompt_learner(), self.prompt_learner.tokenized_prompts,
            deep_prompts=list(self.prompt_learner.deep_text)[:self.prompt_learner.depth_text - 1]))

    def encode_image_prompts(self, image):
        v = self.image_encoder
        first, deep = self.prompt_learner.vision_prompts()
        x = v.conv1(image.type(self.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = v.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        n = 0
        if first is not None:
            n = first.shape[0]
            x = torch.cat([x, first.unsqueeze(0).expand(x.shape[0], -1, -1).type(x.dtype)], dim=1)
        x = v.ln_pre(x).permute(1, 0, 2)  # LND
        for i, block in enumerate(v.transformer.resblocks):
            if n and 1 <= i < self.prompt_learner.depth_vision:
                x = torch.cat([x[:-n], deep[i - 1].unsqueeze(1).expand(-1, x.shape[1], -1).type(x.dtype)], dim=0)
            x = block(x)
        f = v.ln_post(x.permute(1, 0, 2)[:, 0, :]) @ v.proj
        return f / f.norm(dim=-1, keepdim=True)

    def forward(self, image):
        return self.logit_scale.exp() * self.encode_image_prompts(image) @ self.text_features().t()
