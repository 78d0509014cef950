"""Train or evaluate a prompt-learning method: the CoOp-family command line.

    python train.py --root $DATA --seed 1 --trainer SemPT \
        --dataset-config-file configs/datasets/oxford_pets.yaml \
        --config-file configs/trainers/CoOp/vit_b16_ep50.yaml \
        --output-dir output/... [KEY VALUE ...]

Add ``--eval-only --model-dir DIR --load-epoch E`` to evaluate a trained model.

On N processes (GPUs, or CPU with gloo): ``torchrun --nproc_per_node N train.py ...``, the same arguments;
DATALOADER.TRAIN_X.BATCH_SIZE stays the global batch (N must divide it). Rank 0 writes everything.
"""
import argparse
import os
import sys

import torch

import datasets  # noqa: F401  (registers the readers)
import trainers  # noqa: F401  (registers the trainers)
from sempt.backend import (DATASET_REGISTRY, ENGINE, TRAINER_REGISTRY, build_trainer, collect_env_info,
                           set_random_seed, setup_logger)
from sempt.checkpoint import CheckpointError
from sempt.clip_loader import CLIPLoadError
from sempt import distributed
from sempt.config import ConfigError, build_cfg, flat_config
from sempt.attributes import AttributeFileError
from sempt.data.coop import DatasetError
from sempt.results import rotate_results
from sempt.run_folder import RunLock, finished_run, prepare_output_dir, save_run_config
from sempt.engine.registry import check_availability

USER_ERRORS = (ConfigError, DatasetError, CLIPLoadError, CheckpointError, AttributeFileError, FileNotFoundError)


def one_line(error):
    """The message of a user error, without the traceback a DataLoader worker wraps around it."""
    text = str(error).strip()
    if "Original Traceback" in text:  # raised in a worker process: the last line is "pkg.Error: message"
        text = text.splitlines()[-1].split(": ", 1)[-1]
    return text.splitlines()[0] if text else type(error).__name__


def flags_from_args(args):
    """Config keys set by flags; ``--seed 0`` counts (CoOp's ``if args.seed`` dropped it)."""
    flags = {}
    pairs = [("root", "DATASET.ROOT"), ("output_dir", "OUTPUT_DIR"), ("resume", "RESUME"),
             ("source_domains", "DATASET.SOURCE_DOMAINS"), ("target_domains", "DATASET.TARGET_DOMAINS"),
             ("transforms", "INPUT.TRANSFORMS"), ("trainer", "TRAINER.NAME"),
             ("backbone", "MODEL.BACKBONE.NAME"), ("head", "MODEL.HEAD.NAME")]
    for attr, key in pairs:
        value = getattr(args, attr)
        if value:
            flags[key] = value
    if args.seed is not None:
        flags["SEED"] = args.seed
    return flags


def setup_cfg(args):
    return build_cfg(
        extenders=[datasets.extend_cfg, trainers.extend_cfg],
        dataset_config_file=args.dataset_config_file,
        config_file=args.config_file,
        flags=flags_from_args(args),
        opts=args.opts,
    )


def print_args(args, cfg):
    print("***************\n** Arguments **\n***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************\n** Config **\n************")
    print(cfg)


def prepare_output(output_dir):
    """Create and lock the output folder, start ``log.txt`` and move a stale ``results.json`` aside (rank 0)."""
    prepare_output_dir(output_dir)
    RunLock(output_dir).acquire()  # held until this process ends
    setup_logger(output_dir)
    rotate_results(output_dir)  # a previous run's results.json must not pass for this run's


def print_config_key(cfg, key):
    node = cfg
    for part in key.split("."):
        if part not in node:
            raise ConfigError(f"--print-config-key: no config key {key}")
        node = node[part]
    print(node)


def start_distributed(cfg):
    """Under torchrun with N > 1 processes: join the process group; only rank 0 prints."""
    if distributed.init_from_env(cfg.USE_CUDA, ENGINE):
        if not distributed.is_main_process():
            sys.stdout = open(os.devnull, "w")  # one process prints and logs; errors still reach stderr
        distributed.run_on_main(lambda: distributed.per_process_batch(cfg.DATALOADER.TRAIN_X.BATCH_SIZE))


