"""The process group of a ``torchrun`` launch, as the rest of the package sees it.

A single-process run (``python train.py``, or ``torchrun --nproc_per_node 1``) has world size 1 and rank 0:
every helper here then answers as if there were no distribution at all (no process group is created), so
code can call them unconditionally and a single-process run computes exactly what it computed before.

With N > 1 processes (``torchrun --nproc_per_node N train.py ...``):

- ``init_from_env`` reads torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, joins the group (``nccl`` when the
  run uses CUDA, else ``gloo``) and pins process r to ``cuda:LOCAL_RANK``;
- the configured training batch is the *global* batch: each process takes ``batch / N`` images of every global
  batch (``per_process_batch``, ``share_bounds``);
- after ``backward`` the learnable parameters' gradients are averaged over the processes, weighted by each
  process's share of the batch (``all_reduce_grads``), so a step equals the single-process step on the whole
  global batch;
- only rank 0 (``is_main_process``) writes logs, checkpoints and ``results.json``.
"""
import os

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "local_rank", "is_main_process", "launched_world_size",
           "init_from_env", "shutdown", "backend", "per_process_batch", "share_bounds", "barrier",
           "broadcast_object", "all_gather_objects", "run_on_main", "shared_seed", "broadcast_parameters",
           "optimizer_parameters", "all_reduce_grads", "average_scalars", "describe"]


def is_distributed():
    """True inside an initialised process group with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    return dist.get_rank() if is_distributed() else 0


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def local_rank():
    """The process's index on its machine (torchrun's ``LOCAL_RANK``): its GPU."""
    return int(os.environ.get("LOCAL_RANK", rank())) if is_distributed() else 0


def is_main_process():
    """The one process that writes logs, checkpoints and ``results.json``."""
    return rank() == 0


def launched_world_size():
    """How many processes the launcher started (torchrun's ``WORLD_SIZE``; 1 for ``python train.py``)."""
    value = os.environ.get("WORLD_SIZE", "1").strip() or "1"
    try:
        return int(value)
    except ValueError:
        from sempt.config import ConfigError
        raise ConfigError(f"WORLD_SIZE={value!r} is not a number: start distributed runs with "
                          "torchrun --nproc_per_node N train.py ...") from None


def init_from_env(use_cuda=True, engine="builtin"):
    """Join the process group torchrun described in the environment; False (nothing done) for one process.

    ``engine`` is ``sempt.backend.ENGINE``: distributed runs need the built-in engine (real Dassl's trainer
    neither shards the data nor averages gradients, so each process would train alone on everything and all
    would write the same files): with real Dassl this stops with a ``ConfigError``."""
    from sempt.config import ConfigError
    n = launched_world_size()
    if n <= 1:
        return False
    if engine != "builtin":
        raise ConfigError(f"torchrun started {n} processes but the real Dassl engine is in use (sempt/backend.py "
                          "found the dassl package): distributed training needs the built-in engine; set "
                          "SEMPT_ENGINE=builtin, or run one process (python train.py)")
    if dist.is_initialized():  # already joined (e.g. by a test harness)
        return dist.get_world_size() > 1
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ConfigError(f"WORLD_SIZE={n} but {', '.join(missing)} not set: start distributed runs with "
                          "torchrun --nproc_per_node N train.py ...")
    cuda = bool(use_cuda) and torch.cuda.is_available()
    if not cuda:
        dist.init_process_group(backend="gloo")
        return True
    local = int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    if local >= torch.cuda.device_count():
        raise ConfigError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) are visible: use "
                          "--nproc_per_node at most the number of GPUs (or USE_CUDA False to run on the CPU)")
    torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl", device_id=torch.device("cuda", local))
    return True


def shutdown():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def backend():
    return dist.get_backend() if is_distributed() else None


def _collective_device():
    """Where tensors of collectives live: the process's GPU for nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if backend() == "nccl" else torch.device("cpu")


def per_process_batch(batch_size, key="DATALOADER.TRAIN_X.BATCH_SIZE", n=None):
    """Each process's share of the global training batch; ``ConfigError`` when it does not divide."""
    n = world_size() if n is None else n
    if batch_size % n:
        from sempt.config import ConfigError
        raise ConfigError(f"{key} {batch_size} does not divide over the {n} processes of this torchrun launch (the "
                          f"batch size is global, each process takes batch/{n}): choose a multiple of {n} or "
                          "another --nproc_per_node")
    return batch_size // n


