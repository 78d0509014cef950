"""CoOp-style learnable context: ``[SOS] [V_1 ... V_n] [CLASS] . [EOS]``.

Shared by every method that learns a text context (CoOp, KgCoOp, SemPT, ...). The class-dependent token
embeddings are buffers (``token_prefix``, ``token_suffix``) rebuilt from the current class names, so a
context trained on base classes evaluates on new ones: ``CLASS_DEPENDENT_BUFFERS`` lists what a
checkpoint loader must drop.
"""

import torch
import torch.nn as nn

from sempt.text_encoder import tokenize, tokenizer

__all__ = ["PromptLearner", "CLASS_DEPENDENT_BUFFERS", "prompt_key"]

CLASS_DEPENDENT_BUFFERS = ("token_prefix", "token_suffix")
POSITIONS = ("end", "middle", "front")


def _name_token_count(name):
    return len(tokenizer().encode(name))


def prompt_key(name):
    """A class name as CLIP's text encoder receives it in a prompt: ``_`` becomes a space, then CLIP's
    tokenizer cleans, lower-cases and splits it. Names with equal keys ("Beagle", "beagle", "hot_dog",
    "hot dog") give the same prompt, hence the same embedding."""
    return tuple(tokenizer().encode(name.replace("_", " ")))


class PromptLearner(nn.Module):
    """Learnable context vectors around each class name.

    Args:
        classnames: names in label order (``_`` becomes a space).
        clip_model: a loaded CLIP model (widths and dtype are read from it).
        n_ctx: number of context vectors when ``ctx_init`` is empty.
        ctx_init: words that initialise the context (their count sets ``n_ctx``), e.g. "a photo of a".
        csc: class-specific contexts instead of one shared context.
        class_token_position: "end", "middle" or "front".
        truncate: cut prompts longer than CLIP's context instead of failing (long "names" such as
            attribute sentences).
    """

    def __init__(self, classnames, clip_model, n_ctx=16, ctx_init="", csc=False, class_token_position="end",
                 truncate=False):
        super().__init__()
        if class_token_position not in POSITIONS:
            raise ValueError(f"CLASS_TOKEN_POSITION must be one of {POSITIONS}, got {class_token_position!r}")
        dtype = clip_model.dtype
        ctx_dim = clip_model.ln_final.weight.shape[0]
        n_cls = len(classnames)
        embed = clip_model.token_embedding

        if ctx_init:
            ctx_init = ctx_init.replace("_", " ").strip()
            n_ctx = len(ctx_init.split(" "))
            with torch.no_grad():
                init = embed(tokenize(ctx_init).to(embed.weight.device)).type(dtype)[0, 1:1 + n_ctx].cpu().clone()
            # clone: a view would keep (and save) the whole 77-token block behind the n_ctx rows
            ctx_vectors = init.unsqueeze(0).repeat(n_cls, 1, 1) if csc else init
            prompt_prefix = ctx_init
        else:
            if n_ctx < 1:
                raise ValueError("N_CTX must be at least 1 when CTX_INIT is empty")
            shape = (n_cls, n_ctx, ctx_dim) if csc else (n_ctx, ctx_dim)
            ctx_vectors = torch.empty(*shape, dtype=dtype)
            nn.init.normal_(ctx_vectors, std=0.02)
            prompt_prefix = " ".join(["X"] * n_ctx)
        print(f'Initial context: "{prompt_prefix}" ({n_ctx} tokens, {"class-specific" if csc else "shared"})')
        self.ctx = nn.Parameter(ctx_vectors)

        names = [name.replace("_", " ") for name in classnames]
        self.name_lens = [_name_token_count(name) for name in names]
        tokenized = tokenize([f"{prompt_prefix} {name}." for name in names], truncate=truncate)
        with torch.no_grad():
            embedding = embed(tokenized.to(embed.weight.device)).type(dtype).cpu()
        # class-dependent, rebuilt from the class names: not saved (checkpoints stay kilobytes, not
        # C x 77 x width), and ignored when a checkpoint written by CoOp's code has them
        self.register_buffer("token_prefix", embedding[:, :1, :], persistent=False)  # SOS
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:, :], persistent=False)  # CLASS . EOS
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        self.n_cls = n_cls
        self.n_ctx = n_ctx
        self.csc = csc
        self.class_token_position = class_token_position

    @classmethod
    def from_config(cls, section, classnames, clip_model):
        """A learner set by a trainer's config section with N_CTX, CTX_INIT, CSC and CLASS_TOKEN_POSITION."""
        return cls(classnames, clip_model, n_ctx=section.N_CTX, ctx_init=section.CTX_INIT, csc=section.CSC,
                   class_token_position=section.CLASS_TOKEN_POSITION)

    def forward(self):
        ctx = self.ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        prefix, suffix = self.token_prefix, self.token_suffix
        if self.class_token_position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)
        prompts = []
        half = self.n_ctx // 2
        for i, name_len in enumerate(self.name_lens):
            cls_i, rest_i = suffix[i:i + 1, :name_len], suffix[i:i + 1, name_len:]
            ctx_i = ctx[i:i + 1]
            if self.class_token_position == "middle":
                parts = [prefix[i:i + 1], ctx_i[:, :half], cls_i, ctx_i[:, half:], rest_i]
            else:  # front
                parts = [prefix[i:i + 1], cls_i, ctx_i, rest_i]
            prompts.append(torch.cat(parts, dim=1))
        return torch.cat(prompts, dim=0)
