#!/usr/bin/env bash
# Shared by the benchmark scripts (scripts/<method>/*.sh). Source it; do not run it.
#
# Environment:
#   DATA      folder holding the datasets (required)
#   OUTPUT    output root (default: <repo>/output)
#   BACKBONE  CLIP name or checkpoint path overriding the config's MODEL.BACKBONE.NAME
#   PYTHON    interpreter (default: <repo>/.venv/bin/python if present, else python3)
#   NPROC     processes per run (default 1): N > 1 runs `torchrun --standalone --nproc_per_node N train.py`
#             (one process per GPU; gloo on CPU); the configured batch size stays the global batch
# Trailing arguments of a script (KEY VALUE ...) are passed to train.py as config options.
set -euo pipefail

SEMPT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$SEMPT_ROOT/.venv/bin/python" ]; then PYTHON="$SEMPT_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
OUTPUT="${OUTPUT:-$SEMPT_ROOT/output}"

die() { echo "error: $*" >&2; exit 2; }

require_data() {
    [ -n "${DATA:-}" ] || die "set DATA to the folder holding the datasets, e.g. 'export DATA=/path/to/datasets' (layout: DATASETS.md)"
    [ -d "$DATA" ] || die "DATA=$DATA is not a folder (layout: DATASETS.md)"
}

dataset_cfg() {  # dataset_cfg NAME -> path of configs/datasets/NAME.yaml
    local f="$SEMPT_ROOT/configs/datasets/$1.yaml"
    [ -f "$f" ] || die "unknown dataset '$1' (no $f); available: $(cd "$SEMPT_ROOT/configs/datasets" && ls | sed 's/\.yaml$//' | tr '\n' ' ')"
    echo "$f"
}

trainer_cfg() {  # trainer_cfg TRAINER CFG -> path of configs/trainers/TRAINER/CFG.yaml
    local f="$SEMPT_ROOT/configs/trainers/$1/$2.yaml"
    [ -f "$f" ] || die "no config $f; available for $1: $(cd "$SEMPT_ROOT/configs/trainers/$1" 2>/dev/null && ls | sed 's/\.yaml$//' | tr '\n' ' ')"
    echo "$f"
}

backbone_opts() {  # options that override the backbone when BACKBONE is set
    if [ -n "${BACKBONE:-}" ]; then echo "MODEL.BACKBONE.NAME" "$BACKBONE"; fi
}

