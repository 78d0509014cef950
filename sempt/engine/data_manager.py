"""``DataManager``: transforms and loaders with Dassl's rules.

Train transforms are taken from ``INPUT.TRANSFORMS`` in Dassl's order (no resize before a random
(resized) crop); test transforms resize the short side to ``max(INPUT.SIZE)``, center-crop and
normalise. ``drop_last`` applies only to training loaders that hold at least one full batch.

Under ``torchrun`` with N > 1 processes (``sempt.distributed``) the loaders change, and only then: a training
loader draws the *global* batches exactly as the single-process loader would (same sampler, same random draws,
the permutation's seed taken from rank 0) and gives process r the slice ``[r*B/N, (r+1)*B/N)`` of each; an
evaluation loader gives process r the samples r, r+N, r+2N, ... (``ShardSampler``), which the trainer gathers
back into the original order.
"""
import torch
import torchvision.transforms as T
from tabulate import tabulate
from torch.utils.data import Dataset as TorchDataset
from torchvision.transforms import InterpolationMode

from sempt import distributed

from .datasets import build_dataset
from .utils import read_image

__all__ = ["DataManager", "DatasetWrapper", "build_transform", "build_data_loader", "INTERPOLATION_MODES",
           "RankShareBatchSampler", "SharedSeedRandomSampler", "ShardSampler", "build_distributed_loader"]

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}
SUPPORTED_TRANSFORMS = [
    "random_flip", "random_resized_crop", "normalize", "random_crop", "center_crop", "colorjitter",
    "randomgrayscale", "gaussian_blur",
]
DASSL_ONLY_TRANSFORMS = [
    "instance_norm", "random_translation", "cutout", "imagenet_policy", "cifar10_policy", "svhn_policy",
    "randaugment", "randaugment_fixmatch", "randaugment2", "gaussian_noise",
]


def _check_choices(choices):
    for choice in choices:
        if choice in DASSL_ONLY_TRANSFORMS:
            raise ValueError(
                f"INPUT.TRANSFORMS: {choice!r} is not in the built-in engine (supported: "
                f"{SUPPORTED_TRANSFORMS}); install Dassl and set SEMPT_ENGINE=dassl to use it"
            )
        if choice not in SUPPORTED_TRANSFORMS:
            raise ValueError(f"INPUT.TRANSFORMS: unknown transform {choice!r}; choose from {SUPPORTED_TRANSFORMS}")


def build_transform(cfg, is_train=True, choices=None):
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    choices = list(cfg.INPUT.TRANSFORMS if choices is None else choices)
    _check_choices(choices)
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ValueError(f"INPUT.INTERPOLATION must be one of {list(INTERPOLATION_MODES)}, "
                         f"got {cfg.INPUT.INTERPOLATION!r}")
    interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    size = tuple(cfg.INPUT.SIZE)
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    tfms = []
    if is_train:
        if "random_crop" not in choices and "random_resized_crop" not in choices:
            tfms.append(T.Resize(size, interpolation=interp))
        if "random_crop" in choices:
            tfms.append(T.RandomCrop(size, padding=cfg.INPUT.CROP_PADDING))
        if "random_resized_crop" in choices:
            tfms.append(T.RandomResizedCrop(size, scale=tuple(cfg.INPUT.RRCROP_SCALE), interpolation=interp))
        if "random_flip" in choices:
            tfms.append(T.RandomHorizontalFlip())
        if "colorjitter" in choices:
            i = cfg.INPUT
            tfms.append(T.ColorJitter(i.COLORJITTER_B, i.COLORJITTER_C, i.COLORJITTER_S, i.COLORJITTER_H))
        if "randomgrayscale" in choices:
            tfms.append(T.RandomGrayscale(p=cfg.INPUT.RGS_P))
        if "gaussian_blur" in choices:
            tfms.append(T.RandomApply([T.GaussianBlur(cfg.INPUT.GB_K)], p=cfg.INPUT.GB_P))
    else:
        tfms += [T.Resize(max(size), interpolation=interp), T.CenterCrop(size)]
    tfms.append(T.ToTensor())
    if "normalize" in choices:
        tfms.append(normalize)
    return T.Compose(tfms)


