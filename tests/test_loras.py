"""LoRAs: a tiny LoRA made here with peft changes the tiny model's clips; it loads from a folder,
a file or the Hugging Face cache (never downloaded), and every clip names it with its hash."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.domain import JobStatus, RenderParams
from bot.pipelines.loras import LoraMissing, LoraSpec, lora_file
from bot.pipelines.tiny import build_tiny
from bot.provenance import check_clip, read_record
from bot.render import ModelMissing, Renderer
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.config import SMALL, tiny_settings
from tests.harness.core import COLD, MakeBot

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers

PARAMS = RenderParams("a cat in watercolour", "", 3, 9, 2, 1.0, SMALL, SMALL, 8)


def make_lora(folder: Path, seed: int = 1) -> Path:
    """A rank-4 LoRA on tiny Wan's attention, with random (not zero) weights, as diffusers saves one."""
    import torch
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = build_tiny("tiny-wan")
    torch.manual_seed(seed)
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    pipe.transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=targets, init_lora_weights=False)
    )
    WanPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer))
    return folder / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="module")
def lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lora(tmp_path_factory.mktemp("watercolour"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_hub_cache(root: Path, repo: str, file: Path) -> Path:
    """The Hugging Face cache layout `hf download` leaves: refs/main → snapshots/<commit>/<file>."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    model = root / f"models--{repo.replace('/', '--')}"
    (model / "refs").mkdir(parents=True)
    (model / "refs" / "main").write_text(commit)
    snapshot = model / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "watercolour.safetensors").write_bytes(file.read_bytes())
    return root


def test_a_lora_made_with_peft_changes_the_tiny_models_clip_and_is_named_with_its_hash(lora: Path) -> None:
    plain = Renderer("tiny-wan", tuning=COLD).render(PARAMS).frames
    styled_renderer = Renderer("tiny-wan", loras=(LoraSpec(str(lora.parent), 1.0),), tuning=COLD)
    styled = styled_renderer.render(PARAMS).frames
    assert np.abs(styled.astype(int) - plain.astype(int)).max() > 10, "the LoRA changes the clip"
    (ref,) = styled_renderer.lora_refs
    assert (ref.name, ref.sha256, ref.scale) == (lora.parent.name, sha256(lora), 1.0)
    again = Renderer("tiny-wan", loras=(LoraSpec(str(lora), 1.0),), tuning=COLD).render(PARAMS).frames
    assert np.array_equal(again, styled), "a file loads as its folder does"


def test_a_lora_at_scale_zero_leaves_the_model_as_it_was(lora: Path) -> None:
    plain = Renderer("tiny-wan", tuning=COLD).render(PARAMS).frames
    off = Renderer("tiny-wan", loras=(LoraSpec(str(lora), 0.0),), tuning=COLD).render(PARAMS).frames
    assert np.abs(off.astype(int) - plain.astype(int)).max() <= 1


def test_a_hub_lora_is_found_in_the_local_cache(
    lora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(
        constants, "HF_HUB_CACHE", str(fake_hub_cache(tmp_path / "hub", "someone/watercolour", lora))
    )
    spec = LoraSpec("someone/watercolour", 1.0, weight_name="watercolour.safetensors")
    assert lora_file(spec).read_bytes() == lora.read_bytes()
    from_cache = Renderer("tiny-wan", loras=(spec,), tuning=COLD).render(PARAMS).frames
    from_folder = Renderer("tiny-wan", loras=(LoraSpec(str(lora)),), tuning=COLD).render(PARAMS).frames
    assert np.array_equal(from_cache, from_folder)


def test_a_lora_not_on_disk_says_the_exact_download_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = LoraSpec("lightx2v/Wan2.1-T2V-14B-StepDistill", weight_name="lora_rank64.safetensors")
    line = "`hf download lightx2v/Wan2.1-T2V-14B-StepDistill lora_rank64.safetensors`"
    with pytest.raises(LoraMissing, match=re.escape(line)):
        lora_file(spec)
    with pytest.raises(ModelMissing, match="hf download lightx2v"):
        Renderer("tiny-wan", loras=(spec,), tuning=COLD).load()
    with pytest.raises(LoraMissing, match="no such file"):
        lora_file(LoraSpec(str(tmp_path / "nowhere.safetensors")))


def styled_config(tmp_path: Path, lora: Path, **extra: Any) -> Config:
    raw = tiny_settings(tmp_path / "data")
    raw.pop("model")
    raw["video"].update(default_frames=9, min_frames=5, width=SMALL, height=SMALL)
    raw["models"] = {"styled": {"id": "tiny-wan", "loras": [{"path": str(lora), "scale": 0.8}], **extra}}
    return parse_config(raw, "t.toml", {})


def test_loras_are_checked_when_the_config_is_read(tmp_path: Path, lora: Path) -> None:
    config = styled_config(tmp_path, lora)
    assert config.model_named("styled").loras == (LoraSpec(str(lora), 0.8),)
    with pytest.raises(ConfigError, match="scale"):
        styled_config(tmp_path, lora, loras=[{"path": str(lora), "scale": 9.0}])
    with pytest.raises(ConfigError, match="needs path"):
        styled_config(tmp_path, lora, loras=[{"file": str(lora)}])
    with pytest.raises(ConfigError, match="list of tables"):
        styled_config(tmp_path, lora, loras=str(lora))


@pytest.mark.asyncio
async def test_models_info_and_the_signed_record_name_the_lora(
    make_bot: MakeBot, tmp_path: Path, lora: Path
) -> None:
    config = styled_config(tmp_path, lora)
    renderer = Renderer.for_model(config.model_settings["styled"], config.render)
    bot = await make_bot(config=config, renderer=renderer)
    job = await bot.video("a cat in watercolour --seed 5")
    done = await bot.until_status(job.id, JobStatus.DONE)
    assert done.clip_path is not None
    clip = Path(done.clip_path)
    check = check_clip(clip)
    assert check.valid and check.loras == (f"{lora.parent.name} ×0.8 sha256:{sha256(lora)[:12]}",)
    record = read_record(clip)
    assert record is not None and [(r.name, r.sha256, r.scale) for r in record.model.loras] == [
        (lora.parent.name, sha256(lora), 0.8)
    ]

    await bot.service.info(bot.req(), str(job.id))
    assert (
        f"LoRAs {lora.parent.name} ×0.8" in bot.last_text and f"sha256:{sha256(lora)[:12]}" in bot.last_text
    )
    await bot.service.list_models(bot.req())
    assert f"LoRAs {lora.parent.name} ×0.8" in bot.last_text


@pytest.mark.parametrize(("expert", "changed"), [("high", (True, False)), ("low", (False, True)),
                                                 ("both", (True, True))])  # fmt: skip
def test_a_two_expert_models_lora_goes_into_the_experts_it_names(
    lora: Path, expert: str, changed: tuple[bool, bool]
) -> None:
    plain = build_tiny("tiny-wan-a14b")
    styled = Renderer("tiny-wan-a14b", loras=(LoraSpec(str(lora), 1.0, expert=expert),), tuning=COLD)
    styled.load()
    for name, differs in zip(("transformer", "transformer_2"), changed, strict=True):
        before = getattr(plain, name).blocks[0].attn1.to_q.weight
        after = getattr(styled.pipe, name).blocks[0].attn1.to_q.weight
        assert (not np.allclose(before.detach(), after.detach())) == differs, (name, expert)


def test_an_expert_lora_on_a_one_expert_model_is_refused_in_one_sentence(lora: Path) -> None:
    with pytest.raises(ModelMissing, match='expert = "low" needs a model with two experts'):
        Renderer("tiny-wan", loras=(LoraSpec(str(lora), 1.0, expert="low"),), tuning=COLD).load()
    with pytest.raises(ConfigError, match="expert 'middle' must be one of both, high, low"):
        parse_config({"models": {"w": {"id": "tiny-wan", "loras": [{"path": str(lora), "expert": "middle"}]}}},
                     "config.toml", {})  # fmt: skip
