"""Training and evaluation cost of the prompt methods at ImageNet-size label spaces, with the text encoder's
activation checkpointing off and on (``MODEL.TEXT_ACTIVATION_CHECKPOINTING``, see ``sempt.text_encoder``).

    python -m benchmarks.throughput                               # ViT-B/16 shapes, 1,000 classes, CUDA if present
    python -m benchmarks.throughput --device cuda --prec fp16     # the GPU table (timing capped at 150 s)
    python -m benchmarks.throughput --preset tiny --classes 200   # a smoke run, seconds
    python -m benchmarks.throughput --device cpu --batch 4 --eval-batch 4 --warmup 0 --steps 1 --eval-steps 1

For every method (CoOp, KgCoOp, SemPT, MaPLe, PromptSRC by default; ``--methods`` also knows CoCoOp and
SemPT-prompted) and checkpointing setting (``never`` / ``always``) it prints: training ms per image (median
over the timed steps of forward, backward and SGD step, divided by the batch), evaluation ms per image
(inference with the class text features cached, as in testing; measured once per method, since it runs
without gradients and checkpointing does not apply), peak memory of the training steps, their ratios to
CoOp, and per method the ratios checkpointing off / on.

The model has CLIP ViT-B/16's shapes with random weights (no download): costs depend on shapes, not weight
values. Each method uses its published prompt sizes (CoOp 16 context tokens, KgCoOp/SemPT/CoCoOp "a photo
of a", MaPLe 2 tokens to depth 9, PromptSRC 4+4 tokens to depth 9, SemPT M=6 attributes).

Peak memory, the bytes a training step needs beyond the built model:
- CUDA: ``torch.cuda.max_memory_allocated()`` over the training steps minus ``memory_allocated()`` before.
- CPU: every variant runs in a fresh subprocess, where glibc is told from the start to serve every
  allocation above 64 KiB by ``mmap`` (``mallopt(M_MMAP_THRESHOLD)``), so a freed tensor leaves the resident
  set at once. One training step runs first; its peak is the peak resident set size (``VmHWM``, reset just
  before by writing 5 to ``/proc/self/clear_refs``) minus the resident size at its start: the peak of live
  tensors, not of heap fragmentation. Then the threshold goes to 32 MiB, where glibc's own adaptive setting
  ends up, for the timed steps (page-faulting every tensor afresh makes the memory step slower: 1.4-1.7x
  at ViT-B/16 shapes with 100 classes).
  The subprocess's address space is capped (``--memory-limit-gb``, default 3/4 of the memory available at
  the start), so a variant that does not fit fails alone with "out of memory" instead of driving the
  machine into the OOM killer.

``--time-budget`` (seconds, default 150) bounds the timing: each variant gets an equal share of what is
left, runs its ``--warmup`` steps, then timed steps until ``--steps`` or its share is spent (at least one),
and the same for evaluation. Every variant always runs, so the table is complete.
"""
import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

PRESETS = {
    "vit_b16": dict(width=512, layers=12, vision_width=768, vision_layers=12, image_resolution=224, patch_size=16,
                    embed_dim=512),
    # seconds on a CPU, with enough text blocks (6) for checkpointing to show
    "tiny": dict(width=64, layers=6, vision_width=64, vision_layers=2, image_resolution=32, patch_size=16,
                 embed_dim=64),
}
METHODS = ("CoOp", "KgCoOp", "SemPT", "MaPLe", "PromptSRC", "CoCoOp", "SemPT-prompted")
DEFAULT_METHODS = "CoOp,KgCoOp,SemPT,MaPLe,PromptSRC"
SETTINGS = ("always", "never")  # "always" first: it fits where "never" may not, and it measures evaluation


def frozen_clip(preset, prec, device):
    """A random-weight CLIP of the preset's shapes on ``device``, frozen (fp16 weights when asked on CUDA)."""
    from sempt.testing import build_random_clip
    clip_model = build_random_clip(**PRESETS[preset])
    if prec == "fp16" and device.type == "cuda":
        from clip.model import convert_weights
        convert_weights(clip_model)
    for prm in clip_model.parameters():
        prm.requires_grad_(False)
    return clip_model.to(device)


