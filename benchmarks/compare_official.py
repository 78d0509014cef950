"""Check that SemPT's baselines compute what the official code computes, on the same weights and data.

The official repositories are cloned *outside* this repository and are never vendored or copied: this
script only imports them from the paths given on its command line, each method in its own subprocess
(their ``clip`` packages differ from each other and from pip's ``openai-clip``)::

    python -m benchmarks.compare_official --coop ~/src/CoOp --kgcoop ~/src/KgCoOp/KgCoOp \\
        --maple ~/src/multimodal-prompt-learning --promptsrc ~/src/PromptSRC --dassl ~/src/Dassl.pytorch \\
        [--methods CoOp CoCoOp KgCoOp MaPLe PromptSRC] [--steps 3] [--layouts layouts.md]

Run it with a Python that has torch, yacs, scipy, scikit-learn, tensorboard, pandas, ftfy, regex, tqdm
(Dassl's imports) and this repository's ``sempt`` package (``pip install -e .``). KgCoOp runs with the
Dassl it ships (``<kgcoop>/../Dassl.ProGrad.pytorch``) when present, else with ``--dassl``.

For every method, on CPU in fp32, with a small random CLIP (text width 512, vision width 768, as the
official code hardcodes those widths) and the EuroSAT class names:

1. both trainers are built through their own ``build_model`` (no data loaders), the official learnable
   parameters are copied into ours, and both get the same images and labels;
2. logits (before and after training), the training loss of each step (each trainer's own
   ``forward_backward``: CE, KgCoOp's CE + W * penalty, PromptSRC's full loss and GPA), the gradients of
   the learnable parameters and the parameters after ``--steps`` SGD steps are compared;
   Steps run through the engines' epoch hooks (``before_epoch``/``after_epoch``, one batch per epoch,
   ``TEST.NO_TEST``), so per-epoch method logic (LR schedule, PromptSRC's GPA) is exercised;
3. checkpoints both ways: each side's ``after_epoch`` saves its last epoch with its own ``save_model``;
   ours is loaded by the official trainer's ``load_model`` and the official one by ours (fresh trainers
   with another seed); every learnable tensor is then compared with the saved one, so nothing left at its
   random initialisation goes unnoticed, and the loading model's logits with the saving model's.

``--layouts FILE`` also writes the official checkpoint layouts (registered names, keys, shapes, dtypes,
keys deleted on load) and the random draws each constructor makes (which decide the batches a seed gives).

Nothing is edited in the official code; at run time the official subprocesses get these patches
(each is listed in the report): ``.cuda()`` is a no-op (CPU); ``Tensor.half()`` is a no-op (fp32
everywhere, including the official MaPLe/PromptSRC prompt casts and KgCoOp's second CLIP); CLIP's
``_download`` returns the test weights; Dassl's warm-up scheduler constructor is called without the
``verbose`` argument torch >= 2.7 removed; a stub ``wilds`` module when WILDS is not installed.
"""
import argparse
import collections
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import types

import torch

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)

DATASET = "EuroSAT"

# method -> (official repo option, official trainer module, class name, our trainer name)
METHODS = collections.OrderedDict([
    ("CoOp", ("coop", "trainers.coop", "CoOp", "CoOp")),
    ("CoCoOp", ("coop", "trainers.cocoop", "CoCoOp", "CoCoOp")),
    ("KgCoOp", ("kgcoop", "trainers.kgcoop", "KgCoOp", "KgCoOp")),
    ("MaPLe", ("maple", "trainers.maple", "MaPLe", "MaPLe")),
    ("PromptSRC", ("promptsrc", "trainers.promptsrc", "PromptSRC", "PromptSRC")),
])

RANDOM_OPS = {"normal", "normal_", "uniform", "uniform_", "random", "random_", "bernoulli", "bernoulli_",
              "exponential_", "geometric_", "cauchy_", "log_normal_", "randn", "rand", "randint", "randperm",
              "multinomial", "randn_like", "rand_like", "randint_like", "native_dropout", "poisson"}


# ------------------------------------------------------------------------------------------------
# Configs: the same settings written in each side's keys
# ------------------------------------------------------------------------------------------------

