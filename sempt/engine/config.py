"""Default configuration with Dassl's key set (a yacs ``CfgNode``).

Merging a YAML file or a ``KEY VALUE`` list with a key that is not declared here (or by a trainer's
``extend_cfg``) raises, naming the key. The values are Dassl's defaults, so a YAML written for a
CoOp-family repository means the same thing here.
"""
from yacs.config import CfgNode as CN

__all__ = ["get_cfg_default", "CN"]


def _defaults():
    C = CN()
    C.VERSION = 1
    C.OUTPUT_DIR = "./output"
    C.RESUME = ""
    C.SEED = -1  # negative: random; zero or positive: fixed
    C.USE_CUDA = True
    C.VERBOSE = True

    C.INPUT = CN()
    C.INPUT.SIZE = (224, 224)
    C.INPUT.INTERPOLATION = "bilinear"
    C.INPUT.TRANSFORMS = ()
    C.INPUT.NO_TRANSFORM = False
    C.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]
    C.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]
    C.INPUT.CROP_PADDING = 4
    C.INPUT.RRCROP_SCALE = (0.08, 1.0)
    C.INPUT.CUTOUT_N = 1
    C.INPUT.CUTOUT_LEN = 16
    C.INPUT.GN_MEAN = 0.0
    C.INPUT.GN_STD = 0.15
    C.INPUT.RANDAUGMENT_N = 2
    C.INPUT.RANDAUGMENT_M = 10
    C.INPUT.COLORJITTER_B = 0.4
    C.INPUT.COLORJITTER_C = 0.4
    C.INPUT.COLORJITTER_S = 0.4
    C.INPUT.COLORJITTER_H = 0.1
    C.INPUT.RGS_P = 0.2
    C.INPUT.GB_P = 0.5
    C.INPUT.GB_K = 21

    C.DATASET = CN()
    C.DATASET.ROOT = ""
    C.DATASET.NAME = ""
    C.DATASET.SOURCE_DOMAINS = ()
    C.DATASET.TARGET_DOMAINS = ()
    C.DATASET.NUM_LABELED = -1
    C.DATASET.NUM_SHOTS = -1
    C.DATASET.VAL_PERCENT = 0.1
    C.DATASET.STL10_FOLD = -1
    C.DATASET.CIFAR_C_TYPE = ""
    C.DATASET.CIFAR_C_LEVEL = 1
    C.DATASET.ALL_AS_UNLABELED = False

    C.DATALOADER = CN()
    C.DATALOADER.NUM_WORKERS = 4
    C.DATALOADER.K_TRANSFORMS = 1
    C.DATALOADER.RETURN_IMG0 = False
    C.DATALOADER.TRAIN_X = CN()
    C.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"
    C.DATALOADER.TRAIN_X.BATCH_SIZE = 32
    C.DATALOADER.TRAIN_X.N_DOMAIN = 0
    C.DATALOADER.TRAIN_X.N_INS = 16
    C.DATALOADER.TRAIN_U = CN()
    C.DATALOADER.TRAIN_U.SAME_AS_X = True
    C.DATALOADER.TRAIN_U.SAMPLER = "RandomSampler"
    C.DATALOADER.TRAIN_U.BATCH_SIZE = 32
    C.DATALOADER.TRAIN_U.N_DOMAIN = 0
    C.DATALOADER.TRAIN_U.N_INS = 16
    C.DATALOADER.TEST = CN()
    C.DATALOADER.TEST.SAMPLER = "SequentialSampler"
    C.DATALOADER.TEST.BATCH_SIZE = 32

    C.MODEL = CN()
    C.MODEL.INIT_WEIGHTS = ""
    C.MODEL.BACKBONE = CN()
    C.MODEL.BACKBONE.NAME = ""
    C.MODEL.BACKBONE.PRETRAINED = True
    C.MODEL.HEAD = CN()
    C.MODEL.HEAD.NAME = ""
    C.MODEL.HEAD.HIDDEN_LAYERS = ()
    C.MODEL.HEAD.ACTIVATION = "relu"
    C.MODEL.HEAD.BN = True
    C.MODEL.HEAD.DROPOUT = 0.0

    C.OPTIM = CN()
    C.OPTIM.NAME = "adam"
    C.OPTIM.LR = 0.0003
    C.OPTIM.WEIGHT_DECAY = 5e-4
    C.OPTIM.MOMENTUM = 0.9
    C.OPTIM.SGD_DAMPNING = 0
    C.OPTIM.SGD_NESTEROV = False
    C.OPTIM.RMSPROP_ALPHA = 0.99
    C.OPTIM.ADAM_BETA1 = 0.9
    C.OPTIM.ADAM_BETA2 = 0.999
    C.OPTIM.STAGED_LR = False
    C.OPTIM.NEW_LAYERS = ()
    C.OPTIM.BASE_LR_MULT = 0.1
    C.OPTIM.LR_SCHEDULER = "single_step"
    C.OPTIM.STEPSIZE = (-1,)
    C.OPTIM.GAMMA = 0.1
    C.OPTIM.MAX_EPOCH = 10
    C.OPTIM.WARMUP_EPOCH = -1
    C.OPTIM.WARMUP_TYPE = "linear"
    C.OPTIM.WARMUP_CONS_LR = 1e-5
    C.OPTIM.WARMUP_MIN_LR = 1e-5
    C.OPTIM.WARMUP_RECOUNT = True

    C.TRAIN = CN()
    C.TRAIN.CHECKPOINT_FREQ = 0
    C.TRAIN.PRINT_FREQ = 10
    C.TRAIN.COUNT_ITER = "train_x"

    C.TEST = CN()
    C.TEST.EVALUATOR = "Classification"
    C.TEST.PER_CLASS_RESULT = False
    C.TEST.COMPUTE_CMAT = False
    C.TEST.NO_TEST = False
    C.TEST.SPLIT = "test"
    C.TEST.FINAL_MODEL = "last_step"

    C.TRAINER = CN()
    C.TRAINER.NAME = ""
    return C


def get_cfg_default():
    """A fresh copy of the default config."""
    return _defaults()
