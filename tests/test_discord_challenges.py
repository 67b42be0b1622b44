"""Prompt challenges over Discord: the stories of tests/test_challenges.py, through discord.py and the fake.

An admin starts a challenge; the announcement is the command's public answer, and the
challenge's thread is opened on it.  Entries are posted in that thread with a 👍 button
whose label follows the votes; the bot restarts mid-way, is down when the deadline
passes, and announces the winner once when it is back, as a reply to the winning clip.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.quota import quota_day
from bot.domain import Challenge, ChatRef, JobStatus
from bot.settings.sections import ChallengeConfig
from tests.fakes.discord_api import FakeDiscord, Interaction, RestCall
from tests.harness.discord import (
    CONFIG_OWNER,
    MANAGE_GUILD,
    MODERATOR,
    MakeWorld,
    World,
    custom_ids,
    ephemeral_text,
)
from tests.harness.media import decode

pytestmark = pytest.mark.asyncio

BEN, CAL, DEE = 501, 502, 503  # Discord calls them "User 501" and so on
CHANNEL = 777
ADMIN_ONLY = "Only admins of this chat can start or end a challenge."


def challenge(
    fake: FakeDiscord,
    subcommand: str,
    options: dict[str, Any] | None = None,
    *,
    user_id: int,
    channel_id: int = CHANNEL,
    permissions: int = 0,
) -> Interaction:
    return fake.slash(
        "challenge",
        options or {},
        subcommand=subcommand,
        user_id=user_id,
        channel_id=channel_id,
        permissions=permissions,
    )


async def start(fake: FakeDiscord, user_id: int | None = None, **options: Any) -> tuple[Interaction, str]:
    """`/challenge start` by an admin (Manage Server): the interaction and its public announcement.
    A `free` one by the bot's owner: only owners may start those."""
    if user_id is None:
        user_id = CONFIG_OWNER if options.get("free") else MODERATOR
    interaction = challenge(fake, "start", options, user_id=user_id, permissions=MANAGE_GUILD)
    answer = await interaction.callback()
    assert answer.json["type"] == 4 and not answer.json["data"].get("flags"), answer.json
    return interaction, str(answer.json["data"]["content"])


async def enter(
    fake: FakeDiscord, user_id: int, prompt: str, *, into: int, channel_id: int = CHANNEL, **options: Any
) -> tuple[Interaction, RestCall]:
    """`/challenge enter`: its public ack, then the clip posted in channel `into` (the thread)."""
    interaction = challenge(
        fake, "enter", {"prompt": prompt, **options}, user_id=user_id, channel_id=channel_id
    )
    ack = await interaction.callback()
    assert ack.json["data"]["content"].startswith("⏳ Queued") and not ack.json["data"].get("flags")
    posted = await fake.wait_for_rest(
        "POST",
        f"/channels/{into}/messages",
        lambda c: bool(c.files) and prompt in c.json["embeds"][0]["description"],
        timeout=30,
    )
    return interaction, posted


async def vote(fake: FakeDiscord, message: dict[str, Any], user_id: int, channel_id: int) -> str:
    (vote_id,) = [c for c in custom_ids(message) if c.startswith("videobot:vote:")]
    return ephemeral_text(
        await fake.click(vote_id, message, user_id=user_id, channel_id=channel_id).callback()
    )


def vote_label(message: dict[str, Any]) -> str:
    return str(message["components"][0]["components"][0]["label"])


def job_of(message: dict[str, Any]) -> int:
    return int(custom_ids(message)[0].rsplit(":", 1)[1])


async def recorded(world: World) -> Challenge:
    """The channel's open challenge, once its announcement (and thread, if any) is stored."""

    def announced() -> Challenge | None:
        running = world.service.store.challenges.open_in(ChatRef("discord", str(CHANNEL), True))
        return running if running is not None and running.announcement else None

    await world.until(lambda: announced() is not None)
    running = announced()
    assert running is not None
    return running


def is_over(call: RestCall) -> bool:
    return "is over" in str((call.json or {}).get("content", ""))


def replied_to(call: RestCall) -> int | None:
    reference = call.json.get("message_reference")
    return int(reference["message_id"]) if reference else None


