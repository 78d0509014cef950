"""CLIP's text tower as a module that takes token *embeddings*, so prompts can contain learned vectors."""
import torch
import torch.nn as nn

__all__ = ["TextEncoder", "tokenize", "encode_texts"]


def tokenize(texts, truncate=False):
    """CLIP BPE tokens, shape (len(texts), 77); ``truncate`` cuts texts longer than 77 tokens."""
    from clip import clip as _clip
    return _clip.tokenize(texts, truncate=truncate)


class TextEncoder(nn.Module):
    """``forward(prompts, tokenized)``: prompts are (N, L, width) embeddings; returns (N, embed_dim).

    ``deep_prompts`` (deep prompt methods such as MaPLe and PromptSRC): a list of (n, width) tensors; before
    layer ``i + 1`` the sequence positions ``1 .. n`` (the learnable context) are replaced by the i-th one.
    """

    def __init__(self, clip_model):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.dtype = clip_model.dtype

    def forward(self, prompts, tokenized_prompts, deep_prompts=()):
        x = (prompts + self.positional_embedding.type(self.dtype)).permute(1, 0, 2)  # NLD -> LND
        if deep_prompts:
            for i, block in enumerate(self.transformer.resblocks):
                if 1 <= i <= len(deep_prompts):
                    deep = deep_prompts[i - 1]
                    deep = deep.unsqueeze(1).expand(-1, x.shape[1], -1).type(x.dtype)
                    x = torch.cat([x[:1], deep, x[1 + deep.shape[0]:]], dim=0)
                x = block(x)
        else:
            x = self.transformer(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_final(x).type(self.dtype)
        eot = tokenized_prompts.argmax(dim=-1)  # the end-of-text token has the largest id
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection


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
