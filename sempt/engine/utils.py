"""Small helpers with Dassl's names: logging to ``log.txt``, seeding, environment info, files."""
import os
import os.path as osp
import random
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from PIL import Image

from sempt.fileio import atomic_write_text, mkdir_if_missing, read_json, write_json

__all__ = [
    "Logger", "setup_logger", "set_random_seed", "collect_env_info", "mkdir_if_missing",
    "check_isfile", "read_json", "write_json", "read_image", "listdir_nohidden", "tolist_if_not",
    "AverageMeter", "MetricMeter", "count_num_param", "atomic_write_text",
]


def check_isfile(fpath):
    return osp.isfile(fpath)


def read_image(path):
    """Read an image as RGB ``PIL.Image``; a missing file raises ``IOError`` naming it."""
    if not osp.exists(path):
        raise IOError(f'No file exists at "{path}"')
    return Image.open(path).convert("RGB")


def listdir_nohidden(path, sort=False):
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    return sorted(items) if sort else items


def tolist_if_not(x):
    return x if isinstance(x, list) else [x]


def set_random_seed(seed):
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def get_rng_states():
    """The states of Python's ``random``, NumPy's and torch's generators, as tensors and plain values (so a
    checkpoint holding them loads with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"python": list(random.getstate()[1]), "numpy": torch.from_numpy(keys.astype(np.int64)),
              "numpy_pos": int(pos), "numpy_gauss": [int(has_gauss), float(cached)], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states):
    """Restore what ``get_rng_states`` returned: the run continues with the same random numbers."""
    random.setstate((3, tuple(states["python"]), None))
    has_gauss, cached = states["numpy_gauss"]
    np.random.set_state(("MT19937", states["numpy"].numpy().astype(np.uint32), states["numpy_pos"], has_gauss, cached))
    torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def collect_env_info():
    """A short, dependency-free environment report for ``log.txt``."""
    import platform

    import torchvision
    lines = [
        f"Python: {sys.version.split()[0]} ({platform.platform()})",
        f"PyTorch: {torch.__version__} (debug={torch.version.debug}, CUDA build={torch.version.cuda})",
        f"torchvision: {torchvision.__version__}",
        f"NumPy: {np.__version__}",
        f"CUDA available: {torch.cuda.is_available()}",
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}")
    lines.append(f"CPU threads: {torch.get_num_threads()}")
    try:
        import clip  # noqa: F401
        from importlib.metadata import version
        lines.append(f"openai-clip: {version('openai-clip')}")
    except Exception:  # the report must never fail a run
        pass
    return "\n".join(lines)


class Logger:
    """Copies everything written to stdout into a log file (line-buffered)."""

    def __init__(self, fpath=None):
        self.console = sys.stdout
        self.file = None
        if fpath is not None:
            mkdir_if_missing(osp.dirname(fpath))
            self.file = open(fpath, "w", encoding="utf-8", buffering=1)

    def write(self, msg):
        self.console.write(msg)
        if self.file is not None:
            self.file.write(msg)

    def flush(self):
        self.console.flush()
        if self.file is not None:
            self.file.flush()

    def isatty(self):
        return False

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


def setup_logger(output=None):
    """Tee stdout into ``output/log.txt`` (or ``output`` itself if it ends with .txt/.log).

    Unlike Dassl, which writes the *new* run to ``log.txt-<time>`` and leaves the stale ``log.txt`` for
    parsers to read, an existing log is moved aside to ``log.txt-<time>`` and the current run always
    writes ``log.txt``. Returns the ``Logger`` (call ``close()`` when done in-process).
    """
    if output is None:
        return None
    fpath = output if output.endswith((".txt", ".log")) else osp.join(output, "log.txt")
    if osp.exists(fpath):
        stamp = time.strftime("-%Y-%m-%d-%H-%M-%S", time.localtime(osp.getmtime(fpath)))
        rotated, k = fpath + stamp, 1
        while osp.exists(rotated):
            rotated, k = f"{fpath}{stamp}.{k}", k + 1
        os.replace(fpath, rotated)
    logger = Logger(fpath)
    if isinstance(sys.stdout, Logger):  # a second run in the same process: do not tee twice
        sys.stdout.close()
        logger.console = sys.stdout.console
    sys.stdout = logger
    return logger


class AverageMeter:
    def __init__(self, ema=False):
        self.ema = ema
        self.reset()

    def reset(self):
        self.val = self.avg = self.sum = 0.0
        self.count = 0

    def update(self, val, n=1):
        if isinstance(val, torch.Tensor):
            val = val.item()
        self.val = val
        self.sum += val * n
        self.count += n
        if self.ema and self.count > n:
            self.avg = self.avg * 0.9 + val * 0.1
        else:
            self.avg = self.sum / self.count


class MetricMeter:
    """Running averages of the loss dictionary a trainer's ``forward_backward`` returns."""

    def __init__(self, delimiter=" "):
        self.meters = defaultdict(AverageMeter)
        self.delimiter = delimiter

    def update(self, input_dict):
        if input_dict is None:
            return
        if not isinstance(input_dict, dict):
            raise TypeError("Input to MetricMeter.update() must be a dictionary")
        for k, v in input_dict.items():
            if isinstance(v, torch.Tensor):
                v = v.item()
            self.meters[k].update(v)

    def __str__(self):
        return self.delimiter.join(f"{name} {m.val:.4f} ({m.avg:.4f})" for name, m in self.meters.items())


def count_num_param(model=None, params=None):
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in params)
