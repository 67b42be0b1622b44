#!/usr/bin/env bash
# Create .venv and install videobot with its test tools.
# torch goes first, pinned to one release: pip's own index gives the CUDA build on Linux
# GPU machines and the CPU build elsewhere; the package itself never pins a build.
# VIDEOBOT_PYTHON picks the interpreter (default: python3.11, else python3 if that is 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${VIDEOBOT_PYTHON:-}"
if [[ -z "$python" ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null; then python="$candidate"; break; fi
    done
fi
version="$("${python:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [[ "$version" != "3.11" ]]; then
    echo "setup.sh: videobot needs Python 3.11, and ${python:-python3} is ${version:-not installed}." >&2
    echo "Install python3.11 (e.g. apt-get install python3.11 python3.11-venv, or pyenv), or point" >&2
    echo "VIDEOBOT_PYTHON at one: VIDEOBOT_PYTHON=/path/to/python3.11 scripts/setup.sh" >&2
    exit 2
fi
echo "==> Using $(command -v "$python") (Python $version); creating .venv"
"$python" -m venv .venv

pip=(.venv/bin/python -m pip install)
echo "==> [1/4] pip itself"
"${pip[@]}" --upgrade pip
echo "==> [2/4] torch ${VIDEOBOT_TORCH_VERSION:-2.13.0} (the CUDA build on a Linux GPU machine: about 2 GB, minutes)"
"${pip[@]}" "torch==${VIDEOBOT_TORCH_VERSION:-2.13.0}"
echo "==> [3/4] videobot and its test tools (diffusers, transformers, the chat libraries, the face detector …)"
"${pip[@]}" -e ".[test]"
# spandrel's metadata asks for torchvision, which would replace the torch above; bot/post/hd.py imports
# it without (docs/post.md)
echo "==> [4/4] spandrel (🔍 HD's image upscalers) without torchvision"
"${pip[@]}" --no-deps "spandrel==0.4.2"
echo "==> Done: $(.venv/bin/videobot --version) in .venv (try: .venv/bin/videobot console --tiny)"