async def test_a_full_challenge_in_a_thread_with_a_restart_in_the_middle(
    make_world: MakeWorld,
) -> None:
    world = await make_world(core_clock=True)
    fake = world.fake  # world.service and its store are new after each restart

    refused = challenge(fake, "start", {"theme": "another"}, user_id=BEN)
    assert ephemeral_text(await refused.callback()) == ADMIN_ONLY

    opened, text = await start(
        fake, theme="robots at the beach", duration="1h", max_entries=2, required_words="robot", free=True
    )
    assert text.startswith("🏁 New challenge: “robots at the beach”")
    assert "must contain: robot" in text and "Voting closes in 1 h." in text
    announcement = opened.original_message_id
    threaded = await fake.wait_for_rest("POST", f"/channels/{CHANNEL}/messages/{announcement}/threads")
    assert threaded.json["name"] == "robots at the beach"
    thread = int(threaded.response["id"])
    running = await recorded(world)
    assert running.announcement == f"ch:{CHANNEL}:{announcement}"
    assert running.entries_chat == ChatRef("discord", str(thread), True, server="555")

    missing = challenge(fake, "enter", {"prompt": "a dog surfing"}, user_id=BEN)
    assert (
        ephemeral_text(await missing.callback()) == "This challenge needs these words in the prompt: robot."
    )

    # Entered from the channel: the clip still goes to the thread, as a message there (not a follow-up).
    ben_enters, ben_post = await enter(
        fake, BEN, "a robot building sandcastles", into=thread, seed=7, frames=4
    )
    assert decode(ben_post.files["files[0]"]).frames == 4
    assert ben_post.json["content"] == f"<@{BEN}> your clip is ready." and replied_to(ben_post) is None
    card = ben_post.json["embeds"][0]["description"]
    assert card.startswith(f"🏁 User {BEN}'s entry for “robots at the beach”: a robot building sandcastles")
    assert "seed 7" in card
    ben_clip = fake.messages[int(ben_post.response["id"])]
    ben_job = job_of(ben_clip)
    assert custom_ids(ben_clip) == [f"videobot:vote:{ben_job}", f"videobot:info:{ben_job}"]
    assert vote_label(ben_clip) == "👍 0"
    assert not [c for c in fake.rest_calls if c.path == f"/webhooks/{fake.app_id}/{ben_enters.token}"]
    done = await fake.wait_for_rest(
        "PATCH", f"/{ben_enters.token}/messages/@original", lambda c: c.json["content"].startswith("✅ Done")
    )
    assert done.status == 200
    # Entered from inside the thread: the core finds the challenge by its thread.
    _, cal_post = await enter(fake, CAL, "a robot surfing at dawn", into=thread, channel_id=thread)
    cal_clip = fake.messages[int(cal_post.response["id"])]
    cal_job = job_of(cal_clip)
    await world.until(lambda: world.job(cal_job).status == JobStatus.DONE)
    assert world.job(ben_job).result_message == f"ch:{thread}:{ben_clip['id']}"

    assert await vote(fake, ben_clip, BEN, thread) == "You can't vote for your own entry."
    assert await vote(fake, ben_clip, CAL, thread) == "👍 Vote counted (1 in all)."
    assert await vote(fake, ben_clip, DEE, thread) == "👍 Vote counted (2 in all)."
    assert await vote(fake, cal_clip, BEN, thread) == "👍 Vote counted (1 in all)."
    relabelled = await fake.wait_for_rest(
        "PATCH",
        f"/channels/{thread}/messages/{ben_clip['id']}",
        lambda c: c.json["components"][0]["components"][0]["label"] == "👍 2",
    )
    assert relabelled.json["components"][0]["components"][0]["custom_id"] == f"videobot:vote:{ben_job}"
    assert ben_clip["attachments"] and ben_clip["embeds"]  # only the buttons changed

    # A new process on the same database: the buttons on the old messages still work.
    await world.restart()
    assert await vote(fake, cal_clip, DEE, thread) == "👍 Vote counted (2 in all)."
    assert await vote(fake, cal_clip, DEE, thread) == "Vote taken back (1 left)."
    await fake.wait_for_rest(
        "PATCH",
        f"/channels/{thread}/messages/{cal_clip['id']}",
        lambda c: c.json["components"][0]["components"][0]["label"] == "👍 1",
    )
    status = ephemeral_text(await challenge(fake, "status", user_id=DEE, channel_id=thread).callback())
    assert "2 entries" in status and f"1. User {BEN} · #{ben_job} · 👍 2" in status
    assert not [c for c in fake.rest_calls if c.method == "POST" and is_over(c)]

    # Down while the deadline passes: the result comes as soon as the bot is back, once.
    await world.stop()
    world.clock.advance(3601)
    await world.start()
    winner = await fake.wait_for_rest("POST", f"/channels/{thread}/messages", is_over)
    assert winner.json["content"] == (
        f"🏆 “robots at the beach” is over! The winner is User {BEN} with 2 votes (entry #{ben_job})."
    )
    assert replied_to(winner) == int(ben_clip["id"]) and winner.response["type"] == 19
    in_channel = await fake.wait_for_rest("POST", f"/channels/{CHANNEL}/messages", is_over)
    assert in_channel.json["content"] == winner.json["content"] and replied_to(in_channel) == announcement

    assert await vote(fake, cal_clip, DEE, thread) == "Voting for this challenge is closed."
    late = challenge(fake, "enter", {"prompt": "a robot too late"}, user_id=DEE)
    assert ephemeral_text(await late.callback()) == "There is no challenge running in this chat."
    board = f"🏆 Leaderboard\n1. User {BEN} · 1 win · 2 votes\n2. User {CAL} · 0 wins · 1 vote"
    for channel_id in (CHANNEL, thread):  # the thread's board is its channel's
        answer = await fake.slash("leaderboard", user_id=DEE, channel_id=channel_id).callback()
        assert answer.json["data"]["content"] == board and not answer.json["data"].get("flags")
    assert (
        world.service.store.quota.used_today(
            f"discord:{BEN}", quota_day(world.service.clock(), world.service.config.quota)
        )
        == 0
    )  # free entries

    await world.restart()
    await fake.slash("leaderboard", user_id=DEE).callback()
    assert len([c for c in fake.rest_calls if c.method == "POST" and is_over(c)]) == 2


