"""Cost of one training step relative to CoOp, same batch: SemPT (frozen or prompted attribute encoding)
and, with ``--baselines``, CoCoOp, MaPLe and PromptSRC. Peak memory is reported on CUDA.

    python -m benchmarks.step_cost                       # ViT-B/16 sizes, random weights, CPU or GPU
    python -m benchmarks.step_cost --preset tiny         # seconds, for a smoke run
    python -m benchmarks.step_cost --classes 100 --batch 32 --device cuda --prec fp16

The model has CLIP ViT-B/16's shapes with random weights (no download needed): timings depend on
shapes, not on weight values. Each variant runs ``--warmup`` untimed steps, then ``--steps`` timed ones
(forward, backward, SGD step); the median is reported, with peak GPU memory on CUDA.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from sempt.prompt_learner import PromptLearner
from sempt.prompted_clip import CoOpCLIP
from sempt.testing import build_random_clip
from trainers.sempt import SemPTCLIP

PRESETS = {
    "vit_b16": dict(width=512, layers=12, vision_width=768, vision_layers=12, image_resolution=224, patch_size=16,
                    embed_dim=512),
    "tiny": dict(width=64, layers=1, vision_width=64, vision_layers=1, image_resolution=32, patch_size=16,
                 embed_dim=64),
}


def build(kind, clip_model, classnames, n_attr, device):
    pl = PromptLearner(classnames, clip_model, ctx_init="a photo of a")
    if kind == "CoOp":
        return CoOpCLIP(pl, clip_model).to(device)
    d = clip_model.text_projection.shape[1]
    hand = torch.nn.functional.normalize(torch.randn(len(classnames), d), dim=-1)
    if kind == "SemPT (frozen)":
        emb = torch.nn.functional.normalize(torch.randn(len(classnames), n_attr, d), dim=-1)
        return SemPTCLIP(pl, clip_model, hand, emb).to(device)
    sentences = [f"{c}, attribute {m}: a short visual description of it" for c in classnames for m in range(n_attr)]
    attr = PromptLearner(sentences, clip_model, ctx_init="a photo of a", truncate=True)
    attr.ctx = pl.ctx
    return SemPTCLIP(pl, clip_model, hand, None, attr).to(device)


def build_baseline(kind, clip_model, classnames, device):
    """CoCoOp, MaPLe or PromptSRC with their published prompt sizes (depth capped by the model's layers)."""
    from trainers.cocoop import CoCoOpCLIP, ConditionalPromptLearner
    from trainers.maple import MaPLeCLIP, MultiModalPromptLearner
    from trainers.promptsrc import IndependentPromptLearner, PromptSRCCLIP
    depth = min(9, len(clip_model.transformer.resblocks), len(clip_model.visual.transformer.resblocks))
    if kind == "CoCoOp":
        return CoCoOpCLIP(ConditionalPromptLearner(classnames, clip_model, 4, "a photo of a"), clip_model).to(device)
    if kind == "MaPLe":
        pl = MultiModalPromptLearner(classnames, clip_model, 2, "a photo of a", depth=depth)
        return MaPLeCLIP(pl, clip_model).to(device)
    pl = IndependentPromptLearner(classnames, clip_model, 4, "a photo of a", 4, depth, depth)
    teacher = torch.nn.functional.normalize(torch.randn(len(classnames), clip_model.text_projection.shape[1]), dim=-1)
    return PromptSRCCLIP(pl, clip_model, teacher).to(device)


def step_fn(kind, model, opt):
    def step(image, label):
        if kind in ("CoOp", "CoCoOp", "MaPLe"):
            loss = F.cross_entropy(model(image), label)
        elif kind == "PromptSRC":
            logits, f, t, f0, zs = model.outputs(image)
            loss = (F.cross_entropy(logits, label) + 25 * F.l1_loss(t, model.teacher_text.type(t.dtype))
                    + 10 * F.l1_loss(f, f0) + F.kl_div(F.log_softmax(logits, 1), F.log_softmax(zs, 1),
                                                       reduction="sum", log_target=True) / logits.numel())
        else:
            label_logits, attr_logits, _ = model.logits(image)
            loss = F.cross_entropy(label_logits, label) + F.cross_entropy(attr_logits, label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def time_steps(step, image, label, warmup, steps, device):
    for _ in range(warmup):
        step(image, label)
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(image, label)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


BASELINES = ("CoCoOp", "MaPLe", "PromptSRC")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="vit_b16")
    p.add_argument("--classes", type=int, default=50, help="label-space size (base half of a dataset)")
    p.add_argument("--attributes", type=int, default=6)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--prec", choices=["fp32", "fp16"], default="fp32", help="fp16 needs CUDA")
    p.add_argument("--prompted", action="store_true", help="also time the prompted attribute encoding")
    p.add_argument("--baselines", action="store_true", help="also time CoCoOp, MaPLe and PromptSRC")
    return p.parse_args(argv)


def frozen_clip(preset, prec, device):
    """A random-weight CLIP of the preset's shapes, frozen (fp16 weights when asked for on CUDA)."""
    clip_model = build_random_clip(**PRESETS[preset])
    if prec == "fp16" and device.type == "cuda":
        from clip.model import convert_weights
        convert_weights(clip_model)
    for prm in clip_model.parameters():
        prm.requires_grad_(False)
    return clip_model


def prepare_step(kind, clip_model, classnames, n_attr, device):
    """One variant's training step, with only its prompt learner trainable."""
    if kind in BASELINES:
        model = build_baseline(kind, clip_model, classnames, device)
    else:
        model = build(kind, clip_model, classnames, n_attr, device)
    for name, q in model.named_parameters():
        q.requires_grad_(name.startswith("prompt_learner"))
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.002)
    return step_fn(kind, model, opt)


