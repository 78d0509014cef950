"""Inspect and export a run's learned prompts: ``python -m sempt.prompts OUTPUT_DIR``.

    python -m sempt.prompts OUTPUT_DIR [--load-epoch N] [--topk 5] [--export FILE.pt|FILE.npy]
                            [--classes FILE | --dataset NAME] [--format table|json]

For a training run's output folder (model rebuilt as ``sempt.predict`` does) it prints:

- **nearest words**: for each learned context vector, the vocabulary tokens whose CLIP token embeddings are
  nearest in Euclidean distance (CoOp's paper interprets its learned contexts this way), decoded with CLIP's
  BPE tokenizer, next to the word the vector was initialised from (``CTX_INIT``) and how far it moved from it;
  class-specific contexts (``CSC``) give one block per class;
- **drift**: per class, the cosine between the learned class text embedding and the embedding of the
  hand-crafted prompt (the dataset's template in the trainer's table, ``hand_template_table``: KgCoOp's table
  for KgCoOp, ``HAND_TEMPLATES`` for SemPT, CoOp's otherwise; ``--template-table`` chooses), i.e. how far the
  prompt drifted: KgCoOp's penalty is 1 minus its mean. With ``CTX_INIT`` the same cosine for the initial
  context is shown as the starting point. A user's ``ImageFolder`` dataset: the template of the run's dataset
  config (``DATASET.IMAGE_FOLDER.TEMPLATE``).

Deep prompt methods (MaPLe, PromptSRC): the first layer's text context ``ctx`` is what is inspected (the
deeper layers' prompts are not token embeddings); their drift uses the full prompted text encoder. CoCoOp:
the shared context without the per-image shift of its meta-network, for both.

``--export FILE.pt`` saves the learned tensors of the prompt learner (``{"ctx": tensor, ...}``, deeper prompts
too; tensors only, readable with ``torch.load(FILE, weights_only=True)``); ``--export FILE.npy`` saves the
context ``ctx`` alone as a NumPy array. Written atomically.
"""
import argparse
import inspect
import json
import os
import os.path as osp
import sys

__all__ = ["inspect_run", "nearest_tokens", "class_text_features", "learned_tensors", "export_prompts",
           "template_table"]


def learned_tensors(trainer):
    """``{name: tensor}``: what the run's checkpoint holds of the prompt learner, in this repository's keys."""
    module = getattr(trainer.model, trainer.MODEL_NAME)
    return {k: v.detach() for k, v in module.state_dict().items() if k.split(".")[-1] not in trainer.CLASS_DEPENDENT}


def nearest_tokens(vectors, token_embedding, k=5):
    """``(distances, ids)``, each (N, k): the ``k`` vocabulary tokens nearest to each of the (N, D) ``vectors``
    in Euclidean distance."""
    import torch
    d = torch.cdist(vectors.float().cpu(), token_embedding.float().cpu())
    return d.topk(k, dim=-1, largest=False)


def class_text_features(model):
    """(C, D) unit text features of the classes with the learned prompts; a context shifted per image by a
    meta-network (CoCoOp) is taken without the shift."""
    import torch

    from sempt.prompt_learner import PromptLearner
    pl = model.prompt_learner
    with torch.no_grad():
        if inspect.signature(pl.forward).parameters:  # image-conditioned prompts
            t = model.text_encoder(PromptLearner.forward(pl), pl.tokenized_prompts)
            t = t / t.norm(dim=-1, keepdim=True)
        else:
            t = model.text_features()
    return t.float().cpu()


def template_table(cfg):
    """The hand-crafted template table of the run's trainer, as the trainer class (from the registry) states it
    (``PromptTrainer.hand_template_table``: KgCoOp's own table for KgCoOp, SemPT's ``HAND_TEMPLATES``, CoOp's,
    the zero-shot baseline's, for every other method)."""
    from sempt.backend import TRAINER_REGISTRY
    return TRAINER_REGISTRY.get(cfg.TRAINER.NAME).hand_template_table(cfg)


