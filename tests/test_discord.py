"""The Discord adapter, driven through the real discord.py against the loopback fake Discord.

Each test is a user's story: someone types `/video`, watches the progress, presses buttons,
and the bot restarts, loses its gateway, meets a 429 or a token that expired meanwhile.
The model is the tiny offline one; a gate in the renderer holds a render mid-way when a
story needs something to happen during it (no sleeps).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.discordbot.refs import ChannelRef, HookRef, OriginRef, parse_ref
from bot.domain import Button, ButtonAction, ChatRef, JobStatus, UserRef
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord
from tests.harness.config import tiny_settings, to_toml
from tests.harness.console import ChildProcesses
from tests.harness.core import crash_state
from tests.harness.discord import (
    CONFIG_OWNER,
    MANAGE_GUILD,
    MODERATOR,
    OWNER,
    ROLE_MODERATOR,
    STRANGER,
    MakeWorld,
    World,
    custom_ids,
    ephemeral_text,
)
from tests.harness.media import decode

pytestmark = pytest.mark.asyncio

COMMAND_NAMES = [
    "Animate",  # the message command (Apps → Animate on a picture)
    "admin",
    "cancel",
    "challenge",
    "extend",
    "help",
    "info",
    "leaderboard",
    "models",
    "queue",
    "quota",
    "verify",
    "video",
]
FIFTEEN_MINUTES = 15 * 60


@pytest.fixture
def fake(discord_fake: FakeDiscord) -> FakeDiscord:
    """Every story here happens on the one fake Discord."""
    return discord_fake


async def deliver(world: World, prompt: str = "a cat surfing", **options: Any) -> tuple[int, dict[str, Any]]:
    """Run `/video` as the owner to the end: the job id and the result message as Discord holds it."""
    interaction = world.fake.slash("video", {"prompt": prompt, **options}, user_id=OWNER)
    await interaction.callback()
    followup = await interaction.followup(timeout=30)
    message = world.fake.messages[int(followup.response["id"])]
    job_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    await world.until(lambda: world.job(job_id).status == JobStatus.DONE)
    return job_id, message


# stories ---------------------------------------------------------------------------------


async def test_commands_are_synced_to_the_test_guild_with_discords_own_limits(
    fake: FakeDiscord, make_world: MakeWorld
) -> None:
    world = await make_world(discord={"test_guild_id": 555})
    config = world.config
    assert "global" not in fake.synced_commands
    commands = {c["name"]: c for c in fake.synced_commands["555"]}
    assert sorted(commands) == COMMAND_NAMES
    video = {o["name"]: o for o in commands["video"]["options"]}
    assert [name for name, o in video.items() if o.get("required")] == ["prompt"]
    assert video["prompt"]["type"] == 3 and video["prompt"]["max_length"] == config.video.max_prompt_chars

    def declared(name: str) -> tuple[int, float, float]:
        return video[name]["type"], video[name]["min_value"], video[name]["max_value"]

    assert declared("frames") == (4, 2, 16)
    assert declared("steps") == (4, 1, 400)
    assert declared("guidance") == (10, 1.0, 20.0)
    assert video["seed"]["min_value"] == 0 and "2–16" in video["frames"]["description"]
    assert commands["info"]["options"][0]["autocomplete"] is True
    assert commands["video"]["description_localizations"]["it"].startswith("Crea")


async def test_commands_are_synced_globally_without_a_test_guild(world: World) -> None:
    assert sorted(c["name"] for c in world.fake.synced_commands["global"]) == COMMAND_NAMES


async def test_video_is_answered_at_once_then_shows_progress_then_the_clip(world: World) -> None:
    fake = world.fake
    sent_at = time.monotonic()
    interaction = fake.slash("video", {"prompt": "a cat surfing", "seed": 7, "frames": 4}, user_id=OWNER)
    ack = await interaction.callback(timeout=3)
    assert time.monotonic() - sent_at < 3
    assert ack.json["type"] == 4 and not ack.json["data"].get("flags")
    assert ack.json["data"]["content"].startswith("⏳ Queued: place 1 in line")

    progress = await interaction.edit_original(timeout=30)
    assert progress.json["content"].startswith(("🎬 Rendering", "📦", "📤"))

    followup = await interaction.followup(timeout=30)
    assert followup.filenames == {"files[0]": "videobot-1.mp4"}
    assert decode(followup.files["files[0]"]).frames == 4
    (embed,) = followup.json["embeds"]
    card = embed["description"] + embed["footer"]["text"] + str(embed["fields"])
    for shown in ("a cat surfing", "seed 7", "3 steps", "tiny", "AI-generated"):
        assert shown in card
    message = fake.messages[int(followup.response["id"])]
    assert custom_ids(message) == [
        f"videobot:{a}:1" for a in ("reroll", "variation", "smooth", "hd", "info", "delete")
    ]

    await fake.wait_for_rest(
        "PATCH", f"/{interaction.token}/messages/@original", lambda c: c.json["content"].startswith("✅ Done")
    )
    job = world.job(1)
    assert job.status == JobStatus.DONE and job.result_message == f"ch:777:{followup.response['id']}"
    assert job.status_message == str(HookRef("@original", world.clock.now, interaction.token))


async def test_out_of_range_frames_get_an_ephemeral_sentence_and_no_job(world: World) -> None:
    interaction = world.fake.slash("video", {"prompt": "a cat", "frames": 999}, user_id=OWNER)
    text = ephemeral_text(await interaction.callback())
    assert text == "--frames must be between 2 and 16 for tiny (0.2–2.0 s at 8 fps); you gave 999."
    assert world.service.store.jobs.of_user(UserRef("discord", str(OWNER))) == []


async def test_errors_and_status_are_ephemeral_and_in_the_users_language(world: World) -> None:
    interaction = world.fake.slash("video", {"prompt": "   "}, locale="it")
    assert ephemeral_text(await interaction.callback()).startswith("Descrivi il video")
    queue = ephemeral_text(await world.fake.slash("queue").callback())
    assert queue.startswith("📋 0 waiting")
    quota = ephemeral_text(await world.fake.slash("quota").callback())
    assert quota.startswith("🎟 20 of 20 clips left today")
    help_text = ephemeral_text(await world.fake.slash("help").callback())
    assert "--frames 2-16" in help_text


async def test_reroll_by_anyone_makes_a_new_clip_and_delete_is_for_the_owner(world: World) -> None:
    fake = world.fake
    job_id, message = await deliver(world)

    reroll = fake.click(f"videobot:reroll:{job_id}", message, user_id=STRANGER)
    assert ephemeral_text(await reroll.callback()).startswith("⏳ Queued")
    followup = await reroll.followup(timeout=30)
    assert decode(followup.files["files[0]"]).frames == world.config.video.default_frames
    rerolled = world.job(job_id + 1)
    assert rerolled.parent_id == job_id and rerolled.user.id == str(STRANGER)
    assert rerolled.params.prompt == "a cat surfing"

    refused = fake.click(f"videobot:delete:{job_id}", message, user_id=STRANGER)
    assert ephemeral_text(await refused.callback()).startswith("Only the person who asked")
    assert int(message["id"]) in fake.messages

    deleted = fake.click(f"videobot:delete:{job_id}", message, user_id=OWNER)
    assert ephemeral_text(await deleted.callback()) == "🗑 Deleted."
    assert fake.deleted_message_ids == [int(message["id"])]


async def test_admins_by_manage_server_config_or_role_may_delete_any_clip(
    fake: FakeDiscord, make_world: MakeWorld
) -> None:
    moderators = fake.add_role("Moderators", members=(ROLE_MODERATOR,))
    world = await make_world(admin={"admin_roles": [str(moderators)]})
    clips = [await deliver(world, prompt) for prompt in ("a red fox", "a blue whale", "a green frog")]

    for (job_id, message), admin, permissions in zip(
        clips, (MODERATOR, CONFIG_OWNER, ROLE_MODERATOR), (MANAGE_GUILD, 0, 0), strict=True
    ):
        press = fake.click(f"videobot:delete:{job_id}", message, user_id=admin, permissions=permissions)
        assert ephemeral_text(await press.callback()) == "🗑 Deleted."
    assert fake.deleted_message_ids == [int(message["id"]) for _, message in clips]


async def test_buttons_keep_working_after_a_restart(world: World) -> None:
    fake = world.fake
    job_id, message = await deliver(world)
    await world.restart()

    info = fake.click(f"videobot:info:{job_id}", message, user_id=STRANGER)
    assert ephemeral_text(await info.callback()).startswith(f"ℹ Video #{job_id}")
    reroll = fake.click(f"videobot:reroll:{job_id}", message, user_id=OWNER)
    await reroll.callback()
    await reroll.followup(timeout=30)
    assert world.job(job_id + 1).parent_id == job_id

    refused = fake.click(f"videobot:delete:{job_id}", message, user_id=STRANGER)
    assert ephemeral_text(await refused.callback()).startswith("Only the person who asked")
    deleted = fake.click(f"videobot:delete:{job_id}", message, user_id=OWNER)
    assert ephemeral_text(await deleted.callback()) == "🗑 Deleted."
    assert fake.deleted_message_ids == [int(message["id"])]


async def test_a_clip_left_unsent_by_the_last_process_is_sent_after_a_restart(world: World) -> None:
    fake = world.fake
    interaction = fake.slash("video", {"prompt": "a night train"}, user_id=OWNER)
    await interaction.callback()
    await interaction.followup(timeout=30)
    await world.until(lambda: world.job(1).status == JobStatus.DONE)
    # The state a crash between "rendered" and "sent" leaves behind: a clip on disk, a row in delivering.
    crash_state(world.service.store, 1, JobStatus.DELIVERING)
    await world.restart()

    resent = await interaction.followup(timeout=10)  # at once, not at the core's 30 s retry
    assert decode(resent.files["files[0]"]).frames == world.config.video.default_frames
    await world.until(lambda: world.job(1).status == JobStatus.DONE)
    assert world.job(1).result_message == f"ch:777:{resent.response['id']}"


async def test_clip_finishing_after_the_token_expired_is_posted_in_the_channel(world: World) -> None:
    fake = world.fake
    world.gate.hold()
    interaction = fake.slash("video", {"prompt": "a slow sunrise"}, user_id=OWNER)
    await interaction.callback()
    await world.gate.wait_paused()
    world.clock.advance(FIFTEEN_MINUTES)
    world.gate.release()

    posted = await fake.wait_for_rest("POST", "/channels/777/messages", timeout=30)
    assert posted.json["content"] == f"<@{OWNER}> your clip is ready."
    assert [int(u) for u in posted.json["allowed_mentions"]["users"]] == [OWNER]
    assert decode(posted.files["files[0]"]).frames == world.config.video.default_frames
    assert "a slow sunrise" in posted.json["embeds"][0]["description"]
    await world.until(lambda: world.job(1).status == JobStatus.DONE)
    assert world.job(1).result_message == f"ch:777:{posted.response['id']}"
    # The expired token is not used for anything any more.
    hook = f"/webhooks/{fake.app_id}/{interaction.token}"
    assert not [c for c in fake.rest_calls if c.path.startswith(hook) and c.json and "Done" in str(c.json)]


async def test_429_on_the_clip_upload_is_retried_and_delivered_once(world: World) -> None:
    fake = world.fake
    interaction = fake.slash("video", {"prompt": "rain on a window"}, user_id=OWNER)
    hook = f"/webhooks/{fake.app_id}/{interaction.token}"
    fake.inject_429("POST", hook, retry_after=0.05)
    await interaction.callback()
    followup = await interaction.followup(timeout=30)
    posts = [c for c in fake.rest_calls if c.method == "POST" and c.path == hook]
    assert [c.status for c in posts] == [429, 200]
    assert posts[0].files == posts[1].files
    assert len([m for m in fake.messages.values() if m["attachments"]]) == 1
    await world.until(lambda: world.job(1).status == JobStatus.DONE)
    assert world.job(1).result_message == f"ch:777:{followup.response['id']}"


async def test_gateway_drop_mid_render_loses_no_job(world: World) -> None:
    fake = world.fake
    world.gate.hold()
    first = fake.slash("video", {"prompt": "a lighthouse"}, user_id=OWNER)
    await first.callback()
    await world.gate.wait_paused()

    await fake.drop_gateway(invalidate_session=True)
    second = fake.slash("video", {"prompt": "a harbour"}, user_id=STRANGER)  # sent while disconnected
    await fake.wait_until_ready()
    await second.callback()
    world.gate.release()

    for interaction in (first, second):
        followup = await interaction.followup(timeout=30)
        assert decode(followup.files["files[0]"]).frames == world.config.video.default_frames
    await world.until(lambda: world.job(2).status == JobStatus.DONE)
    assert fake.identify_count == 2
    assert len([m for m in fake.messages.values() if m["attachments"]]) == 2


async def test_a_slow_answer_is_deferred_in_time_then_filled_in(
    fake: FakeDiscord, make_world: MakeWorld
) -> None:
    world = await make_world(defer_after_s=0.05)
    world.gate.hold()
    await fake.slash("video", {"prompt": "first"}, user_id=OWNER).callback()
    await world.gate.wait_paused()
    queued = fake.slash("video", {"prompt": "second"}, user_id=OWNER)
    await queued.callback()
    # Cancelling edits the job's status message first; Discord makes that edit wait.
    fake.inject_429("PATCH", f"/{queued.token}/messages/@original", retry_after=0.25)
    cancel = fake.slash("cancel", {"job": 2}, user_id=OWNER)
    deferred = await cancel.callback()
    assert deferred.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    answer = await cancel.edit_original(timeout=10)
    assert answer.json["content"] == "🛑 Cancelled video #2."
    assert world.job(2).status == JobStatus.CANCELLED


async def test_info_autocompletes_the_users_recent_jobs(world: World) -> None:
    fake = world.fake
    world.gate.hold()
    for prompt in ("a cat surfing", "a dog skiing"):
        await fake.slash("video", {"prompt": prompt}, user_id=OWNER).callback()

    everything = await fake.autocomplete("info", {"job": ""}, focused="job", user_id=OWNER).callback()
    assert everything.json["data"]["choices"] == [
        {"name": "#2 a dog skiing", "value": 2},
        {"name": "#1 a cat surfing", "value": 1},
    ]
    dogs = await fake.autocomplete("info", {"job": "dog"}, focused="job", user_id=OWNER).callback()
    assert [c["value"] for c in dogs.json["data"]["choices"]] == [2]
    nothing = await fake.autocomplete("info", {"job": ""}, focused="job", user_id=STRANGER).callback()
    assert nothing.json["data"]["choices"] == []
    cancellable = await fake.autocomplete("cancel", {"job": "#"}, focused="job", user_id=OWNER).callback()
    assert [c["value"] for c in cancellable.json["data"]["choices"]] == [2, 1]  # queued, running

    info = ephemeral_text(await fake.slash("info", {"job": 1}, user_id=STRANGER).callback())
    assert info.startswith("ℹ Video #1") and "a cat surfing" in info


async def test_clip_over_the_guilds_attachment_limit_is_shrunk_to_fit(world: World) -> None:
    fake = world.fake
    fake.attachment_size_limit = 12_000
    interaction = fake.slash("video", {"prompt": "a busy market", "frames": 16}, user_id=OWNER)
    await interaction.callback()
    followup = await interaction.followup(timeout=30)
    assert world.bot.outbox.upload_limit(ChatRef("discord", "777")) == 12_000
    clip = followup.files["files[0]"]
    assert len(clip) <= 12_000 and decode(clip).frames == 16


async def test_core_can_relabel_buttons_and_open_threads_for_challenges(world: World) -> None:
    fake = world.fake
    interaction = fake.slash("video", {"prompt": "a kite"}, user_id=OWNER)
    await interaction.callback()
    followup = await interaction.followup(timeout=30)
    await world.until(lambda: world.job(1).status == JobStatus.DONE)
    job, outbox, chat = world.job(1), world.bot.outbox, ChatRef("discord", "777", is_group=True)
    assert job.result_message is not None and job.status_message is not None

    await outbox.edit_buttons(
        chat, job.result_message, [Button(ButtonAction.VOTE, 1, "👍 3"), Button(ButtonAction.INFO, 1, "ℹ")]
    )
    message = fake.messages[int(followup.response["id"])]
    assert custom_ids(message) == ["videobot:vote:1", "videobot:info:1"]
    assert message["attachments"] and message["embeds"]
    vote = fake.click("videobot:vote:1", message, user_id=STRANGER)
    assert ephemeral_text(await vote.callback()) == "Voting for this challenge is closed."

    on_result = await outbox.open_thread(chat, job.result_message, "kites")
    on_status = await outbox.open_thread(chat, job.status_message, "more kites")  # the /video answer
    assert on_result is not None and on_status is not None
    assert fake.channels[int(on_result.id)]["name"] == "kites"
    assert int(on_status.id) == interaction.original_message_id  # a thread shares its starter's id
    assert await outbox.open_thread(chat, "ch:777:1", "gone") is None


# /admin ------------------------------------------------------------------------------------

ADMIN_ONLY = "Only admins of this chat can use /admin."
# Every /admin subcommand, with options that would change something if an admin sent them.
ADMIN_CASES = [
    pytest.param("quota show", {"who": f"discord:{STRANGER}"}, id="quota show"),
    pytest.param("quota set", {"limit": "5", "who": f"discord:{STRANGER}"}, id="quota set"),
    pytest.param("quota reset", {"user": FakeDiscord.user_option(STRANGER)}, id="quota reset"),
    pytest.param("ban", {"user": FakeDiscord.user_option(STRANGER), "reason": "spam"}, id="ban"),
    pytest.param("unban", {"who": f"<@{OWNER}>"}, id="unban"),
    pytest.param("queue", {}, id="queue"),
    pytest.param("purge", {}, id="purge everyone"),
    pytest.param("purge", {"user": FakeDiscord.user_option(STRANGER)}, id="purge user"),
    pytest.param("settings", {}, id="settings show"),
    pytest.param("settings", {"key": "enabled", "value": "off"}, id="settings change"),
    pytest.param("audit", {"n": 5}, id="audit"),
]


def admin(
    fake: FakeDiscord,
    subcommand: str,
    options: dict[str, Any] | None = None,
    *,
    user_id: int = MODERATOR,
    permissions: int = 0,
    **where: Any,
) -> Any:
    return fake.slash(
        "admin", options or {}, subcommand=subcommand, user_id=user_id, permissions=permissions, **where
    )


async def admin_says(
    fake: FakeDiscord, subcommand: str, options: dict[str, Any] | None = None, **who: Any
) -> str:
    """Run `/admin <subcommand>` and return its (ephemeral) answer."""
    return ephemeral_text(await admin(fake, subcommand, options, **who).callback())


async def test_admin_is_a_manage_server_group_with_typed_options(
    fake: FakeDiscord, make_world: MakeWorld
) -> None:
    await make_world(discord={"test_guild_id": 555})
    commands = {c["name"]: c for c in fake.synced_commands["555"]}
    group = commands["admin"]
    assert int(group["default_member_permissions"]) == MANAGE_GUILD
    assert group["description_localizations"]["it"].startswith("Strumenti admin")
    subcommands = {o["name"]: o for o in group["options"]}
    assert sorted(subcommands) == ["audit", "ban", "model", "purge", "queue", "quota", "settings", "unban"]
    quota = {o["name"]: o for o in subcommands["quota"]["options"]}
    assert subcommands["quota"]["type"] == 2 and sorted(quota) == ["reset", "set", "show"]
    ban = {o["name"]: o for o in subcommands["ban"]["options"]}
    assert (ban["user"]["type"], ban["who"]["type"], ban["reason"]["type"]) == (6, 3, 3)
    settings = {o["name"]: o for o in subcommands["settings"]["options"]}
    assert [c["value"] for c in settings["key"]["choices"]] == [
        "max_frames",
        "max_steps",
        "daily",
        "challenges",
        "enabled",
        "gallery",
        "models",
        "faces",
    ]
    assert {o["name"]: o for o in subcommands["audit"]["options"]}["n"]["max_value"] == 50
    # Subcommands have their own words, not those of the top-level commands of the same name.
    challenge = {o["name"]: o for o in commands["challenge"]["options"]}
    assert commands["challenge"]["description_localizations"]["it"].startswith("Sfide")
    assert challenge["cancel"]["description_localizations"] == {
        "it": "Annulla la sfida, senza vincitore (admin)"
    }
    assert commands["cancel"]["description_localizations"]["it"] == "Annulla il tuo video in coda"
    assert commands["leaderboard"]["description_localizations"]["it"].startswith("Vincitori")


def _described(entries: list[dict[str, Any]], where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every command, subcommand and option Discord shows a description for, by its path."""
    found = []
    for entry in entries:
        path = f"{where} {entry['name']}".strip()
        if entry.get("description"):
            found.append((path, entry))
        found += _described(entry.get("options") or [], path)
    return found