def interleaved_times(steps, image, label, n_steps, device):
    """``(times, peak)``: each variant's step times and peak GPU MiB (empty off CUDA), timing the variants
    step by step in turn so that machine load drifts affect all of them alike."""
    kinds = list(steps)
    times = {kind: [] for kind in kinds}
    peak = {}
    for i in range(n_steps):
        for kind in kinds:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times[kind].append(time_steps(steps[kind], image, label, 0, 1, device))
            if device.type == "cuda":
                peak[kind] = max(peak.get(kind, 0), torch.cuda.max_memory_allocated() / 2 ** 20)
        print(f"  round {i + 1}/{n_steps}: " + ", ".join(f"{k} {times[k][-1] * 1000:.1f} ms" for k in kinds),
              flush=True)
    return times, peak


def report(times, peak):
    from tabulate import tabulate
    base = statistics.median(times["CoOp"])
    rows = []
    for kind in times:
        sec = statistics.median(times[kind])
        rows.append([kind, f"{sec * 1000:.1f}", f"{sec / base:.3f}", f"{peak[kind]:.0f}" if peak else "-"])
    print(tabulate(rows, headers=["trainer", "ms/step (median)", "ratio to CoOp", "peak GPU MiB"]))


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    clip_model = frozen_clip(args.preset, args.prec, device)
    res = PRESETS[args.preset]["image_resolution"]
    classnames = [f"class number {i}" for i in range(args.classes)]
    image = torch.randn(args.batch, 3, res, res, device=device)
    label = torch.randint(0, args.classes, (args.batch,), device=device)
    kinds = ["CoOp", "SemPT (frozen)"] + (["SemPT (prompted)"] if args.prompted else []) + (
        list(BASELINES) if args.baselines else [])
    print(f"{args.preset} shapes, {args.classes} classes, {args.attributes} attributes, batch {args.batch}, "
          f"{device.type} {args.prec}, torch threads {torch.get_num_threads()}")
    steps = {}
    for kind in kinds:
        steps[kind] = prepare_step(kind, clip_model, classnames, args.attributes, device)
        for _ in range(args.warmup):
            steps[kind](image, label)
    report(*interleaved_times(steps, image, label, args.steps, device))


if __name__ == "__main__":
    main()