def build_model(method, clip_model, classnames, n_attr):
    """The method's model around ``clip_model``, as its trainer builds it, with random stand-ins for the
    frozen features a trainer would compute from text (hand-crafted prompts, attributes, PromptSRC's teacher)."""
    from sempt.prompt_learner import PromptLearner
    from sempt.prompted_clip import CoOpCLIP
    d = clip_model.text_projection.shape[1]
    n = len(classnames)
    device = clip_model.text_projection.device

    def unit(*shape):
        return F.normalize(torch.randn(*shape), dim=-1).to(device)
    depth = min(9, len(clip_model.transformer.resblocks), len(clip_model.visual.transformer.resblocks))
    if method == "CoOp":
        return CoOpCLIP(PromptLearner(classnames, clip_model, n_ctx=16), clip_model)
    if method == "KgCoOp":
        from trainers.kgcoop import KgCoOpCLIP
        return KgCoOpCLIP(PromptLearner(classnames, clip_model, ctx_init="a photo of a"), clip_model, unit(n, d))
    if method == "SemPT":
        from trainers.sempt import SemPTCLIP
        return SemPTCLIP(PromptLearner(classnames, clip_model, ctx_init="a photo of a"), clip_model, unit(n, d),
                         unit(n, n_attr, d))
    if method == "SemPT-prompted":
        from trainers.sempt import SemPTCLIP
        pl = PromptLearner(classnames, clip_model, ctx_init="a photo of a")
        sentences = [f"{c}, attribute {m}: a short visual description of it" for c in classnames for m in range(n_attr)]
        attr = PromptLearner(sentences, clip_model, ctx_init="a photo of a", truncate=True)
        attr.ctx = pl.ctx
        return SemPTCLIP(pl, clip_model, unit(n, d), None, attr)
    if method == "MaPLe":
        from trainers.maple import MaPLeCLIP, MultiModalPromptLearner
        return MaPLeCLIP(MultiModalPromptLearner(classnames, clip_model, 2, "a photo of a", depth=depth), clip_model)
    if method == "PromptSRC":
        from trainers.promptsrc import IndependentPromptLearner, PromptSRCCLIP
        pl = IndependentPromptLearner(classnames, clip_model, 4, "a photo of a", 4, depth, depth)
        return PromptSRCCLIP(pl, clip_model, unit(n, d))
    if method == "CoCoOp":
        from trainers.cocoop import CoCoOpCLIP, ConditionalPromptLearner
        return CoCoOpCLIP(ConditionalPromptLearner(classnames, clip_model, 4, "a photo of a"), clip_model)
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def loss_fn(method, model):
    """``loss(image, label)`` of the method's trainer (``compute_loss``), with its default weights."""
    def loss(image, label):
        if method == "KgCoOp":
            logits, penalty = model.forward_with_penalty(image)
            return F.cross_entropy(logits, label) + 8.0 * penalty
        if method.startswith("SemPT"):
            label_logits, attr_logits, _ = model.logits(image)
            return F.cross_entropy(label_logits, label) + F.cross_entropy(attr_logits, label)
        if method == "PromptSRC":
            logits, f, t, f0, zs = model.outputs(image)
            return (F.cross_entropy(logits.float(), label) + 25 * F.l1_loss(t.float(), model.teacher_text.float())
                    + 10 * F.l1_loss(f.float(), f0.float())
                    + F.kl_div(F.log_softmax(logits.float(), 1), F.log_softmax(zs.float(), 1), reduction="sum",
                               log_target=True) / logits.numel())
        return F.cross_entropy(model(image).float(), label)
    return loss


def text_sequences(method, n_cls, n_attr, batch):
    """Prompts in the largest text-encoder call of one training step (what ``auto`` decides on)."""
    return {"CoCoOp": batch * n_cls, "SemPT-prompted": n_cls * n_attr}.get(method, n_cls)


# --- memory ---------------------------------------------------------------------------------------------
def _proc_status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


class PeakMemory:
    """Peak bytes above the level at ``start()``: CUDA allocator statistics, or the process's resident set
    size on CPU (see the module's docstring)."""

    def __init__(self, device):
        self.device = device

    def start(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident size
            self.base = _proc_status("VmRSS")

    def peak(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - self.base
        return _proc_status("VmHWM") - self.base


def set_mmap_threshold(nbytes):
    """glibc: serve allocations above ``nbytes`` by mmap (freed at once) and trim the heap above twice that;
    False where the C library is not glibc."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, int(nbytes)) and libc.mallopt(-1, 2 * int(nbytes)))  # M_MMAP_/M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


def cap_address_space(limit_bytes):
    """Let this process map at most ``limit_bytes`` more than now (CPU only): beyond it allocations fail."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    new = _proc_status("VmSize") + int(limit_bytes)
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))


def is_oom(err):
    text = str(err).lower()
    return isinstance(err, MemoryError) or "out of memory" in text or "can't allocate memory" in text