def export_prompts(tensors, path):
    """``.pt``: every tensor in ``tensors`` (``torch.save`` of a dict of tensors); ``.npy``: ``ctx`` alone."""
    import numpy as np
    import torch

    from sempt.config import ConfigError
    ext = osp.splitext(path)[1].lower()
    if ext not in (".pt", ".npy"):
        raise ConfigError(f"--export {path}: the file must end in .pt (torch tensors) or .npy (NumPy array)")
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise ConfigError(f"--export {path}: the folder {folder} does not exist")
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        if ext == ".pt":
            torch.save({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, tmp)
        else:
            with open(tmp, "wb") as f:
                np.save(f, tensors["ctx"].detach().cpu().numpy())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _token_text(tokenizer, token_id):
    """``(readable text, BPE token)``: the token's UTF-8 text ("-" appended to a piece inside a word)."""
    bpe = tokenizer.decoder[token_id]
    piece = bpe[:-len("</w>")] if bpe.endswith("</w>") else bpe
    try:
        text = bytearray(tokenizer.byte_decoder[ch] for ch in piece).decode("utf-8", errors="replace")
    except KeyError:  # special tokens (<|startoftext|>) are not byte-encoded
        text = piece
    whole = bpe.endswith("</w>") or bpe.startswith("<|")
    return (text if whole else text + "-"), bpe


def context_vectors(ctx, names, ctx_init, clip_model, topk):
    """Per learned context vector: its class (CSC), position, nearest vocabulary tokens and, where words
    initialised it, the initial word and how far the vector moved from it."""
    from sempt.text_encoder import tokenizer
    tok = tokenizer()
    n_ctx = ctx.shape[-2]
    init_ids = tok.encode(ctx_init)[:n_ctx] if ctx_init else []
    embedding = clip_model.token_embedding.weight.detach().float()
    rows = ctx.reshape(-1, ctx.shape[-1])
    dist, ids = nearest_tokens(rows, embedding, topk)
    vectors = []
    for r in range(rows.shape[0]):
        c, pos = divmod(r, n_ctx)
        item = {"class": names[c] if ctx.dim() == 3 else None, "position": pos + 1,
                "nearest": [{"token": _token_text(tok, i)[0], "bpe": _token_text(tok, i)[1], "id": i, "distance": d}
                            for d, i in zip(dist[r].tolist(), ids[r].tolist())]}
        if pos < len(init_ids):
            item["init"] = _token_text(tok, init_ids[pos])[0]
            item["moved"] = (rows[r] - embedding[init_ids[pos]]).norm().item()
        vectors.append(item)
    return vectors


def prompt_drift(cfg, names, tbl, clip_model, learned, initial):
    """Cosines between the learned (and initial) class text features and the hand-crafted prompts' (table ``tbl``)."""
    import torch

    from sempt.templates import get_template, hand_prompts
    from sempt.text_encoder import encode_texts
    with torch.no_grad():
        hand = encode_texts(clip_model, hand_prompts(cfg.DATASET.NAME, names, tbl)).float()
    cos = (learned * hand).sum(-1)
    drift = {"template": get_template(cfg.DATASET.NAME, tbl), "table": tbl, "classes": names, "learned": cos.tolist(),
             "mean_learned": cos.mean().item(), "initial": None, "mean_initial": None}
    if initial is not None:
        cos0 = (initial * hand).sum(-1)
        drift.update(initial=cos0.tolist(), mean_initial=cos0.mean().item())
    return drift


def inspect_run(model_dir, load_epoch=None, classnames=None, dataset=None, backbone=None, topk=5, table=None,
                opts=(), device=None, verbose=False, export=None):
    """Everything ``python -m sempt.prompts`` prints, as a dict (see the module docstring)."""
    import torch

    from sempt.clip_loader import load_clip
    from sempt.config import ConfigError
    from sempt.predict import _quiet, load_run
    trainer, info = load_run(model_dir, load_epoch, classnames, dataset, None, backbone, None, opts, device, verbose,
                             load_weights=False)
    cfg = trainer.cfg
    pl = getattr(trainer.model, "prompt_learner", None)
    if not trainer.LEARNABLE or pl is None or not isinstance(getattr(pl, "ctx", None), torch.Tensor):
        raise ConfigError(f"{info['trainer']} learns no text context to inspect")
    section = cfg.TRAINER[trainer.CFG_SECTION]
    ctx_init = (section.get("CTX_INIT") or "").replace("_", " ").strip()
    deep = len(getattr(pl, "deep_text", ()) or ())
    # the initial context is known only when words set it and nothing else random shapes the text prompts
    initial = class_text_features(trainer.model) if ctx_init and not deep else None
    with _quiet(verbose):
        trainer.load_model(model_dir, epoch=info["epoch"])
        clip_model = load_clip(cfg.MODEL.BACKBONE.NAME, precision="fp32", device="cpu")
    tensors = learned_tensors(trainer)
    learned = class_text_features(trainer.model)
    names = info["classnames"]

    ctx = pl.ctx.detach().float().cpu()
    vectors = context_vectors(ctx, names, ctx_init, clip_model, topk)
    note = None
    if deep:
        note = (f"the first layer's text context (ctx); the {deep} deeper layers' text prompts are not token "
                "embeddings and are not decoded")
    elif inspect.signature(pl.forward).parameters:
        note = "the shared context without the per-image shift of the meta-network"

    drift = prompt_drift(cfg, names, table or template_table(cfg), clip_model, learned, initial)
    if export:
        export_prompts(tensors, export)
    return {"run": {k: v for k, v in info.items() if k != "classnames"},
            "learned_tensors": {k: list(v.shape) for k, v in tensors.items()},
            "context": {"shape": list(ctx.shape), "class_specific": ctx.dim() == 3, "init": ctx_init or None,
                        "note": note, "vectors": vectors},
            "drift": drift, "exported": export}


def format_report(report, max_classes=50):
    run, c, d = report["run"], report["context"], report["drift"]
    lines = [f"{run['trainer']} run {run['run_dir']}: {run['checkpoint']} (epoch {run['epoch']}), backbone "
             f"{run['backbone']}",
             "Learned tensors: " + ", ".join(f"{k} {tuple(s)}" for k, s in report["learned_tensors"].items()), ""]
    lines += _context_lines(c) + [""] + _drift_lines(d, max_classes)
    if report["exported"]:
        what = ("the learned tensors " + ", ".join(report["learned_tensors"])
                if report["exported"].lower().endswith(".pt") else f"ctx {tuple(c['shape'])}")
        lines += ["", f"Exported {what} to {report['exported']}"]
    return "\n".join(lines)


def _context_lines(c):
    from tabulate import tabulate
    n_ctx, width = c["shape"][-2], c["shape"][-1]
    head = (f"Context: {n_ctx} vectors of width {width}, " + ("one set per class (CSC)" if c["class_specific"]
                                                              else "shared by all classes")
            + (f", initialised from \"{c['init']}\"" if c["init"] else ", randomly initialised"))
    lines = [head + (f"; {c['note']}" if c["note"] else ""),
             "Nearest vocabulary tokens of each vector (Euclidean distance in CLIP's token-embedding space):"]
    has_init = any("init" in v for v in c["vectors"])
    rows = []
    for v in c["vectors"]:
        row = ([v["class"]] if c["class_specific"] else []) + [v["position"]]
        row += [v.get("init", ""), f"{v['moved']:.3f}" if "moved" in v else ""] if has_init else []
        row.append(", ".join(f"{n['token']} {n['distance']:.3f}" for n in v["nearest"]))
        rows.append(row)
    headers = (["class"] if c["class_specific"] else []) + ["position"] + (
        ["init word", "moved"] if has_init else []) + ["nearest tokens (distance)"]
    return lines + [tabulate(rows, headers=headers, disable_numparse=True)]


def _drift_lines(d, max_classes):
    from tabulate import tabulate
    lines = [f"Drift: cosine between each class's learned text embedding and its hand-crafted prompt "
             f"{d['template']!r} ({d['table']} table); KgCoOp's penalty is 1 - the mean"]
    initial = [f"{d['mean_initial']:.4f}"] if d["initial"] else []
    rows = [[d["classes"][i], f"{d['learned'][i]:.4f}"] + ([f"{d['initial'][i]:.4f}"] if d["initial"] else [])
            for i in range(min(len(d["classes"]), max_classes))]
    if len(d["classes"]) > max_classes:
        rows.append([f"... {len(d['classes']) - max_classes} more classes", ""] + ([""] if d["initial"] else []))
    rows.append(["mean", f"{d['mean_learned']:.4f}"] + initial)
    lines.append(tabulate(rows, headers=["class", "learned"] + (["initial context"] if d["initial"] else []),
                          disable_numparse=True))
    return lines


def main(argv=None):
    from sempt.attributes import AttributeFileError
    from sempt.checkpoint import CheckpointError
    from sempt.clip_loader import CLIPLoadError
    from sempt.config import ConfigError
    from sempt.data.coop import DatasetError
    from sempt.predict import SIGPIPE_STATUS, print_result
    from sempt.templates import TEMPLATE_TABLES
    p = argparse.ArgumentParser(prog="python -m sempt.prompts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", metavar="OUTPUT_DIR", help="a training run's output folder")
    p.add_argument("--load-epoch", type=int, default=None, help="checkpoint epoch (default: the newest)")
    p.add_argument("--topk", type=int, default=5, help="nearest tokens per vector")
    p.add_argument("--export", default="", metavar="FILE", help="FILE.pt (all learned tensors) or FILE.npy (ctx)")
    p.add_argument("--classes", default="", metavar="FILE", help="drift over these class names (one per line)")
    p.add_argument("--dataset", default="", help="drift over this dataset's classes (default: the training classes)")
    p.add_argument("--template-table", choices=list(TEMPLATE_TABLES), default=None,
                   help="hand-crafted template table for the drift (default: the trainer's)")
    p.add_argument("--backbone", default="", help="CLIP name or weights file (default: the run's)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--cpu", action="store_true", help="do not use CUDA")
    p.add_argument("--opt", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"), help="a config option")
    p.add_argument("--verbose", action="store_true", help="show the trainer's build messages (on stderr)")
    args = p.parse_args(argv)
    try:
        report = inspect_run(args.model_dir, args.load_epoch, args.classes or None, args.dataset or None,
                             args.backbone or None, max(1, args.topk), args.template_table,
                             [v for pair in args.opt for v in pair], "cpu" if args.cpu else None, args.verbose,
                             args.export or None)
    except (ConfigError, CheckpointError, CLIPLoadError, AttributeFileError, DatasetError, FileNotFoundError) as e:
        text = str(e).strip()
        print(f"error: {text.splitlines()[0] if text else type(e).__name__}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2, ensure_ascii=False) if args.format == "json" else format_report(report)
    return 0 if print_result(text) else SIGPIPE_STATUS  # a closed pipe (| head) ends it quietly


if __name__ == "__main__":
    sys.exit(main())
