"""Load a CLIP model by name (``ViT-B/16``, ``RN50``, ...) or from any local checkpoint file.

Where weights come from, in order:

1. ``name`` is an existing file: a TorchScript archive (the official ``.pt`` files) or a plain state
   dict saved with ``torch.save`` (optionally under a ``"state_dict"`` key). State dicts are read with
   ``weights_only=True``.
2. ``name`` is an official CLIP name: ``<cache>/<file name of the official URL>``, where ``<cache>`` is
   ``$SEMPT_CLIP_CACHE`` or the standard CLIP cache ``~/.cache/clip``. A missing file is downloaded
   when the machine is online; otherwise the error says where to put it.

Checks at load time, each a one-line ``CLIPLoadError`` saying what to change: the text tower's context length
must be the tokenizer's (``CONTEXT_LENGTH``, 77: prompts are tokenized to 77 tokens) and its vocabulary the
BPE tokenizer's (``VOCAB_SIZE``, 49,408 tokens). The input resolution is compared with ``INPUT.SIZE`` by the
trainer (``sempt.prompt_trainer.PromptTrainer.load_clip_model``), or here when ``input_size`` is given.

Precision: ``clip.model.build_model`` returns fp16 weights. On CPU the model always becomes fp32 (fp16
convolutions do not run there); on CUDA ``fp16`` keeps them, ``fp32`` and ``amp`` convert to fp32.
"""
import os
import os.path as osp
import socket
import zipfile

import torch

__all__ = ["CLIPLoadError", "load_clip", "resolve_clip_file", "default_cache_dir", "effective_precision",
           "available_models", "read_clip_state_dict", "check_text_tower", "check_input_size", "CONTEXT_LENGTH",
           "VOCAB_SIZE"]

PRECISIONS = ("fp16", "fp32", "amp")
# what CLIP's tokenizer (clip.tokenize, sempt.text_encoder.tokenize) produces: every prompt is 77 BPE tokens
# (start and end of text included) from a 49,408-token vocabulary; a checkpoint must read exactly that
CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408


class CLIPLoadError(RuntimeError):
    """The CLIP weights could not be found or read."""


def default_cache_dir():
    return os.environ.get("SEMPT_CLIP_CACHE") or osp.expanduser("~/.cache/clip")


def available_models():
    from clip import clip as _clip
    return dict(_clip._MODELS)


def resolve_clip_file(name, cache_dir=None, download=True):
    """The local file holding the weights for ``name`` (a file path or an official CLIP name)."""
    path = osp.expanduser(name)
    if osp.isfile(path):
        return path
    models = available_models()
    if name not in models:
        raise CLIPLoadError(
            f"MODEL.BACKBONE.NAME={name!r} is neither an existing file nor a CLIP model name. "
            f"Use one of {list(models)} or the path to a checkpoint file (TorchScript or state dict)."
        )
    cache_dir = cache_dir or default_cache_dir()
    url = models[name]
    target = osp.join(cache_dir, osp.basename(url))
    if osp.isfile(target):
        return target
    reason = "downloads are disabled"
    if download:
        from clip import clip as _clip
        old_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            print(f"Downloading CLIP {name} to {target}")
            return _clip._download(url, cache_dir)
        except Exception as e:  # noqa: BLE001 - offline machines land here
            reason = f"the download failed ({type(e).__name__}: {e})"
            partial = target
            if osp.isfile(partial):  # never leave a half-downloaded file behind
                os.remove(partial)
        finally:
            socket.setdefaulttimeout(old_timeout)
    raise CLIPLoadError(
        f"CLIP weights for {name!r} are expected at {target} but the file is missing and {reason}. "
        f"Fetch {url} on a machine with internet access and copy it to that path (or point "
        "SEMPT_CLIP_CACHE at the folder holding it), or set MODEL.BACKBONE.NAME to the file's path."
    )