async def test_every_description_discord_shows_has_its_italian_form(
    fake: FakeDiscord, make_world: MakeWorld
) -> None:
    """Commands, subcommands and options all carry Italian words (Discord shows each user theirs);
    names stay as typed (they are the interface), except the Apps menu's Animate, which is a label."""
    await make_world(discord={"test_guild_id": 555})
    synced = fake.synced_commands["555"]
    described = _described(synced)
    assert len(described) > 60  # every option of every command, not just the top level
    untranslated = [path for path, e in described if not (e.get("description_localizations") or {}).get("it")]
    assert untranslated == []
    for path, entry in described:
        italian = entry["description_localizations"]["it"]
        assert italian != entry["description"] and len(italian) <= 100, path  # Discord's limit
        assert set(entry["description_localizations"]) == {"it"}, path  # English is the default
    commands = {c["name"]: c for c in synced}
    video = {o["name"]: o for o in commands["video"]["options"]}
    assert video["frames"]["description_localizations"]["it"] == "Numero di fotogrammi, 2–16 (predefinito 8)"
    assert commands["Animate"]["name_localizations"] == {"it": "Anima"}
    assert commands["video"].get("name_localizations") in (None, {})


@pytest.mark.parametrize(("subcommand", "options"), ADMIN_CASES)
async def test_every_admin_command_refuses_non_admins_in_plain_words(
    world: World, subcommand: str, options: dict[str, Any]
) -> None:
    fake, store = world.fake, world.service.store
    world.gate.hold()
    await fake.slash("video", {"prompt": "a cat"}, user_id=STRANGER).callback()
    await world.gate.wait_paused()
    await fake.slash("video", {"prompt": "a dog"}, user_id=STRANGER).callback()
    store.bans.add(
        f"discord:{OWNER}", "*", "earlier", "discord:1", 0.0
    )  # an unban would have something to undo

    assert await admin_says(fake, subcommand, options, user_id=STRANGER) == ADMIN_ONLY
    assert store.audit.entries(50) == []
    assert (
        store.bans.reason(f"discord:{STRANGER}") is None
        and store.bans.reason(f"discord:{OWNER}") == "earlier"
    )
    assert store.quota.user_daily_limit(f"discord:{STRANGER}") is None
    assert store.chats.get("discord:777").enabled
    assert world.job(2).status == JobStatus.QUEUED


