"""The output folder of a run: created with a clear error, locked while a run writes to it, and checked for a
finished run of the same configuration before anything is computed.

- ``prepare_output_dir``: a folder that cannot be created or written (read-only file system, a regular file
  in the way) is a one-line ``ConfigError`` naming it.
- ``RunLock``: an exclusive lock (``<dir>/.sempt.lock``, ``fcntl.flock``) held for the life of the process;
  a second run into the same folder stops with the first run's process id instead of resuming from its
  live files. The lock is released when the process ends, however it ends.
- ``finished_run``: a folder whose ``results.json`` comes from a run with the same config fingerprint is
  finished (the scripts skip it); one with another fingerprint is an error listing the keys that differ.
- ``save_run_config`` / ``read_run_config``: ``config.json``, the run's flat config written when it starts,
  which ``sempt.predict`` and ``sempt.prompts`` rebuild the run's model from (older runs: the config that
  ``results.json`` records).
"""
import errno
import json
import os
import os.path as osp
import time

from sempt.config import ConfigError, config_differences, config_fingerprint, flat_config
from sempt.fileio import write_json
from sempt.results import RESULTS_FILE, read_results, read_run

__all__ = ["prepare_output_dir", "RunLock", "finished_run", "save_run_config", "read_run_config", "CONFIG_FILE"]

LOCK_FILE = ".sempt.lock"
CONFIG_FILE = "config.json"


def prepare_output_dir(path):
    if not path:
        raise ConfigError("No output folder: pass --output-dir (or OUTPUT_DIR)")
    try:
        os.makedirs(path, exist_ok=True)
        probe = osp.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        if isinstance(e, (FileExistsError, NotADirectoryError)) or e.errno in (errno.EEXIST, errno.ENOTDIR):
            why = "a regular file is in the way (the path or one of its parents is a file, not a folder)"
        elif e.errno == errno.EROFS:
            why = "the file system is read-only"
        elif isinstance(e, PermissionError):
            why = "permission denied"
        else:
            why = e.strerror or str(e)
        raise ConfigError(f"Cannot write the output folder {path}: {why}. Choose another --output-dir "
                          "(or OUTPUT for the scripts)") from e


class RunLock:
    """Exclusive lock on an output folder for the life of this process (a no-op where ``fcntl`` is missing)."""

    def __init__(self, directory):
        self.path = osp.join(directory, LOCK_FILE)
        self._fd = None

    def acquire(self):
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"Another run is writing to {osp.dirname(self.path)} ({holder}). Wait for it to "
                              "finish, stop it, or choose another --output-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self._fd = fd  # kept open: the lock lasts until this process ends
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def finished_run(cfg, eval_only, defaults=None):
    """True when ``cfg.OUTPUT_DIR`` holds a finished run (training or, with ``eval_only``, evaluation) of the
    same configuration; ``ConfigError`` naming the differences when it holds one of another; else False.

    ``defaults``: the ``flat_config`` of the default config. A key the recorded run did not have (it was
    added to the repository later) counts as equal when it holds its default value now: keys are added with
    defaults that keep what a run computes, so an older output tree stays finished."""
    done = read_results(cfg.OUTPUT_DIR)
    if done is None:  # a tree written before results.json existed, or by the CoOp family's code
        if read_run(cfg.OUTPUT_DIR, test_log=bool(eval_only)) is not None:
            print(f"Note: {cfg.OUTPUT_DIR} holds a finished run without results.json; its configuration "
                  "cannot be compared, so it is taken as finished")
            return True
        return False
    if bool(done.get("eval_only")) != bool(eval_only):
        return False
    if done.get("config_fingerprint") == config_fingerprint(cfg):
        return True
    old, new = done.get("config", {}), flat_config(cfg)
    if defaults is not None and old:
        new = {k: v for k, v in new.items() if k in old or defaults.get(k, object()) != v}
        if old == new:
            return True
    diff = config_differences(old, new)
    raise ConfigError(f"{cfg.OUTPUT_DIR} holds a finished run with another configuration ("
                      + "; ".join(diff or ["its config was not recorded"])
                      + "). Delete that folder to run again, or choose another output folder")


def save_run_config(cfg):
    """Write ``<OUTPUT_DIR>/config.json`` (the flat config, as ``results.json`` records it), atomically: what
    ``sempt.predict`` and ``sempt.prompts`` rebuild the run's model from, even before it has been tested."""
    write_json({"config": flat_config(cfg), "config_fingerprint": config_fingerprint(cfg)},
               osp.join(cfg.OUTPUT_DIR, CONFIG_FILE))


def read_run_config(run_dir):
    """``(flat config, file)`` of a run folder: ``config.json``, else the config in ``results.json``."""
    for name in (CONFIG_FILE, RESULTS_FILE):
        path = osp.join(run_dir, name)
        if not osp.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is unreadable ({type(e).__name__}): is the run folder damaged?") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            return data["config"], path
    raise ConfigError(f"{run_dir} records no configuration (neither {CONFIG_FILE}, which train.py writes when a run "
                      "starts, nor results.json): pass a training run's output folder as --model-dir")