class DatasetWrapper(TorchDataset):
    """Reads and transforms one ``Datum`` into Dassl's batch dictionary."""

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.data_source = data_source
        self.transform = transform
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(f"Cannot augment the image {self.k_tfm} times because transform is None")
        interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
        plain = [T.Resize(tuple(cfg.INPUT.SIZE), interpolation=interp), T.ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            plain.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = T.Compose(plain)

    def __len__(self):
        return len(self.data_source)

    def _apply(self, tfm, img0):
        imgs = [tfm(img0) for _ in range(self.k_tfm)]
        return imgs[0] if len(imgs) == 1 else imgs

    def __getitem__(self, idx):
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        try:
            img0 = read_image(item.impath)
        except (OSError, ValueError, SyntaxError) as e:  # PIL: truncated, not an image, bad header
            from sempt.data.coop import DatasetError
            raise DatasetError(f"Cannot decode the image {item.impath} ({type(e).__name__}: {e}); replace it "
                               "(python -m sempt.data check --root DATA lists every damaged file)") from None
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._apply(tfm, img0)
        else:
            output["img"] = self._apply(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output


class SharedSeedRandomSampler(torch.utils.data.RandomSampler):
    """``RandomSampler`` whose permutation seed is rank 0's: each process makes the same global-RNG draw a
    ``RandomSampler`` makes (so rank 0's random stream is the single-process one), then every process uses the
    value rank 0 drew. Processes whose augmentations drew different numbers still agree on the batches."""

    def __iter__(self):
        seed = int(torch.empty((), dtype=torch.int64).random_().item())  # RandomSampler's own draw
        seed = distributed.broadcast_object(seed)
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)
        try:
            yield from super().__iter__()
        finally:
            self.generator = None


class RankShareBatchSampler(torch.utils.data.Sampler):
    """Process ``rank``'s contiguous share of every batch of ``batch_sampler`` (the global batches)."""

    def __init__(self, batch_sampler, rank, world_size):
        self.batch_sampler, self.rank, self.world_size = batch_sampler, rank, world_size

    def __iter__(self):
        for batch in self.batch_sampler:
            if len(batch) < self.world_size:
                from sempt.config import ConfigError
                raise ConfigError(f"A training batch of {len(batch)} image(s) cannot be shared by {self.world_size} "
                                  "processes (the training set is smaller than the batch and than the number of "
                                  "processes): use fewer processes (--nproc_per_node) or more shots")
            start, stop = distributed.share_bounds(len(batch), self.rank, self.world_size)
            yield batch[start:stop]

    def __len__(self):
        return len(self.batch_sampler)


class ShardSampler(torch.utils.data.Sampler):
    """The fixed list of dataset indices one process evaluates (``shard_indices``), in order."""

    def __init__(self, shard_indices):
        self.shard_indices = list(shard_indices)

    def __iter__(self):
        return iter(self.shard_indices)

    def __len__(self):
        return len(self.shard_indices)


def build_distributed_loader(cfg, sampler_type, data_source, batch_size, tfm, is_train, dataset_wrapper, rank,
                             world_size):
    """The loader of process ``rank`` of ``world_size``: training, its share of the single-process run's global
    batches of ``batch_size``; evaluation, every ``world_size``-th sample from ``rank`` (no sample twice, none
    padded), ``batch_size`` per process."""
    dataset = (dataset_wrapper or DatasetWrapper)(cfg, data_source, transform=tfm, is_train=is_train)
    common = dict(num_workers=cfg.DATALOADER.NUM_WORKERS, pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
                  persistent_workers=False)
    if not is_train:
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, drop_last=False,
                                           sampler=ShardSampler(range(rank, len(data_source), world_size)), **common)
    distributed.per_process_batch(batch_size, n=world_size)
    if sampler_type == "RandomSampler":
        sampler = SharedSeedRandomSampler(data_source)
    elif sampler_type == "SequentialSampler":
        sampler = torch.utils.data.SequentialSampler(data_source)
    else:
        raise ValueError(f"Sampler {sampler_type!r} is not in the built-in engine (RandomSampler, "
                         "SequentialSampler); install Dassl and set SEMPT_ENGINE=dassl to use it")
    global_batches = torch.utils.data.BatchSampler(sampler, batch_size, drop_last=len(data_source) >= batch_size)
    return torch.utils.data.DataLoader(dataset, batch_sampler=RankShareBatchSampler(global_batches, rank, world_size),
                                       **common)


