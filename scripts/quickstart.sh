#!/usr/bin/env bash
# Sets up, builds, and makes a first image with the built-in demo model (models/demo.safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
./build/diffuse generate -p "a red circle on a blue background" -o quickstart.png
./build/diffuse info quickstart.png
echo "quickstart.png: 64x64, from the built-in demo model. Real checkpoints: ./build/diffuse generate -m MODEL (see README)."
