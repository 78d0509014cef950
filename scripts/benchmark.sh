#!/usr/bin/env bash
# Run a whole benchmark for one method over datasets and seeds, through the method's own scripts:
#   bash scripts/benchmark.sh METHOD SETTING [KEY VALUE ...]
# METHOD: a folder of scripts/ (sempt, coop, kgcoop, ...). SETTING:
#   base2new   base2new_train.sh + base2new_test.sh for each dataset and seed
#   xd         xd_train.sh per seed, then xd_test.sh on the 10 other datasets and the 4 ImageNet variants
#   few_shot   few_shot.sh for each dataset, shot count and seed
# Env: DATASETS (default: the setting's datasets, the 11), SEEDS ("1 2 3"), SHOTS_LIST ("1 2 4 8 16"),
# XD_TARGETS (default: the 10 other datasets and the 4 variants), plus DATA, OUTPUT, BACKBONE, CFG as for
# the single scripts. The default lists are the readers' benchmark groups (python -m sempt.data list GROUP).
# Finished runs are skipped, so a rerun resumes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -ge 2 ] || die "usage: $0 METHOD SETTING [KEY VALUE ...]"
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
total=0 done_=0
step() { done_=$((done_ + 1)); echo "=== [$done_/$total] $*"; }
case "$setting" in
    base2new)
        need base2new_train.sh; need base2new_test.sh
        total=$(( ${#datasets[@]} * ${#seeds[@]} ))
        for d in "${datasets[@]}"; do for s in "${seeds[@]}"; do
            step "$method base2new $d seed $s"
            bash "$dir/base2new_train.sh" "$d" "$s" "$@"
            bash "$dir/base2new_test.sh" "$d" "$s" "$@"
        done; done ;;
    xd)
        need xd_train.sh; need xd_test.sh
        if [ -z "${XD_TARGETS:-}" ]; then XD_TARGETS="$(group_datasets xd_target domain_target)"; fi
        read -r -a targets <<< "$XD_TARGETS"
        total=$(( ${#seeds[@]} * (1 + ${#targets[@]}) ))
        for s in "${seeds[@]}"; do
            step "$method xd train seed $s"
            bash "$dir/xd_train.sh" "$s" "$@"
            for d in "${targets[@]}"; do step "$method xd test $d seed $s"; bash "$dir/xd_test.sh" "$d" "$s" "$@"; done
        done ;;
    few_shot)
        need few_shot.sh
        read -r -a shots <<< "${SHOTS_LIST:-1 2 4 8 16}"
        total=$(( ${#datasets[@]} * ${#shots[@]} * ${#seeds[@]} ))
        for d in "${datasets[@]}"; do for k in "${shots[@]}"; do for s in "${seeds[@]}"; do
            step "$method few-shot $d $k shots seed $s"
            bash "$dir/few_shot.sh" "$d" "$k" "$s" "$@"
        done; done; done ;;
    *) die "unknown setting '$setting' (base2new, xd, few_shot)" ;;
esac
echo "Benchmark $method/$setting done; results under $OUTPUT"