def build_data_loader(cfg, sampler_type="SequentialSampler", data_source=None, batch_size=64, n_domain=0,
                      n_ins=2, tfm=None, is_train=True, dataset_wrapper=None):
    if not data_source:
        raise ValueError("Cannot build a data loader over an empty split")
    if distributed.is_distributed():  # torchrun, N > 1: a single process never takes this path
        return build_distributed_loader(cfg, sampler_type, data_source, batch_size, tfm, is_train, dataset_wrapper,
                                        distributed.rank(), distributed.world_size())
    if sampler_type == "RandomSampler":
        sampler = torch.utils.data.RandomSampler(data_source)
    elif sampler_type == "SequentialSampler":
        sampler = torch.utils.data.SequentialSampler(data_source)
    else:
        raise ValueError(f"Sampler {sampler_type!r} is not in the built-in engine (RandomSampler, "
                         "SequentialSampler); install Dassl and set SEMPT_ENGINE=dassl to use it")
    wrapper = dataset_wrapper or DatasetWrapper
    return torch.utils.data.DataLoader(
        wrapper(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
        persistent_workers=False,
    )


class DataManager:
    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None):
        dataset = build_dataset(cfg)
        tfm_train = custom_tfm_train if custom_tfm_train is not None else build_transform(cfg, is_train=True)
        tfm_test = custom_tfm_test if custom_tfm_test is not None else build_transform(cfg, is_train=False)
        dl = cfg.DATALOADER
        self.train_loader_x = build_data_loader(
            cfg, dl.TRAIN_X.SAMPLER, dataset.train_x, dl.TRAIN_X.BATCH_SIZE, dl.TRAIN_X.N_DOMAIN,
            dl.TRAIN_X.N_INS, tfm_train, True, dataset_wrapper)
        self.train_loader_u = None
        if dataset.train_u:
            u = dl.TRAIN_X if dl.TRAIN_U.SAME_AS_X else dl.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg, u.SAMPLER, dataset.train_u, u.BATCH_SIZE, u.N_DOMAIN, u.N_INS, tfm_train, True,
                dataset_wrapper)
        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg, dl.TEST.SAMPLER, dataset.val, dl.TEST.BATCH_SIZE, tfm=tfm_test, is_train=False,
                dataset_wrapper=dataset_wrapper)
        self.test_loader = build_data_loader(
            cfg, dl.TEST.SAMPLER, dataset.test, dl.TEST.BATCH_SIZE, tfm=tfm_test, is_train=False,
            dataset_wrapper=dataset_wrapper)
        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        self.dataset = dataset
        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    num_classes = property(lambda self: self._num_classes)
    num_source_domains = property(lambda self: self._num_source_domains)
    lab2cname = property(lambda self: self._lab2cname)

    def show_dataset_summary(self, cfg):
        rows = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        rows.append(["# classes", f"{self.num_classes:,}"])
        rows.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            rows.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            rows.append(["# val", f"{len(self.dataset.val):,}"])
        rows.append(["# test", f"{len(self.dataset.test):,}"])
        print(tabulate(rows))
