"""The fake Discord works with a real discord.py 2.7 bot: login, sync, slash commands, files, buttons, 429s."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_api import GUILD_READY_S, FakeDiscord, button_row

pytestmark = pytest.mark.asyncio

VIDEO = bytes(range(256)) * 64


class DeleteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"del:(?P<id>[0-9]+)"):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Delete", style=discord.ButtonStyle.danger, custom_id=f"del:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DeleteButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(f"deleted {self.job_id}", ephemeral=True)


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"cancel:(?P<id>[0-9]+)"):
    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Cancel", custom_id=f"cancel:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if self.job_id % 2:  # odd: update in the callback (type 7); even: defer (type 6), then edit @original
            await interaction.response.edit_message(content=f"cancelled {self.job_id}", view=None)
        else:
            await interaction.response.defer()
            await interaction.edit_original_response(content=f"cancelled {self.job_id}", view=None)


class FakeBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents(guilds=True), guild_ready_timeout=GUILD_READY_S
        )
        self.errors: list[app_commands.AppCommandError] = []
        self.error_seen = asyncio.Event()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py sleeps 5 s before every re-IDENTIFY

    async def setup_hook(self) -> None:
        self.add_dynamic_items(DeleteButton, CancelButton)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]

        @self.tree.command(name="ping", description="Answer at once")
        async def ping(interaction: discord.Interaction[Any], text: str) -> None:
            await interaction.response.send_message(f"pong: {text}")

        @self.tree.command(name="render", description="Defer, send a file, edit the original")
        async def render(interaction: discord.Interaction[Any], prompt: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(
                f"video for {prompt}", file=discord.File(io.BytesIO(VIDEO), "video.mp4")
            )
            await interaction.edit_original_response(content="done")

        @self.tree.command(name="job", description="A message with a persistent button")
        async def job(interaction: discord.Interaction[Any], job_id: int) -> None:
            view = discord.ui.View(timeout=None)
            view.add_item(DeleteButton(job_id))
            await interaction.response.send_message(f"job {job_id}", view=view)

        @self.tree.command(name="thread", description="Post in the channel and open a thread on it")
        async def thread(interaction: discord.Interaction[Any]) -> None:
            await interaction.response.defer(ephemeral=True)
            channel = interaction.channel
            assert isinstance(channel, discord.TextChannel)
            async with channel.typing():
                message = await channel.send("starting", file=discord.File(io.BytesIO(b"abc"), "a.txt"))
            started = await message.create_thread(name="render log")
            await started.send("inside")
            await interaction.followup.send(f"thread {started.id}", ephemeral=True)

        async def pick_choices(
            interaction: discord.Interaction[Any], current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=s, value=s) for s in ("alpha", "beta") if s.startswith(current)]

        @self.tree.command(name="pick", description="Autocomplete")
        @app_commands.autocomplete(choice=pick_choices)
        async def pick(interaction: discord.Interaction[Any], choice: str) -> None:
            await interaction.response.send_message(choice)

        video = app_commands.Group(name="video", description="Subcommands")

        @video.command(name="status", description="Show a status")
        async def status(interaction: discord.Interaction[Any], verbose: bool) -> None:
            await interaction.response.send_message(f"status verbose={verbose}", ephemeral=True)

        @self.tree.command(name="announce", description="Post to the channel by REST")
        async def announce(interaction: discord.Interaction[Any]) -> None:
            assert isinstance(interaction.channel, discord.TextChannel)
            await interaction.response.send_message("ok", ephemeral=True)
            await interaction.channel.send("announcement")

        self.tree.add_command(video)
        await self.tree.sync()

    async def _on_tree_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(error)
        self.error_seen.set()


@pytest_asyncio.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base_url)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
        yield fake
    assert fake.handler_errors == []


async def _ready_or_crash(task: asyncio.Task[None], ready: Any) -> None:
    waiter = asyncio.ensure_future(ready)
    done, _ = await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
        raise AssertionError("bot stopped before it was ready")
    assert waiter in done, "bot not ready within 10 s"
    waiter.result()


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[FakeBot]:
    bot = FakeBot()
    task = asyncio.create_task(bot.start(fake.token))
    await _ready_or_crash(task, fake.wait_until_ready())
    await _ready_or_crash(task, bot.wait_until_ready())
    yield bot
    await bot.close()
    await task
    assert bot.errors == []


async def test_login_sync_and_slash_command(fake: FakeDiscord, bot: FakeBot) -> None:
    assert fake.identify_count == 1
    assert bot.user is not None and bot.user.name == "videobot"
    assert sorted(c["name"] for c in fake.synced_commands["global"]) == [
        "announce",
        "job",
        "pick",
        "ping",
        "render",
        "thread",
        "video",
    ]
    guild = bot.get_guild(555)
    assert guild is not None and guild.get_channel(777) is not None

    call = await fake.slash("ping", {"text": "hi"}).callback()
    assert call.json["type"] == 4
    assert call.json["data"]["content"] == "pong: hi"
    assert call.query["with_response"] == "1"
    message = call.response["resource"]["message"]
    assert fake.messages[int(message["id"])]["content"] == "pong: hi"


async def test_deferred_followup_file_and_edit(fake: FakeDiscord, bot: FakeBot) -> None:
    interaction = fake.slash("render", {"prompt": "a cat"})
    assert (await interaction.callback()).json == {"type": 5}
    followup = await interaction.followup()
    assert followup.files == {"files[0]": VIDEO}
    assert followup.filenames == {"files[0]": "video.mp4"}
    assert followup.json["content"] == "video for a cat"
    attachment = followup.response["attachments"][0]
    assert attachment["filename"] == "video.mp4" and attachment["size"] == len(VIDEO)
    edit = await interaction.edit_original()
    assert edit.json["content"] == "done"
    original = fake.messages[interaction.original_message_id or 0]
    assert original["content"] == "done" and original["flags"] == 0


async def test_dynamic_button_on_sent_and_handmade_message(fake: FakeDiscord, bot: FakeBot) -> None:
    call = await fake.slash("job", {"job_id": 42}).callback()
    sent = fake.messages[int(call.response["resource"]["message"]["id"])]
    assert sent["components"][0]["components"][0]["custom_id"] == "del:42"

    click = await fake.click("del:42", sent).callback()
    assert click.json["data"]["content"] == "deleted 42"
    assert click.json["data"]["flags"] == 64

    # A message from before a restart: this bot process never sent it.
    old = fake.add_message(content="job 99", components=[button_row("del:99")])
    click = await fake.click("del:99", old).callback()
    assert click.json["data"]["content"] == "deleted 99"

    with pytest.raises(ValueError):
        fake.click("del:7", old)


async def test_429_on_followup_is_retried_and_file_delivered_once(fake: FakeDiscord, bot: FakeBot) -> None:
    fake.inject_429("POST", f"/webhooks/{fake.app_id}/", retry_after=0.05)
    interaction = fake.slash("render", {"prompt": "dog"})
    followup = await interaction.followup()
    assert followup.files["files[0]"] == VIDEO
    await interaction.edit_original()
    path = f"/webhooks/{fake.app_id}/{interaction.token}"
    posts = [c for c in fake.rest_calls if c.method == "POST" and c.path == path]
    assert [c.status for c in posts] == [429, 200]
    assert posts[0].files["files[0]"] == VIDEO
    delivered = [m for m in fake.messages.values() if m["attachments"]]
    assert len(delivered) == 1


async def test_injected_error_reaches_the_bot(fake: FakeDiscord, bot: FakeBot) -> None:
    fake.inject_error("POST", "/callback", 400)
    interaction = fake.slash("ping", {"text": "x"})
    failed = await fake.wait_for_rest("POST", "/callback", include_failed=True)
    assert failed.status == 400
    await asyncio.wait_for(bot.error_seen.wait(), 10)
    (error,) = bot.errors
    assert isinstance(error, app_commands.CommandInvokeError) and isinstance(
        error.original, discord.HTTPException
    )
    bot.errors.clear()
    assert not interaction.responded


async def test_resume_after_dropped_gateway(fake: FakeDiscord, bot: FakeBot) -> None:
    await fake.drop_gateway()
    await fake.wait_until_ready()
    assert (fake.identify_count, fake.resume_count) == (1, 1)
    call = await fake.slash("ping", {"text": "again"}).callback()
    assert call.json["data"]["content"] == "pong: again"


async def test_invalid_session_makes_client_identify_again(fake: FakeDiscord, bot: FakeBot) -> None:
    interaction = fake.slash("ping", {"text": "queued"})
    await fake.drop_gateway(invalidate_session=True)
    await fake.wait_until_ready()
    assert fake.identify_count == 2
    queued = await interaction.callback()
    assert queued.json["data"]["content"] == "pong: queued"


async def test_channel_message_thread_and_typing(fake: FakeDiscord, bot: FakeBot) -> None:
    interaction = fake.slash("thread")
    followup = await interaction.followup()
    thread_id = int(followup.json["content"].split()[1])
    assert fake.channels[thread_id]["type"] == 11
    starter = fake.messages[thread_id]  # a thread started from a message shares its id
    assert starter["content"] == "starting" and starter["attachments"][0]["filename"] == "a.txt"
    inside = await fake.wait_for_rest("POST", f"/channels/{thread_id}/messages")
    assert inside.json["content"] == "inside"
    await fake.wait_for_rest("POST", "/channels/777/typing")


async def test_autocomplete(fake: FakeDiscord, bot: FakeBot) -> None:
    call = await fake.autocomplete("pick", {"choice": "al"}, focused="choice").callback()
    assert call.json == {"type": 8, "data": {"choices": [{"name": "alpha", "value": "alpha"}]}}


async def test_bad_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("WRONG")
    await client.close()


async def test_click_updates_the_clicked_message(fake: FakeDiscord, bot: FakeBot) -> None:
    odd = fake.add_message(content="job 1", components=[button_row("cancel:1")])
    update = await fake.click("cancel:1", odd).callback()
    assert update.json["type"] == 7
    assert fake.messages[int(odd["id"])]["content"] == "cancelled 1"
    assert fake.messages[int(odd["id"])]["components"] == []

    even = fake.add_message(content="job 2", components=[button_row("cancel:2")])
    click = fake.click("cancel:2", even)
    assert (await click.callback()).json["type"] == 6
    await click.edit_original()
    assert fake.messages[int(even["id"])]["content"] == "cancelled 2"


async def test_subcommand_and_dm(fake: FakeDiscord, bot: FakeBot) -> None:
    call = await fake.slash("video", {"verbose": True}, subcommand="status").callback()
    assert call.json["data"]["content"] == "status verbose=True" and call.json["data"]["flags"] == 64
    call = await fake.slash("ping", {"text": "dm"}, guild_id=None).callback()
    assert call.json["data"]["content"] == "pong: dm"


@pytest.mark.parametrize("global_", [False, True])
async def test_429_on_channel_send_is_retried(fake: FakeDiscord, bot: FakeBot, global_: bool) -> None:
    fake.inject_429("POST", "/channels/777/messages", retry_after=0.05, times=2, global_=global_)
    fake.slash("announce")
    sent = await fake.wait_for_rest("POST", "/channels/777/messages")
    assert sent.json["content"] == "announcement"
    assert [c.status for c in fake.rest_calls if c.path == "/channels/777/messages"] == [429, 429, 200]
