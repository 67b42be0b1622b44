"""The web side through aiohttp's test client: every route, the gallery's privacy rules, range
requests, the admin login and its buttons, health, metrics, and the Telegram webhook on the same
runner.  Clips are real MP4s rendered by the tiny model through the whole bot."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
import prometheus_client
import pytest
from telegram.error import RetryAfter

from bot.app import StartupError, build_service, running_worker, serving_web
from bot.core.ports import Failed, FailureKind, Started
from bot.core.service import watch
from bot.dispatch.local import LocalBackend
from bot.domain import ButtonAction, ChatRef, ChatSettings, JobStatus, UserRef
from bot.settings.bounds import ConfigError
from bot.store import Store
from bot.store.public import CHALLENGE, CHAT
from bot.telegram_adapter import WEBHOOK_PATH
from bot.telegram_adapter import run as run_telegram
from bot.telegrambot.limits import LaneRateLimiter
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import MakeConfig, tiny_settings, to_toml
from tests.harness.console import ChildProcesses
from tests.harness.core import ALICE, BOB, CAROL, GROUP, PLATFORM
from tests.harness.core import CHAT as PRIVATE
from tests.harness.media import decode
from tests.harness.outbox import RecordingOutbox
from tests.harness.polling import eventually, eventually_async
from tests.harness.telegram import telegram_settings
from tests.harness.web import ADMIN_TOKEN, MakeWeb, finished_challenge

pytestmark = pytest.mark.asyncio

OTHER_GROUP = ChatRef(PLATFORM, "-100700", is_group=True)
UNKNOWN = "A" * 22
PUBLIC_URL = "https://videos.example.org"


def metric(scrape: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text scrape (0 when absent)."""
    for line in scrape.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        sample, _, label_text = series.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if sample == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


# the gallery and its privacy ------------------------------------------------------------------


