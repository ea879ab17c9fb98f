#!/usr/bin/env bash
# Sets up, builds, and makes a first image with the tiny test model shipped in tests/fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
echo "Generating with tests/fixtures/sd1-tiny: its weights are RANDOM, so the image is noise-like by design."
echo "For a real picture, pass a real checkpoint with -m (see README)."
./build/diffuse generate -m tests/fixtures/sd1-tiny/model.safetensors \
  -p "cute magical flying elephant, fantasy art, golden color" -W 64 -H 64 --steps 20 -o quickstart.png
./build/diffuse info quickstart.png