async def test_admins_by_manage_server_role_or_owner_config_run_admin_commands_with_an_audit_trail(
    fake: FakeDiscord, make_world: MakeWorld
) -> None:
    moderators = fake.add_role("Moderators", members=(ROLE_MODERATOR,))
    world = await make_world(admin={"admin_roles": [str(moderators)]})
    store = world.service.store
    stranger = f"discord:{STRANGER}"

    # Manage Server; the member picker names the user, even where the reason looks like a user.
    banned = await admin_says(
        fake,
        "ban",
        {"user": fake.user_option(STRANGER), "reason": "discord:1 said so"},
        permissions=MANAGE_GUILD,
    )
    assert banned == f"⛔ {stranger} is banned (discord:1 said so); their waiting jobs were cancelled."
    # A server's admin bans in that server only: every channel and thread of it.
    assert store.bans.reason(stranger, "discord:server:555") == "discord:1 said so"
    assert store.bans.reason(stranger, "discord:123", "discord:server:556") is None
    assert (
        store.bans.reason(stranger) is None and store.bans.reason("discord:1", "discord:server:555") is None
    )
    refused = ephemeral_text(await fake.slash("video", {"prompt": "a cat"}, user_id=STRANGER).callback())
    assert refused == "You can't use this bot: an admin banned you (discord:1 said so)."

    # An owner from the config, with no Discord permission; `who` takes a mention typed as text.
    unbanned = await admin_says(fake, "unban", {"who": f"<@{STRANGER}>"}, user_id=CONFIG_OWNER)
    assert unbanned == f"✅ {stranger} is no longer banned."
    # A member of a configured role is a chat admin: a person's quota is for owners only.
    refused_quota = await admin_says(
        fake, "quota set", {"who": "telegram:42", "limit": "5"}, user_id=ROLE_MODERATOR
    )
    assert refused_quota.startswith("Only the bot's owners can change a person's quota")
    # `who` names a user of another platform.
    quota_set = await admin_says(
        fake, "quota set", {"who": "telegram:42", "limit": "5"}, user_id=CONFIG_OWNER
    )
    assert quota_set == "✅ Daily quota of telegram:42 set to 5."
    shown = await admin_says(fake, "quota show", {"who": "telegram:42"}, user_id=ROLE_MODERATOR)
    assert shown.startswith("🎟 telegram:42: 0 of 5 clips used today")
    assert (
        await admin_says(fake, "quota reset", {"user": fake.user_option(STRANGER)}, user_id=CONFIG_OWNER)
        == f"✅ Today's usage of {stranger} reset."
    )
    assert await admin_says(fake, "quota show", {"who": "bob"}, user_id=CONFIG_OWNER) == (
        "Say which user: reply to their message, mention them, or write telegram:<id> / discord:<id>."
    )

    settings = await admin_says(
        fake, "settings", {"key": "max_frames", "value": "8"}, permissions=MANAGE_GUILD
    )
    assert settings.startswith("⚙ This chat: max_frames 8,")
    too_long = ephemeral_text(await fake.slash("video", {"prompt": "a cat", "frames": 12}).callback())
    assert too_long == "--frames must be between 2 and 8 for tiny (0.2–1.0 s at 8 fps); you gave 12."

    audit = [(e.actor, e.action, e.target, e.detail) for e in store.audit.entries(50)]
    assert audit == [
        (f"discord:{MODERATOR}", "settings", "max_frames", "8"),
        (f"discord:{CONFIG_OWNER}", "quota reset", stranger, ""),
        (f"discord:{CONFIG_OWNER}", "quota set", "telegram:42", "5"),
        (f"discord:{CONFIG_OWNER}", "unban", stranger, ""),
        (f"discord:{MODERATOR}", "ban", stranger, "discord:1 said so"),
    ]
    listed = await admin_says(fake, "audit", {"n": 2}, user_id=CONFIG_OWNER)
    assert listed.splitlines()[0].endswith(f"discord:{MODERATOR} settings max_frames 8")
    assert len(listed.splitlines()) == 2


