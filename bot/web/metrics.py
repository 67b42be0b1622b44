"""Prometheus metrics for the owner, in a registry of our own (never prometheus-client's global one,
so two bots in one process, or a test, never share counts).

What feeds them: the render events (the same sink the core's rooms hear), the core's `Tally`
(delivery failures, quota refusals, 429s our Telegram limiter retried), the store at scrape time
(jobs by status and model, queue depth), discord.py's rate-limit log lines (429s it retried: it
says so nowhere else), and a small timer that measures how late the event loop wakes up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.observe import API_RETRIED, DELIVERY_FAILED, QUOTA_REFUSED
from bot.core.ports import (
    Cancelled,
    Encoding,
    Failed,
    FailureKind,
    Progress,
    Rendered,
    RenderEvent,
    Started,
)
from bot.core.service import VideoService
from bot.provenance.signing import CLIPS_SIGNED
from bot.settings.platforms import PLATFORMS

LAG_EVERY_S = 0.5
RENDER_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

# Where a platform library that counts nothing says it was rate limited and will retry (logger,
# message start).  Our Telegram limiter counts its retries on the tally instead (`API_RETRIED`).
RATE_LIMIT_LINES = {
    p.rate_limit_logger: (p.name, p.rate_limit_lines) for p in PLATFORMS if p.rate_limit_logger
}


@dataclass
class _Render:
    model: str
    started: float
    last_at: float
    last_step: int = 0


class _StoreCollector(Collector):
    """Read at scrape time, so the numbers are the database's and survive restarts."""

    def __init__(self, service: VideoService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        store, service = self.service.store, self.service
        jobs = GaugeMetricFamily(
            "videobot_jobs", "Jobs the database holds, by status and model", labels=["status", "model"]
        )
        for (state, model), count in sorted(store.jobs.counts().items()):
            jobs.add_metric([state, model], count)
        yield jobs
        status = service.status()
        yield GaugeMetricFamily("videobot_queue_depth", "Jobs waiting for the GPU", value=status.waiting or 0)
        yield GaugeMetricFamily(
            "videobot_jobs_rendering", "Jobs handed to the render backend now", value=status.rendering
        )
        loaded = GaugeMetricFamily(
            "videobot_model_loaded", "1 for each configured video model in memory, else 0", labels=["model"]
        )
        for key, is_loaded in status.models_loaded.items():
            loaded.add_metric([key], 1.0 if is_loaded else 0.0)
        yield loaded
        platforms = GaugeMetricFamily(
            "videobot_platform_connected", "1 for each chat platform that is connected", labels=["platform"]
        )
        for platform in sorted({*status.platforms, *status.disconnected}):
            platforms.add_metric([platform], 1.0 if platform in status.platforms else 0.0)
        yield platforms


class _RateLimitLines(logging.Handler):
    """Counts discord.py's "rate limited, retrying" lines: the only place it says so."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.DEBUG)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        platform, starts = RATE_LIMIT_LINES.get(record.name, ("", ()))
        if starts and str(record.msg).startswith(starts):
            self.metrics.api_retries.labels(platform).inc()


class Metrics:
    def __init__(self, service: VideoService) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        self.renders = Counter(
            "videobot_renders",
            "Renders the backend ended, by model and outcome (rendered, cancelled, or the failure kind)",
            ["model", "outcome"],
            registry=r,
        )
        self.render_seconds = Histogram(
            "videobot_render_seconds", "Seconds from a render's start to its clip", ["model"],
            buckets=RENDER_BUCKETS, registry=r,
        )  # fmt: skip
        self.step_seconds = Histogram(
            "videobot_render_step_seconds", "Seconds per denoising step", ["model"],
            buckets=STEP_BUCKETS, registry=r,
        )  # fmt: skip
        self.delivery_failures = Counter(
            "videobot_delivery_failures", "Clips a platform did not take, by platform and kind",
            ["platform", "kind"], registry=r,
        )  # fmt: skip
        self.quota_refusals = Counter(
            "videobot_quota_refusals", "Requests refused by a limit (rate, daily, queued, full)", ["limit"],
            registry=r,
        )  # fmt: skip
        self.api_retries = Counter(
            "videobot_platform_api_retries", "Platform API calls rate limited (429) and retried",
            ["platform"], registry=r,
        )  # fmt: skip
        self.loop_lag = Histogram(
            "videobot_event_loop_lag_seconds", "How late the event loop ran a timer", buckets=LAG_BUCKETS,
            registry=r,
        )  # fmt: skip
        r.register(_StoreCollector(service))
        # Content Credentials keeps its count on prometheus-client's global registry; shown here too.
        r.register(CLIPS_SIGNED)
        self._renders: dict[int, _Render] = {}
        self._rate_limits = _RateLimitLines(self)

    # feeding --------------------------------------------------------------------------------

    def attach(self) -> None:
        """Start hearing the core and the platform libraries."""
        self.service.rooms.events.subscribe(self.on_event)
        self.service.rooms.tally.listen(self.on_count)
        for name in RATE_LIMIT_LINES:
            logger = logging.getLogger(name)
            logger.addHandler(self._rate_limits)
            if not logger.isEnabledFor(logging.WARNING):
                logger.setLevel(logging.WARNING)  # discord.http's lines are WARNING

    def detach(self) -> None:
        self.service.rooms.tally.unlisten(self.on_count)
        for name in RATE_LIMIT_LINES:
            logging.getLogger(name).removeHandler(self._rate_limits)

    def _model_of(self, job_id: int) -> str:
        running = self.service.rooms.running.get(job_id)
        if running is not None:
            return running.job.model
        job = self.service.store.jobs.get(job_id)
        return job.model if job is not None else ""

    def on_event(self, event: RenderEvent) -> None:
        now = time.monotonic()
        if isinstance(event, Started):
            self._renders[event.job_id] = _Render(self._model_of(event.job_id), now, now)
            return
        render = self._renders.get(event.job_id)
        if isinstance(event, Progress):
            if render is not None and event.step > render.last_step:
                self.step_seconds.labels(render.model).observe(
                    (now - render.last_at) / (event.step - render.last_step)
                )
                render.last_at, render.last_step = now, event.step
            return
        if isinstance(event, Encoding):
            return
        self._renders.pop(event.job_id, None)
        model = render.model if render is not None else self._model_of(event.job_id)
        if isinstance(event, Rendered):
            self.renders.labels(model, "rendered").inc()
            if render is not None:
                self.render_seconds.labels(model).observe(now - render.started)
        elif isinstance(event, Failed) and event.kind != FailureKind.MODEL_MISSING:
            # a model that does not load renders nothing: its retries are not renders
            self.renders.labels(model, str(event.kind)).inc()
        elif isinstance(event, Cancelled):
            self.renders.labels(model, "cancelled").inc()

    def on_count(self, name: str, labels: Mapping[str, str]) -> None:
        if name == DELIVERY_FAILED:
            self.delivery_failures.labels(labels.get("platform", ""), labels.get("kind", "")).inc()
        elif name == QUOTA_REFUSED:
            self.quota_refusals.labels(labels.get("limit", "")).inc()
        elif name == API_RETRIED:
            self.api_retries.labels(labels.get("platform", "")).inc()

    async def watch_loop_lag(self, every_s: float = LAG_EVERY_S) -> None:
        """Forever: sleep `every_s`, and record how much later than asked the loop woke us."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(every_s)
            self.loop_lag.observe(max(loop.time() - asked - every_s, 0.0))

    def scrape(self) -> bytes:
        return generate_latest(self.registry)
