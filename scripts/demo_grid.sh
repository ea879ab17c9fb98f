#!/usr/bin/env bash
# Draws the README's grid: the built-in demo model on a few prompts (two seeds each), tiled by
# ImageMagick into docs/demo-grid.png, upscaled 2x with sharp pixels. Installs imagemagick if missing.
#
#   scripts/demo_grid.sh [build/diffuse]
set -euo pipefail
cd "$(dirname "$0")/.."
diffuse="${1:-build/diffuse}"
prompts=(
  "a red circle on a blue background"
  "a small yellow triangle in the top left corner"
  "two green squares on black"
  "a purple star on white"
  "a big orange heart in the centre on a green background"
  "a white square at the bottom right on a purple background"
  "an orange star on a blue background"
  "a purple triangle on yellow"
)
if [[ ! -x /usr/bin/convert ]]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends imagemagick
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rows=()
for i in "${!prompts[@]}"; do
  for seed in 1 2; do
    "$diffuse" generate -p "${prompts[$i]}" -s "$seed" -o "$work/p${i}_s${seed}.png" 2>/dev/null
  done
  /usr/bin/convert "$work/p${i}_s1.png" "$work/p${i}_s2.png" +append "$work/row$i.png"
  rows+=("$work/row$i.png")
done
# Two columns of prompt pairs: prompts 0-3 on the left, 4-7 on the right.
/usr/bin/convert "${rows[@]:0:4}" -append "$work/left.png"
/usr/bin/convert "${rows[@]:4:4}" -append "$work/right.png"
/usr/bin/convert "$work/left.png" "$work/right.png" -bordercolor white -border 0x0 +append -filter point -resize 200% docs/demo-grid.png
printf '%s\n' "${prompts[@]}" | nl -v0 -w1 -s': '
echo "wrote docs/demo-grid.png"
