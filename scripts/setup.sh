#!/usr/bin/env bash
# Installs every Debian package diffuse needs to build and test. Safe to run again.
set -euo pipefail
packages=(cmake ninja-build g++ libdnnl-dev libpng-dev libutf8proc-dev nlohmann-json3-dev libcli11-dev
          libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev
          chromium)  # the web page's browser test (driven by playwright-core from npm)
# Node runs the browser and OpenAI-client tests; an existing Node (18 or newer) is kept.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