def method_opts(method, side, job, prec="fp32"):
    """``KEY VALUE`` options for one side (``official`` or ``ours``)."""
    depth, lr = job["depth"], job["lr"]
    opts = {
        "DATASET.NAME": DATASET,
        "INPUT.SIZE": "(32, 32)",
        "MODEL.BACKBONE.NAME": "ViT-B/16" if side == "official" else job["clip_file"],
        "OPTIM.NAME": "sgd", "OPTIM.LR": lr, "OPTIM.MAX_EPOCH": job["steps"], "OPTIM.LR_SCHEDULER": "cosine",
        "OPTIM.MOMENTUM": 0.9, "OPTIM.WEIGHT_DECAY": 5e-4,
        "TEST.NO_TEST": True, "TRAIN.CHECKPOINT_FREQ": 0,  # after_epoch only saves, after the last epoch
        # the official configs' warm-up (1 epoch); its constant LR is set apart from LR so each step's LR differs
        "OPTIM.WARMUP_EPOCH": job["warmup"], "OPTIM.WARMUP_TYPE": "constant", "OPTIM.WARMUP_CONS_LR": lr / 2,
    }
    init = "a photo of a"
    if method == "CoOp":
        opts.update({"TRAINER.COOP.N_CTX": 4, "TRAINER.COOP.CTX_INIT": init, "TRAINER.COOP.PREC": prec})
    elif method == "CoCoOp":
        opts.update({"TRAINER.COCOOP.N_CTX": 4, "TRAINER.COCOOP.CTX_INIT": init, "TRAINER.COCOOP.PREC": prec})
    elif method == "KgCoOp":
        s = "COOP" if side == "official" else "KGCOOP"
        # the official CTX_INIT is a bool (its config: True), which means "a photo of a"
        opts.update({f"TRAINER.{s}.N_CTX": 4, f"TRAINER.{s}.CTX_INIT": True if side == "official" else init,
                     f"TRAINER.{s}.W": 8.0, f"TRAINER.{s}.PREC": prec})
        if side == "official":
            opts["TRAINER.COCOOP.PREC"] = prec  # KgCoOp halves its (unused) meta-net when this is fp16
    elif method == "MaPLe":
        opts.update({"TRAINER.MAPLE.N_CTX": 2, "TRAINER.MAPLE.CTX_INIT": init, "TRAINER.MAPLE.PREC": prec,
                     "TRAINER.MAPLE.PROMPT_DEPTH": depth})
    elif method == "PromptSRC":
        opts.update({"TRAINER.PROMPTSRC.N_CTX_TEXT": 4, "TRAINER.PROMPTSRC.N_CTX_VISION": 4,
                     "TRAINER.PROMPTSRC.CTX_INIT": init, "TRAINER.PROMPTSRC.PREC": prec,
                     "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT": depth, "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION": depth,
                     "TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT": 25, "TRAINER.PROMPTSRC.IMAGE_LOSS_WEIGHT": 10,
                     "TRAINER.PROMPTSRC.GPA_MEAN": (job["steps"] + 1) // 2, "TRAINER.PROMPTSRC.GPA_STD": 1})
    flat = []
    for k, v in opts.items():
        flat += [k, str(v)]
    return flat


# ------------------------------------------------------------------------------------------------
# Parameter names: official -> ours (either naming is accepted on our side)
# ------------------------------------------------------------------------------------------------

NAME_RULES = [
    (r"^prompt_learner\.meta_net\.linear1\.", "prompt_learner.meta_net.0."),
    (r"^prompt_learner\.meta_net\.linear2\.", "prompt_learner.meta_net.2."),
    (r"^prompt_learner\.compound_prompts_text\.(\d+)$", r"prompt_learner.deep_text.\1"),
    (r"^prompt_learner\.compound_prompt_projections\.(\d+)\.", r"prompt_learner.deep_proj.\1."),
    (r"^image_encoder\.VPT$", "prompt_learner.vis_ctx"),
]


def official_to_ours(name, our_names):
    """Our parameter name for an official one (``None`` when ours has no counterpart)."""
    if name in our_names:
        return name
    m = re.match(r"^(text|image)_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow$", name)
    if m:
        cand = f"prompt_learner.deep_{'text' if m.group(1) == 'text' else 'vis'}.{int(m.group(2)) - 1}"
        return cand if cand in our_names else None
    for pat, rep in NAME_RULES:
        cand = re.sub(pat, rep, name)
        if cand != name and cand in our_names:
            return cand
    return None


# ------------------------------------------------------------------------------------------------
# Worker side (runs in a subprocess; ``official`` or ``ours``)
# ------------------------------------------------------------------------------------------------

class RngTrace:
    """Logs every random aten op (name, shape, calling trainer code) while active."""

    def __init__(self, code_roots):
        """``code_roots``: [(folder, label prefix)]; frames in these folders make up the call chain."""
        from torch.utils._python_dispatch import TorchDispatchMode

        trace = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                name = func.overloadpacket.__name__
                if name in RANDOM_OPS:
                    t = out if isinstance(out, torch.Tensor) else (args[0] if args else None)
                    trace.events.append((name, tuple(t.shape) if isinstance(t, torch.Tensor) else (), trace.site()))
                return out

        self.mode = _Mode()
        self.events = []
        self.code_roots = [(osp.abspath(r) + os.sep, label) for r, label in code_roots]

    def site(self):
        """Trainer-code frames, outermost first; calls into a ``clip`` package end the chain."""
        chain = []
        for fr in traceback.extract_stack():
            f = osp.abspath(fr.filename)
            if f == osp.abspath(__file__):
                continue
            hit = next(((r, label) for r, label in self.code_roots if f.startswith(r)), None)
            if hit is None:
                continue
            rel = hit[1] + f[len(hit[0]):]
            if rel.startswith("clip" + os.sep):
                chain.append(f"{rel}:{fr.name}()")
                inner = traceback.extract_stack()[-1]
                for deep in reversed(traceback.extract_stack()):
                    if osp.abspath(deep.filename).startswith(hit[0]):
                        inner = deep
                        break
                if re.search(r"VPT|ctx", inner.line or ""):  # prompt tokens made inside a modified clip
                    chain.append(f"{hit[1]}{osp.abspath(inner.filename)[len(hit[0]):]}:{inner.lineno} "
                                 f"`{inner.line.strip()}`")
                break
            chain.append(f"{rel}:{fr.lineno} `{(fr.line or '').strip()}`")
        return " > ".join(chain)

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)

    def summary(self):
        """Consecutive ops from the same call chain, grouped: [(chain, n_ops, {op: count}, n_values)]."""
        groups = []
        for name, shape, site in self.events:
            n = 1
            for s in shape:
                n *= s
            if groups and groups[-1][0] == site:
                groups[-1][1] += 1
                groups[-1][2][name] = groups[-1][2].get(name, 0) + 1
                groups[-1][3] += n
            else:
                groups.append([site, 1, {name: 1}, n])
        return groups


def bare_trainer(cls, cfg, classnames, seed, trace_roots=None):
    """A trainer whose ``build_model`` ran, without data loaders (Dassl's and ours alike)."""
    t = cls.__new__(cls)
    base = next(c for c in cls.__mro__ if c.__name__ == "TrainerBase")
    base.__init__(t)
    t.cfg = cfg
    t.device = torch.device("cpu")
    t.start_epoch = t.epoch = 0
    t.max_epoch = cfg.OPTIM.MAX_EPOCH
    t.output_dir = cfg.OUTPUT_DIR
    t.dm = types.SimpleNamespace(dataset=types.SimpleNamespace(classnames=list(classnames)))
    t.check_cfg(cfg)
    torch.manual_seed(seed)
    trace = None
    if trace_roots:
        with RngTrace(trace_roots) as trace:
            t.build_model()
    else:
        t.build_model()
    t.rng_state_after_build = torch.get_rng_state().clone()
    t.rng_trace = trace.summary() if trace else None
    return t


def model_of(t):
    m = t.model
    return m.module if isinstance(m, torch.nn.DataParallel) else m


def learnable(t):
    return collections.OrderedDict((n, p) for n, p in model_of(t).named_parameters() if p.requires_grad)


def layout(t):
    """{registered name: [(key, shape, dtype), ...]} of what ``save_model`` writes."""
    return {name: [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in m.state_dict().items()]
            for name, m in t._models.items()}


def logits_of(t, image):
    t.set_model_mode("eval")
    with torch.no_grad():
        out = t.model_inference(image)
    t.set_model_mode("train")
    return out.detach().clone()


def run_steps(t, batches):
    """The engines' epoch loop with one batch per epoch: ``before_epoch``, ``forward_backward`` (each
    trainer's own), ``after_epoch`` (method hooks such as GPA; with TEST.NO_TEST the engine only saves the
    checkpoint after the last epoch, to OUTPUT_DIR). Returns losses and gradients."""
    losses, grads, lrs = [], [], []
    t.num_batches = 1
    for k, (img, lab) in enumerate(batches):
        t.epoch, t.batch_idx = k, 0
        t.before_epoch()
        t.set_model_mode("train")
        lrs.append(next(o for o in t._optims.values() if o is not None).param_groups[0]["lr"])
        summary = t.forward_backward({"img": img, "label": lab, "domain": torch.zeros_like(lab)})
        losses.append(float(summary["loss"]))
        grads.append({n: p.grad.detach().clone() for n, p in learnable(t).items() if p.grad is not None})
        t.after_epoch()
    t.lrs = lrs
    return losses, grads


def state_of(t):
    return {n: p.detach().clone() for n, p in learnable(t).items()}


def capture_loads(t):
    """Record what each registered module's ``load_state_dict`` receives and returns."""
    seen = {}
    for name, module in t._models.items():
        original = module.load_state_dict

        def wrapped(state_dict, strict=True, *a, _orig=original, _name=name, **k):
            result = _orig(state_dict, strict, *a, **k)
            seen[_name] = {"passed": list(state_dict.keys()), "strict": strict,
                           "missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}
            return result

        module.load_state_dict = wrapped
    return seen


def short_error(e):
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    unpickler = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
    if unpickler:  # torch's long weights_only advice: keep the reason only
        return f"{type(e).__name__}: weights_only=True load refused: {unpickler.group(1).strip()}"[:400]
    lines = text.splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:400]


def reason(status):
    """A few words for the table."""
    if "weights_only" in status.lower() or "weights only" in status.lower():
        glob = re.search(r"(?:GLOBAL|refused global:) ([\w.]+)", status)
        return f"weights_only load refused ({glob.group(1) if glob else 'pickled object in the file'})"
    m = re.search(r"(No checkpoint at|Model not found at|No model at) \"?([^\"]+)\"?", status)
    if m:
        return f"not found: {osp.basename(osp.dirname(m.group(2).rstrip('.')))}/ folder"
    if "does not fit" in status or "missing" in status:
        return status.split(": ", 1)[-1][:120]
    return status[:120]


def try_load(t, directory, epoch):
    try:
        t.load_model(directory, epoch=epoch)
        return "ok"
    except Exception as e:  # noqa: BLE001 - reported
        return short_error(e)


def alias_dir(src_dir, src_names, dst_names, tmp):
    """A copy of a checkpoint folder with the model sub-folder renamed to the loader's name."""
    if len(src_names) != 1 or len(dst_names) != 1:
        return None
    os.makedirs(tmp, exist_ok=True)
    dst = osp.join(tmp, dst_names[0])
    if osp.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(osp.join(src_dir, src_names[0]), dst)
    return tmp


def file_keys(directory, name, epoch):
    path = osp.join(directory, name, f"model.pth.tar-{epoch}")
    if not osp.exists(path):
        return None
    ck = torch.load(path, map_location="cpu", weights_only=False)  # our own test files
    return {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in ck["state_dict"].items()}


def stub_wilds():
    """Dassl imports WILDS at start-up (only its WILDS datasets use it): a stub when it is not installed."""
    import importlib.util
    if importlib.util.find_spec("wilds") is not None:
        return False
    stub = types.ModuleType("wilds")
    stub.get_dataset = None
    sys.modules["wilds"] = stub
    return True


class OfficialSide:
    def __init__(self, job, method):
        self.job, self.method = job, method
        key, module_name, cls_name, _ = METHODS[method]
        self.repo = osp.abspath(job["repos"][key])
        self.dassl = osp.abspath(job["dassl_for"][method])
        self.patches = []  # the official repository and its Dassl come first on PYTHONPATH (see main)
        self._patch_env()
        import train as official_train  # the official train.py: its extend_cfg and every trainer module
        self._patch_after_import()
        self.train_module = official_train
        self.module = sys.modules[module_name]
        self.cls = getattr(self.module, cls_name)

    def _patch_env(self):
        if stub_wilds():
            self.patches.append("stub `wilds` module (Dassl imports it at start-up; unused here)")
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self
        self.patches.append("`Tensor.cuda()` and `Module.cuda()` are no-ops (CPU run)")

    def force_fp32(self):
        torch.Tensor.half = lambda self, *a, **k: self
        self.patches.append("`Tensor.half()` is a no-op (so `Module.half()` too): fp32 everywhere")

    def _patch_after_import(self):
        from clip import clip as official_clip
        path = self.job["clip_file"]
        official_clip._download = lambda url, root=None, *a, **k: path
        self.patches.append("`clip._download` returns the test CLIP file")
        import dassl.optim.lr_scheduler as ls
        try:
            ls.ConstantWarmupScheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                       None, 1, 1e-5)
        except TypeError:
            def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1, verbose=False):
                self.successor = successor
                self.warmup_epoch = warmup_epoch
                torch.optim.lr_scheduler.LRScheduler.__init__(self, optimizer, last_epoch)
            ls._BaseWarmupScheduler.__init__ = __init__
            self.patches.append("Dassl `_BaseWarmupScheduler.__init__` without `verbose` (removed in torch >= 2.7)")

    def cfg(self, prec="fp32", out="", extra=()):
        from dassl.config import get_cfg_default
        cfg = get_cfg_default()
        self.train_module.extend_cfg(cfg)
        cfg.merge_from_list(method_opts(self.method, "official", self.job, prec) + ["OUTPUT_DIR", out] + list(extra))
        cfg.freeze()
        return cfg

    def build(self, seed, prec="fp32", trace=False, out=""):
        roots = [(self.repo, "")] if trace else None
        return bare_trainer(self.cls, self.cfg(prec, out), self.job["classnames"], seed, roots)

    def aux(self, t):
        m = model_of(t)
        if self.method == "KgCoOp":
            return {"hand_features": m.ori_embedding.detach().float().clone(),
                    "hand_templates": dict(self.module.CUSTOM_TEMPLATES)}
        if self.method == "PromptSRC":
            f = m.prompt_learner.fixed_embeddings.detach().float()
            return {"teacher": (f / f.norm(dim=-1, keepdim=True)).clone(),
                    "templates": list(self.module.IMAGENET_TEMPLATES)}
        return {}


