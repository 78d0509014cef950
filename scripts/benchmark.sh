#!/usr/bin/env bash
# Run a whole benchmark for one method over datasets and seeds, through the method's own scripts:
#   bash scripts/benchmark.sh [--gpus LIST | --slurm FILE [SLURM OPTIONS]] METHOD SETTING [KEY VALUE ...]
# METHOD: a folder of scripts/ (sempt, coop, kgcoop, ...). SETTING:
#   base2new   base2new_train.sh + base2new_test.sh for each dataset and seed
#   xd         xd_train.sh per seed, then xd_test.sh on the 10 other datasets and the 4 ImageNet variants
#   few_shot   few_shot.sh for each dataset, shot count and seed
# Env: DATASETS (default: the setting's datasets, the 11), SEEDS ("1 2 3"), SHOTS_LIST ("1 2 4 8 16"),
# XD_TARGETS (default: the 10 other datasets and the 4 variants), plus DATA, OUTPUT, BACKBONE, CFG as for
# the single scripts. The default lists are the readers' benchmark groups (python -m sempt.data list GROUP).
# Finished runs are skipped, so a rerun resumes.
#
# Without a flag the runs go one after the other. The flags split the benchmark into independent units (one
# per dataset x seed; xd: one per seed; few_shot: one per dataset x shots x seed), each of which is this
# script run on that unit alone:
#   --gpus LIST        run the units on a pool of local devices, one unit per device at a time: --gpus 0,1,2,3
#                      (each unit sees CUDA_VISIBLE_DEVICES=<id>; repeat an id to share a device) or --gpus cpu:N
#                      (N CPU processes); progress with done / running / left and an ETA; one log per unit in
#                      $OUTPUT/sweep/METHOD_SETTING/; a failed unit is reported and the others go on (python -m
#                      sempt.sweep run)
#   --slurm FILE       write (not submit) a SLURM array script, one array task per unit, each with --gres=gpu:1
#                      and its log in $OUTPUT/slurm/; submit it with `sbatch FILE` (python -m sempt.sweep slurm).
#                      Options (or env): --partition P (SEMPT_SLURM_PARTITION), --time T (SEMPT_SLURM_TIME),
#                      --cpus-per-task N (SEMPT_SLURM_CPUS_PER_TASK), --gres G (SEMPT_SLURM_GRES, default gpu:1).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
gpus="" slurm=""
sb_partition="${SEMPT_SLURM_PARTITION:-}" sb_time="${SEMPT_SLURM_TIME:-}" sb_cpus="${SEMPT_SLURM_CPUS_PER_TASK:-}"
sb_gres="${SEMPT_SLURM_GRES-gpu:1}" sb_flag=""
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --gpus|--slurm|--partition|--time|--cpus-per-task|--gres)
            [ $# -ge 2 ] || die "$1 needs a value (see the top of scripts/benchmark.sh)"
            case "$1" in
                --gpus) gpus="$2" ;;
                --slurm) slurm="$2" ;;
                --partition) sb_partition="$2" sb_flag="$1" ;;
                --time) sb_time="$2" sb_flag="$1" ;;
                --cpus-per-task) sb_cpus="$2" sb_flag="$1" ;;
                --gres) sb_gres="$2" sb_flag="$1" ;;
            esac
            shift 2 ;;
        *) positional+=("$1"); shift ;;
    esac
done
set -- ${positional[@]+"${positional[@]}"}
[ $# -ge 2 ] || die "usage: $0 [--gpus LIST | --slurm FILE [--partition P] [--time T] [--cpus-per-task N]" \
    "[--gres G]] METHOD SETTING [KEY VALUE ...]"
[ -z "$gpus" ] || [ -z "$slurm" ] || die "--gpus runs here, --slurm writes a cluster script: give one of them"
[ -z "$sb_flag" ] || [ -n "$slurm" ] || die "$sb_flag only applies with --slurm FILE"
method="$1" setting="$2"; shift 2
dir="$SEMPT_ROOT/scripts/$method"
[ -d "$dir" ] || die "no scripts/$method folder; methods: $(cd "$SEMPT_ROOT/scripts" && ls -d */ | tr -d / | tr '\n' ' ')"
group_datasets() {  # group_datasets GROUP... -> the config names of those benchmark groups' datasets
    local names
    names="$(cd "$SEMPT_ROOT" && "$PYTHON" -m sempt.data list "$@" | tr '\n' ' ')" || die "cannot list the datasets of $*"
    echo "$names"
}
case "$setting" in base2new|few_shot) [ -n "${DATASETS:-}" ] || DATASETS="$(group_datasets "$setting")" ;; esac
read -r -a datasets <<< "${DATASETS:-}"
read -r -a seeds <<< "${SEEDS:-1 2 3}"
need() { [ -f "$dir/$1" ] || die "scripts/$method has no $1: setting '$setting' is not available for $method"; }
case "$setting" in
    base2new) need base2new_train.sh; need base2new_test.sh ;;
    xd)
        need xd_train.sh; need xd_test.sh
        if [ -z "${XD_TARGETS:-}" ]; then XD_TARGETS="$(group_datasets xd_target domain_target)"; fi
        read -r -a targets <<< "$XD_TARGETS" ;;
    few_shot) need few_shot.sh; read -r -a shots <<< "${SHOTS_LIST:-1 2 4 8 16}" ;;
    *) die "unknown setting '$setting' (base2new, xd, few_shot)" ;;
