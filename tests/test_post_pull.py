"""`videobot pull post`: the post steps' weights fetched from a fake hub on loopback, then found and
loaded offline by the engine (Practical-RIFE's pickle, a Real-ESRGAN-class `.pth` through spandrel)."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import torch

from bot.post.hd import import_spandrel
from bot.post.ifnet import IFNet
from tests.fakes.hf_hub import FakeHub, serving
from tests.harness.console import VIDEOBOT, ChildProcesses, child_env

RIFE_REPO, UPSCALER_REPO = "Upsampler/rife-4-25", "nateraw/real-esrgan"
CONFIG = '[models.toy]\nid = "tiny"\n'


def saved(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def weights() -> dict[str, dict[str, bytes]]:
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    rife = IFNet(widths=(16, 16, 16), head_hidden=8, head_out=4).state_dict()
    upscaler = Compact(num_feat=8, num_conv=2, upscale=2).state_dict()
    return {
        RIFE_REPO: {"flownet.pkl": saved({f"module.{k}": v for k, v in rife.items()}), "README.md": b"#"},
        UPSCALER_REPO: {"RealESRGAN_x2plus.pth": saved(upscaler), "RealESRGAN_x4plus.pth": b"x" * 999},
    }


@pytest_asyncio.fixture
async def hub() -> AsyncIterator[tuple[FakeHub, str]]:
    fake = FakeHub(weights())
    async with serving(fake) as endpoint:
        yield fake, endpoint


async def run(
    child_processes: ChildProcesses, tmp_path: Path, *args: str, env: dict[str, str]
) -> tuple[int, str, str]:
    child = await child_processes.spawn(
        *args, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(child.communicate(), 180)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


ENGINE_CHECK = """
import numpy as np
from bot.settings.loading import load_config
from bot.post import PostEngine
engine = PostEngine(load_config(require_tokens=False).post)
frames = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
smoothed, upscaled = engine.smooth(frames, 8), engine.hd(frames)
print(smoothed.method, smoothed.model, smoothed.frames.shape, upscaled.method, upscaled.frames.shape)
"""


@pytest.mark.asyncio
async def test_pull_post_fetches_only_the_named_files_and_the_engine_then_loads_them(
    tmp_path, hub, child_processes: ChildProcesses
):
    fake, endpoint = hub
    (tmp_path / "config.toml").write_text(CONFIG)
    env = {**child_env(), "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE")

    code, out, err = await run(
        child_processes, tmp_path, str(VIDEOBOT), "pull", "--config", "config.toml", "--dry-run", env=env
    )
    assert code == 0, err
    assert "post" not in out, "[post] smooth and hd are off: a plain pull leaves the post weights alone"

    code, out, err = await run(
        child_processes, tmp_path, str(VIDEOBOT), "pull", "--config", "config.toml", "post", env=env
    )
    assert code == 0, err
    assert f"post: {RIFE_REPO}" in out and f"post: {UPSCALER_REPO}" in out
    assert sorted(name for name, _ in fake.gets) == ["RealESRGAN_x2plus.pth", "flownet.pkl"]

    offline = {**env, "HF_HUB_OFFLINE": "1"}
    code, out, err = await run(child_processes, tmp_path, sys.executable, "-c", ENGINE_CHECK, env=offline)
    assert code == 0, err
    assert out.split("(")[0].split() == ["rife", f"{RIFE_REPO}/flownet.pkl"]
    assert "(9, 32, 32, 3) spandrel (3, 64, 64, 3)" in out


@pytest.mark.asyncio
async def test_pull_post_says_in_one_line_when_the_hub_lacks_the_file(
    tmp_path, hub, child_processes: ChildProcesses
):
    _, endpoint = hub
    (tmp_path / "config.toml").write_text(CONFIG + '[post]\nupscaler_file = "nosuch.pth"\n')
    env = {**child_env(), "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE")

    code, _, err = await run(
        child_processes, tmp_path, str(VIDEOBOT), "pull", "--config", "config.toml", "post", env=env
    )

    assert code == 2
    last = err.strip().splitlines()[-1]  # above it: huggingface_hub's own progress bars and warning
    assert last == f"videobot: {UPSCALER_REPO} has no nosuch.pth; check [post] in the config"
