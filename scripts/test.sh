#!/usr/bin/env bash
# Builds and runs the whole test suite (a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
# Sequential: each test already uses every core (OpenMP + oneDNN); parallel tests oversubscribe them.
ctest --test-dir build --output-on-failure
