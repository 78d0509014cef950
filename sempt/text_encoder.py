"""CLIP's text tower as a module that takes token *embeddings*, so prompts can contain learned vectors.

Activation checkpointing (``MODEL.TEXT_ACTIVATION_CHECKPOINTING``): prompt methods send all C class prompts
through the text tower with gradients every step, and each of its residual blocks keeps about 15 x N x 77 x
width values for the backward pass (N prompts). With checkpointing a block keeps only its input and
recomputes the rest during backward (one more forward pass of the text tower per step); the gradients are
the same, bit for bit on CPU (tests/test_checkpointing.py). ``auto`` (the default) checkpoints a call whose
blocks would keep more than ``AUTO_CHECKPOINT_BYTES`` (4 GiB) for backward: with ViT-B/16's text tower, more
than about 300 prompts in fp16 or 150 in fp32, i.e. ImageNet-size label spaces (and CoCoOp's B x C batches,
SemPT's prompted attribute sentences), not the few dozen classes of most datasets, where the memory does not
matter and the extra forward pass would only cost time. ``set_text_checkpointing`` sets the mode of every
text encoder in a model (the trainers apply the config key with it).
"""
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint as _checkpoint

__all__ = ["TextEncoder", "tokenize", "tokenizer", "encode_texts", "ACTIVATION_CHECKPOINTING",
           "AUTO_CHECKPOINT_BYTES", "set_text_checkpointing"]

ACTIVATION_CHECKPOINTING = ("auto", "always", "never")
AUTO_CHECKPOINT_BYTES = 4 * 2 ** 30  # auto: checkpoint when the blocks would keep more than 4 GiB for backward
SAVED_PER_TOKEN_WIDTH = 15  # values per token and unit of width one block keeps for backward (measured, CPU fp32)


def tokenize(texts, truncate=False):
    """CLIP BPE tokens, shape (len(texts), 77); ``truncate`` cuts texts longer than 77 tokens."""
    from clip import clip as _clip
    return _clip.tokenize(texts, truncate=truncate)


def tokenizer():
    """CLIP's BPE tokenizer (``clip.simple_tokenizer.SimpleTokenizer``: ``encode``, ``decode``, ``encoder``,
    ``decoder``, ``byte_decoder``): the one instance the ``clip`` package creates and ``tokenize`` uses, so
    token ids read here are exactly those of the prompts (no second instance, no second read of the BPE file)."""
    from clip import clip as _clip
    return _clip._tokenizer