# --- one variant --------------------------------------------------------------------------------------------
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, n_warmup, n_max, deadline, device, label, log):
    """Run ``fn`` ``n_warmup`` times, then time it up to ``n_max`` times while ``time.time() < deadline``
    (at least once); returns the wall-clock and the process's CPU times of the timed runs, in seconds."""
    for i in range(n_warmup):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        log(f"{label} warm-up {i + 1}/{n_warmup}: {time.perf_counter() - t0:.2f} s")
    times, cpu = [], []
    while len(times) < max(1, n_max) and (not times or time.time() < deadline):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        left = n_max - len(times)
        eta = f", about {statistics.median(times) * left:.0f} s to go" if left > 0 else ""
        log(f"{label} {len(times)}/{n_max}: {times[-1]:.2f} s (CPU {cpu[-1]:.2f} s){eta}")
    return times, cpu


def run_variant(spec, clip_model=None, log=print):
    """Measure one (method, checkpointing) variant; returns a result dict (``error`` set when it failed)."""
    from sempt.text_encoder import set_text_checkpointing
    device = torch.device(spec["device"])
    method, setting = spec["method"], spec["checkpointing"]
    label = f"{method} (checkpointing {setting})"
    res = {"method": method, "checkpointing": setting}
    torch.manual_seed(0)
    if clip_model is None:
        clip_model = frozen_clip(spec["preset"], spec["prec"], device)
    classnames = [f"class number {i}" for i in range(spec["classes"])]
    resolution = PRESETS[spec["preset"]]["image_resolution"]
    model = build_model(method, clip_model, classnames, spec["attributes"]).to(device)
    set_text_checkpointing(model, setting)
    encoder = model.text_encoder
    n_seq = text_sequences(method, spec["classes"], spec["attributes"], spec["batch"])
    res["text_sequences"] = n_seq
    res["saved_estimate_mib"] = encoder.saved_bytes(n_seq) / 2 ** 20
    from sempt.text_encoder import AUTO_CHECKPOINT_BYTES
    res["auto_checkpoints"] = encoder.saved_bytes(n_seq) > AUTO_CHECKPOINT_BYTES
    for name, q in model.named_parameters():
        q.requires_grad_(name.startswith("prompt_learner"))
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.002, momentum=0.9)
    loss = loss_fn(method, model)
    image = torch.randn(spec["batch"], 3, resolution, resolution, device=device)
    label_t = torch.randint(0, spec["classes"], (spec["batch"],), device=device)

    def train_step():
        value = loss(image, label_t)
        opt.zero_grad()
        value.backward()
        opt.step()

    share = spec["time_share"]
    meter = PeakMemory(device)
    if device.type == "cpu" and spec.get("memory_limit_gb"):
        cap_address_space(spec["memory_limit_gb"] * 2 ** 30)
    model.train()
    try:
        meter.start()
        if device.type == "cpu":  # one step for memory, then the timed ones (see the module's docstring)
            timed(train_step, 0, 1, 0, device, f"{label} memory step", log)
            res["peak_mib"] = meter.peak() / 2 ** 20
            set_mmap_threshold(32 * 2 ** 20)
        t, cpu = timed(train_step, spec["warmup"], spec["steps"], time.time() + share * 0.7, device,
                       f"{label} train step", log)
        if device.type == "cuda":
            res["peak_mib"] = meter.peak() / 2 ** 20
        res["train_steps"] = len(t)
        res["train_ms_per_image"] = statistics.median(t) / spec["batch"] * 1000
        res["train_cpu_ms_per_image"] = statistics.median(cpu) / spec["batch"] * 1000
    except (RuntimeError, MemoryError) as err:
        if not is_oom(err):
            raise
        res["error"] = "out of memory" + (f" (limit {spec['memory_limit_gb']:.1f} GiB)"
                                          if device.type == "cpu" and spec.get("memory_limit_gb") else "")
        log(f"{label}: {res['error']}")
        return res
    if spec["eval"]:
        del opt
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        model.eval()
        eval_image = torch.randn(spec["eval_batch"], 3, resolution, resolution, device=device)
        with torch.no_grad():
            model(eval_image)  # fills the class text-feature caches, as the first test batch does
            t, cpu = timed(lambda: model(eval_image), 0, spec["eval_steps"], time.time() + share * 0.3, device,
                           f"{label} eval batch", log)
        res["eval_steps"] = len(t)
        res["eval_ms_per_image"] = statistics.median(t) / spec["eval_batch"] * 1000
        res["eval_cpu_ms_per_image"] = statistics.median(cpu) / spec["eval_batch"] * 1000
    return res