def share_bounds(length, rank_, n):
    """``[start, stop)`` of process ``rank_``'s part of a global batch of ``length`` samples: contiguous, sizes
    differing by at most one (equal when ``n`` divides ``length``)."""
    base, extra = divmod(length, n)
    start = rank_ * base + min(rank_, extra)
    return start, start + base + (1 if rank_ < extra else 0)


def barrier():
    if is_distributed():
        dist.barrier()


def broadcast_object(obj, src=0):
    """Rank ``src``'s ``obj`` (plain values: numbers, strings, lists, tuples, dicts) on every process."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, weights_only=True)  # plain values only: nothing else unpickles
    return box[0]


def all_gather_objects(obj):
    """``[obj of rank 0, obj of rank 1, ...]`` on every process (``[obj]`` with one process)."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj, weights_only=True)
    return out


def run_on_main(fn):
    """Run ``fn()`` on rank 0 only and return its result on every process. When it raises, rank 0 raises that
    error (and prints it, as the command line does) while the other processes exit quietly with status 2, so
    the message appears once and nobody waits forever for rank 0."""
    if not is_distributed():
        return fn()
    outcome = None
    if is_main_process():
        try:
            outcome = ("ok", fn())
        except BaseException as e:
            broadcast_object(("error", f"{type(e).__name__}: {e}"))
            raise
    outcome = broadcast_object(outcome)
    if outcome[0] == "error":
        raise SystemExit(2)
    return outcome[1]


def shared_seed():
    """A random seed drawn on rank 0 and shared by every process (for ``SEED < 0``: the processes must still
    draw the same few-shot data, initial prompts and batch order)."""
    import random
    return broadcast_object(random.SystemRandom().randrange(2 ** 31))


def optimizer_parameters(optimizers):
    """The parameters the given optimizers update, each once, in a fixed order."""
    seen, params = set(), []
    for optim in optimizers:
        if optim is None:
            continue
        for group in optim.param_groups:
            for p in group["params"]:
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


def broadcast_parameters(params, src=0):
    """Copy rank ``src``'s values of ``params`` to every process (all processes start from the same prompts)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=src)


def all_reduce_grads(params, count=1):
    """Replace each gradient by the weighted mean over the processes, ``sum_r count_r g_r / sum_r count_r``.

    ``count`` is this process's number of samples in the step. Every loss here is a mean over the process's
    samples plus terms that do not depend on the batch (KgCoOp's and SemPT's pulls to the hand prompts,
    PromptSRC's text distillation): the weighted mean of those per-process gradients is exactly the gradient of
    the loss on the whole global batch (with equal shares it is the plain mean). One flat ``all_reduce`` carries
    every gradient and the count. Parameters without a gradient are left alone (every process runs the same
    code, so they are the same on every process)."""
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    dtype = torch.float64 if any(g.dtype == torch.float64 for g in grads) else torch.float32
    flat = torch.cat([g.detach().reshape(-1).to(dtype) * count for g in grads]
                     + [torch.full((1,), float(count), dtype=dtype, device=grads[0].device)])
    dist.all_reduce(flat)
    flat = flat[:-1] / flat[-1]
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def average_scalars(values, count=1):
    """The weighted mean over the processes of a dict of numbers (the progress line's loss and accuracy of the
    whole global batch rather than of rank 0's share)."""
    if not is_distributed() or not values:
        return values
    keys = list(values)  # the same order on every process: they run the same code
    buf = torch.tensor([float(values[k]) * count for k in keys] + [float(count)], dtype=torch.float64,
                       device=_collective_device())
    dist.all_reduce(buf)
    return {k: (buf[i] / buf[-1]).item() for i, k in enumerate(keys)}


def describe(global_batch):
    """The line ``log.txt`` records about the set-up (None for one process)."""
    if not is_distributed():
        return None
    n = world_size()
    return (f"Distributed: {n} processes ({backend()}), batch {global_batch // n} per process (global batch "
            f"{global_batch}); evaluation sharded over the processes and gathered on rank 0")
