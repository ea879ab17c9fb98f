#!/bin/bash
# Which oneDNN kernels a command runs and how long they take, summed by primitive, kernel and data
# types: e.g. whether the attention products run on AMX (brg:avx512_core_amx_bf16) or fall back.
#   scripts/onednn_profile.sh [--by-shape] ./build/diffuse bench --arch sd15 --steps 1
# --by-shape keeps each problem shape apart (e.g. mb2_ic320oc320_ih64oh64kh3...), to find the slow ones.
# Times are oneDNN's own per-call figures (ms), for every call of the whole command.
set -euo pipefail
by_shape=0
[ "${1:-}" = --by-shape ] && { by_shape=1; shift; }
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
ONEDNN_VERBOSE=1 "$@" 2>/dev/null | awk -F, -v by_shape=$by_shape '
  $1 == "onednn_verbose" && $2 == "exec" {
    types = $7; if (!by_shape) gsub(/::[^ ]*/, "", types)   # "src_bf16::blocked:ab:f0 wei_bf16::..." -> "src_bf16 wei_bf16 ..."
    key = sprintf("%-12s %-32s %s", $4, $5, types)
    if (by_shape) key = key "  " $(NF - 1)
    ms[key] += $NF; calls[key]++; total += $NF
  }
  END {
    if (!total) { print "no oneDNN executions seen" > "/dev/stderr"; exit 1 }
    for (k in ms) printf "%10.1f ms %5.1f%% %7d calls  %s\n", ms[k], 100 * ms[k] / total, calls[k], k | "sort -rn"
    close("sort -rn")
    printf "%10.1f ms total\n", total
  }'