class OurSide:
    def __init__(self, job, method):
        self.job, self.method = job, method
        self.patches = []  # this repository is on PYTHONPATH (see main)
        if os.environ.get("SEMPT_ENGINE") == "dassl" and stub_wilds():
            self.patches.append("stub `wilds` module for Dassl (our side, --engine dassl)")
        import datasets  # noqa: F401  (our readers; their config keys)
        import trainers
        from sempt.backend import ENGINE, TRAINER_REGISTRY
        self.engine = ENGINE
        self.datasets, self.trainers = datasets, trainers
        self.cls = TRAINER_REGISTRY.get(METHODS[method][3])

    def cfg(self, templates=None, out=""):
        from sempt.config import build_cfg
        cfg = build_cfg(extenders=[self.datasets.extend_cfg, self.trainers.extend_cfg],
                        opts=method_opts(self.method, "ours", self.job) + ["OUTPUT_DIR", out])
        if templates is not None:
            cfg.defrost()
            cfg.TRAINER.PROMPTSRC.TEACHER_TEMPLATES = tuple(templates)
            cfg.freeze()
        return cfg

    def build(self, seed, templates=None, trace=False, out=""):
        roots = [(ROOT, ""), (osp.dirname(__import__("clip").__file__), "clip" + os.sep)] if trace else None
        return bare_trainer(self.cls, self.cfg(templates, out), self.job["classnames"], seed, roots)

    def aux(self, t):
        m = model_of(t)
        if self.method == "KgCoOp":
            from sempt import templates
            try:  # KgCoOp's own table where there is one
                table = {d: templates.get_template(d, "kgcoop") for d in templates.HAND_TEMPLATES}
            except TypeError:
                table = {d: templates.get_template(d) for d in templates.HAND_TEMPLATES}
            return {"hand_features": m.hand_features.detach().float().clone(), "hand_templates": table}
        if self.method == "PromptSRC":
            return {"teacher": m.teacher_text.detach().float().clone()}
        return {}


