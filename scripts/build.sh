#!/usr/bin/env bash
# Configures and builds everything (CLI at build/diffuse, tests, benchmarks) in Release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
