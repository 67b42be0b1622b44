"""`[enhance] mode = "translate" | "always"` through the whole core: the rewrite is rendered, the
policy checks both texts, rerolls keep the chosen prompt, and `/info`, the MP4 tags and the C2PA
record keep what the person typed beside what the model saw.  Clips are rendered for real (their
tags are what is tested) by the tiny model; the writer is a tiny Qwen3 built in code."""

from __future__ import annotations

from typing import Any

import av
import c2pa
import pytest

from bot.core.options import VideoArgs
from bot.core.parsing import CommandError
from bot.domain import ButtonAction, JobStatus
from bot.enhance import PromptWriter, Rewrite, WriterSlot
from bot.enhance.tiny import scripted
from bot.render import Renderer
from bot.settings.enhance import EnhanceConfig
from tests.harness.config import MakeConfig
from tests.harness.core import ALICE, COLD, GROUP, CoreBot, MakeBot
from tests.harness.polling import eventually
from tests.harness.web import MakeWeb

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("renders")]  # records read from real tiny clips

TYPED = "un gatto che fa surf"
REWRITE = "A ginger cat surfs turquoise waves at golden sunset, camera tracking slowly beside the board."


class Counting:
    """The real slot, counting the prompts it was asked to rewrite."""

    def __init__(self, slot: WriterSlot) -> None:
        self.slot = slot
        self.asked: list[str] = []

    async def rewrite(
        self, who: str, prompt: str, family: str, *, seed: int | None = None, paced: bool = True
    ) -> Rewrite:
        self.asked.append(prompt)
        return await self.slot.rewrite(who, prompt, family, seed=seed, paced=paced)


async def bot_with_writer(
    make_bot: MakeBot, make_config: MakeConfig, mode: str, script: str | None = REWRITE, **sections: Any
) -> tuple[CoreBot, Counting]:
    renderer = Renderer("tiny", tuning=COLD)
    renderer.load()
    config = make_config(enhance={"mode": mode, "model": "tiny-qwen3", "every_s": 0}, **sections)
    bot = await make_bot(config=config, renderer=renderer)
    build = (lambda: scripted(script)) if script else None
    writer = Counting(WriterSlot(PromptWriter(EnhanceConfig(model="tiny-qwen3", every_s=0), build=build)))
    bot.service.rooms.admission.writer = writer
    return bot, writer


def tags_of(path: str) -> dict[str, str]:
    with av.open(path) as container:
        return dict(container.metadata)


def generation_record(path: str) -> dict[str, Any]:
    with c2pa.Reader(path) as reader:
        manifest = reader.get_active_manifest() or {}
    return next(a["data"] for a in manifest["assertions"] if a["label"] == "org.videobot.generation")