class TextEncoder(nn.Module):
    """``forward(prompts, tokenized)``: prompts are (N, L, width) embeddings; returns (N, embed_dim).

    ``deep_prompts`` (deep prompt methods such as MaPLe and PromptSRC): a list of (n, width) tensors; before
    layer ``i + 1`` the sequence positions ``1 .. n`` (the learnable context) are replaced by the i-th one.
    ``activation_checkpointing``: ``auto``, ``always`` or ``never`` (see the module's docstring); it only
    ever applies with gradients enabled.
    """

    def __init__(self, clip_model, activation_checkpointing="auto"):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.dtype = clip_model.dtype
        self.activation_checkpointing = check_checkpointing_mode(activation_checkpointing)
        # recomputation must replay random ops identically: CLIP's blocks have none (no dropout), so the
        # RNG state is saved and restored around recomputation only for blocks that do
        self._random_blocks = any(_is_random(m) for m in self.transformer.resblocks.modules())

    def saved_bytes(self, n_sequences, seq_len=None, dtype=None):
        """Estimated activations the blocks keep for backward when ``n_sequences`` prompts go through the
        tower with gradients and without checkpointing."""
        seq_len = seq_len or self.positional_embedding.shape[0]
        width = self.ln_final.weight.shape[0]
        itemsize = torch.empty(0, dtype=dtype or self.dtype).element_size()
        return SAVED_PER_TOKEN_WIDTH * n_sequences * seq_len * width * len(self.transformer.resblocks) * itemsize

    def wants_checkpointing(self, prompts):
        """Whether a call with gradients on ``prompts`` (N, L, width) checkpoints its blocks (under autocast,
        activations are estimated at the autocast dtype)."""
        mode = self.activation_checkpointing
        if not torch.is_grad_enabled() or mode == "never":
            return False
        if mode == "always":
            return True
        device = prompts.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else prompts.dtype
        saved = self.saved_bytes(prompts.shape[0], prompts.shape[1], dtype)
        if saved <= AUTO_CHECKPOINT_BYTES:
            return False
        if not getattr(self, "_announced", False):
            self._announced = True
            print(f"Text encoder: activation checkpointing on ({prompts.shape[0]} prompts with gradients would keep "
                  f"~{saved / 2 ** 30:.1f} GiB for backward; MODEL.TEXT_ACTIVATION_CHECKPOINTING auto, 'never' "
                  "turns it off)")
        return True

    def forward(self, prompts, tokenized_prompts, deep_prompts=(), checkpoint=None):
        """``checkpoint``: None decides from ``activation_checkpointing`` and this call's size; True or False
        overrides it (a caller that splits one batch into several calls decides once for all of them)."""
        checkpoint = self.wants_checkpointing(prompts) if checkpoint is None else checkpoint and torch.is_grad_enabled()
        x = (prompts + self.positional_embedding.type(self.dtype)).permute(1, 0, 2)  # NLD -> LND
        if deep_prompts or checkpoint:
            for i, block in enumerate(self.transformer.resblocks):
                if 1 <= i <= len(deep_prompts):
                    deep = deep_prompts[i - 1]
                    deep = deep.unsqueeze(1).expand(-1, x.shape[1], -1).type(x.dtype)
                    x = torch.cat([x[:1], deep, x[1 + deep.shape[0]:]], dim=0)
                if checkpoint:
                    x = _checkpoint(block, x, use_reentrant=False, preserve_rng_state=self._random_blocks)
                else:
                    x = block(x)
        else:
            x = self.transformer(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_final(x).type(self.dtype)
        eot = tokenized_prompts.argmax(dim=-1)  # the end-of-text token has the largest id
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection


def _is_random(module):
    if isinstance(module, nn.MultiheadAttention):
        return module.dropout > 0
    return isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0


def check_checkpointing_mode(mode):
    """``mode`` if it is one of ``ACTIVATION_CHECKPOINTING``, else a ``ConfigError`` naming the key."""
    if mode not in ACTIVATION_CHECKPOINTING:
        from sempt.config import ConfigError
        raise ConfigError(f"MODEL.TEXT_ACTIVATION_CHECKPOINTING must be one of {', '.join(ACTIVATION_CHECKPOINTING)}"
                          f", got {mode!r}")
    return mode


def set_text_checkpointing(model, mode):
    """Set the activation-checkpointing mode of every ``TextEncoder`` inside ``model``; returns their count."""
    check_checkpointing_mode(mode)
    encoders = [m for m in model.modules() if isinstance(m, TextEncoder)]
    for m in encoders:
        m.activation_checkpointing = mode
    return len(encoders)


@torch.no_grad()
def encode_texts(clip_model, texts, batch_size=256, normalize=True, progress=False, truncate=False,
                 desc="encode texts"):
    """Frozen CLIP text features of plain strings, computed in batches on the model's device
    (``truncate``: cut texts longer than CLIP's context instead of failing; ``progress``: a progress bar)."""
    device = clip_model.token_embedding.weight.device
    chunks = range(0, len(texts), batch_size)
    if progress:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc=desc, unit="batch", dynamic_ncols=True, mininterval=2.0)
    feats = []
    for i in chunks:
        f = clip_model.encode_text(tokenize(texts[i:i + batch_size], truncate=truncate).to(device))
        feats.append(f / f.norm(dim=-1, keepdim=True) if normalize else f)
    return torch.cat(feats) if feats else torch.empty(0, clip_model.text_projection.shape[1], device=device)
