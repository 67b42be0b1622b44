"""Fair use: atomic quotas, the rate limit, admin tools with their audit log, prompt policy."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.quota import quota_day, seconds_until_reset
from bot.domain import ChatRef, Job, JobStatus, QuotaCharge, QuotaExceeded, RenderParams, UserRef
from bot.render import Renderer
from bot.settings.sections import QuotaConfig
from bot.store import DB_FILE, Store
from tests.harness.clock import ManualClock
from tests.harness.config import MakeConfig
from tests.harness.console import SpawnContext
from tests.harness.core import COLD, CoreBot, MakeBot

T0 = datetime(2026, 3, 7, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()

TG_ANN = UserRef("telegram", "11", "Ann")
TG_BOB = UserRef("telegram", "22", "Bob")
DC_CAT = UserRef("discord", "33", "Cat")
DC_DAN = UserRef("discord", "44", "Dan")
TG_GROUP = ChatRef("telegram", "-100", is_group=True)
DC_CHANNEL = ChatRef("discord", "777", is_group=True)
PLAIN_USERS = [(TG_BOB, TG_GROUP), (DC_DAN, DC_CHANNEL)]


@pytest.fixture
def make_bot(make_bot: MakeBot, make_config: MakeConfig) -> MakeBot:
    """Admission, quota and admin only: no worker, no model loaded, the clock stopped at T0.

    `await make_bot(quota={...})`: the sections go to the config."""

    async def make(**sections: dict[str, Any]) -> CoreBot:
        return await make_bot(
            config=make_config(**sections),
            renderer=Renderer("tiny", tuning=COLD),
            worker=False,
            clock=ManualClock(T0),
        )

    return make


# quota arithmetic ---------------------------------------------------------------------


def test_the_quota_day_turns_over_at_the_reset_hour_in_the_configured_zone() -> None:
    rome = QuotaConfig(reset_hour=6, timezone="Europe/Rome")
    before = datetime(2026, 3, 8, 5, 59, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
    after = datetime(2026, 3, 8, 6, 0, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
    assert quota_day(before, rome) == "2026-03-07"
    assert quota_day(after, rome) == "2026-03-08"
    assert seconds_until_reset(before, rome) == 60
    assert seconds_until_reset(after, rome) == 24 * 3600


def test_midnight_utc_is_not_midnight_in_new_york() -> None:
    new_york = QuotaConfig(reset_hour=0, timezone="America/New_York")
    utc_midnight = datetime(2026, 3, 8, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert quota_day(utc_midnight, new_york) == "2026-03-07"
    assert quota_day(utc_midnight, QuotaConfig()) == "2026-03-08"


def test_the_reset_wait_is_right_across_a_daylight_saving_change() -> None:
    rome = QuotaConfig(reset_hour=3, timezone="Europe/Rome")
    # Clocks go forward at 02:00 on 2026-03-29: 01:00 → 03:00 is one real hour.
    one_am = datetime(2026, 3, 29, 1, 0, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
    assert seconds_until_reset(one_am, rome) == 3600


def _job(user: str = "telegram:1") -> Job:
    platform, _, user_id = user.partition(":")
    params = RenderParams("a cat", "", 1, 8, 3, 9.0, 64, 64, 8)
    return Job(0, UserRef(platform, user_id), ChatRef(platform, "c"), params, "tiny")


def test_gcra_allows_a_burst_then_one_per_interval(tmp_path: Path) -> None:
    store = Store(tmp_path / DB_FILE)
    charge = QuotaCharge("telegram:1", "d", daily_limit=100, max_queued=100, per_minute=2, burst=3, now=T0)
    for _ in range(3):
        store.jobs.insert(_job(), charge)
    with pytest.raises(QuotaExceeded) as refused:
        store.jobs.insert(_job(), charge)
    assert refused.value.limit == "rate" and refused.value.retry_after == pytest.approx(30)
    with pytest.raises(QuotaExceeded):
        store.jobs.insert(_job(), QuotaCharge(**{**charge.__dict__, "now": T0 + 29}))
    store.jobs.insert(_job(), QuotaCharge(**{**charge.__dict__, "now": T0 + 30}))
    assert store.quota.used_today("telegram:1", "d") == 4


def test_a_refused_request_charges_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / DB_FILE)
    charge = QuotaCharge("telegram:1", "d", daily_limit=1, max_queued=100, per_minute=1, burst=1, now=T0)
    store.jobs.insert(_job(), charge)
    later = QuotaCharge(**{**charge.__dict__, "now": T0 + 3600})
    with pytest.raises(QuotaExceeded) as refused:
        store.jobs.insert(_job(), later)
    assert refused.value.limit == "daily"
    assert store.quota.used_today("telegram:1", "d") == 1
    assert len(store.jobs.with_status(JobStatus.QUEUED)) == 1


def _hammer(db: str, charge: QuotaCharge, tries: int, results: Any) -> None:
    store = Store(Path(db))
    admitted = 0
    for _ in range(tries):
        try:
            store.jobs.insert(_job(charge.user_key), charge)
            admitted += 1
        except QuotaExceeded:
            pass
    store.close()
    results.put(admitted)


@pytest.mark.parametrize(
    ("limit", "charge"),
    [
        (
            "daily",
            QuotaCharge("telegram:7", "d", daily_limit=10, max_queued=10_000, per_minute=1e6, burst=10_000),
        ),
        (
            "burst",
            QuotaCharge("telegram:7", "d", daily_limit=10_000, max_queued=10_000, per_minute=1e-3, burst=6),
        ),
        (
            "queued",
            QuotaCharge("telegram:7", "d", daily_limit=10_000, max_queued=4, per_minute=1e6, burst=10_000),
        ),
    ],
)
def test_eight_processes_hammering_one_user_never_exceed_the_limit(
    tmp_path: Path, limit: str, charge: QuotaCharge, process_context: SpawnContext
) -> None:
    db = tmp_path / DB_FILE
    Store(db).close()
    charge = QuotaCharge(**{**charge.__dict__, "now": time.time()})
    context = process_context
    results = context.Queue()
    workers = [context.Process(target=_hammer, args=(str(db), charge, 8, results)) for _ in range(8)]
    for worker in workers:
        worker.start()
    admitted = sum(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    expected = {"daily": 10, "burst": 6, "queued": 4}[limit]
    assert admitted == expected
    store = Store(db)
    assert len(store.jobs.with_status(JobStatus.QUEUED)) == expected
    assert store.quota.used_today("telegram:7", "d") == expected


# admission through the core --------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_user_over_the_rate_limit_hears_when_to_try_again(make_bot: MakeBot) -> None:
    bot = await make_bot(quota={"per_minute": 1.0, "burst": 2})
    for _ in range(2):
        await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "a cat")
    await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "a cat")
    assert bot.last_text == "Slow down: at most 2 videos in a row; the next one in 1 min."
    bot.clock.advance(60)
    assert await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "a cat") is not None


@pytest.mark.asyncio
async def test_the_quota_is_one_ledger_across_chats(make_bot: MakeBot) -> None:
    bot = await make_bot(quota={"daily": 2})
    private = ChatRef("telegram", "11")
    await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "a cat")
    await bot.service.video_text(bot.req(TG_ANN, private), "a dog")
    await bot.service.video_text(bot.req(TG_ANN, private), "a cow")
    assert bot.last_text.startswith("Daily limit of 2 clips reached; resets in 12 h.")


@pytest.mark.asyncio
async def test_owners_and_priority_roles_go_first_but_not_any_chats_admins(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot(admin={"priority_roles": ["Patron"], "owners": [TG_ANN.key]})
    plain = await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "first come")
    chat_admin = await bot.service.video_text(bot.req(DC_DAN, DC_CHANNEL, admin=True), "own server's admin")
    owner = await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "owner")
    patron = await bot.service.video_text(bot.req(DC_CAT, DC_CHANNEL, roles=("Patron",)), "patron")
    assert plain and chat_admin and owner and patron
    order = [job.id for job in bot.service.rooms.queue.ordered()]
    assert order == [owner.id, patron.id, plain.id, chat_admin.id]


@pytest.mark.asyncio
async def test_banned_users_are_told_and_nothing_is_queued(make_bot: MakeBot) -> None:
    bot = await make_bot()
    await bot.service.admin(bot.req(TG_ANN, TG_GROUP, admin=True), "ban telegram:22 spamming")
    await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a cat")
    assert bot.last_text == "You can't use this bot: an admin banned you (spamming)."
    assert bot.service.store.jobs.with_status(JobStatus.QUEUED) == []
    await bot.service.admin(bot.req(TG_ANN, TG_GROUP, admin=True), "unban telegram:22")
    assert await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a cat") is not None


# admin commands ---------------------------------------------------------------------------

ADMIN_COMMANDS = [
    "quota show telegram:11",
    "quota set telegram:11 5",
    "quota reset telegram:11",
    "ban discord:33",
    "unban discord:33",
    "queue",
    "purge",
    "purge telegram:11",
    "settings",
    "settings max_frames 4",
    "audit",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("command", ADMIN_COMMANDS)
@pytest.mark.parametrize(("user", "chat"), PLAIN_USERS, ids=["telegram", "discord"])
async def test_every_admin_command_refuses_non_admins_in_plain_words(
    make_bot: MakeBot, command: str, user: UserRef, chat: ChatRef
) -> None:
    bot = await make_bot()
    await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "a cat")
    await bot.service.admin(bot.req(user, chat), command)
    assert bot.last_text == "Only admins of this chat can use /admin."
    assert bot.outbox.records[-1].private
    assert bot.service.store.audit.entries(10) == []
    assert len(bot.service.store.jobs.with_status(JobStatus.QUEUED)) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("admin_user", "chat", "how"),
    [
        (TG_ANN, TG_GROUP, "platform"),
        (DC_CAT, DC_CHANNEL, "platform"),
        (DC_CAT, DC_CHANNEL, "role"),
        (TG_BOB, TG_GROUP, "owner"),
        (DC_DAN, DC_CHANNEL, "owner"),
    ],
)
async def test_platform_admins_admin_roles_and_owners_may_use_admin_commands(
    make_bot: MakeBot, admin_user: UserRef, chat: ChatRef, how: str
) -> None:
    bot = await make_bot(admin={"owners": [TG_BOB.key, DC_DAN.key], "admin_roles": ["Mods"]})
    req = bot.req(admin_user, chat, admin=how == "platform", roles=("Mods",) if how == "role" else ())
    await bot.service.admin(req, "ban telegram:77 flooding")
    assert bot.last_text.startswith("⛔ telegram:77 is banned (flooding)")
    (entry,) = bot.service.store.audit.entries(10)
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        admin_user.key,
        "ban",
        "telegram:77",
        "flooding",
    )
    assert entry.chat == chat.key
    await bot.service.admin(req, "quota set telegram:11 5")
    if how == "owner":
        assert bot.last_text == "✅ Daily quota of telegram:11 set to 5."
    else:
        assert bot.last_text.startswith("Only the bot's owners can change a person's quota")


@pytest.mark.asyncio
async def test_admin_quota_set_show_and_reset(make_bot: MakeBot) -> None:
    bot = await make_bot(quota={"daily": 1}, admin={"owners": [DC_CAT.key]})
    admin = bot.req(DC_CAT, TG_GROUP)
    await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "one")
    await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "two")
    assert bot.last_text.startswith("Daily limit of 1 clip reached")
    await bot.service.admin(admin, "quota set telegram:11 3")
    await bot.service.admin(admin, "quota show telegram:11")
    assert bot.last_text.startswith("🎟 telegram:11: 1 of 3 clips used today, 1 waiting")
    await bot.service.admin(admin, "quota reset telegram:11")
    await bot.service.admin(admin, "quota show", mentioned=TG_ANN)
    assert bot.last_text.startswith("🎟 telegram:11: 0 of 3 clips used today")
    await bot.service.admin(admin, "quota set telegram:11 lots")
    assert bot.last_text == "quota must be between 0 and 10000; you gave lots."
    await bot.service.admin(admin, "quota show")
    assert bot.last_text.startswith("Say which user")


@pytest.mark.asyncio
async def test_admin_purge_cancels_waiting_jobs_refunds_and_tells_the_owners(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot()
    admin = bot.req(TG_ANN, TG_GROUP, admin=True)
    other_chat = ChatRef("telegram", "-300", is_group=True)
    ann = await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "ann's")
    bob = await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "bob's")
    elsewhere = await bot.service.video_text(bot.req(TG_ANN, other_chat), "ann's elsewhere")
    assert ann and bob and elsewhere
    await bot.service.admin(admin, "purge telegram:11")
    assert bot.last_text.startswith("🧹 Cancelled 1 waiting job;")
    assert bot.job(ann.id).status == JobStatus.CANCELLED
    assert bot.job(bob.id).status == JobStatus.QUEUED
    # Refunded: only the job in the other chat still counts.
    assert (
        bot.service.store.quota.used_today(
            TG_ANN.key, quota_day(bot.service.clock(), bot.service.config.quota)
        )
        == 1
    )
    notice = bot.outbox.of_kind("edit")[-1]
    assert notice.ref == ann.status_message and "An admin cancelled video" in notice.text
    await bot.service.admin(admin, "purge")
    # A chat's admin purges that chat only.
    assert [job.id for job in bot.service.store.jobs.with_status(JobStatus.QUEUED)] == [elsewhere.id]


@pytest.mark.asyncio
async def test_admin_queue_lists_this_chats_jobs_and_owners_see_all(make_bot: MakeBot) -> None:
    bot = await make_bot(admin={"owners": [DC_DAN.key]})
    await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "a lighthouse at dusk")
    await bot.service.video_text(bot.req(DC_CAT, DC_CHANNEL), "a private thought")
    await bot.service.admin(bot.req(TG_BOB, TG_GROUP, admin=True), "queue")
    assert "telegram:11 (Ann): a lighthouse at dusk" in bot.last_text
    assert "private thought" not in bot.last_text
    await bot.service.admin(bot.req(DC_DAN, DC_CHANNEL), "queue")
    assert "lighthouse" in bot.last_text and "private thought" in bot.last_text


@pytest.mark.asyncio
async def test_a_chats_admin_bans_cancels_and_deletes_only_in_that_chat(make_bot: MakeBot) -> None:
    """Anyone can make a group of their own; its admin must not reach into other chats."""
    bot = await make_bot()
    own_group = ChatRef("telegram", "-999", is_group=True)
    squatter = bot.req(TG_BOB, own_group, admin=True)
    job = await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "in the real group")
    assert job is not None
    await bot.service.admin(squatter, "ban telegram:11 mine now")
    assert await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "still welcome here") is not None
    assert bot.job(job.id).status == JobStatus.QUEUED
    await bot.service.cancel(squatter, str(job.id))
    assert bot.last_text == f"There is no video #{job.id} here."  # another chat's job: not even seen
    await bot.service.admin(squatter, "settings daily 500")
    assert bot.last_text == "daily must be between 0 and 20; you gave 500."
    await bot.service.video_text(bot.req(TG_ANN, own_group), "in the squatter's group")
    assert bot.last_text == "You can't use this bot: an admin banned you (mine now)."


@pytest.mark.asyncio
async def test_chat_settings_tighten_limits_and_can_switch_the_bot_off(make_bot: MakeBot) -> None:
    bot = await make_bot()
    admin = bot.req(TG_ANN, TG_GROUP, admin=True)
    await bot.service.admin(admin, "settings max_frames 4")
    assert "max_frames 4" in bot.last_text
    await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a cat --frames 8")
    assert bot.last_text == "--frames must be between 2 and 4 for tiny (0.2–0.5 s at 8 fps); you gave 8."
    job = await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a cat")
    assert job is not None and job.params.frames == 4
    await bot.service.admin(admin, "settings max_frames 99")
    assert bot.last_text == "max_frames must be between 2 and 16; you gave 99."
    await bot.service.admin(admin, "settings enabled off")
    await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a dog")
    assert bot.last_text == "The admins have switched videos off in this chat."
    other_chat = ChatRef("telegram", "-200", is_group=True)
    assert await bot.service.video_text(bot.req(TG_BOB, other_chat), "a dog") is not None
    await bot.service.admin(admin, "settings daily 1")
    await bot.service.admin(admin, "settings colour blue")
    assert bot.last_text.startswith("Use /admin settings <key> <value>")
    actions = [(e.action, e.target, e.detail) for e in bot.service.store.audit.entries(10)]
    assert actions[:3] == [
        ("settings", "daily", "1"),
        ("settings", "enabled", "off"),
        ("settings", "max_frames", "4"),
    ]


@pytest.mark.asyncio
async def test_admin_audit_shows_who_did_what_in_this_chat(make_bot: MakeBot) -> None:
    bot = await make_bot()
    admin = bot.req(TG_ANN, TG_GROUP, admin=True)
    await bot.service.admin(admin, "ban telegram:22 flooding")
    await bot.service.admin(bot.req(DC_CAT, DC_CHANNEL, admin=True), "ban discord:44")
    await bot.service.admin(admin, "audit 5")
    assert "telegram:11 ban telegram:22 flooding" in bot.last_text
    assert "discord:44" not in bot.last_text
    await bot.service.admin(admin, "audit 500")
    assert bot.last_text == "n must be between 1 and 50; you gave 500."


@pytest.mark.asyncio
async def test_an_owner_cannot_be_banned(make_bot: MakeBot) -> None:
    bot = await make_bot(admin={"owners": ["telegram:11"]})
    await bot.service.admin(bot.req(TG_BOB, TG_GROUP, admin=True), "ban telegram:11")
    assert bot.last_text.startswith("telegram:11 can't be banned")
    assert bot.service.store.bans.reason("telegram:11") is None


# prompt policy ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_refused_prompts_cost_no_quota_and_are_logged_for_admins(make_bot: MakeBot) -> None:
    bot = await make_bot(
        quota={"daily": 1},
        policy={"blocked_words": ["gore"], "protected_names": ["Emmanuel Macron|Macron"]},
    )
    await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a g0re fest")
    assert bot.last_text == "That prompt isn't allowed here (it contains “gore”); nothing was charged."
    await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "Emmanuel Macrón dancing")
    assert bot.last_text == "I don't make videos of real people such as Emmanuel Macron; nothing was charged."
    await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "macron's speech")
    assert "real people" in bot.last_text
    assert (
        bot.service.store.quota.used_today(
            TG_BOB.key, quota_day(bot.service.clock(), bot.service.config.quota)
        )
        == 0
    )
    # Naming what to avoid in the negative prompt is what it is for: not refused.
    assert await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a peaceful meadow --neg gore") is not None
    refusals = [e for e in bot.service.store.audit.entries(10) if e.action == "refused prompt"]
    assert len(refusals) == 3 and refusals[-1].actor == TG_BOB.key and "a g0re fest" in refusals[-1].detail


@pytest.mark.asyncio
async def test_the_forced_negative_prompt_is_appended_to_every_job(make_bot: MakeBot) -> None:
    bot = await make_bot(video={"forced_negative": "nsfw, gore"})
    plain = await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a cat")
    mine = await bot.service.video_text(bot.req(TG_BOB, TG_GROUP), "a dog --neg blurry")
    assert plain and mine
    assert plain.params.negative == "nsfw, gore"
    assert mine.params.negative == "blurry, nsfw, gore"


@pytest.mark.asyncio
async def test_old_prompts_clips_and_audit_entries_are_forgotten_on_schedule(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(storage={"keep_clips_hours": 1, "keep_jobs_days": 2, "keep_audit_days": 3})
    job = await bot.service.video_text(bot.req(TG_ANN, TG_GROUP), "an old prompt")
    assert job is not None
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"mp4")
    bot.service.store.jobs.end(job.id, JobStatus.DONE, clip_path=str(clip), finished_at=bot.clock.now)
    await bot.service.admin(bot.req(DC_CAT, DC_CHANNEL, admin=True), "ban discord:44")

    bot.clock.advance(2 * 3600)
    bot.service.rooms.housekeeping.forget_old_data()
    assert not clip.exists() and bot.service.store.jobs.get(job.id) is not None
    bot.clock.advance(2 * 86400)
    bot.service.rooms.housekeeping.forget_old_data()
    assert bot.service.store.jobs.get(job.id) is None
    assert len(bot.service.store.audit.entries(10)) == 1
    bot.clock.advance(86400)
    bot.service.rooms.housekeeping.forget_old_data()
    assert bot.service.store.audit.entries(10) == []
