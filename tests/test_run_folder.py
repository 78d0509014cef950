"""Output folders and command lines that used to end in tracebacks or silent surprises: a YAML syntax error,
an output folder that cannot be written, a second run into a busy folder, a finished run of another
configuration, and --eval-only without a trained model."""
import errno
import os

import pytest

from conftest import TINY_OPTS, run_train

PETS = "configs/datasets/oxford_pets.yaml"
COOP = "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml"


def _args(root, clip, out, *extra, flags=()):
    return ["--root", root, "--seed", 1, "--trainer", "CoOp", "--dataset-config-file", PETS, "--config-file", COOP,
            "--output-dir", out, *flags, "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "OPTIM.MAX_EPOCH", "1",
            "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", *extra]


def _one_line_error(proc):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    return lines[0]


def test_yaml_syntax_error_names_file_and_line(pets_root, tiny_clip, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  LR: 0.002\n  MAX_EPOCH 5\n    NAME: sgd\n")
    args = _args(pets_root, tiny_clip["state_dict"], tmp_path / "out")
    args[args.index("--config-file") + 1] = bad
    msg = _one_line_error(run_train(*args, check=False))
    assert f"{bad} (line 4" in msg and "not valid YAML" in msg


def test_output_folder_that_cannot_be_written(pets_root, tiny_clip, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    msg = _one_line_error(run_train(*_args(pets_root, tiny_clip["state_dict"], blocker / "run"), check=False))
    assert f"Cannot write the output folder {blocker / 'run'}: a regular file is in the way" in msg
    assert not (tmp_path / "a_file" / "run").exists()
    # a read-only file system (root ignores permission bits, so the error is injected)
    from sempt import run_folder
    from sempt.config import ConfigError

    def read_only(path, exist_ok=False):
        raise OSError(errno.EROFS, "Read-only file system", path)
    monkeypatch.setattr(run_folder.os, "makedirs", read_only)
    with pytest.raises(ConfigError, match="the file system is read-only. Choose another --output-dir"):
        run_folder.prepare_output_dir(str(tmp_path / "ro" / "run"))


def test_a_second_run_into_a_busy_folder_stops(pets_root, tiny_clip, tmp_path):
    from sempt.run_folder import RunLock
    out = tmp_path / "busy"
    out.mkdir()
    lock = RunLock(str(out)).acquire()  # this test process plays the first run
    try:
        msg = _one_line_error(run_train(*_args(pets_root, tiny_clip["state_dict"], out), check=False))
        assert f"Another run is writing to {out} (pid {os.getpid()}, started " in msg
        assert not (out / "log.txt").exists()  # nothing of the first run was touched
    finally:
        lock.release()
    run_train(*_args(pets_root, tiny_clip["state_dict"], out))  # free again: the run proceeds


def test_finished_runs_are_skipped_only_with_the_same_configuration(pets_root, tiny_clip, tmp_path):
    out = tmp_path / "run"
    skip = ["--skip-if-finished"]
    run_train(*_args(pets_root, tiny_clip["state_dict"], out, flags=skip))
    log = (out / "log.txt").read_text()
    again = run_train(*_args(pets_root, tiny_clip["state_dict"], out, flags=skip))
    assert "Finished run found" in again.stdout and (out / "log.txt").read_text() == log  # untouched
    changed = run_train(*_args(pets_root, tiny_clip["state_dict"], out, "OPTIM.LR", "0.01", flags=skip), check=False)
    msg = _one_line_error(changed)
    assert "holds a finished run with another configuration (OPTIM.LR: 0.002 -> 0.01)" in msg
    other_root = _args(tmp_path / "elsewhere", tiny_clip["state_dict"], out, flags=skip)
    msg = _one_line_error(run_train(*other_root, check=False))
    assert f"DATASET.ROOT: '{pets_root}' -> '{tmp_path / 'elsewhere'}'" in msg


def test_eval_only_needs_a_model_for_trainers_that_learn(pets_root, tiny_clip, tmp_path):
    out = tmp_path / "eval"
    msg = _one_line_error(run_train(*_args(pets_root, tiny_clip["state_dict"], out, flags=["--eval-only"]),
                                    check=False))
    assert "--eval-only without --model-dir would evaluate CoOp's untrained prompts" in msg
    proc = run_train(*_args(pets_root, tiny_clip["state_dict"], out, flags=["--eval-only", "--untrained"]))
    assert "* accuracy:" in proc.stdout


def test_keys_added_later_keep_older_runs_finished(tmp_path):
    # an output tree written before a config key existed: the key at its default changes nothing; set to
    # anything else, the run differs and the error names it
    import datasets
    import trainers
    from sempt.config import ConfigError as CfgError, build_cfg, config_fingerprint, flat_config
    from sempt.results import write_results
    from sempt.run_folder import finished_run

    def cfg_with(*opts):
        return build_cfg(extenders=[datasets.extend_cfg, trainers.extend_cfg], dataset_config_file=PETS,
                         config_file=COOP, flags={"OUTPUT_DIR": str(tmp_path), "TRAINER.NAME": "CoOp"}, opts=list(opts))
    defaults = flat_config(build_cfg(extenders=[datasets.extend_cfg, trainers.extend_cfg]))
    cfg = cfg_with()
    new_key = "DATASET.IMAGE_FOLDER.SPLIT_SEED"
    old = {k: v for k, v in flat_config(cfg).items() if k != new_key}  # recorded before the key existed
    write_results(str(tmp_path), {"accuracy": 50.0, "eval_only": False, "config": old,
                                  "config_fingerprint": "older-" + config_fingerprint(cfg)})
    assert finished_run(cfg, False, defaults) is True
    with pytest.raises(CfgError, match=r"DATASET.IMAGE_FOLDER.SPLIT_SEED: '\(absent\)' -> 7"):
        finished_run(cfg_with(new_key, "7"), False, defaults)
    with pytest.raises(CfgError, match=r"OPTIM.LR: 0.002 -> 0.01"):  # a key the old run had still counts
        finished_run(cfg_with("OPTIM.LR", "0.01"), False, defaults)
    with pytest.raises(CfgError, match="another configuration"):  # without defaults: any new key differs
        finished_run(cfg, False)