def worker_official_train(job, method, out):
    side = OfficialSide(job, method)
    res = {"patches_import": list(side.patches)}
    # 1. the layout real checkpoints have: the official default precision (fp16), nothing forced
    try:
        t16 = side.build(job["seed"], prec="fp16")
        res["layout_fp16"] = layout(t16)
        del t16
    except Exception as e:  # noqa: BLE001
        res["layout_fp16_error"] = short_error(e)
    side.force_fp32()
    t = side.build(job["seed"], trace=True, out=job["dirs"][method]["official"])
    res["patches"] = list(side.patches)
    res["registered"] = list(t._models)
    res["layout"] = layout(t)
    res["learnable"] = {n: (tuple(p.shape), str(p.dtype)) for n, p in learnable(t).items()}
    res["rng_trace"], res["rng_state"] = t.rng_trace, t.rng_state_after_build
    res["aux"] = side.aux(t)
    res["init"] = state_of(t)
    batches = job["batches"]
    frozen = {n: p.detach().clone() for n, p in model_of(t).named_parameters() if not p.requires_grad}
    res["logits_init"] = logits_of(t, batches[0][0])
    res["losses"], res["grads"] = run_steps(t, batches)
    res["lrs"] = t.lrs
    res["final"] = state_of(t)
    res["logits_final"] = logits_of(t, batches[0][0])
    after = dict(model_of(t).named_parameters())
    res["frozen_drift"] = max(((after[n].detach() - v).abs().max().item() for n, v in frozen.items()), default=0.0)
    res["saved_keys"] = file_keys(job["dirs"][method]["official"], res["registered"][0], job["steps"])
    torch.save(res, out)


def worker_ours_train(job, method, out):
    side = OurSide(job, method)
    off = torch.load(job["dirs"][method]["official_result"], weights_only=False)
    templates = off["aux"].get("templates")
    t = side.build(job["seed"], templates=templates, trace=True, out=job["dirs"][method]["ours"])
    res = {"engine": side.engine, "registered": list(t._models), "layout": layout(t),
           "learnable": {n: (tuple(p.shape), str(p.dtype)) for n, p in learnable(t).items()},
           "rng_trace": t.rng_trace, "rng_state": t.rng_state_after_build, "aux": side.aux(t), "init": state_of(t)}
    if method == "PromptSRC":  # the teacher our default TEACHER_TEMPLATES give, for the record
        res["aux"]["teacher_default"] = side.aux(side.build(job["seed"]))["teacher"]
    # copy the official initial learnable values into ours
    ours = learnable(t)
    mapping, unmapped = {}, []
    for n, v in off["init"].items():
        m = official_to_ours(n, ours)
        if m is None or tuple(ours[m].shape) != tuple(v.shape):
            unmapped.append(n)
            continue
        mapping[n] = m
        with torch.no_grad():
            ours[m].copy_(v)
    res["mapping"], res["unmapped"] = mapping, unmapped
    res["ours_only"] = [n for n in ours if n not in mapping.values()]
    batches = job["batches"]
    res["logits_init"] = logits_of(t, batches[0][0])
    res["losses"], res["grads"] = run_steps(t, batches)
    res["lrs"] = t.lrs
    res["final"] = state_of(t)
    res["logits_final"] = logits_of(t, batches[0][0])
    res["saved_keys"] = file_keys(job["dirs"][method]["ours"], res["registered"][0], job["steps"])

    # official checkpoint -> ours (a fresh trainer with another seed, so a skipped tensor shows)
    off_dir, steps = job["dirs"][method]["official"], job["steps"]
    attempts = []
    t2 = side.build(job["seed"] + 1, templates=templates)
    before = state_of(t2)
    status = try_load(t2, off_dir, steps)
    attempts.append(("as saved", status))
    if status.startswith("FileNotFoundError"):  # diagnostic: the folder under our registered name
        tmp = alias_dir(off_dir, off["registered"], list(t2._models), off_dir + "-as-ours")
        if tmp:
            status = try_load(t2, tmp, steps)
            attempts.append((f"folder renamed {off['registered'][0]}/ -> {list(t2._models)[0]}/", status))
            off_dir = tmp
    if "weights_only" in status.lower() or "weights only" in status.lower():
        try:
            torch.load(osp.join(off_dir, off["registered"][0], f"model.pth.tar-{steps}"), weights_only=True)
        except Exception as e:  # noqa: BLE001
            glob = re.search(r"GLOBAL ([\w.]+)", str(e))
            if glob:
                attempts[-1] = (attempts[-1][0], attempts[-1][1] + f" [refused global: {glob.group(1)}]")
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # what our error message advises
        status = try_load(t2, off_dir, steps)
        attempts.append(("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1", status))
        del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
        if status != "ok":  # diagnostic: trust the file, to get to the key check
            original = torch.load

            def trusting_load(*a, **k):
                k["weights_only"] = False
                return original(*a, **k)
            torch.load = trusting_load
            try:
                status = try_load(t2, off_dir, steps)
            finally:
                torch.load = original
            attempts.append(("diagnostic: torch.load forced to weights_only=False", status))
    res["load_official"] = {"attempts": attempts, "before": before, "after": state_of(t2),
                            "logits": logits_of(t2, batches[0][0]) if status == "ok" else None}
    torch.save(res, out)


