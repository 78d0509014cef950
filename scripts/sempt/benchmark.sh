#!/usr/bin/env bash
# Whole SemPT benchmark: bash scripts/sempt/benchmark.sh SETTING [KEY VALUE ...]  (see scripts/benchmark.sh)
exec bash "$(dirname "${BASH_SOURCE[0]}")/../benchmark.sh" sempt "$@"