esac

units() {  # one line per independent unit: NAME<TAB>the variables that restrict this script to it
    case "$setting" in
        base2new) for d in "${datasets[@]}"; do for s in "${seeds[@]}"; do
            printf '%s\t%s\n' "$d seed $s" "DATASETS=$d SEEDS=$s"; done; done ;;
        xd) for s in "${seeds[@]}"; do printf '%s\t%s\n' "seed $s" "SEEDS=$s"; done ;;
        few_shot) for d in "${datasets[@]}"; do for k in "${shots[@]}"; do for s in "${seeds[@]}"; do
            printf '%s\t%s\n' "$d $k shots seed $s" "DATASETS=$d SHOTS_LIST=$k SEEDS=$s"; done; done; done ;;
    esac
}

if [ -n "$gpus$slurm" ]; then
    export OUTPUT PYTHON
    if [ "$setting" = xd ]; then export XD_TARGETS; fi
    self=(bash "$SEMPT_ROOT/scripts/benchmark.sh" "$method" "$setting" ${@+"$@"})
    if [ -n "$slurm" ]; then
        case "$slurm" in /*) ;; *) slurm="$PWD/$slurm" ;; esac
        sbatch_opts=(--gres "$sb_gres")
        [ -z "$sb_partition" ] || sbatch_opts+=(--partition "$sb_partition")
        [ -z "$sb_time" ] || sbatch_opts+=(--time "$sb_time")
        [ -z "$sb_cpus" ] || sbatch_opts+=(--cpus-per-task "$sb_cpus")
        case "$setting" in
            base2new) what="scripts/$method/base2new_train.sh, then base2new_test.sh, on its dataset and seed" ;;
            xd) what="scripts/$method/xd_train.sh for its seed, then xd_test.sh on every target" ;;
            few_shot) what="scripts/$method/few_shot.sh on its dataset, shot count and seed" ;;
        esac
        units | (cd "$SEMPT_ROOT" && "$PYTHON" -m sempt.sweep slurm --out "$slurm" --units - \
            --job-name "sempt-$method-$setting" --log-dir "$OUTPUT/slurm" --workdir "$SEMPT_ROOT" \
            --describe "Each task runs $what (scripts/benchmark.sh on that unit; finished runs are skipped)." \
            "${sbatch_opts[@]}" -- "${self[@]}")
    else
        units | (cd "$SEMPT_ROOT" && "$PYTHON" -m sempt.sweep run --gpus "$gpus" --units - \
            --name "$method/$setting" --log-dir "$OUTPUT/sweep/${method}_$setting" -- "${self[@]}")
        echo "Benchmark $method/$setting done; results under $OUTPUT"
    fi
    exit 0
fi

total=0 done_=0
step() { done_=$((done_ + 1)); echo "=== [$done_/$total] $*"; }
case "$setting" in
    base2new)
        total=$(( ${#datasets[@]} * ${#seeds[@]} ))
        for d in "${datasets[@]}"; do for s in "${seeds[@]}"; do
            step "$method base2new $d seed $s"
            bash "$dir/base2new_train.sh" "$d" "$s" "$@"
            bash "$dir/base2new_test.sh" "$d" "$s" "$@"
        done; done ;;
    xd)
        total=$(( ${#seeds[@]} * (1 + ${#targets[@]}) ))
        for s in "${seeds[@]}"; do
            step "$method xd train seed $s"
            bash "$dir/xd_train.sh" "$s" "$@"
            for d in "${targets[@]}"; do step "$method xd test $d seed $s"; bash "$dir/xd_test.sh" "$d" "$s" "$@"; done
        done ;;
    few_shot)
        total=$(( ${#datasets[@]} * ${#shots[@]} * ${#seeds[@]} ))
        for d in "${datasets[@]}"; do for k in "${shots[@]}"; do for s in "${seeds[@]}"; do
            step "$method few-shot $d $k shots seed $s"
            bash "$dir/few_shot.sh" "$d" "$k" "$s" "$@"
        done; done; done ;;
esac
echo "Benchmark $method/$setting done; results under $OUTPUT"
