"""What the bot keeps on disk (private prompts, Discord interaction tokens, the signing key)
is readable by the bot's user alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.domain import ChatRef
from bot.store import DB_FILE, Store
from tests.harness.core import MakeBot


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_folder_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / DB_FILE, lambda: 0.0)
    try:
        store.db.conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")  # a write: the -wal file exists
        files = [data / DB_FILE, *data.glob(f"{DB_FILE}-*")]
        assert len(files) >= 2
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert mode(data) == 0o700
    finally:
        store.close()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    Store(data / DB_FILE, lambda: 0.0).close()
    (data / DB_FILE).chmod(0o644)
    Store(data / DB_FILE, lambda: 0.0).close()
    assert (mode(data / DB_FILE), mode(data)) == (0o600, 0o700)


def test_display_names_lose_bidi_overrides_and_control_characters() -> None:
    from bot.domain import UserRef

    person = UserRef("telegram", "1", "Ann\u202egnp.exe\u200b \x07 Smith" + "x" * 100)
    assert "\u202e" not in person.name and "\u200b" not in person.name and "\x07" not in person.name
    assert person.name.startswith("Anngnp.exe Smith") and len(person.name) == 64


@pytest.mark.asyncio
async def test_turning_the_gallery_on_for_a_discord_server_says_it_publishes_every_channel(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot(worker=False)
    staff = ChatRef("discord", "555", is_group=True, server="77")
    await bot.service.admin(bot.req(chat=staff, admin=True), "settings gallery on")
    assert "every channel and thread of this server" in bot.last_text
    group = ChatRef("telegram", "-100", is_group=True)
    await bot.service.admin(bot.req(chat=group, admin=True), "settings gallery on")
    assert "every channel" not in bot.last_text


def test_people_s_text_reaches_discord_as_text_not_markdown() -> None:
    from bot.discordbot.outbox import plain, result_embed
    from bot.domain import Job, RenderParams, UserRef

    prompt = "[your clip is ready](https://evil.example/steal) **urgent** `run`"
    params = RenderParams(prompt, "", 1, 8, 2, 1.0, 64, 64, 8)
    job = Job(1, UserRef("discord", "1", "Eve"), ChatRef("discord", "2", is_group=True), params, "tiny")
    embed = result_embed(f"“{prompt}” · seed 1", job)
    assert "\\[your clip is ready](" in (embed.description or "")
    assert "\\*\\*urgent\\*\\*" in plain(prompt) and "https://evil.example/steal" in plain(prompt)
