"""`videobot pull`: the real command and the real huggingface_hub client against a fake hub on loopback.

Never the real hub: `HF_ENDPOINT` points the child process at `tests/fakes/hf_hub.py`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.pull import PullError, PullFile, PullPlan, check_free_space, human_size
from tests.fakes.hf_hub import FakeHub, serving
from tests.harness.console import VIDEOBOT, ChildProcesses, child_env

MS = "damo-vilab/text-to-video-ms-1.7b"
BIG = 12 * 1024 * 1024  # the "weights": past huggingface_hub's 10 MiB read chunk, so a cut keeps a part
CUT = 11 * 1024 * 1024

MS_FILES = {
    "model_index.json": b'{"_class_name": "TextToVideoSDPipeline"}',
    "unet/config.json": b"{}",
    "unet/diffusion_pytorch_model.fp16.safetensors": bytes(range(256)) * (BIG // 256),
    "unet/diffusion_pytorch_model.safetensors": b"f" * 2_000_000,  # fp32: loading never reads it
    "unet/diffusion_pytorch_model.bin": b"b" * 1_000_000,
    "tokenizer/vocab.txt": b"a\nb\n",
    "README.md": b"# card",
}
WANTED = {
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "tokenizer/vocab.txt",
}


@pytest_asyncio.fixture
async def hub() -> AsyncIterator[tuple[FakeHub, str]]:
    fake = FakeHub({MS: dict(MS_FILES)})
    async with serving(fake) as endpoint:
        yield fake, endpoint


async def videobot(
    child_processes: ChildProcesses, tmp_path: Path, endpoint: str, *args: str, offline: bool = False
) -> tuple[int, str, str]:
    env = {**child_env(), "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    (tmp_path / "config.toml").write_text(f'[models.ms]\nid = "{MS}"\n[models.toy]\nid = "tiny"\n')
    child = await child_processes.spawn(
        str(VIDEOBOT), "pull", "--config", "config.toml", *args,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


def cached(tmp_path: Path) -> set[str]:
    snapshots = tmp_path / "hf" / "hub" / f"models--{MS.replace('/', '--')}" / "snapshots"
    return {str(p.relative_to(next(snapshots.iterdir()))) for p in snapshots.rglob("*") if p.is_file()}


@pytest.mark.asyncio
async def test_dry_run_prints_only_the_files_loading_reads_and_their_size(
    tmp_path, hub, child_processes: ChildProcesses
):
    fake, endpoint = hub
    code, out, err = await videobot(child_processes, tmp_path, endpoint, "--dry-run")

    assert code == 0, err
    for name in WANTED:
        assert name in out
    for skipped in ("diffusion_pytorch_model.safetensors", ".bin", "README.md"):
        assert skipped not in out
    wanted_bytes = sum(len(MS_FILES[name]) for name in WANTED)
    assert f"4 files, {human_size(wanted_bytes)}; {human_size(wanted_bytes)} to fetch" in out
    assert "toy: nothing to download (built in code)" in out
    assert fake.gets == [], "a dry run fetches nothing"
    assert not (tmp_path / "hf" / "hub" / f"models--{MS.replace('/', '--')}" / "snapshots").exists()


@pytest.mark.asyncio
async def test_pull_fetches_exactly_those_files_resumes_a_cut_and_loading_then_finds_them(
    tmp_path, hub, child_processes: ChildProcesses
):
    fake, endpoint = hub
    weights = "unet/diffusion_pytorch_model.fp16.safetensors"
    fake.cut_after[weights] = CUT

    code, out, err = await videobot(child_processes, tmp_path, endpoint, "ms")

    assert code == 0, err
    assert cached(tmp_path) == WANTED
    snapshot = next((tmp_path / "hf" / "hub" / f"models--{MS.replace('/', '--')}" / "snapshots").iterdir())
    assert (snapshot / weights).read_bytes() == MS_FILES[weights]
    from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE

    resumed = [header for name, header in fake.gets if name == weights]
    assert resumed == [None, f"bytes={DOWNLOAD_CHUNK_SIZE}-"], "the dropped download resumed, not restarted"
    assert "Done" in out
    # Loading is offline and finds what pull fetched (a child: huggingface_hub reads HF_HOME at import).
    env = {**child_env(), "HF_HOME": str(tmp_path / "hf")}
    check = await child_processes.spawn(
        sys.executable, "-c", f"from bot.render import check_weights_on_disk; check_weights_on_disk({MS!r})",
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, check_err = await asyncio.wait_for(check.communicate(), 60)
    assert check.returncode == 0, check_err.decode()

    fake.gets.clear()
    code, out, err = await videobot(child_processes, tmp_path, endpoint)
    assert code == 0, err
    assert "Everything is already here." in out
    assert fake.gets == [], "a second pull fetches nothing again"


def test_pull_refuses_before_fetching_when_the_disk_is_too_small(tmp_path):
    far_too_big = PullPlan("ms", MS, ("*",), tmp_path, (PullFile("w", 10**18, cached=False),))
    with pytest.raises(PullError, match=r"the download needs 1000000000\.00 GB .* free"):
        check_free_space([far_too_big])
    check_free_space([PullPlan("ms", MS, ("*",), tmp_path, (PullFile("w", 10, cached=False),))])
    already_here = PullPlan("ms", MS, ("*",), tmp_path, (PullFile("w", 10**18, cached=True),))
    check_free_space([already_here])


@pytest.mark.asyncio
async def test_pull_says_in_one_line_what_is_wrong(tmp_path, hub, child_processes: ChildProcesses):
    _, endpoint = hub
    code, _, err = await videobot(child_processes, tmp_path, endpoint, "nosuch")
    assert code == 2
    assert err.strip() == "videobot: there is no model called 'nosuch' in config.toml; pick one of ms, toy"

    code, _, err = await videobot(child_processes, tmp_path, endpoint, "--dry-run", offline=True)
    assert code == 2 and "HF_HUB_OFFLINE is set" in err and "Traceback" not in err

    code, _, err = await videobot(
        child_processes, tmp_path, "http://127.0.0.1:9", "--dry-run"
    )  # nothing listens there
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"videobot: could not list {MS} (ms) on the hub")

    code, _, err = await videobot(
        child_processes, tmp_path, "http://127.0.0.1:9"
    )  # a real pull: no word of a dry run
    assert code == 2 and "cannot be reached" in err and "dry run" not in err.lower()
