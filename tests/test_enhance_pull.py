"""`videobot pull` fetches the prompt writer like a video model: the real command and the real
huggingface_hub client against the loopback fake hub, then the writer loads what it fetched, offline."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.enhance.tiny import scripted
from tests.fakes.hf_hub import FakeHub, serving
from tests.harness.console import VIDEOBOT, ChildProcesses, child_env

WRITER = "Qwen/Qwen3-1.7B"
REWRITE = "A ginger cat surfs turquoise waves at golden sunset, camera tracking beside the board."
NOT_READ = {"pytorch_model.bin": b"p" * 1000, "README.md": b"# card", "model.gguf": b"g" * 1000}


@pytest_asyncio.fixture
async def writer_hub(tmp_path: Path) -> AsyncIterator[tuple[FakeHub, str, set[str]]]:
    model, tokenizer = scripted(REWRITE)  # the "published" writer: a tiny one that writes REWRITE
    folder = tmp_path / "published"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    fake = FakeHub({WRITER: {**files, **NOT_READ}})
    async with serving(fake) as endpoint:
        yield fake, endpoint, set(files)


async def run(
    child_processes: ChildProcesses, tmp_path: Path, env: dict[str, str], *args: str
) -> tuple[int, str, str]:
    child = await child_processes.spawn(
        *args, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


LOAD_AND_REWRITE = """
import asyncio
from bot.settings.loading import load_config
from bot.enhance import PromptWriter, WriterSlot
slot = WriterSlot(PromptWriter(load_config(require_tokens=False).enhance))
print(asyncio.run(slot.rewrite("console:me", "un gatto che fa surf", "wan")).text)
"""


@pytest.mark.asyncio
async def test_pull_fetches_the_writers_files_and_the_writer_then_loads_offline(
    tmp_path, writer_hub, child_processes: ChildProcesses
):
    fake, endpoint, published = writer_hub
    env = {**child_env(), "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE")
    (tmp_path / "config.toml").write_text(
        f'[models.toy]\nid = "tiny"\n[enhance]\nmode = "ask"\nmodel = "{WRITER}"\n'
    )

    code, out, err = await run(
        child_processes, tmp_path, env, str(VIDEOBOT), "pull", "--config", "config.toml", "--dry-run"
    )
    assert code == 0, err
    assert f"enhance: {WRITER}" in out and "toy: nothing to download (built in code)" in out
    assert all(name in out for name in published) and not any(name in out for name in NOT_READ)

    code, out, err = await run(
        child_processes, tmp_path, env, str(VIDEOBOT), "pull", "--config", "config.toml", "enhance"
    )
    assert code == 0, err
    assert "toy" not in out  # only the writer was asked for
    assert {name for name, _ in fake.gets} == published

    offline = {**env, "HF_HUB_OFFLINE": "1", "VIDEOBOT_CONFIG": "config.toml"}
    code, out, err = await run(child_processes, tmp_path, offline, sys.executable, "-c", LOAD_AND_REWRITE)
    assert code == 0, err
    assert out.strip() == REWRITE


@pytest.mark.asyncio
async def test_pull_says_when_the_writer_has_nothing_to_download(
    tmp_path, writer_hub, child_processes: ChildProcesses
):
    _, endpoint, _ = writer_hub
    env = {**child_env(), "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE")
    (tmp_path / "config.toml").write_text(
        '[models.toy]\nid = "tiny"\n[enhance]\nmode = "ask"\nmodel = "tiny-qwen3"\n'
    )
    code, out, err = await run(
        child_processes, tmp_path, env, str(VIDEOBOT), "pull", "--config", "config.toml", "enhance"
    )
    assert code == 0, err
    assert "enhance: nothing to download (built in code)" in out

    (tmp_path / "config.toml").write_text('[models.toy]\nid = "tiny"\n')  # [enhance] mode is off
    code, out, err = await run(
        child_processes, tmp_path, env, str(VIDEOBOT), "pull", "--config", "config.toml"
    )
    assert code == 0, err
    assert "enhance" not in out