async def test_always_renders_the_rewrite_and_every_record_keeps_both_texts(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot, writer = await bot_with_writer(make_bot, make_config, "always")
    job = await bot.video(TYPED)

    assert writer.asked == [TYPED]
    assert (job.params.prompt, job.params.prompt_original, job.params.prompt_writer) == (
        REWRITE, TYPED, "tiny-qwen3",
    )  # fmt: skip
    done = await bot.until_status(job.id, JobStatus.DONE)
    assert done.params.prompt_original == TYPED  # stored, read back from SQLite
    assert done.clip_path is not None
    tags = tags_of(done.clip_path)
    assert tags["videobot_prompt"] == REWRITE and tags["videobot_prompt_original"] == TYPED
    assert tags["videobot_prompt_writer"] == "tiny-qwen3"
    record = generation_record(done.clip_path)
    assert record["prompt"] == REWRITE and record["prompt_original"] == TYPED
    assert record["prompt_writer"] == "tiny-qwen3"
    await bot.service.info(bot.req(), job.id)
    assert f"you typed: {TYPED}\nrewritten by tiny-qwen3" in bot.last_text
    assert REWRITE in bot.last_text


async def test_translate_rewrites_only_prompts_that_are_not_english(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot, writer = await bot_with_writer(make_bot, make_config, "translate")
    english = await bot.video("a cat surfing at sunset")
    italian = await bot.video(TYPED)

    assert writer.asked == [TYPED]
    assert english.params.prompt == "a cat surfing at sunset" and not english.params.rewritten
    assert italian.params.prompt == REWRITE and italian.params.prompt_original == TYPED
    done = await bot.until_status(english.id, JobStatus.DONE)
    assert done.clip_path is not None
    tags = tags_of(done.clip_path)
    assert tags["videobot_prompt"] == "a cat surfing at sunset" and "videobot_prompt_original" not in tags


async def test_the_prompt_policy_checks_the_rewrite_too_and_nothing_is_charged(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot, writer = await bot_with_writer(make_bot, make_config, "always", policy={"blocked_words": ["ginger"]})

    with pytest.raises(CommandError) as refused:
        await bot.service.rooms.admission.submit(bot.req(), VideoArgs(TYPED))
    assert refused.value.key == "policy_blocked" and writer.asked == [TYPED]
    assert bot.used_today(ALICE) == 0 and bot.store.jobs.of_user(ALICE, 10) == []

    with pytest.raises(CommandError):  # a typed prompt the policy refuses never reaches the writer
        await bot.service.rooms.admission.submit(bot.req(), VideoArgs("a ginger cat"))
    assert writer.asked == [TYPED]


async def test_rerolls_and_variations_keep_the_chosen_prompt_without_rewriting_again(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot, writer = await bot_with_writer(make_bot, make_config, "always")
    first = await bot.video(TYPED)
    await bot.until_status(first.id, JobStatus.DONE)

    await bot.service.button(bot.req(), ButtonAction.REROLL, first.id)
    await bot.service.button(bot.req(), ButtonAction.VARIATION, first.id)

    again = [job for job in bot.store.jobs.of_user(ALICE, 10) if job.id != first.id]
    assert len(again) == 2 and writer.asked == [TYPED]
    for job in again:
        assert (job.params.prompt, job.params.prompt_original, job.params.prompt_writer) == (
            REWRITE, TYPED, "tiny-qwen3",
        )  # fmt: skip


async def test_a_writer_that_writes_garbage_leaves_the_typed_prompt(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot, writer = await bot_with_writer(make_bot, make_config, "always", script=None)  # random tiny-qwen3
    job = await bot.video(TYPED)

    assert writer.asked == [TYPED]
    assert job.params.prompt == TYPED and not job.params.rewritten and job.params.prompt_writer == ""
    assert "The prompt writer wrote nothing usable; rendering your words as typed." in bot.last_text


async def test_the_writer_is_wired_only_when_the_mode_is_on(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    on = await make_bot(config=make_config(enhance={"mode": "always", "model": "tiny-qwen3"}), worker=False)
    off = await make_bot(config=make_config(), worker=False)

    writer = on.service.rooms.admission.writer
    assert isinstance(writer, WriterSlot) and off.service.rooms.admission.writer is None
    await on.start_worker()  # the writer loads at start-up, in its own thread
    await eventually(lambda: writer.writer.loaded, what="the writer to load")


async def test_the_clip_page_shows_what_was_typed_and_which_writer_rewrote_it(make_web: MakeWeb) -> None:
    site = await make_web(enhance={"mode": "always", "model": "tiny-qwen3", "every_s": 0})
    writer = PromptWriter(EnhanceConfig(model="tiny-qwen3", every_s=0), build=lambda: scripted(REWRITE))
    site.bot.service.rooms.admission.writer = WriterSlot(writer)
    await site.publish(GROUP)
    job = await site.clip(TYPED, GROUP)

    page = await (await site.client.get(f"/clip/{site.token(job)}")).text()
    assert f'<h1 class="prompt">{REWRITE}</h1>' in page
    assert f"<dt>typed</dt><dd>{TYPED}</dd>" in page and "<dd>tiny-qwen3</dd>" in page


async def test_help_mentions_enhance_only_while_the_writer_is_on(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    on = await make_bot(config=make_config(enhance={"mode": "ask", "model": "tiny-qwen3"}), worker=False)
    off = await make_bot(config=make_config(), worker=False)
    await on.service.help(on.req())
    await off.service.help(off.req())

    assert "[--enhance]" in on.last_text and "[--enhance]" not in off.last_text


async def test_a_video_model_short_of_memory_has_the_writer_unloaded_first_and_renders_as_it_was(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    import torch

    renderer = Renderer("tiny", tuning=COLD)
    renderer.load()
    config = make_config(enhance={"mode": "always", "model": "tiny-qwen3", "every_s": 0})
    bot = await make_bot(config=config, renderer=renderer)
    slot = bot.service.rooms.admission.writer
    assert isinstance(slot, WriterSlot)
    first = await bot.video("a cat surfing")
    await bot.until_status(first.id, JobStatus.DONE)
    assert slot.writer.loaded  # it rewrote the first prompt, on the CPU, where the tiny model renders

    failures = [1]

    def short_of_memory_once(module: Any, args: Any) -> None:
        if failures:
            failures.pop()
            raise torch.OutOfMemoryError("CPU out of memory. Tried to allocate 1.00 GiB")

    renderer.pipe.unet.register_forward_pre_hook(short_of_memory_once)
    second = await bot.video("a dog surfing")
    await bot.until_status(second.id, JobStatus.DONE)
    assert not failures and not slot.writer.loaded, "the writer gave way"
    assert renderer.memory == "fast", "and the clip rendered as it was, not in a lower memory mode"

    third = await bot.video("a fox surfing")
    await bot.until_status(third.id, JobStatus.DONE)
    assert slot.writer.loaded, "the next rewrite loaded it again"
