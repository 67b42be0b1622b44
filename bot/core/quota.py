"""Quota arithmetic: which day a clip counts against, when it resets, which limit applies.

The charging itself is SQL (`Store.insert_job`, one `BEGIN IMMEDIATE` transaction with
the GCRA rate limit, the daily count and the job insert); this module only decides the
numbers that go into it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain import QuotaCharge
from bot.settings.sections import QuotaConfig
from bot.store import Store


def quota_day(now: float, quota: QuotaConfig) -> str:
    """The quota day: the local date in `timezone`, turning over at `reset_hour`."""
    local = datetime.fromtimestamp(now, ZoneInfo(quota.timezone))
    return (local - timedelta(hours=quota.reset_hour)).date().isoformat()


def seconds_until_reset(now: float, quota: QuotaConfig) -> float:
    """Seconds until the next `reset_hour` in `timezone`, across DST changes."""
    zone = ZoneInfo(quota.timezone)
    local = datetime.fromtimestamp(now, zone)
    reset = local.replace(hour=quota.reset_hour, minute=0, second=0, microsecond=0)
    if reset <= local:
        next_day = (local + timedelta(days=1)).date()
        reset = datetime(next_day.year, next_day.month, next_day.day, quota.reset_hour, tzinfo=zone)
    return reset.timestamp() - now


def daily_limit(store: Store, quota: QuotaConfig, user_key: str, chat_key: str | None) -> int:
    """A user's own limit if an admin set one, else the chat's, else the config's."""
    personal = store.quota.user_daily_limit(user_key)
    if personal is not None:
        return personal
    if chat_key is not None:
        chat = store.chats.get(chat_key).daily
        if chat is not None:
            return chat
    return quota.daily


def charge_for(
    store: Store,
    quota: QuotaConfig,
    user_key: str,
    chat_key: str | None,
    now: float,
    *,
    max_total: int,
    counts_daily: bool = True,
) -> QuotaCharge:
    return QuotaCharge(
        max_total=max_total,
        counts_daily=counts_daily,
        user_key=user_key,
        day=quota_day(now, quota),
        daily_limit=daily_limit(store, quota, user_key, chat_key),
        max_queued=quota.max_queued,
        per_minute=quota.per_minute,
        burst=quota.burst,
        now=now,
    )