def check_request(cfg, args):
    """Known trainer and dataset; no evaluation of untrained prompts by accident."""
    try:
        check_availability(cfg.TRAINER.NAME, TRAINER_REGISTRY.registered_names())
        check_availability(cfg.DATASET.NAME, DATASET_REGISTRY.registered_names())
    except ValueError as e:
        what = "trainer (--trainer)" if cfg.TRAINER.NAME not in TRAINER_REGISTRY.registered_names() else \
            "dataset (DATASET.NAME in the dataset config file)"
        raise ConfigError(f"Unknown {what}: {e}") from e
    if args.eval_only and not args.model_dir and not args.untrained \
            and TRAINER_REGISTRY.get(cfg.TRAINER.NAME).LEARNABLE:
        raise ConfigError(f"--eval-only without --model-dir would evaluate {cfg.TRAINER.NAME}'s untrained prompts: "
                          "pass --model-dir (the training run's output folder) and --load-epoch, or --untrained "
                          "if that is what you want")


def seed_run(cfg):
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    elif distributed.is_distributed():  # random, but the processes must agree on data, prompts and batches
        set_random_seed(distributed.shared_seed())
    print(f"Setting fixed seed: {cfg.SEED}" if cfg.SEED >= 0 else "No fixed seed (SEED < 0): the run is random")
    if distributed.is_distributed():
        print(distributed.describe(cfg.DATALOADER.TRAIN_X.BATCH_SIZE))


def main(args):
    cfg = setup_cfg(args)
    if args.print_config_key:
        return print_config_key(cfg, args.print_config_key)
    start_distributed(cfg)
    # rank 0 alone looks at and prepares the output folder; the others get its answer (or stop with its error)
    if args.skip_if_finished:
        defaults = flat_config(setup_cfg(build_parser().parse_args([])))  # keys added since older output trees
        if distributed.run_on_main(lambda: finished_run(cfg, args.eval_only, defaults)):
            print(f"Finished run found at {cfg.OUTPUT_DIR} (same configuration): skipping. Delete the folder to run "
                  "it again")
            return
    check_request(cfg, args)
    distributed.run_on_main(lambda: prepare_output(cfg.OUTPUT_DIR))
    distributed.run_on_main(lambda: save_run_config(cfg))  # config.json: what sempt.predict/sempt.prompts rebuild
    seed_run(cfg)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print_args(args, cfg)
    print(f"Engine: {ENGINE}")
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")

    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return
    if not args.no_train:
        trainer.train()


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=str, default="", help="path to dataset")
    p.add_argument("--output-dir", type=str, default="", help="output directory")
    p.add_argument("--resume", type=str, default="", help="checkpoint directory (from which the training resumes)")
    p.add_argument("--seed", type=int, default=None, help="fixed seed (0 included); negative: random")
    p.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    p.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    p.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    p.add_argument("--config-file", type=str, default="", help="path to config file")
    p.add_argument("--dataset-config-file", type=str, default="", help="path to config file for dataset setup")
    p.add_argument("--trainer", type=str, default="", help="name of trainer")
    p.add_argument("--backbone", type=str, default="", help="CLIP backbone name or checkpoint path")
    p.add_argument("--head", type=str, default="", help="name of head")
    p.add_argument("--eval-only", action="store_true", help="evaluation only")
    p.add_argument("--model-dir", type=str, default="", help="load model from this directory for eval-only mode")
    p.add_argument("--load-epoch", type=int, help="load model weights at this epoch for evaluation")
    p.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    p.add_argument("--untrained", action="store_true",
                   help="with --eval-only and no --model-dir: evaluate the untrained prompts on purpose")
    p.add_argument("--skip-if-finished", action="store_true",
                   help="exit at once if the output folder holds a finished run of the same configuration "
                        "(and stop if it holds one of another)")
    p.add_argument("--print-config-key", type=str, default="", metavar="KEY",
                   help="print the value KEY takes in the final config and exit (used by the scripts)")
    p.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="modify config options using the command-line")
    return p


if __name__ == "__main__":
    try:
        main(build_parser().parse_args())
    except USER_ERRORS as e:
        who = "" if distributed.is_main_process() else f" (process {distributed.rank()})"
        print(f"error{who}: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    finally:
        distributed.shutdown()