def _is_torchscript(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def read_clip_state_dict(path):
    """A CLIP state dict from a TorchScript archive or a ``torch.save``'d dict."""
    try:
        if _is_torchscript(path):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # jit.load's deprecation notice
                return torch.jit.load(path, map_location="cpu").state_dict()
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise CLIPLoadError(f"Cannot read CLIP weights from {path}: {type(e).__name__}: {e}") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CLIPLoadError(f"{path} holds a {type(obj).__name__}, not a state dict or TorchScript archive")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def check_text_tower(state_dict, path):
    """``CLIPLoadError`` when the checkpoint's text tower cannot read the tokenizer's prompts: a context length
    other than ``CONTEXT_LENGTH`` or a vocabulary other than ``VOCAB_SIZE`` (checked before building the
    model, so the error comes at load time, not at the first text encoding)."""
    pos, tok = state_dict.get("positional_embedding"), state_dict.get("token_embedding.weight")
    if pos is not None and pos.ndim == 2 and pos.shape[0] != CONTEXT_LENGTH:
        raise CLIPLoadError(
            f"{path}: the text tower's context length is {pos.shape[0]} (positional_embedding has {pos.shape[0]} rows) "
            f"but prompts are tokenized to CLIP's {CONTEXT_LENGTH} tokens: use a CLIP checkpoint with context length "
            f"{CONTEXT_LENGTH} (all OpenAI CLIP models) as MODEL.BACKBONE.NAME")
    if tok is not None and tok.ndim == 2 and tok.shape[0] != VOCAB_SIZE:
        raise CLIPLoadError(
            f"{path}: the token embedding has {tok.shape[0]:,} rows but CLIP's BPE tokenizer has {VOCAB_SIZE:,} "
            f"tokens: use a CLIP checkpoint trained with OpenAI's {VOCAB_SIZE:,}-token vocabulary as "
            "MODEL.BACKBONE.NAME")


def check_input_size(model, input_size, name):
    """``CLIPLoadError`` when ``input_size`` (``INPUT.SIZE``) is not the image tower's square resolution."""
    resolution = model.visual.input_resolution
    if tuple(input_size) != (resolution, resolution):
        raise CLIPLoadError(
            f"INPUT.SIZE is {tuple(input_size)} but the backbone {name} expects {resolution}x{resolution} images: add "
            f"`INPUT.SIZE \"({resolution}, {resolution})\"` to the command line or the config")


def effective_precision(precision, device):
    """The precision actually used: anything but fp32 falls back to fp32 off CUDA."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if torch.device(device).type != "cuda" and precision != "fp32":
        return "fp32"
    return precision


def load_clip(name, precision="fp16", device="cpu", cache_dir=None, download=True, input_size=None):
    """Build ``clip.model.CLIP`` from ``name`` (see module docstring); returned on ``device`` (moved there
    once, from the weights read on CPU), in eval mode. The text tower must read the tokenizer's prompts
    (``check_text_tower``); with ``input_size``, the image resolution must equal it (``check_input_size``)."""
    from clip.model import build_model

    path = resolve_clip_file(name, cache_dir=cache_dir, download=download)
    state_dict = read_clip_state_dict(path)
    check_text_tower(state_dict, path)
    try:
        model = build_model(state_dict)
    except (KeyError, RuntimeError) as e:
        raise CLIPLoadError(
            f"{path} does not look like an OpenAI CLIP checkpoint ({type(e).__name__}: {e}). "
            "Expected keys such as 'visual.conv1.weight', 'token_embedding.weight', 'text_projection'."
        ) from e
    used = effective_precision(precision, device)
    if used != precision:
        print(f"Precision {precision} is not available on {torch.device(device).type}: using fp32")
    if used in ("fp32", "amp"):
        model.float()
    if input_size is not None:
        check_input_size(model, input_size, name)
    return model.to(device).eval()


def random_clip(width=64, layers=1, vision_width=64, vision_layers=1, image_resolution=32, patch_size=16,
                      embed_dim=64, context_length=77, vocab_size=49408, seed=0, resnet=False):
    """An fp32 ``clip.model.CLIP`` of the given sizes with random weights, seeded (ViT-B/16 sizes: width=512,
    layers=12, vision_width=768, vision_layers=12, image_resolution=224, patch_size=16, embed_dim=512): the
    start of the synthetic world's pretraining, and the tests' and benchmarks' stand-in for real weights."""
    from clip.model import CLIP
    if width < 64 or vision_width < 64 or width % 64 or vision_width % 64:
        raise ValueError("widths must be multiples of 64 (CLIP derives its head count as width // 64)")
    torch.manual_seed(seed)
    return CLIP(
        embed_dim=embed_dim,
        image_resolution=image_resolution,
        vision_layers=(1, 1, 1, 1) if resnet else vision_layers,
        vision_width=vision_width,
        vision_patch_size=None if resnet else patch_size,
        context_length=context_length,
        vocab_size=vocab_size,
        transformer_width=width,
        transformer_heads=width // 64,
        transformer_layers=layers,
    ).float().eval()