async def test_without_thread_permission_entries_reply_to_the_announcement_and_end_is_for_admins(
    make_world: MakeWorld,
) -> None:
    world = await make_world()
    fake, store = world.fake, world.service.store
    fake.inject_error("POST", "/threads", 403)  # no Create Public Threads in this channel

    opened, text = await start(fake, user_id=CONFIG_OWNER, theme="sunsets")
    assert "Voting closes in 24 h." in text
    announcement = opened.original_message_id
    denied = await fake.wait_for_rest("POST", f"/messages/{announcement}/threads", include_failed=True)
    assert denied.status == 403
    running = await recorded(world)
    assert running.entries_chat is None

    _, ben_post = await enter(fake, BEN, "a sunset over the sea", into=CHANNEL)
    assert replied_to(ben_post) == announcement
    ben_clip = fake.messages[int(ben_post.response["id"])]
    assert ben_clip["message_reference"]["message_id"] == str(announcement)
    assert (
        store.quota.used_today(f"discord:{BEN}", quota_day(world.service.clock(), world.service.config.quota))
        == 1
    )  # not free
    await world.until(lambda: world.job(job_of(ben_clip)).status == JobStatus.DONE)
    assert await vote(fake, ben_clip, CAL, CHANNEL) == "👍 Vote counted (1 in all)."

    for subcommand in ("end", "cancel"):
        refused = challenge(fake, subcommand, user_id=CAL)
        assert ephemeral_text(await refused.callback()) == ADMIN_ONLY
    ended = challenge(fake, "end", user_id=MODERATOR, permissions=MANAGE_GUILD)
    assert ephemeral_text(await ended.callback()) == "✅ Done."  # the news itself goes to the channel
    winner = await fake.wait_for_rest("POST", f"/channels/{CHANNEL}/messages", is_over)
    assert winner.json["content"] == (
        f"🏆 “sunsets” is over! The winner is User {BEN} with 1 vote (entry #{job_of(ben_clip)})."
    )
    assert replied_to(winner) == int(ben_clip["id"])
    assert len([c for c in fake.rest_calls if c.method == "POST" and is_over(c)]) == 1
    audit = [e.action for e in store.audit.entries(10)]
    assert audit[:2] == ["challenge end", "challenge start"]