async def test_admin_queue_and_purge_tell_the_owners_of_cancelled_jobs(world: World) -> None:
    fake = world.fake
    world.gate.hold()
    await fake.slash("video", {"prompt": "a slow lighthouse"}, user_id=STRANGER).callback()
    await world.gate.wait_paused()
    waiting = fake.slash("video", {"prompt": "a waiting harbour"}, user_id=STRANGER)
    await waiting.callback()

    listing = await admin_says(fake, "queue", permissions=MANAGE_GUILD)
    assert listing.splitlines() == [
        f"#1 running discord:{STRANGER} (User {STRANGER}): a slow lighthouse",
        f"#2 queued discord:{STRANGER} (User {STRANGER}): a waiting harbour",
    ]
    purged = await admin_says(fake, "purge", {"user": fake.user_option(STRANGER)}, permissions=MANAGE_GUILD)
    assert purged == "🧹 Cancelled 1 waiting job; its quota was refunded."
    notice = await waiting.edit_original()
    assert notice.json["content"] == "🛑 An admin cancelled video #2; your quota was refunded."
    assert world.job(2).status == JobStatus.CANCELLED


async def test_refs_survive_a_round_trip_through_text() -> None:
    for ref in (
        OriginRef(12, 1_700_000_000.5, "tok:en"),
        HookRef("@original", 1.0, "abc"),
        HookRef("345", 2.0, "abc"),
        ChannelRef(777, 888),
    ):
        assert parse_ref(str(ref)) == ref
    assert parse_ref("42") is None and parse_ref("ch:x:1") is None and parse_ref(None) is None


