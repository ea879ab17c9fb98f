#!/bin/sh
# Installs what training/ needs from Debian (bookworm); no pip, no other downloads.
# libopenblas0-pthread switches libblas.so.3 to OpenBLAS through Debian's alternatives:
# python3-torch otherwise runs its linear layers on the generic reference BLAS (1.5-2x slower).
# python3-regex: the CLIP tokenizer's pre-tokenisation pattern uses \p{L}/\p{N} classes.
# python3-pil: PNG output for ground-truth renders and samples.
set -e
# Debian's packages go to the system interpreter: run training with /usr/bin/python3 (a pyenv/venv python3 will not see them).
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends python3-torch python3-numpy python3-regex python3-pil libopenblas0-pthread
/usr/bin/python3 -c "import torch; print('torch', torch.__version__)"