def run_child(spec):
    """A variant in a fresh subprocess (CPU: its resident set size is its own); returns its result."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
                          stdout=subprocess.PIPE, text=True)  # stderr (progress lines) goes to the console
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        killed = proc.returncode < 0 or proc.returncode == 137
        why = "killed (out of memory?)" if killed else f"failed with exit status {proc.returncode}"
        return {"method": spec["method"], "checkpointing": spec["checkpointing"], "error": why}
    return json.loads(lines[-1][len("RESULT "):])


# --- the table ------------------------------------------------------------------------------------------------
def _fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def report(results, methods, cpu=False):
    """The two tables. ``cpu``: also the CPU time of the steps, and ratios from it (on a shared machine the
    process's CPU time is what load changes least; with one thread it is the time of an idle core)."""
    by = {(r["method"], r["checkpointing"]): r for r in results}
    train = "train_cpu_ms_per_image" if cpu else "train_ms_per_image"
    _cost_table(results, methods, by, train, cpu)
    _checkpointing_table(methods, by, train, cpu)


def _cost_row(m, s, r, by, evals, train, cpu):
    row = [m, "on" if s == "always" else "off"]
    if "error" in r:
        return row + [r["error"]]
    ev_key = "eval_cpu_ms_per_image" if cpu else "eval_ms_per_image"
    base = by.get(("CoOp", s), {})
    ev = evals.get(m, {}) if s == SETTINGS[0] else {}
    row += [_fmt(r["train_ms_per_image"])] + ([_fmt(r.get("train_cpu_ms_per_image"))] if cpu else [])
    row += [_fmt(ev.get("eval_ms_per_image"), 2)] + ([_fmt(ev.get("eval_cpu_ms_per_image"), 2)] if cpu else [])
    row += [_fmt(r["peak_mib"], 0), _fmt(_ratio(r.get(train), base.get(train)), 2),
            _fmt(_ratio(ev.get(ev_key), evals.get("CoOp", {}).get(ev_key)), 2) if ev else "",
            _fmt(_ratio(r["peak_mib"], base.get("peak_mib")), 2)]
    return row


def _cost_table(results, methods, by, train, cpu):
    """Per method and setting: training and evaluation ms per image, peak memory, ratios to CoOp."""
    from tabulate import tabulate
    evals = {r["method"]: r for r in results if r.get("eval_ms_per_image") is not None}
    rows = [_cost_row(m, s, by[(m, s)], by, evals, train, cpu) for m in methods for s in SETTINGS if (m, s) in by]
    headers = ["method", "checkpointing", "train ms/image"] + (["train CPU ms/image"] if cpu else []) + [
        "eval ms/image"] + (["eval CPU ms/image"] if cpu else []) + ["peak MiB", "train vs CoOp", "eval vs CoOp",
                                                                     "memory vs CoOp"]
    print(tabulate(rows, headers=headers))
    print("(evaluation is measured once per method, without gradients, where checkpointing does not apply; ratios "
          "to CoOp compare the same checkpointing setting" + ("; time ratios from CPU time)" if cpu else ")"))


def _checkpointing_table(methods, by, train, cpu):
    """Per method: what checkpointing saves (peak memory off/on) and costs (step time on/off)."""
    from tabulate import tabulate
    rows = []
    for m in methods:
        on, off = by.get((m, "always"), {}), by.get((m, "never"), {})
        auto = on.get("auto_checkpoints", off.get("auto_checkpoints"))
        rows.append([m, on.get("text_sequences", off.get("text_sequences", "-")),
                     _fmt(on.get("saved_estimate_mib", off.get("saved_estimate_mib")), 0),
                     "-" if auto is None else ("on" if auto else "off"),
                     _fmt(_ratio(off.get("peak_mib"), on.get("peak_mib")), 2),
                     _fmt(_ratio(on.get(train), off.get(train)), 2)])
    print()
    print(tabulate(rows, headers=["method", "text prompts/step", "est. activations MiB", "auto", "peak memory off/on",
                                  "step time on/off" + (" (CPU)" if cpu else "")]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="vit_b16")
    p.add_argument("--classes", type=int, default=1000, help="label-space size")
    p.add_argument("--attributes", type=int, default=6, help="SemPT's attributes per class")
    p.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--checkpointing", default="always,never", help="settings to compare: always, never or both")
    p.add_argument("--batch", type=int, default=8, help="training batch")
    p.add_argument("--eval-batch", type=int, default=32)
    p.add_argument("--warmup", type=int, default=1, help="untimed training steps per variant")
    p.add_argument("--steps", type=int, default=5, help="timed training steps per variant (at most, at least 1)")
    p.add_argument("--eval-steps", type=int, default=5, help="timed evaluation batches per method (at most)")
    p.add_argument("--time-budget", type=float, default=150.0, help="seconds shared by the variants' timing")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--prec", choices=["fp32", "fp16"], default="fp32", help="fp16 weights (CUDA only)")
    p.add_argument("--memory-limit-gb", type=float, default=None,
                   help="CPU: address-space cap per variant (default: 3/4 of the memory available now)")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def available_gb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2 ** 20
    return None


def run_as_child(spec_json):
    """One variant in this fresh process (CPU): its result on stdout as one RESULT line."""
    spec = json.loads(spec_json)
    if spec["device"] == "cpu":
        set_mmap_threshold(64 * 2 ** 10)  # before anything is allocated: see the module's docstring
    res = run_variant(spec, log=lambda s: print("  " + s, file=sys.stderr, flush=True))
    print("RESULT " + json.dumps(res), flush=True)
    return 0


def check_request(args):
    """``(methods, settings, device)``, or None after printing what is wrong."""
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    settings = [s.strip() for s in args.checkpointing.split(",") if s.strip()]
    bad = [m for m in methods if m not in METHODS] + [s for s in settings if s not in SETTINGS]
    if bad or not methods or not settings:
        print(f"error: unknown method or setting {bad}: --methods from {', '.join(METHODS)}; --checkpointing from "
              f"{', '.join(SETTINGS)}", file=sys.stderr)
        return None
    if "CoOp" not in methods:
        methods.insert(0, "CoOp")  # the reference of the ratios
    settings = [s for s in SETTINGS if s in settings]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no GPU; use --device cpu", file=sys.stderr)
        return None
    if args.prec == "fp16" and device.type != "cuda":
        print("note: --prec fp16 needs CUDA; running fp32 on CPU")
        args.prec = "fp32"
    return methods, settings, device


def measure_one(spec, device, clip_model):
    """One variant: in this process on CUDA (exact allocator statistics, CLIP built once), else in a child."""
    if device.type != "cuda":
        return run_child(spec)
    try:
        res = run_variant(spec, clip_model, log=lambda s: print("  " + s, flush=True))
    except torch.cuda.OutOfMemoryError:
        res = {"method": spec["method"], "checkpointing": spec["checkpointing"], "error": "out of memory"}
    gc.collect()
    torch.cuda.empty_cache()
    return res


def run_variants(args, methods, settings, device, limit):
    from sempt.world.progress import fmt_seconds
    variants = [(m, s) for m in methods for s in settings]
    print(f"{args.preset} shapes, {args.classes} classes, batch {args.batch} (eval {args.eval_batch}), "
          f"{device.type} {args.prec}, torch threads {torch.get_num_threads()}, {len(variants)} variants"
          + (f", CPU memory cap {limit:.1f} GiB per variant" if device.type == "cpu" and limit else ""), flush=True)
    clip_model = frozen_clip(args.preset, args.prec, device) if device.type == "cuda" else None
    start, results = time.time(), []
    for i, (method, setting) in enumerate(variants):
        left = max(0.0, args.time_budget - (time.time() - start))
        spec = dict(method=method, checkpointing=setting, preset=args.preset, classes=args.classes,
                    attributes=args.attributes, batch=args.batch, eval_batch=args.eval_batch, warmup=args.warmup,
                    steps=args.steps, eval_steps=args.eval_steps, device=str(device), prec=args.prec,
                    time_share=left / (len(variants) - i), memory_limit_gb=limit,
                    eval=setting == settings[0])
        print(f"[{i + 1}/{len(variants)}] {method}, checkpointing {setting}", flush=True)
        res = measure_one(spec, device, clip_model)
        results.append(res)
        done = time.time() - start
        eta = done / (i + 1) * (len(variants) - i - 1)
        print(f"  done: {res.get('error') or 'peak %.0f MiB, %.1f ms/image' % (res['peak_mib'], res['train_ms_per_image'])}"
              f" | elapsed {fmt_seconds(done)}, eta {fmt_seconds(eta)}", flush=True)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return run_as_child(args.child)
    from sempt.fileio import write_json
    request = check_request(args)
    if request is None:
        return 2
    methods, settings, device = request
    limit = args.memory_limit_gb
    if device.type == "cpu" and limit is None:
        avail = available_gb()
        limit = 0.75 * avail if avail else None
    results = run_variants(args, methods, settings, device, limit)
    print()
    report(results, methods, cpu=device.type == "cpu")
    if args.json:
        write_json({"args": {k: v for k, v in vars(args).items() if k != "child"}, "device": str(device),
                    "torch_threads": torch.get_num_threads(), "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