def worker_official_load(job, method, out):
    side = OfficialSide(job, method)
    side.force_fp32()
    ours = torch.load(job["dirs"][method]["ours_result"], weights_only=False)
    t = side.build(job["seed"] + 1)
    before = state_of(t)
    seen = capture_loads(t)
    our_dir, steps = job["dirs"][method]["ours"], job["steps"]
    attempts = []
    status = try_load(t, our_dir, steps)
    attempts.append(("as saved", status))
    if status.startswith("FileNotFoundError"):
        tmp = alias_dir(our_dir, ours["registered"], list(t._models), our_dir + "-as-official")
        if tmp:
            status = try_load(t, tmp, steps)
            attempts.append((f"folder renamed {ours['registered'][0]}/ -> {list(t._models)[0]}/", status))
    res = {"attempts": attempts, "seen": seen, "before": before, "after": state_of(t), "patches": side.patches,
           "logits": logits_of(t, job["batches"][0][0]) if status == "ok" else None}
    # the official trainer reloading its own checkpoint (which keys its load_model deletes; torch >= 2.6)
    t2 = side.build(job["seed"] + 2)
    seen2 = capture_loads(t2)
    off_dir = job["dirs"][method]["official"]
    own = [("as saved", try_load(t2, off_dir, steps))]
    if own[0][1] != "ok":
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
        own.append(("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1", try_load(t2, off_dir, steps)))
        del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
    res["self_load"] = {"attempts": own, "seen": seen2}
    torch.save(res, out)


# ------------------------------------------------------------------------------------------------
# Parent: set-up, comparison, report
# ------------------------------------------------------------------------------------------------

def make_clip(path, layers):
    """A random CLIP with ViT-B/16 widths, saved as an fp16 state dict like the official weights."""
    from sempt.testing import build_random_clip
    model = build_random_clip(width=512, layers=layers, vision_width=768, vision_layers=layers,
                              image_resolution=32, patch_size=16, embed_dim=512, seed=0)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)


def make_batches(steps, batch_size, n_cls, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, 3, 32, 32, generator=g), torch.randint(0, n_cls, (batch_size,), generator=g))
            for _ in range(steps)]


def run_worker(kind, method, job_path, out, log, env):
    cmd = [sys.executable, osp.abspath(__file__), "--worker", kind, "--method", method, "--job", job_path,
           "--out", out]
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tempfile.gettempdir())
    if p.returncode != 0 or not osp.exists(out):
        with open(log) as f:
            tail = f.read().strip().splitlines()[-15:]
        raise RuntimeError(f"{kind} worker for {method} failed (log {log}):\n  " + "\n  ".join(tail))
    return torch.load(out, weights_only=False)


def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def fmt(x):
    return "-" if x is None else (f"{x:.2e}" if isinstance(x, float) else str(x))


def load_verdict(attempts, target_after, source_final, mapping, names_in_target, before):
    """'OK' when the loader ran and every learnable tensor equals the saved one; else what is wrong.

    ``mapping``: target learnable name -> source learnable name.
    """
    first = attempts[0][1]
    not_loaded, diffs = [], []
    for tn in names_in_target:
        sn = mapping.get(tn)
        if sn is None or sn not in source_final:
            not_loaded.append(tn)
            continue
        d = max_diff(target_after[tn], source_final[sn])
        diffs.append(d)
        if d > 0:
            not_loaded.append(tn)
    if first == "ok" and not not_loaded:
        return "OK", not_loaded
    parts = [reason(first)]
    for what, status in attempts[1:]:
        parts.append(f"{what}: " + ("ok" if status == "ok" else reason(status)))
    if attempts[-1][1] == "ok":
        parts[-1] += " -> " + ("all learnable loaded" if not not_loaded else f"{len(not_loaded)} learnable NOT loaded")
    if first == "ok":
        return f"FAIL: loads, but {len(not_loaded)} learnable tensors left as initialised", not_loaded
    return "FAIL: " + "; ".join(parts), not_loaded


def compare(method, off, ours, offload):
    mapping = ours["mapping"]  # official -> ours
    inv = {v: k for k, v in mapping.items()}
    r = {"method": method}
    r["logit"] = max(max_diff(off["logits_init"], ours["logits_init"]),
                     max_diff(off["logits_final"], ours["logits_final"]))
    r["logit_scale"] = off["logits_init"].abs().max().item()
    r["loss"] = max(abs(a - b) for a, b in zip(off["losses"], ours["losses"]))
    g = 0.0
    gmax = 0.0
    missing_grads = set()
    for go, gu in zip(off["grads"], ours["grads"]):
        for n, v in go.items():
            m = mapping.get(n)
            if m is None or m not in gu:
                missing_grads.add(n)
                continue
            g = max(g, max_diff(v, gu[m]))
            gmax = max(gmax, v.abs().max().item())
    r["grad"], r["grad_scale"], r["missing_grads"] = g, gmax, sorted(missing_grads)
    r["param"] = max((max_diff(off["final"][n], ours["final"][m]) for n, m in mapping.items()), default=None)
    r["init"] = {n: max_diff(off["init"][n], ours["init"][m]) for n, m in mapping.items()}
    # ours -> official
    ours_final_as_off = {n: ours["final"][m] for n, m in mapping.items()}
    r["to_official"], r["to_official_missing"] = load_verdict(
        offload["attempts"], offload["after"], ours_final_as_off, {n: n for n in mapping},
        list(off["learnable"]), offload["before"])
    # official -> ours
    lo = ours["load_official"]
    off_final_as_ours = {m: off["final"][n] for n, m in mapping.items()}
    r["from_official"], r["from_official_missing"] = load_verdict(
        lo["attempts"], lo["after"], off_final_as_ours, {m: m for m in inv},
        list(ours["learnable"]), lo["before"])
    # logits of the model that loaded the other side's checkpoint vs that side's own final logits
    r["to_official_logits"] = None if offload["logits"] is None else max_diff(offload["logits"], ours["logits_final"])
    r["from_official_logits"] = None if lo["logits"] is None else max_diff(lo["logits"], off["logits_final"])
    return r


