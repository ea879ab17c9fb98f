#!/usr/bin/env bash
# CI's smoke run of the demo model's training (training/train.py --smoke: tiny sizes, a few steps
# of every stage), then an export that diffuse loads and samples, so neither side rots. Exit 77
# (skipped) where training/install.sh has not been run: torch is Debian's python3-torch, for
# /usr/bin/python3.
#
#   tests/training_smoke.sh OUTPUT_DIR DIFFUSE_BINARY
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: $0 OUTPUT_DIR DIFFUSE_BINARY}"
diffuse="${2:?usage: $0 OUTPUT_DIR DIFFUSE_BINARY}"
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "training smoke run skipped: /usr/bin/python3 has no torch (training/install.sh installs it)" >&2
  exit 77
fi
rm -rf "$out"
cd "$here/.."
/usr/bin/python3 training/train.py --out "$out" --smoke
/usr/bin/python3 training/export.py "$out" "$out/smoke.safetensors"
"$diffuse" generate -m "$out/smoke.safetensors" -p "a red circle" --steps 2 -o "$out/smoke.png"
size="$(/usr/bin/python3 -c 'import sys; from PIL import Image; print("%dx%d" % Image.open(sys.argv[1]).size)' "$out/smoke.png")"
[[ "$size" == 64x64 ]] || { echo "expected a 64x64 PNG from the exported smoke model, got $size" >&2; exit 1; }
# A run whose checkpoints are gone goes on from its export, at the step the export records.
/usr/bin/python3 training/train.py --out "$out/continued" --smoke --init-from "$out/smoke.safetensors" | tee "$out/continued.log"
grep -q "starting at step 3 from" "$out/continued.log" || { echo "--init-from did not start at the export's step 3" >&2; exit 1; }
echo "training smoke run: trained, exported, sampled by diffuse ($size), continued from the export"
