"""Contrastive pretraining of a tiny ``clip.model.CLIP`` on the world's images and captions.

Seeded and deterministic on CPU for a given torch build; the result is a plain state dict that the
project's CLIP loader reads like any checkpoint, cached by the caller outside the repository.
"""
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .captions import caption
from .render import render
from .spec import ATTRIBUTES, make_categories

__all__ = ["PretrainSpec", "pretrain", "MEAN", "STD", "to_tensor", "zero_shot_by_kind"]

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class PretrainSpec:
    width: int = 64
    layers: int = 2
    vision_layers: int = 2
    patch_size: int = 8
    embed_dim: int = 64
    pool: int = 24000  # pre-rendered (image, caption) pairs
    steps: int = 400  # ~1.5 minutes on 2 cores: named classes well above chance, not saturated
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    seed: int = 0
    # CLIP's logit scale ends at 100 (its clamp). A tiny CLIP trained for minutes with a learned scale ends
    # near 14, which makes every downstream loss weight and learning rate tuned for CLIP act ~7x differently.
    # > 0: the scale is fixed at this value during pretraining (and so downstream); 0: learned (CLIP's init).
    logit_scale: float = 100.0


def to_tensor(images):
    """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W) with CLIP's mean and std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


def _pool(world, spec, rng):
    cats = make_categories(world)
    images, texts = [], []
    for i in range(spec.pool):
        if rng.random() < 0.5:  # any combination of attribute values, described by its attributes
            profile = {k: v[rng.integers(len(v))] for k, v in ATTRIBUTES.items()}
            name = None
        else:  # a world category; only "known" names are ever written in captions
            cat = cats[rng.integers(len(cats))]
            profile, name = cat.profile, (cat.name if cat.kind == "known" else None)
        images.append(render(profile, rng, world.image_size))
        texts.append(caption(profile, rng, name, version=world.version))
    return np.stack(images), texts


def _encode_text(model, tokens):
    """``model.encode_text`` for token sequences shorter than the model's context (see ``pretrain``)."""
    x = model.token_embedding(tokens) + model.positional_embedding[:tokens.shape[1]]
    x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x)
    return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ model.text_projection


def pretrain(world, spec, log=print):
    """Train and return ``(model, stats)``; ``stats`` holds timing and the final loss."""
    from clip import clip as _clip

    from sempt.clip_loader import random_clip
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    t0 = time.time()
    images, texts = _pool(world, spec, rng)
    tokens = _clip.tokenize(texts)
    log(f"[world] rendered {len(texts):,} pretraining pairs in {time.time() - t0:.1f}s")
    model = random_clip(width=spec.width, layers=spec.layers, vision_width=spec.width,
                              vision_layers=spec.vision_layers, image_resolution=world.image_size,
                              patch_size=spec.patch_size, embed_dim=spec.embed_dim, seed=spec.seed).train()
    if spec.logit_scale > 0:
        with torch.no_grad():
            model.logit_scale.fill_(float(np.log(spec.logit_scale)))
        model.logit_scale.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=spec.lr,
                            weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=spec.steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(spec.seed)
    # The text transformer is causal, so the features at the end-of-text token depend only on earlier
    # positions: encoding the first L positions (L = longest caption) gives the same features as all 77.
    length = int(tokens.argmax(-1).max()) + 1
    tokens = tokens[:, :length]
    full_masks = [blk.attn_mask for blk in model.transformer.resblocks]
    for blk, mask in zip(model.transformer.resblocks, full_masks):
        blk.attn_mask = mask[:length, :length]
    t1, loss_avg = time.time(), None
    for step in range(1, spec.steps + 1):
        idx = torch.randint(0, len(texts), (spec.batch_size,), generator=gen)
        x = to_tensor(images[idx.numpy()])
        fi = F.normalize(model.encode_image(x), dim=-1)
        ft = F.normalize(_encode_text(model, tokens[idx]), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * fi @ ft.t()
        # captions repeat (same template and profile): treat identical captions as positives too
        same = (tokens[idx].unsqueeze(0) == tokens[idx].unsqueeze(1)).all(-1).float()
        soft = same / same.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, soft) + F.cross_entropy(logits.t(), soft))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        if step % 100 == 0 or step == spec.steps:
            el = time.time() - t1
            eta = el / step * (spec.steps - step)
            log(f"[world] pretraining step {step}/{spec.steps} loss {loss_avg:.3f} "
                f"scale {model.logit_scale.exp().item():.1f} elapsed {el:.0f}s eta {eta:.0f}s")
    for blk, mask in zip(model.transformer.resblocks, full_masks):
        blk.attn_mask = mask
    model.eval()
    return model, {"seconds": round(time.time() - t0, 1), "final_loss": round(loss_avg, 4),
                   "logit_scale": round(model.logit_scale.exp().item(), 3), "spec": asdict(spec)}


@torch.no_grad()
def zero_shot_by_kind(model, world, n_per_class=20, seed=123, template="a photo of a {}."):
    """Zero-shot accuracy (36-way, hand template) per name kind on fresh renders."""
    from clip import clip as _clip
    cats = make_categories(world)
    rng = np.random.default_rng(seed)
    text = F.normalize(model.encode_text(_clip.tokenize([template.format(c.name) for c in cats])), dim=-1)
    acc = {}
    for kind in ("descriptive", "known", "unknown"):
        correct = total = 0
        for y, c in enumerate(cats):
            if c.kind != kind:
                continue
            x = to_tensor(np.stack([render(c.profile, rng, world.image_size) for _ in range(n_per_class)]))
            pred = (F.normalize(model.encode_image(x), dim=-1) @ text.t()).argmax(1)
            correct += int((pred == y).sum())
            total += n_per_class
        acc[kind] = 100.0 * correct / total
    acc["chance"] = 100.0 / len(cats)
    return acc
