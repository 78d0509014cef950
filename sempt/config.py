"""Building the run config in the CoOp-family order, with errors that name the offending key.

Order: engine defaults -> every trainer's and reader's keys (``extend_cfg``) -> dataset YAML ->
method YAML -> command-line flags -> trailing ``KEY VALUE`` options.
"""
import difflib
import os.path as osp

from sempt.backend import get_cfg_default

__all__ = ["ConfigError", "build_cfg", "all_keys"]


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
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: {e}") from e


def build_cfg(extenders=(), dataset_config_file="", config_file="", flags=None, opts=()):
    """The frozen config. ``flags`` maps config keys to values given by command-line flags."""
    cfg = get_cfg_default()
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


def config_fingerprint(cfg):
    """A short hash of everything in ``cfg`` that can change a result (all keys but OUTPUT_DIR and RESUME):
    two runs with equal fingerprints ran the same configuration."""
    import hashlib
    clone = cfg.clone()
    clone.defrost()
    clone.OUTPUT_DIR = ""
    clone.RESUME = ""
    return hashlib.sha256(clone.dump().encode("utf-8")).hexdigest()[:16]