def print_table(rows):
    header = ["method", "max|logit diff|", "max|loss diff|", "max|grad diff|", "max|param diff|",
              "ours->official ckpt", "official->ours ckpt"]
    body = [[r["method"], fmt(r.get("logit")), fmt(r.get("loss")), fmt(r.get("grad")), fmt(r.get("param")),
             r.get("to_official", "-"), r.get("from_official", "-")] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    widths[-2:] = [min(w, 60) for w in widths[-2:]]
    line = lambda cells: "  ".join(str(c)[:w].ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    print(line(header))
    print(line(["-" * w for w in widths]))
    for b in body:
        print(line(b))
    long = [(r["method"], k, r[k]) for r in rows for k in ("to_official", "from_official")
            if len(str(r.get(k, ""))) > 60]
    for m, k, v in long:
        print(f"  {m} {k.replace('_', ' ')}: {v}")


def print_details(method, r, off, ours, offload):
    print(f"\n== {method} ==")
    _print_names(off, ours)
    _print_training(r, off, ours)
    _print_aux(off, ours)
    _print_rng(off, ours)
    _print_to_official(r, offload)
    _print_from_official(r, ours)


def _print_names(off, ours):
    print(f"  official learnable ({len(off['learnable'])}): " + ", ".join(off["learnable"]))
    renamed = ", ".join(f"{a} -> {b}" for a, b in ours["mapping"].items() if a != b)
    print(f"  name map official -> ours: {renamed or 'identical names'}")
    if ours["unmapped"]:
        print(f"  official learnable with no counterpart here: {ours['unmapped']}")
    if ours["ours_only"]:
        print(f"  our learnable with no official counterpart: {ours['ours_only']}")


def _print_training(r, off, ours):
    init = {k: v for k, v in r["init"].items() if v > 0}
    print(f"  initial values differing (seeded alike; random inits are expected to): "
          f"{ {k: f'{v:.2e}' for k, v in init.items()} if init else 'none'}")
    print(f"  losses official: {[f'{x:.6f}' for x in off['losses']]}")
    print(f"  losses ours:     {[f'{x:.6f}' for x in ours['losses']]}")
    print(f"  learning rates official: {off['lrs']}, ours: {ours['lrs']}")
    print(f"  scale: max|logit| {r['logit_scale']:.3g}, max|grad| {r['grad_scale']:.3g}; "
          f"official frozen weights moved by {off['frozen_drift']:.2e} over the steps")
    if r["missing_grads"]:
        print(f"  gradients not compared (no counterpart): {r['missing_grads']}")


def _print_aux(off, ours):
    for key, label in (("hand_features", "KgCoOp hand-crafted text features"),
                       ("teacher", "PromptSRC teacher text features (same templates)")):
        if key in off["aux"] and key in ours["aux"]:
            print(f"  {label}: max diff {max_diff(off['aux'][key], ours['aux'][key]):.2e}")
    if "hand_templates" in off["aux"]:
        a, b = off["aux"]["hand_templates"], ours["aux"].get("hand_templates", {})
        bad = {d: (t, b.get(d)) for d, t in a.items() if b.get(d) != t}
        print(f"  KgCoOp hand templates differing (official, ours): {bad or 'none'}")
    if "teacher_default" in ours["aux"]:
        print(f"  PromptSRC teacher with our default TEACHER_TEMPLATES vs official 60 templates: max diff "
              f"{max_diff(off['aux']['teacher'], ours['aux']['teacher_default']):.2e}")


def _print_rng(off, ours):
    same_rng = torch.equal(off["rng_state"], ours["rng_state"])
    n_off = sum(g[1] for g in off["rng_trace"])
    n_ours = sum(g[1] for g in ours["rng_trace"])
    print(f"  RNG after build_model from the same seed: {'identical' if same_rng else 'different'} "
          f"({n_off} random ops official, {n_ours} ours)")


def _print_to_official(r, offload):
    print("  ours -> official load_model:")
    for what, status in offload["attempts"]:
        print(f"    {what}: {status}")
    for name, s in offload["seen"].items():
        print(f"    {name}.load_state_dict(strict={s['strict']}): missing {len(s['missing'])} "
              f"{_brief(s['missing'])}; unexpected {_brief(s['unexpected'])}")
    if r["to_official_logits"] is not None:
        print(f"    logits of the official model after loading ours vs our final logits: {r['to_official_logits']:.2e}")
    if r["to_official_missing"]:
        print(f"    learnable left as initialised: {r['to_official_missing']}")


def _print_from_official(r, ours):
    print("  official -> ours load_model:")
    for what, status in ours["load_official"]["attempts"]:
        print(f"    {what}: {status}")
    if r["from_official_missing"]:
        print(f"    learnable not loaded: {r['from_official_missing']}")
    if r["from_official_logits"] is not None:
        print(f"    logits of our model after loading the official file vs official final logits: "
              f"{r['from_official_logits']:.2e}")


def _brief(keys, n=8):
    keys = list(keys)
    return str(keys) if len(keys) <= n else str(keys[:n])[:-1] + f", ... {len(keys) - n} more]"


def clip_key(k):
    """True for frozen CLIP weights inside a saved model (summarised in the layout tables)."""
    return bool(re.match(r"^(image_encoder|text_encoder|prompt_learner\.ZS_image_encoder)\.", k)) and "VPT" not in k


def layouts_markdown(job, results):
    out = ["# Official checkpoint layouts and constructor random draws",
           "",
           f"Generated by `benchmarks/compare_official.py` (torch {torch.__version__}, test CLIP with "
           f"{job['layers']} layers per tower, prompt depth {job['depth']}, {len(job['classnames'])} EuroSAT "
           "classes; with ViT-B/16 each tower has 12 layers and the depth is 9 by default, so per-layer "
           "key groups repeat accordingly).",
           "",
           "Shapes/dtypes: `layout (fp16)` is the official build at its default precision `PREC fp16` "
           "(what real checkpoints trained on GPU hold); the run itself uses fp32.",
           ""]
    for method, (off, ours, offload) in results.items():
        out += [f"## {method}", ""]
        out += _layout_header(job, method, off, ours)
        out += _layout_tables(off)
        out += _layout_loads(off, ours, offload)
        out += _layout_ours(ours)
        out += ["", rng_markdown(off, ours), ""]
    return "\n".join(out)


def _layout_header(job, method, off, ours):
    reg = off["registered"]
    return [f"- official registered model name(s): {', '.join(f'`{n}`' for n in reg)} -> files "
            f"`<output>/{reg[0]}/model.pth.tar-<epoch>` (+ `checkpoint`, `model-best.pth.tar`)",
            f"- checkpoint dict: `state_dict`, `epoch`, `optimizer`, `scheduler`"
            f"{', `val_result`' if 'Dassl.pytorch' in job['dassl_for'][method] else ''} "
            f"(Dassl `save_model`); with the official configs' warm-up the `scheduler` entry pickles "
            "a `ConstantWarmupScheduler` whose `successor` is a `CosineAnnealingLR` object",
            f"- our registered name(s): {', '.join(f'`{n}`' for n in ours['registered'])}",
            ""]


def _layout_tables(off):
    """One table per official registered model: its non-CLIP keys, then the frozen CLIP keys in groups."""
    lay = off.get("layout_fp16") or off["layout"]
    src = "fp16 build" if off.get("layout_fp16") else f"fp32 build (fp16 failed: {off.get('layout_fp16_error')})"
    out = []
    for name, rows in lay.items():
        out += [f"### `{name}` state_dict ({src}): {len(rows)} keys", "",
                "| key | shape | dtype | learnable (official) |", "| --- | --- | --- | --- |"]
        for k, shape, dtype in (r for r in rows if not clip_key(r[0])):
            learn = "yes" if (f"{name}.{k}" in off["learnable"] or k in off["learnable"]) else "no"
            out.append(f"| `{k}` | {list(shape)} | {dtype} | {learn} |")
        frozen = [r for r in rows if clip_key(r[0])]
        if frozen:
            out.append(_frozen_row(frozen))
        out.append("")
    return out


def _frozen_row(frozen):
    groups = collections.OrderedDict()
    for k, shape, dtype in frozen:
        g = re.sub(r"\.resblocks\.\d+\.", ".resblocks.<i>.", k)
        g = g.split(".resblocks.<i>.")[0] + ".resblocks.<i>.*" if ".resblocks.<i>." in g else g
        groups.setdefault(g, [0, dtype])[0] += 1
    return (f"| frozen CLIP weights ({len(frozen)} keys): "
            + "; ".join(f"`{g}` x{n}" for g, (n, _) in groups.items()) + " | | "
            + "/".join(sorted({d for _, d in groups.values()})) + " | no |")


def _layout_loads(off, ours, offload):
    """What the official load_model does with our file and with its own."""
    out = []
    seen = offload.get("seen", {})
    for name, s in seen.items():
        deleted = sorted(set(ours.get("saved_keys") or {}) - set(s["passed"]))
        out.append(f"- official `load_model` into `{name}`: deletes {deleted or 'nothing'} from our file's "
                   f"keys, then `load_state_dict(strict={s['strict']})`")
    if not seen:
        out.append("- official `load_model`: not reached (" + offload["attempts"][0][1] + ")")
    own = offload.get("self_load", {})
    for name, s in own.get("seen", {}).items():
        deleted = sorted(set(off.get("saved_keys") or {}) - set(s["passed"]))
        out.append(f"- official `load_model` of its own checkpoint: deletes {deleted or 'nothing'}, then "
                   f"`load_state_dict(strict={s['strict']})`; missing after that: {_brief(s['missing'])}; "
                   f"unexpected: {_brief(s['unexpected'])}")
    for what, status in own.get("attempts", []):
        out.append(f"- official reload of its own checkpoint ({what}): {status}")
    return out


def _layout_ours(ours):
    out = ["", f"Our checkpoint `state_dict` keys ({ours['registered'][0]}/):", ""]
    out += [f"- `{k}` {list(shape)} {dtype}" for k, (shape, dtype) in (ours.get("saved_keys") or {}).items()]
    out += ["", "Official learnable parameter -> ours:", ""]
    out += [f"- `{a}` -> `{b}`" for a, b in ours["mapping"].items()]
    out += [f"- `{a}` -> (none)" for a in ours["unmapped"]]
    out += [f"- (none) -> `{b}` (ours only)" for b in ours["ours_only"]]
    return out


def rng_markdown(off, ours):
    same = torch.equal(off["rng_state"], ours["rng_state"])
    lines = [f"Random draws of `build_model` after `torch.manual_seed(seed)` (consecutive draws from the same "
             f"call chain grouped; values = elements drawn). Generator state afterwards: "
             f"**{'identical' if same else 'different'}**.", ""]
    for label, res in (("official", off), ("ours", ours)):
        lines += [f"{label}:", "", "| # | call chain (innermost last) | ops | values |", "| --- | --- | --- | --- |"]
        for i, (site, n, ops, vals) in enumerate(res["rng_trace"], 1):
            ops_s = ", ".join(f"{k} x{v}" for k, v in ops.items())
            lines.append(f"| {i} | {site.replace('|', '/') or '(outside trainer code)'} | {ops_s} | {vals:,} |")
        lines.append("")
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coop", help="official CoOp repository (CoOp and CoCoOp)")
    p.add_argument("--kgcoop", help="official KgCoOp code folder (the one holding train.py)")
    p.add_argument("--maple", help="official multimodal-prompt-learning repository (MaPLe)")
    p.add_argument("--promptsrc", help="official PromptSRC repository")
    p.add_argument("--dassl", help="Dassl.pytorch repository")
    p.add_argument("--kgcoop-dassl", help="Dassl for KgCoOp (default: <kgcoop>/../Dassl.ProGrad.pytorch if present)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--steps", type=int, default=3, help="SGD steps (one epoch each) to compare")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--warmup-epoch", type=int, default=1,
                   help="OPTIM.WARMUP_EPOCH (constant warm-up, as in the official configs; 0: none)")
    p.add_argument("--layers", type=int, default=4, help="layers per tower of the test CLIP")
    p.add_argument("--depth", type=int, default=3, help="MaPLe/PromptSRC prompt depth (<= --layers)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--engine", default="builtin", choices=["builtin", "dassl"],
                   help="engine under our trainers (SEMPT_ENGINE); 'dassl' puts --dassl on their path")
    p.add_argument("--workdir", help="keep files here (default: a temporary folder, removed)")
    p.add_argument("--layouts", help="write the official checkpoint layouts (markdown) here")
    p.add_argument("--details", action="store_true", help="print per-method details after the table")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--job", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p


def run_as_worker(args):
    """One side of one comparison, in its own process (the official code or ours on the import path)."""
    with open(args.job) as f:
        job = json.load(f)
    job["batches"] = torch.load(job["batches_file"], weights_only=True)
    {"official-train": worker_official_train, "ours-train": worker_ours_train,
     "official-load": worker_official_load}[args.worker](job, args.method, args.out)
    return 0


def kgcoop_dassl(args):
    """KgCoOp ships its own Dassl fork beside its code; use it when present."""
    if args.kgcoop_dassl or not args.kgcoop:
        return args.kgcoop_dassl
    cand = osp.join(osp.dirname(osp.abspath(args.kgcoop)), "Dassl.ProGrad.pytorch")
    return cand if osp.isdir(cand) else args.dassl


def prepare_job(args, repos, wanted, work):
    """The test CLIP, the batches and job.json every worker reads; returns (job, job_path)."""
    from sempt.data import catalog  # our readers: run from the repository root (python -m benchmarks....)
    classnames = catalog.classnames(DATASET)
    clip_file = osp.join(work, f"clip_w512_v768_L{args.layers}.pt")
    if not osp.exists(clip_file):
        make_clip(clip_file, args.layers)
    batches_file = osp.join(work, "batches.pt")
    torch.save(make_batches(args.steps, args.batch_size, len(classnames), args.seed), batches_file)
    kg_dassl = kgcoop_dassl(args)
    job = {"repos": {k: v and osp.abspath(v) for k, v in repos.items()}, "clip_file": clip_file,
           "classnames": classnames, "steps": args.steps, "lr": args.lr, "layers": args.layers, "depth": args.depth,
           "seed": args.seed, "batches_file": batches_file, "warmup": args.warmup_epoch,
           "dassl_for": {m: (kg_dassl if m == "KgCoOp" else args.dassl) for m in METHODS}, "dirs": {}}
    for m in wanted:
        d = osp.join(work, m)
        if osp.exists(d):
            shutil.rmtree(d)
        job["dirs"][m] = {"official": osp.join(d, "official_ckpt"), "ours": osp.join(d, "our_ckpt"),
                          "official_result": osp.join(d, "official.pt"), "ours_result": osp.join(d, "ours.pt")}
        os.makedirs(d)
    job_path = osp.join(work, "job.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    return job, job_path


def run_methods(args, job, job_path, wanted, work):
    """Both sides of every wanted method; returns (rows, results, patches, failures)."""
    env = dict(os.environ, SEMPT_ENGINE=args.engine, PYTHONWARNINGS="ignore")
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)

    def with_path(*paths):  # each worker imports its side's code from these folders, nothing else
        return dict(env, PYTHONPATH=os.pathsep.join([*paths, env.get("PYTHONPATH", "")]))
    our_env = with_path(ROOT, args.dassl) if args.engine == "dassl" else with_path(ROOT)
    rows, results, patches, failures = [], collections.OrderedDict(), [], []
    for m in wanted:
        d, files = osp.join(work, m), job["dirs"][m]
        print(f"[{m}] running the official and our trainers ...", file=sys.stderr, flush=True)
        off_env = with_path(job["repos"][METHODS[m][0]], job["dassl_for"][m])
        try:
            off = run_worker("official-train", m, job_path, files["official_result"], osp.join(d, "official.log"),
                             off_env)
            ours = run_worker("ours-train", m, job_path, files["ours_result"], osp.join(d, "ours.log"), our_env)
            offload = run_worker("official-load", m, job_path, osp.join(d, "official_load.pt"),
                                 osp.join(d, "official_load.log"), off_env)
        except RuntimeError as e:
            rows.append({"method": m, "to_official": "worker failed", "from_official": "worker failed"})
            failures.append(str(e))
            continue
        for x in off["patches"]:
            if x not in patches:
                patches.append(x)
        results[m] = (off, ours, offload)
        rows.append(compare(m, off, ours, offload))
    return rows, results, patches, failures


def report(args, job, rows, results, patches, failures, skipped):
    print(f"Official code vs SemPT, fp32 on CPU, torch {torch.__version__}, {args.steps} SGD steps "
          f"(lr {args.lr}, warm-up {args.warmup_epoch} epoch), batch {args.batch_size}, test CLIP {args.layers} layers/tower (512/768 wide), "
          f"prompt depth {args.depth}, our engine: {args.engine}")
    print_table(rows)
    if skipped:
        print(f"skipped (no repository given): {', '.join(skipped)}")
    print("patches applied to the official code at run time: " + "; ".join(patches))
    if args.details:
        for m, (off, ours, offload) in results.items():
            print_details(m, next(r for r in rows if r["method"] == m), off, ours, offload)
    for f in failures:
        print("\n" + f)
    if args.layouts and results:
        with open(args.layouts, "w") as f:
            f.write(layouts_markdown(job, results))
        print(f"\nlayouts written to {args.layouts}")


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if args.worker:
        return run_as_worker(args)
    if not args.dassl:
        p.error("--dassl is required")
    if args.depth > args.layers:
        p.error("--depth must not exceed --layers")
    repos = {"coop": args.coop, "kgcoop": args.kgcoop, "maple": args.maple, "promptsrc": args.promptsrc}
    wanted = [m for m in args.methods if repos[METHODS[m][0]]]
    skipped = [m for m in args.methods if m not in wanted]
    work = args.workdir or tempfile.mkdtemp(prefix="compare_official-")
    os.makedirs(work, exist_ok=True)
    job, job_path = prepare_job(args, repos, wanted, work)
    rows, results, patches, failures = run_methods(args, job, job_path, wanted, work)
    report(args, job, rows, results, patches, failures, skipped)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