async def test_cancel_then_a_tie_shares_the_win(make_world: MakeWorld) -> None:
    world = await make_world()
    fake = world.fake

    await start(fake, theme="moons", duration="2h")
    cancelled = await challenge(fake, "cancel", user_id=MODERATOR, permissions=MANAGE_GUILD).callback()
    assert cancelled.json["data"]["content"] == "🛑 The challenge “moons” was cancelled; no winner."
    again, _ = await start(fake, theme="tiny worlds", duration="10m", max_entries=1)
    thread = int(
        (await fake.wait_for_rest("POST", f"/messages/{again.original_message_id}/threads")).response["id"]
    )

    _, ben_post = await enter(fake, BEN, "a tiny forest", into=thread)
    _, cal_post = await enter(fake, CAL, "a tiny city", into=thread)
    too_many = challenge(fake, "enter", {"prompt": "another tiny city"}, user_id=CAL)
    assert (
        ephemeral_text(await too_many.callback())
        == "You already entered 1 time, the most this challenge allows."
    )
    ben_clip, cal_clip = (fake.messages[int(p.response["id"])] for p in (ben_post, cal_post))
    await world.until(lambda: world.job(job_of(cal_clip)).status == JobStatus.DONE)
    assert await vote(fake, ben_clip, CAL, thread) == "👍 Vote counted (1 in all)."
    assert await vote(fake, cal_clip, BEN, thread) == "👍 Vote counted (1 in all)."

    ended = challenge(fake, "end", user_id=MODERATOR, channel_id=thread, permissions=MANAGE_GUILD)
    assert ephemeral_text(await ended.callback()) == "✅ Done."
    result = await fake.wait_for_rest("POST", f"/channels/{thread}/messages", is_over)
    assert (
        result.json["content"]
        == f"🏆 “tiny worlds” is over! A tie at 1 vote: User {BEN}, User {CAL} share the win."
    )
    assert replied_to(result) == int(ben_clip["id"])
    board = await fake.slash("leaderboard", user_id=DEE).callback()
    assert board.json["data"]["content"].splitlines()[1:] == [
        f"1. User {BEN} · 1 win · 1 vote",
        f"2. User {CAL} · 1 win · 1 vote",
    ]


async def test_entries_sent_from_the_thread_obey_the_channels_settings(
    make_world: MakeWorld,
) -> None:
    world = await make_world()
    fake = world.fake
    limit = fake.slash(
        "admin",
        {"key": "max_frames", "value": "4"},
        subcommand="settings",
        user_id=MODERATOR,
        permissions=MANAGE_GUILD,
    )
    assert ephemeral_text(await limit.callback()).startswith("⚙ This chat: max_frames 4,")
    opened, _ = await start(fake, theme="small clips")
    thread = int(
        (await fake.wait_for_rest("POST", f"/messages/{opened.original_message_id}/threads")).response["id"]
    )
    await recorded(world)
    for channel_id in (CHANNEL, thread):
        entry = challenge(fake, "enter", {"prompt": "a cat", "frames": 8}, user_id=BEN, channel_id=channel_id)
        assert (
            ephemeral_text(await entry.callback())
            == "--frames must be between 2 and 4 for tiny (0.2–0.5 s at 8 fps); you gave 8."
        )


DEFAULT_DURATION_S = ChallengeConfig().default_duration_s


@pytest.mark.parametrize(
    ("options", "theme", "duration", "entries", "words", "free"),
    [
        ({"theme": "robots"}, "robots", DEFAULT_DURATION_S, 1, (), False),
        ({"theme": "the 90s", "max_entries": 3}, "the 90s", DEFAULT_DURATION_S, 3, (), False),
        (
            {"theme": "space cats", "duration": "1d 12h", "required_words": "2024, neon moon", "free": True},
            "space cats",
            129600,
            1,
            ("2024", "neon", "moon"),
            True,
        ),
        (
            {"theme": '"quoted" it\'s 5m tall', "duration": "30m"},
            '"quoted" it\'s 5m tall',
            1800,
            1,
            (),
            False,
        ),
    ],
)
async def test_start_options_reach_the_core_typed_and_intact(
    make_world: MakeWorld,
    options: dict[str, Any],
    theme: str,
    duration: float,
    entries: int,
    words: tuple[str, ...],
    free: bool,
) -> None:
    world = await make_world()
    await start(world.fake, **options)
    running = await recorded(world)
    assert (
        running.theme,
        running.deadline - running.started_at,
        running.max_entries_per_user,
        running.required_words,
        running.free_entries,
    ) == (theme, duration, entries, words, free)


async def test_a_bad_duration_option_is_answered_in_words(make_world: MakeWorld) -> None:
    world = await make_world()
    interaction = challenge(
        world.fake,
        "start",
        {"theme": "robots", "duration": "soonish"},
        user_id=MODERATOR,
        permissions=MANAGE_GUILD,
    )
    assert "soonish" in ephemeral_text(await interaction.callback())