# the shipped entry point -------------------------------------------------------------------


@pytest.fixture
def child_env() -> dict[str, str]:
    env = {**os.environ, "DISCORD_TOKEN": "TEST", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)  # this checkout, not the venv's install
    env.pop("VIDEOBOT_CONFIG", None)
    return env


async def test_videobot_run_serves_discord_from_the_config_file(
    fake: FakeDiscord, tmp_path: Path, child_env: dict[str, str], child_processes: ChildProcesses
) -> None:
    settings = tiny_settings(
        tmp_path / "data",
        discord={
            "enabled": True,
            "api_base_url": fake.api_base_url,
            "gateway_url": fake.gateway_url,
            "test_guild_id": 555,
        },
    )
    config_file = tmp_path / "config.toml"
    config_file.write_text(to_toml(settings), encoding="utf-8")
    videobot = Path(sys.executable).with_name("videobot")
    command = [str(videobot)] if videobot.exists() else [sys.executable, "-m", "bot"]
    log_file = (tmp_path / "videobot.log").open("w")
    child = child_processes.popen(
        [*command, "run", "--config", str(config_file)],
        cwd=tmp_path,
        env=child_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        await fake.wait_until_ready(timeout=60)
        assert sorted(c["name"] for c in fake.synced_commands["555"]) == COMMAND_NAMES
        interaction = fake.slash("video", {"prompt": "a paper boat", "frames": 6, "seed": 3}, user_id=OWNER)
        ack = await interaction.callback(timeout=30)
        assert ack.json["data"]["content"].startswith("⏳ Queued: place 1 in line")
        followup = await interaction.followup(timeout=60)
        assert decode(followup.files["files[0]"]).frames == 6
        await fake.wait_for_rest(
            "PATCH",
            f"/{interaction.token}/messages/@original",
            lambda c: c.json["content"].startswith("✅ Done"),
            timeout=30,
        )
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(child.wait, 30)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
        finally:
            log_file.close()
            print((tmp_path / "videobot.log").read_text())  # pytest shows it when the test fails
    assert code == 0


async def test_roles_count_by_id_never_by_name(fake: FakeDiscord, make_world: MakeWorld) -> None:
    """Anyone can make a server with a role called "VIP": a name in the config gives nothing."""
    fake.add_role("VIP", members=(ROLE_MODERATOR,))
    world = await make_world(admin={"priority_roles": ["VIP"], "admin_roles": ["VIP"]})
    answer = await fake.slash("admin", {}, subcommand="queue", user_id=ROLE_MODERATOR).callback()
    assert ephemeral_text(answer) == "Only admins of this chat can use /admin."
    await fake.slash("video", {"prompt": "a cat"}, user_id=ROLE_MODERATOR).callback()
    (job,) = world.service.store.jobs.of_user(UserRef("discord", str(ROLE_MODERATOR)))
    assert job.priority == 1  # the ordinary class: no jumping the queue by naming a role "VIP"