NPROC="${NPROC:-1}"
[[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || die "NPROC=$NPROC is not a positive whole number (processes per run, e.g. NPROC=4 for 4 GPUs)"

train_py() {  # python train.py ARGS, or with NPROC > 1 the same under torchrun (the interpreter's own)
    if [ "$NPROC" -gt 1 ]; then
        (cd "$SEMPT_ROOT" && "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" train.py "$@")
    else
        (cd "$SEMPT_ROOT" && "$PYTHON" train.py "$@")
    fi
}

cfg_value() {  # cfg_value KEY train.py-arguments... -> the value KEY takes in that run's config (one process)
    local key="$1"; shift
    (cd "$SEMPT_ROOT" && "$PYTHON" train.py --print-config-key "$key" "$@")
}

run_unless_finished() {  # run_unless_finished DIR train.py-arguments...
    # train.py skips a folder that holds a finished run of the same configuration and stops, naming the
    # differing keys, when it holds a finished run of another one
    local dir="$1"; shift
    echo "Run -> $dir"
    train_py --output-dir "$dir" --skip-if-finished "$@"
}

# base2new_train TRAINER CFG DATASET SEED [opts...]
base2new_train() {
    local trainer="$1" cfg="$2" dataset="$3" seed="$4"; shift 4
    require_data
    local dcfg tcfg; dcfg="$(dataset_cfg "$dataset")"; tcfg="$(trainer_cfg "$trainer" "$cfg")"
    local shots="${SHOTS:-16}"
    local dir="$OUTPUT/base2new/train_base/$dataset/shots_$shots/$trainer/$cfg/seed$seed"
    run_unless_finished "$dir" --root "$DATA" --seed "$seed" --trainer "$trainer" \
        --dataset-config-file "$dcfg" --config-file "$tcfg" \
        DATASET.NUM_SHOTS "$shots" DATASET.SUBSAMPLE_CLASSES base $(backbone_opts) "$@"
}

# base2new_test TRAINER CFG DATASET SEED [opts...]: evaluate the base-trained model on the new classes
base2new_test() {
    local trainer="$1" cfg="$2" dataset="$3" seed="$4"; shift 4
    require_data
    local dcfg tcfg; dcfg="$(dataset_cfg "$dataset")"; tcfg="$(trainer_cfg "$trainer" "$cfg")"
    local shots="${SHOTS:-16}" sub="${SUB:-new}"
    local common="$dataset/shots_$shots/$trainer/$cfg/seed$seed"
    local model_dir="$OUTPUT/base2new/train_base/$common"
    local dir="$OUTPUT/base2new/test_$sub/$common"
    local args=(--root "$DATA" --seed "$seed" --trainer "$trainer" --dataset-config-file "$dcfg" --config-file "$tcfg")
    local model_args=(--untrained)  # NO_MODEL=1: evaluate without a trained model (zero-shot rows)
    if [ "${NO_MODEL:-0}" != 1 ]; then
        [ -d "$model_dir" ] || die "no trained model at $model_dir: run base2new_train.sh $dataset $seed first"
        local epoch; epoch="$(cfg_value OPTIM.MAX_EPOCH "${args[@]}" "$@" | tail -n 1)"
        model_args=(--model-dir "$model_dir" --load-epoch "$epoch")
    fi
    run_unless_finished "$dir" "${args[@]}" "${model_args[@]}" --eval-only \
        DATASET.NUM_SHOTS "$shots" DATASET.SUBSAMPLE_CLASSES "$sub" $(backbone_opts) "$@"
}

# few_shot TRAINER CFG DATASET SHOTS SEED [opts...]: all classes, K shots
few_shot() {
    local trainer="$1" cfg="$2" dataset="$3" shots="$4" seed="$5"; shift 5
    require_data
    local dcfg tcfg; dcfg="$(dataset_cfg "$dataset")"; tcfg="$(trainer_cfg "$trainer" "$cfg")"
    local dir="$OUTPUT/few_shot/$dataset/$trainer/${cfg}_${shots}shots/seed$seed"
    run_unless_finished "$dir" --root "$DATA" --seed "$seed" --trainer "$trainer" \
        --dataset-config-file "$dcfg" --config-file "$tcfg" DATASET.NUM_SHOTS "$shots" $(backbone_opts) "$@"
}

# xd_train TRAINER CFG SEED [opts...]: train on the source dataset (SOURCE, default imagenet), all classes
xd_train() {
    local trainer="$1" cfg="$2" seed="$3"; shift 3
    require_data
    local source="${SOURCE:-imagenet}" shots="${SHOTS:-16}"
    local dcfg tcfg; dcfg="$(dataset_cfg "$source")"; tcfg="$(trainer_cfg "$trainer" "$cfg")"
    local dir="$OUTPUT/$source/$trainer/${cfg}_${shots}shots/seed$seed"
    run_unless_finished "$dir" --root "$DATA" --seed "$seed" --trainer "$trainer" \
        --dataset-config-file "$dcfg" --config-file "$tcfg" DATASET.NUM_SHOTS "$shots" $(backbone_opts) "$@"
}

# xd_test TRAINER CFG DATASET SEED [opts...]: evaluate the source-trained model on DATASET (all its classes)
xd_test() {
    local trainer="$1" cfg="$2" dataset="$3" seed="$4"; shift 4
    require_data
    local source="${SOURCE:-imagenet}" shots="${SHOTS:-16}"
    local dcfg tcfg; dcfg="$(dataset_cfg "$dataset")"; tcfg="$(trainer_cfg "$trainer" "$cfg")"
    local model_dir="$OUTPUT/$source/$trainer/${cfg}_${shots}shots/seed$seed"
    local dir="$OUTPUT/evaluation/$trainer/${cfg}_${shots}shots/$dataset/seed$seed"
    [ -d "$model_dir" ] || die "no trained model at $model_dir: run xd_train.sh $seed first"
    local args=(--root "$DATA" --seed "$seed" --trainer "$trainer" --dataset-config-file "$dcfg" --config-file "$tcfg")
    local epoch; epoch="$(cfg_value OPTIM.MAX_EPOCH "${args[@]}" "$@" | tail -n 1)"
    run_unless_finished "$dir" "${args[@]}" --model-dir "$model_dir" --load-epoch "$epoch" --eval-only \
        $(backbone_opts) "$@"
}