async def test_front_page_shows_only_clips_from_groups_that_turned_the_gallery_on(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    await site.publish(PRIVATE)  # an admin tries it in a private chat: it never shows
    shown = await site.clip("a lighthouse in a storm", GROUP)
    hidden = await site.clip("a secret garden party", OTHER_GROUP)  # gallery never turned on
    private = await site.clip("my own private sketch", PRIVATE)

    page = await site.client.get("/")
    html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert "a lighthouse in a storm" in html and "AI-generated" in html
    assert f"seed {shown.params.seed}" in html and "tiny" in html
    assert "a secret garden party" not in html and "my own private sketch" not in html
    for job in (hidden, private):
        for path in (f"/clip/{site.token(job)}", f"/clip/{site.token(job)}.mp4"):
            assert (await site.client.get(path)).status == 404, path
    assert "gallery on" in site.bot.outbox.everything_said()  # the admin was told the new setting


async def test_on_discord_the_gallery_switch_covers_the_whole_server(make_web: MakeWeb) -> None:
    site = await make_web()
    general = ChatRef("discord", "777", is_group=True, server="42")
    art = ChatRef("discord", "778", is_group=True, server="42")
    elsewhere = ChatRef("discord", "900", is_group=True, server="43")
    await site.publish(general)
    dee = UserRef("discord", "5", "Dee")
    in_art = await site.clip("a mural of whales", art, user=dee)
    other_server = await site.clip("a quiet library", elsewhere, user=dee)
    html = await (await site.client.get("/")).text()
    assert "a mural of whales" in html and "a quiet library" not in html
    assert (await site.client.get(f"/clip/{site.token(in_art)}")).status == 200
    assert (await site.client.get(f"/clip/{site.token(other_server)}")).status == 404


async def test_the_gallery_is_off_until_an_admin_turns_it_on_and_off_again_hides_everything(
    make_web: MakeWeb,
) -> None:
    site = await make_web()
    job = await site.clip("a paper boat on a river", GROUP)
    clip_page = f"/clip/{site.token(job)}"
    assert (await site.client.get(clip_page)).status == 404
    assert "a paper boat" not in await (await site.client.get("/")).text()
    await site.publish(GROUP)
    assert (await site.client.get(clip_page)).status == 200
    await site.bot.service.admin(site.bot.req(ALICE, GROUP, admin=True), "settings gallery off")
    assert (await site.client.get(clip_page)).status == 404
    assert "a paper boat" not in await (await site.client.get("/")).text()


async def test_a_clip_its_owner_deleted_in_chat_leaves_the_web_side(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    job = await site.clip("a fox in the snow", GROUP)
    path = f"/clip/{site.token(job)}"
    assert (await site.client.get(path)).status == 200
    await site.bot.service.button(site.bot.req(ALICE, GROUP), ButtonAction.DELETE, job.id)
    assert (await site.client.get(path)).status == 404
    assert (await site.client.get(path + ".mp4")).status == 404
    assert "a fox in the snow" not in await (await site.client.get("/")).text()


async def test_front_page_shows_the_queue_and_the_model(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    for n in range(3):
        await site.bot.video(f"waiting clip {n}", chat=GROUP)
    html = await (await site.client.get("/")).text()
    assert re.search(r'id="waiting">3<', html)
    assert "model <strong>tiny</strong>" in html


# one clip: the page and the file ------------------------------------------------------------


async def test_clip_page_plays_inline_and_the_file_answers_range_requests(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    job = await site.clip("a hot air balloon over hills --seed 7", GROUP, frames=16)
    token = site.token(job)
    assert token != str(job.id) and len(token) >= 22  # random, not the sequential id

    page = await site.client.get(f"/clip/{token}")
    html = await page.text()
    assert page.status == 200
    assert f'<video id="clip" src="/clip/{token}.mp4"' in html and "AI-generated" in html
    assert "seed</dt><dd>7<" in html
    assert page.headers["Referrer-Policy"] == "same-origin"  # the token must not leak to other sites

    whole = await site.client.get(f"/clip/{token}.mp4")
    data = await whole.read()
    assert whole.status == 200 and whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert data == Path(job.clip_path or "").read_bytes()
    assert decode(data).frames == 16

    part = await site.client.get(f"/clip/{token}.mp4", headers={"Range": "bytes=100-299"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100-299/{len(data)}"
    assert part.headers["Content-Type"] == "video/mp4"
    assert await part.read() == data[100:300]

    tail = await site.client.get(f"/clip/{token}.mp4", headers={"Range": "bytes=-50"})
    assert tail.status == 206 and await tail.read() == data[-50:]


async def test_unknown_ids_and_sequential_ids_are_404(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    job = await site.clip("a clip that exists", GROUP)
    for path in (
        f"/clip/{UNKNOWN}",
        f"/clip/{UNKNOWN}.mp4",
        f"/clip/{job.id}",
        f"/clip/{job.id}.mp4",
        f"/challenges/{UNKNOWN}",
        "/challenges/1",
        f"/leaderboard/{UNKNOWN}",
        "/clip/..%2F..%2Fetc%2Fpasswd",
    ):
        response = await site.client.get(path)
        assert response.status == 404, path
        assert "<script" not in await response.text()


async def test_an_expired_clip_is_404(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    job = await site.clip("a clip that will expire", GROUP)
    path = f"/clip/{site.token(job)}"
    Path(job.clip_path or "").unlink()
    assert (await site.client.get(path)).status == 404
    assert (await site.client.get(path + ".mp4")).status == 404


# challenges and leaderboards --------------------------------------------------------------


async def test_challenge_page_shows_theme_entries_votes_and_winner(make_web: MakeWeb) -> None:
    site = await make_web(web={"public_url": PUBLIC_URL})
    await site.publish(GROUP)
    challenge_id = await finished_challenge(
        site, entries=("a neon city at night", "neon rain on a city street")
    )
    token = site.bot.store.public.token(CHALLENGE, challenge_id)

    page = await site.client.get(f"/challenges/{token}")
    html = await page.text()
    assert page.status == 200
    assert "neon cities" in html
    assert "neon rain on a city street" in html and "a neon city at night" in html
    assert re.search(r"Winner:\s*<strong>Bob</strong> \(2 votes\)", html)
    votes = re.findall(r'class="votes">(\d+)<', html)
    assert votes == ["2", "0"]  # most votes first
    assert html.count('<video src="/clip/') == 2

    board = re.search(r'href="/leaderboard/([^"]+)"', html)
    assert board is not None
    leaderboard = await site.client.get(f"/leaderboard/{board[1]}")
    rows = await leaderboard.text()
    assert leaderboard.status == 200
    assert re.search(r"<td>1</td><td>Bob</td><td>1</td><td>2</td>", rows)
    assert f"/challenges/{token}" in rows


async def test_chat_replies_link_to_the_challenge_page_when_public_url_is_set(make_web: MakeWeb) -> None:
    site = await make_web(web={"public_url": PUBLIC_URL + "/"})
    await site.publish(GROUP)
    await site.bot.service.challenge(site.bot.req(ALICE, GROUP, admin=True), "start tiny robots 1h")
    challenge = site.bot.store.challenges.open_in(GROUP)
    assert challenge is not None
    link = f"{PUBLIC_URL}/challenges/{site.bot.store.public.token(CHALLENGE, challenge.id)}"
    assert f"See all entries at {link}" in site.bot.outbox.texts[-1]  # the announcement
    await site.bot.service.challenge(site.bot.req(BOB, GROUP), "status")
    assert f"See all entries at {link}" in site.bot.last_text
    assert (await site.client.get(link.removeprefix(PUBLIC_URL))).status == 200


async def test_unpublished_chats_get_no_links_and_no_challenge_pages(make_web: MakeWeb) -> None:
    site = await make_web(web={"public_url": PUBLIC_URL})
    challenge_id = await finished_challenge(
        site, OTHER_GROUP, entries=("a neon city at night", "neon rain on a city street")
    )
    assert PUBLIC_URL not in site.bot.outbox.everything_said()
    await site.bot.service.challenge.leaderboard(site.bot.req(BOB, OTHER_GROUP))
    assert "Bob" in site.bot.last_text and PUBLIC_URL not in site.bot.last_text
    token = site.bot.store.public.token(CHALLENGE, challenge_id)
    assert (await site.client.get(f"/challenges/{token}")).status == 404
    board = site.bot.store.public.token(CHAT, OTHER_GROUP.key)
    assert (await site.client.get(f"/leaderboard/{board}")).status == 404


# /admin -----------------------------------------------------------------------------------------


async def test_admin_is_off_without_a_token_in_the_environment(make_web: MakeWeb) -> None:
    site = await make_web(admin_token=None)
    page = await site.client.get("/admin")
    text = await page.text()
    assert page.status == 404 and "VIDEOBOT_ADMIN_TOKEN" in text
    assert "the clip was deleted" not in text, "an admin page is no clip"
    login = await site.client.post("/admin/login", data={"token": ""}, allow_redirects=False)
    assert login.status == 404 and "Set-Cookie" not in login.headers


async def test_admin_asks_for_the_token_refuses_a_wrong_one_and_takes_the_right_one(
    make_web: MakeWeb,
) -> None:
    site = await make_web(worker=False)
    await site.bot.video("a job in the queue", BOB, chat=GROUP)

    missing = await site.client.get("/admin")
    assert missing.status == 401 and 'name="token"' in await missing.text()
    assert "a job in the queue" not in await missing.text()

    wrong = await site.client.post("/admin/login", data={"token": ADMIN_TOKEN + "x"}, allow_redirects=False)
    assert wrong.status == 403 and "wrong" in await wrong.text()
    assert "Set-Cookie" not in wrong.headers
    assert (await site.client.get("/admin")).status == 401

    right = await site.client.post("/admin/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert right.status == 303 and right.headers["Location"] == "/admin"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert ADMIN_TOKEN not in cookie
    page = await site.client.get("/admin")
    html = await page.text()
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert "a job in the queue" in html and BOB.key in html


async def test_a_forged_or_expired_admin_cookie_is_refused(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.log_in()
    jar = site.client.session.cookie_jar
    good = next(c for c in jar if c.key == "videobot_admin").value
    jar.clear()

    async def status_with(cookie: str) -> int:
        return (await site.client.get("/admin", headers={"Cookie": f"videobot_admin={cookie}"})).status

    issued, nonce, mac = good.split(".")
    for forged in (f"{issued}.{nonce}.{'0' * len(mac)}", f"{int(issued) + 9999}.{nonce}.{mac}", "x", ""):
        assert await status_with(forged) == 401, forged
    assert await status_with(good) == 200
    site.bot.clock.advance(13 * 3600)  # past [web] admin_session_hours
    assert await status_with(good) == 401


async def test_admin_cancels_a_queued_job_through_the_core_refunded_told_and_audited(
    make_web: MakeWeb,
) -> None:
    site = await make_web(worker=False)
    job = await site.bot.video("cancel me please", BOB, chat=GROUP)
    assert site.bot.used_today(BOB) == 1
    csrf = await site.log_in()

    no_token = await site.client.post("/admin/cancel", data={"job": str(job.id)}, allow_redirects=False)
    assert no_token.status == 403
    elsewhere = await site.client.post(
        "/admin/cancel",
        data={"job": str(job.id), "csrf": csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert elsewhere.status == 403
    assert site.bot.job(job.id).status == JobStatus.QUEUED

    done = await site.client.post(
        "/admin/cancel", data={"job": str(job.id), "csrf": csrf}, allow_redirects=False
    )
    assert done.status == 303
    assert site.bot.job(job.id).status == JobStatus.CANCELLED
    assert site.bot.used_today(BOB) == 0  # refunded
    await site.bot.outbox.wait_for_text(f"Cancelled video #{job.id}")  # the owner is told
    entry = site.bot.store.audit.entries(1)[0]
    assert (entry.actor, entry.chat, entry.action, entry.target) == ("web:admin", "web", "cancel", BOB.key)
    page = await (await site.client.get("/admin")).text()
    assert f"Cancelled video #{job.id}" in page  # the notice
    assert f'id="job-{job.id}"' not in page

    again = await site.client.post("/admin/cancel", data={"job": str(job.id), "csrf": csrf})
    assert "already finished" in await again.text()


async def test_ids_of_thousands_of_digits_get_a_plain_answer_everywhere(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    huge = "9" * 5000  # past Python's int-string limit
    csrf = await site.log_in()
    answer = await site.client.post("/admin/cancel", data={"job": huge, "csrf": csrf})
    assert answer.status == 200 and "is not a video number" in await answer.text()
    for command in (site.bot.service.info, site.bot.service.cancel):
        await command(site.bot.req(), huge)
        assert "is not a video number" in site.bot.last_text


async def test_admin_bans_a_user_everywhere_through_the_core(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    job = await site.bot.video("spam spam spam", BOB, chat=GROUP)
    csrf = await site.log_in()
    banned = await site.client.post("/admin/ban", data={"user": BOB.key, "reason": "spam", "csrf": csrf})
    page = await banned.text()  # the redirect back to /admin, with the core's answer as a notice
    assert f"{BOB.key} is banned (spam)" in page
    assert site.bot.store.bans.reason(BOB.key) == "spam"
    assert site.bot.job(job.id).status == JobStatus.CANCELLED
    audit = site.bot.store.audit.entries(1)[0]
    assert (audit.actor, audit.action, audit.target, audit.detail) == ("web:admin", "ban", BOB.key, "spam")
    assert re.search(r"<td[^>]*>web:admin</td><td[^>]*>ban</td>", page)

    bad = await site.client.post("/admin/ban", data={"user": "not a user", "csrf": csrf})
    notice = re.search(r'id="notice">([^<]+)<', await bad.text())
    assert notice is not None and "telegram:&lt;id&gt;" in notice[1]


async def test_admin_page_lists_recent_failures_with_their_kind(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    job = await site.bot.video("this one fails", BOB, chat=GROUP)
    await site.bot.service.rooms.endings.fail(job, "failed_oom")
    await site.log_in()
    html = await (await site.client.get("/admin")).text()
    failures = html[html.index('id="failures"') :]
    assert "failed_oom" in failures and "this one fails" in failures


# health and metrics -----------------------------------------------------------------------------


async def test_healthz_is_200_only_while_the_database_and_the_worker_answer(
    make_web: MakeWeb, renders: None
) -> None:
    alive = {"worker": True}
    site = await make_web(worker_alive=lambda: alive["worker"], render={"warmup_steps": 1})
    await site.bot.service.platform_ready("telegram")
    ok = await site.client.get("/healthz")
    body = await ok.json()
    assert ok.status == 200
    assert body["ok"] and body["database"] and body["worker"] and body["model_loaded"]
    assert body["platforms"] == ["discord", "telegram"] and body["queue"] == 0
    (warm,) = body["warm"].values()  # the tiny model: loaded, then a warm-up render
    assert warm["load_s"] > 0 and warm["warmup_s"] is not None

    alive["worker"] = False
    down = await site.client.get("/healthz")
    assert down.status == 503 and (await down.json())["worker"] is False


async def test_healthz_turns_503_naming_a_core_task_that_died_and_shows_no_problem_details(
    make_web: MakeWeb, caplog: pytest.LogCaptureFixture
) -> None:
    site = await make_web()
    service = site.bot.service
    service.backend._problem = "weights missing in /home/owner/secret-models at redis.internal"  # type: ignore[attr-defined]
    body = await (await site.client.get("/healthz")).json()
    assert body["model_problem"] is True and "secret-models" not in json.dumps(body)

    async def breaks() -> None:
        raise RuntimeError("a result nobody expected")

    task = asyncio.ensure_future(breaks())
    task.add_done_callback(functools.partial(watch, service.dead_tasks, "render backend"))
    with contextlib.suppress(RuntimeError):
        await task
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    down = await site.client.get("/healthz")
    assert down.status == 503 and (await down.json())["dead_tasks"] == ["render backend"]
    assert "core task 'render backend' died" in caplog.text


async def test_metrics_move_after_a_job_and_live_in_their_own_registry(
    make_web: MakeWeb, renders: None
) -> None:
    """A real render: the stub's prepared MP4 is not signed, and the signing counter is the
    process's, so without one this test passed only after another test had signed a clip."""
    site = await make_web(quota={"daily": 1}, outbox=RecordingOutbox(fail_videos=1))
    before = await (await site.client.get("/metrics")).text()
    assert metric(before, "videobot_renders_total", model="tiny", outcome="rendered") == 0

    job = await site.clip("count me --steps 4", GROUP)
    await site.bot.service.video_text(site.bot.req(ALICE, GROUP), "one too many")  # over the daily quota
    response = await site.client.get("/metrics")
    after = await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert metric(after, "videobot_renders_total", model="tiny", outcome="rendered") == 1
    assert metric(after, "videobot_render_seconds_count", model="tiny") == 1
    assert metric(after, "videobot_render_seconds_sum", model="tiny") > 0
    assert metric(after, "videobot_render_step_seconds_count", model="tiny") == job.params.steps
    assert metric(after, "videobot_jobs", status="done", model="tiny") == 1
    assert metric(after, "videobot_queue_depth") == 0
    assert metric(after, "videobot_quota_refusals_total", limit="daily") == 1
    assert metric(after, "videobot_delivery_failures_total", platform="telegram", kind="error") == 1
    assert metric(after, "videobot_model_loaded", model="tiny") == 1
    assert metric(after, "videobot_clips_signed_total", outcome="signed") >= 1  # Content Credentials'
    # prometheus-client's global registry knows none of ours
    world = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert not re.search(r"^videobot_(renders|jobs|queue|render_|delivery|quota)", world, re.MULTILINE)


async def test_a_model_that_does_not_load_is_not_counted_as_renders_and_shows_as_not_loaded(
    make_web: MakeWeb, renders: None
) -> None:
    site = await make_web(worker=False)
    job = await site.bot.video("waiting", ALICE, chat=GROUP)
    for _ in range(3):  # three load retries of a model whose weights are missing
        site.web.metrics.on_event(Started(job.id))
        site.web.metrics.on_event(Failed(job.id, FailureKind.MODEL_MISSING, "not downloaded"))
    scrape = await (await site.client.get("/metrics")).text()
    assert metric(scrape, "videobot_renders_total", model="tiny", outcome="model_missing") == 0
    assert 'videobot_model_loaded{model="tiny"} 1.0' in scrape
    backend = site.bot.service.backend
    assert isinstance(backend, LocalBackend)
    backend.renderer.unload()
    scrape = await (await site.client.get("/metrics")).text()
    assert 'videobot_model_loaded{model="tiny"} 0.0' in scrape, "a 0 series, not a missing one"


async def test_metrics_count_the_queue_from_the_database(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    for n, user in enumerate((ALICE, ALICE, BOB, CAROL)):
        await site.bot.video(f"waiting {n}", user, chat=GROUP)
    scrape = await (await site.client.get("/metrics")).text()
    assert metric(scrape, "videobot_queue_depth") == 4
    assert metric(scrape, "videobot_jobs", status="queued", model="tiny") == 4


async def test_event_loop_lag_is_measured(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)

    async def lag_samples() -> float:
        return metric(
            await (await site.client.get("/metrics")).text(), "videobot_event_loop_lag_seconds_count"
        )

    samples = 0.0

    async def measured() -> bool:
        nonlocal samples
        samples = await lag_samples()
        return samples > 0

    await eventually_async(measured, timeout=5, what="a loop-lag sample", every=0.1)
    assert samples > 0


async def test_telegram_429_retries_are_counted_from_the_bots_rate_limiter(make_web: MakeWeb) -> None:
    """The limiter the Telegram adapter uses retries a 429 (RetryAfter) itself and counts it on the
    service's tally (no log line read); /metrics shows the count."""
    site = await make_web(worker=False)
    limiter = LaneRateLimiter(max_retries=2, tally=site.bot.service.rooms.tally)
    await limiter.initialize()
    calls = 0

    async def flaky(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetryAfter(timedelta(seconds=0))
        return True

    try:
        assert await limiter.process_request(flaky, (), {}, "sendMessage", {"chat_id": 5}, None) is True
    finally:
        await limiter.shutdown()
    assert calls == 2
    scrape = await (await site.client.get("/metrics")).text()
    assert metric(scrape, "videobot_platform_api_retries_total", platform="telegram") == 1


async def test_discord_429_retries_are_counted_from_discord_py_itself(
    make_web: MakeWeb, discord_fake: FakeDiscord
) -> None:
    """discord.py retries a 429 by itself and says so only in its log (`discord.http`)."""
    site = await make_web(worker=False)
    discord.http.Route.BASE = discord_fake.api_base_url  # the fixture puts it back afterwards
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(discord_fake.token)
        discord_fake.inject_429("GET", "/users/@me", retry_after=0.05)
        me = await http.request(discord.http.Route("GET", "/users/@me"))
        assert me["id"]
    finally:
        await http.close()
    scrape = await (await site.client.get("/metrics")).text()
    assert metric(scrape, "videobot_platform_api_retries_total", platform="discord") == 1


async def test_security_headers_and_the_stylesheet(make_web: MakeWeb) -> None:
    site = await make_web()
    css = await site.client.get("/static/style.css")
    assert css.status == 200 and css.content_type == "text/css"
    assert "http" not in await css.text()  # no fonts or anything else from elsewhere
    page = await site.client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    html = await page.text()
    assert "<script" not in html and "https://" not in html
    assert 'name="viewport"' in html


# the Telegram webhook on the same runner, and the config keys ------------------------------------


async def test_telegram_webhook_is_served_by_the_web_runner(
    telegram_fake: FakeTelegram, make_config: MakeConfig, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    config = make_config(
        env={"TELEGRAM_TOKEN": telegram_fake.token},
        telegram=telegram_settings(telegram_fake, webhook_url=url, webhook_port=1),
        web={"enabled": True, "port": unused_tcp_port},
    )
    service = build_service(config)
    stop = asyncio.Event()
    async with running_worker(service) as worker, serving_web(service, worker) as web:
        assert web is not None
        task = asyncio.create_task(run_telegram(service, stop, web))
        try:
            hook = await telegram_fake.wait_for_call("setWebhook")
            assert hook.params["url"] == url + WEBHOOK_PATH
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 5,
                    "date": int(time.time()),
                    "text": "/help",
                    "chat": {"id": 77, "type": "private"},
                    "from": {"id": 77, "is_bot": False, "first_name": "Ann"},
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                },
            }
            async with aiohttp.ClientSession() as session:
                refused = await session.post(url + WEBHOOK_PATH, json=update)
                assert refused.status == 403
                accepted = await session.post(
                    url + WEBHOOK_PATH,
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": hook.params["secret_token"]},
                )
                assert accepted.status == 200
                health = await session.get(url + "/healthz")
                assert health.status == 200
            await telegram_fake.wait_for_call("sendMessage")
            await eventually(lambda: "telegram" in service.connected, what="telegram to be ready")
        finally:
            service.stop()
            stop.set()
            await task


async def test_web_keys_have_safe_defaults_and_bad_values_are_one_line(make_config: MakeConfig) -> None:
    config = make_config()
    assert (config.web.enabled, config.web.host, config.web.port, config.web.public_url) == (
        False,
        "127.0.0.1",
        8080,
        "",
    )
    token = "a long enough s3cret"
    assert make_config(env={"VIDEOBOT_ADMIN_TOKEN": f" {token} "}).secrets.admin_token == token
    with pytest.raises(ConfigError, match=r"^VIDEOBOT_ADMIN_TOKEN \(in the environment\) is too short"):
        make_config(env={"VIDEOBOT_ADMIN_TOKEN": "s3cret"})
    with pytest.raises(ConfigError, match=r"\[web\] public_url"):
        make_config(web={"public_url": "videos.example.org"})
    with pytest.raises(ConfigError, match=r"\[web\] port"):
        make_config(web={"port": 70000})


async def test_videobot_run_serves_the_web_side_and_stops_cleanly(
    telegram_fake: FakeTelegram, tmp_path: Path, unused_tcp_port: int, child_processes: ChildProcesses
) -> None:
    """The shipped entry point with `[web] enabled` beside Telegram: health, metrics, then SIGTERM."""
    settings = tiny_settings(
        tmp_path / "data",
        web={"enabled": True, "port": unused_tcp_port},
        telegram=telegram_settings(telegram_fake),
    )
    (tmp_path / "config.toml").write_text(to_toml(settings))
    repo = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": str(repo),
        "HF_HUB_OFFLINE": "1",
        "VIDEOBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        "TELEGRAM_TOKEN": telegram_fake.token,
    }
    process = child_processes.popen(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.toml")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> dict[str, object] | None:
                try:
                    async with session.get(base + "/healthz") as response:
                        return await response.json() if response.status == 200 else None
                except aiohttp.ClientError:
                    return None

            async def answered_or_exited() -> dict[str, object] | bool | None:
                return await healthy() or process.poll() is not None

            body = await eventually_async(answered_or_exited, timeout=60, what="/healthz", every=0.2)
            assert isinstance(body, dict), "the web side never answered /healthz"
            assert body["database"] and body["worker"] and body["model"] == "tiny"
            await telegram_fake.wait_until_polling(timeout=30)
            async with session.get(base + "/healthz") as response:
                assert (await response.json())["platforms"] == ["telegram"]
            async with session.get(base + "/metrics") as response:
                assert "videobot_queue_depth 0.0" in await response.text()
            async with session.get(base + "/admin") as response:
                assert response.status == 401  # the token came from the environment
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_a_platform_that_cannot_connect_is_retried_while_the_web_side_runs(
    tmp_path: Path, unused_tcp_port_factory: Callable[[], int], child_processes: ChildProcesses
) -> None:
    """Telegram unreachable at start-up: shown disconnected, retried with backoff, then connected."""
    web_port, telegram_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    telegram_fake = FakeTelegram(bot_username="VideoBot")
    telegram_fake.port = telegram_port  # nothing listens there yet
    settings = tiny_settings(
        tmp_path / "data", web={"enabled": True, "port": web_port}, telegram=telegram_settings(telegram_fake)
    )
    (tmp_path / "config.toml").write_text(to_toml(settings))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "HF_HUB_OFFLINE": "1",
        "TELEGRAM_TOKEN": telegram_fake.token,
    }
    process = child_processes.popen(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.toml")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{web_port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def health() -> dict[str, Any] | bool | None:
                if process.poll() is not None:
                    return True
                try:
                    async with session.get(base + "/healthz") as response:
                        body = await response.json()
                        return body if body.get("disconnected") == ["telegram"] else None
                except aiohttp.ClientError:
                    return None

            body = await eventually_async(health, timeout=60, what="/healthz with telegram down", every=0.2)
            assert isinstance(body, dict), "the bot exited instead of retrying"
            assert body["ok"] and body["worker"] and body["platforms"] == []
            async with session.get(base + "/metrics") as response:
                assert 'videobot_platform_connected{platform="telegram"} 0.0' in await response.text()

            await telegram_fake.start(telegram_port)  # the network is back
            await telegram_fake.wait_until_polling(timeout=60)

            async def connected() -> bool:
                async with session.get(base + "/healthz") as response:
                    return (await response.json())["platforms"] == ["telegram"]

            await eventually_async(connected, timeout=30, what="telegram connected")
            async with session.get(base + "/metrics") as response:
                assert 'videobot_platform_connected{platform="telegram"} 1.0' in await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        await telegram_fake.stop()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "telegram: cannot connect" in stderr.decode()  # (python-telegram-bot logs its own traceback)


async def test_videobot_run_serves_the_web_side_and_the_worker_with_no_chat_platform(
    tmp_path: Path, unused_tcp_port: int, child_processes: ChildProcesses
) -> None:
    settings = tiny_settings(tmp_path / "data", web={"enabled": True, "port": unused_tcp_port})
    (tmp_path / "config.toml").write_text(to_toml(settings))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "HF_HUB_OFFLINE": "1"}
    process = child_processes.popen(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.toml")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:

            async def health() -> dict[str, Any] | bool | None:
                if process.poll() is not None:
                    return True
                try:
                    async with session.get(f"http://127.0.0.1:{unused_tcp_port}/healthz") as response:
                        return await response.json() if response.status == 200 else None
                except aiohttp.ClientError:
                    return None

            body = await eventually_async(health, timeout=60, what="/healthz", every=0.2)
            assert isinstance(body, dict), "refused: no platform is enabled"
            assert body["worker"] and body["platforms"] == [] and body["disconnected"] == []
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_an_older_database_gains_the_gallery_switch_and_the_public_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE chat_settings (chat_key TEXT PRIMARY KEY, max_frames INTEGER, max_steps INTEGER,"
            " daily INTEGER, challenges INTEGER, enabled INTEGER)"
        )
        old.execute("INSERT INTO chat_settings VALUES ('telegram:-100600', NULL, NULL, NULL, 1, 1)")
    store = Store(path)
    try:
        assert store.chats.get("telegram:-100600") == ChatSettings()  # gallery off, the rest kept
        token = store.public.token(CHALLENGE, 1)
        assert token is not None and store.public.token(CHALLENGE, 1) == token  # minted once
        assert store.public.target(CHALLENGE, token) == "1"
    finally:
        store.close()


async def test_after_ten_wrong_tokens_logins_pause_for_a_minute(make_web: MakeWeb) -> None:
    site = await make_web()
    for _ in range(10):
        wrong = await site.client.post("/admin/login", data={"token": "guess"}, allow_redirects=False)
        assert wrong.status == 403
    paused = await site.client.post("/admin/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert paused.status == 429 and "Set-Cookie" not in paused.headers
    assert "try again in" in await paused.text()
    site.bot.clock.advance(61)
    right = await site.client.post("/admin/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert right.status == 303


async def test_a_strangers_wrong_tokens_do_not_lock_the_owner_out(make_web: MakeWeb) -> None:
    site = await make_web()
    stranger, owner = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(10):
        wrong = await site.client.post(
            "/admin/login", data={"token": "guess"}, headers=stranger, allow_redirects=False
        )
        assert wrong.status == 403
    paused = await site.client.post(
        "/admin/login", data={"token": ADMIN_TOKEN}, headers=stranger, allow_redirects=False
    )
    assert paused.status == 429
    right = await site.client.post(
        "/admin/login", data={"token": ADMIN_TOKEN}, headers=owner, allow_redirects=False
    )
    assert right.status == 303


async def test_a_locked_database_costs_a_page_its_newest_clips_not_an_error(make_web: MakeWeb) -> None:
    """Another process holding the write lock (a backup, the shell's admin tools)."""
    site = await make_web()
    await site.publish(GROUP)
    await site.clip("a clip shown before the lock", GROUP)
    assert "a clip shown before the lock" in await (await site.client.get("/")).text()
    await site.clip("a clip first shown during the lock", GROUP)
    other = sqlite3.connect(site.bot.store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        page = await site.client.get("/")
        html = await page.text()
        assert page.status == 200
        assert "a clip shown before the lock" in html and "a clip first shown during the lock" not in html
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "a clip first shown during the lock" in await (await site.client.get("/")).text()


async def test_a_web_port_in_use_stops_start_up_with_one_line(make_config: MakeConfig) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = make_config(web={"enabled": True, "port": port})
        service = build_service(config)
        try:
            worker = asyncio.create_task(asyncio.sleep(0))
            with pytest.raises(StartupError, match=rf"\[web\] cannot listen on 127.0.0.1:{port} \("):
                async with serving_web(service, worker):
                    pass
            await worker
        finally:
            service.store.close()


async def test_an_entry_deleted_with_the_bin_button_leaves_the_challenge_page(make_web: MakeWeb) -> None:
    site = await make_web(web={"public_url": PUBLIC_URL})
    await site.publish(GROUP)
    challenge_id = await finished_challenge(site, entries=("a secret wish of alice", "bob's robot"))
    alices = next(j for j in site.bot.store.jobs.of_challenge(challenge_id) if j.user.key == ALICE.key)
    await site.bot.service.button(site.bot.req(ALICE, GROUP), ButtonAction.DELETE, alices.id)
    html = await (
        await site.client.get(f"/challenges/{site.bot.store.public.token(CHALLENGE, challenge_id)}")
    ).text()
    assert "bob&#39;s robot" in html or "bob's robot" in html
    assert "a secret wish of alice" not in html and html.count('<video src="/clip/') == 1


async def test_a_stop_under_load_ends_within_ten_seconds(
    telegram_fake: FakeTelegram, tmp_path: Path, child_processes: ChildProcesses
) -> None:
    """Hundreds of people's commands just queued, their answers waiting in Telegram's group
    limiter (~20 a minute): SIGTERM still ends the bot before a container runtime's SIGKILL."""
    settings = tiny_settings(tmp_path / "data", telegram=telegram_settings(telegram_fake))
    (tmp_path / "config.toml").write_text(to_toml(settings))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "HF_HUB_OFFLINE": "1",
        "TELEGRAM_TOKEN": telegram_fake.token,
    }
    process = child_processes.popen(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.toml")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await telegram_fake.wait_until_polling(timeout=60)
        for person in range(300):
            telegram_fake.send_message(-1001, 5000 + person, "/queue", first_name=f"P{person}")
        await eventually(  # the group's budget is spent: the other answers wait in the limiter
            lambda: len(telegram_fake.calls_of("sendMessage")) >= 15, timeout=60, what="the first answers"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            raise AssertionError("the bot did not stop within 10 s of SIGTERM") from None
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_a_stopped_bot_leaves_a_thread_it_cannot_interrupt_behind(
    child_processes: ChildProcesses,
) -> None:
    """A model load (tens of seconds on real weights) cannot be interrupted, and Python joins every
    pool's threads before it exits: once `videobot run` has stopped, it does not wait for one."""
    script = (
        "import logging, threading\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from bot.app import leave_busy_threads\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "pool = ThreadPoolExecutor(1, 'render')\n"
        "pool.submit(threading.Event().wait)\n"  # a load that never ends
        "pool.shutdown(wait=False)\n"
        "raise SystemExit(leave_busy_threads(3, grace_s=0.1))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    child = await child_processes.spawn(sys.executable, "-c", script, env=env, stderr=subprocess.PIPE)
    _, stderr = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == 3, stderr.decode()[-2000:]
    assert "stopping: not waiting for render_0 (a model load or a render step)" in stderr.decode()
