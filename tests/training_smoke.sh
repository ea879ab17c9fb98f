#!/usr/bin/env bash
# CI's smoke run of the demo model's training (training/train.py --smoke: tiny sizes, a few steps
# of every stage, then an export), so the script does not rot. Exit 77 (skipped) where
# training/install.sh has not been run: torch is Debian's python3-torch, for /usr/bin/python3.
#
#   tests/training_smoke.sh OUTPUT_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: $0 OUTPUT_DIR}"
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "training smoke run skipped: /usr/bin/python3 has no torch (training/install.sh installs it)" >&2
  exit 77
fi
rm -rf "$out"
cd "$here/.."
/usr/bin/python3 training/train.py --out "$out" --smoke
