"""Building the run config in the CoOp-family order, with errors that name the offending key.

Order: engine defaults -> every trainer's and reader's keys (``extend_cfg``) -> dataset YAML ->
method YAML -> command-line flags -> trailing ``KEY VALUE`` options.
"""
import difflib
import os.path as osp

import yaml

from sempt.backend import get_cfg_default

__all__ = ["ConfigError", "build_cfg", "all_keys", "flat_config", "config_fingerprint", "config_differences"]


class ConfigError(ValueError):
    """A config file or option that cannot be applied."""


def all_keys(cfg, prefix=""):
    keys = []
    for k, v in cfg.items():
        full = f"{prefix}{k}"
        if hasattr(v, "items"):
            keys.extend(all_keys(v, full + "."))
        else:
            keys.append(full)
    return keys


def _explain_key_error(cfg, err, source):
    msg = str(err).strip("'\"")
    key = msg.split(":")[-1].strip() if "Non-existent" in msg else None
    if key is None:
        return ConfigError(f"{source}: {msg}")
    close = difflib.get_close_matches(key, all_keys(cfg), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    section = key.split(".")
    if len(section) > 2 and section[0] == "TRAINER":
        hint += (f" TRAINER.{section[1]} keys are declared by that trainer's extend_cfg(); check the trainer "
                 "name and its module in trainers/.")
    return ConfigError(f"{source}: unknown config key {key}.{hint}")


def _merge_file(cfg, path, what):
    if not osp.isfile(path):
        raise ConfigError(f"{what} {path} does not exist")
    try:
        cfg.merge_from_file(path)
    except KeyError as e:
        raise _explain_key_error(cfg, e, path) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}. Fix the file (indentation, a missing ':' "
                          "or quote)") from e
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: {e}") from e


def build_cfg(extenders=(), dataset_config_file="", config_file="", flags=None, opts=()):
    """The frozen config. ``flags`` maps config keys to values given by command-line flags."""
    cfg = get_cfg_default()
    # every prompt trainer's text encoder (sempt.text_encoder): auto, always or never; memory and time only
    cfg.MODEL.TEXT_ACTIVATION_CHECKPOINTING = "auto"
    from sempt.feature_cache import extend_cfg as feature_cache_keys
    feature_cache_keys(cfg)  # TEST.FEATURE_CACHE: where evaluation keeps test-image features; time only
    for extend in extenders:
        extend(cfg)
    if dataset_config_file:
        _merge_file(cfg, dataset_config_file, "Dataset config file")
    if config_file:
        _merge_file(cfg, config_file, "Config file")
    for key, value in (flags or {}).items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(f"Options must come as KEY VALUE pairs, got an odd list: {opts}")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, AssertionError) as e:
        if "Non-existent" in str(e):
            raise _explain_key_error(cfg, e, "command line") from e
        raise ConfigError(f"command line options {opts}: {e}") from e
    except (ValueError, TypeError) as e:
        raise ConfigError(f"command line options {opts}: {e}") from e
    cfg.freeze()
    return cfg


# where a run writes, and how much memory it takes (same gradients either way), not what it computes
NOT_FINGERPRINTED = ("OUTPUT_DIR", "RESUME", "MODEL.TEXT_ACTIVATION_CHECKPOINTING", "TEST.FEATURE_CACHE")


def flat_config(cfg):
    """``{"OPTIM.MAX_EPOCH": 50, ...}`` of every key but ``NOT_FINGERPRINTED``, values as plain data."""
    out = {}

    def walk(node, prefix):
        for key in sorted(node):
            value, name = node[key], f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, name + ".")
            elif name not in NOT_FINGERPRINTED:
                out[name] = list(value) if isinstance(value, tuple) else value
    walk(cfg, "")
    return out


def config_fingerprint(cfg):
    """A short hash of everything in ``cfg`` that can change a result (all keys but NOT_FINGERPRINTED):
    two runs with equal fingerprints ran the same configuration."""
    import hashlib
    import json
    text = json.dumps(flat_config(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def config_differences(old, new, limit=6):
    """``"KEY: old -> new"`` for the keys whose values differ between two ``flat_config`` dicts."""
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    lines = [f"{k}: {old.get(k, '(absent)')!r} -> {new.get(k, '(absent)')!r}" for k in keys[:limit]]
    if len(keys) > limit:
        lines.append(f"... and {len(keys) - limit} more")
    return lines
