"""The bot's end of the clip path: remote workers PUT finished MP4s here over HTTP.

`PUT /clips/{job_id}` with `X-Videobot-Signature: <UploadGrant token>`: a one-use credential
for this bot's run, that job and one attempt, bound to the body's SHA-256 and an expiry
(`remote.UploadGrant`).  The file lands as `<clips>/<job>-<run>.mp4` (a name no later run
repeats), written to a temporary name and linked into place, so a second upload for the
same job (SAQ can run a job twice, saq issues #124/#277) never replaces the first: it is
drained in chunks and dropped, and the answer describes the clip already held.  Only jobs
the bot is waiting for are taken (409 otherwise), so a stale worker cannot fill the disk;
a clip that lands after its job was cancelled is deleted at once.  Bodies are bounded in
size and in time; the answer (key, size, SHA-256) is what the worker returns as its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.dispatch.remote import SIGNATURE_HEADER, Uploaded, UploadGrant, WorkerKeys, clip_key, parse_job_id

log = logging.getLogger(__name__)

CHUNK = 1 << 16
PARTIAL = ".upload-"  # a partial upload's name: `<clip>.upload-<random>`


def file_digest(path: Path) -> Uploaded:
    """Size and SHA-256 of a clip on disk (blocking)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return Uploaded(path.name, size, digest.hexdigest())


def remove_partials(clips_dir: Path) -> int:
    """Partial uploads a killed run left behind; how many were removed."""
    removed = 0
    for partial in clips_dir.glob(f"*{PARTIAL}*"):
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


class ClipInbox:
    """Takes clip uploads carrying a valid grant, for the jobs `expects` says are rendering remotely."""

    def __init__(
        self,
        clips_dir: Path,
        keys: WorkerKeys,
        run: str,
        expects: Callable[[int], bool],
        *,
        max_bytes: int,
        body_timeout_s: float,
        max_attempts: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clips_dir = clips_dir
        self.keys = keys
        self.run = run
        self.expects = expects
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        self.max_attempts = max_attempts
        self.clock = clock
        self.received: Counter[int] = Counter()  # signed uploads per job, refused duplicates included
        self.accepted: dict[int, Uploaded] = {}  # the clip each job's first upload left, as received
        self._used: set[str] = set()  # grants already spent: never twice
        self._refused_signature = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_bytes)
        app.router.add_put("/clips/{job_id}", self.put_clip)
        return app

    def _refuse(self, status: int, why: str, job_id: int | None, request: web.Request) -> web.Response:
        if status == 403 and not self._refused_signature:  # once: a misconfigured worker retries
            log.warning(
                "refused a clip upload for job %s from %s: %s (is VIDEOBOT_WORKER_SECRET the same on "
                "that worker?)",
                job_id,
                request.remote,
                why,
            )
            self._refused_signature = True
        return web.Response(status=status, text=why)

    async def put_clip(self, request: web.Request) -> web.Response:
        job_id = parse_job_id(request.match_info["job_id"])
        if job_id is None:
            return web.Response(status=400, text="the job id must be a short number")
        token = request.headers.get(SIGNATURE_HEADER, "")
        grant = UploadGrant.parse(self.keys, token)
        if grant is None:
            return self._refuse(403, "bad signature: VIDEOBOT_WORKER_SECRET differs", job_id, request)
        if grant.job_id != job_id or grant.run != self.run:
            return self._refuse(403, "this credential is for another job or run of the bot", job_id, request)
        if grant.expires < self.clock():
            return self._refuse(403, "this credential has expired", job_id, request)
        if not 1 <= grant.attempt <= self.max_attempts + 1:
            return self._refuse(403, "this credential names no attempt of the job", job_id, request)
        if token in self._used:
            return self._refuse(403, "this credential was used already", job_id, request)
        self.received[job_id] += 1
        if not self.expects(job_id):
            return web.Response(status=409, text=f"job {job_id} is not waiting for a clip")
        if request.content_length is not None and request.content_length > self.max_bytes:
            return web.Response(status=413, text="clip too large")
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        final = self.clips_dir / clip_key(job_id, self.run)
        if final.exists():
            with contextlib.suppress(TimeoutError):
                await self._drain(request)  # the first upload stands; never held in memory
            self._used.add(token)
            log.info("job %d: a second upload arrived (a double execution); keeping the first", job_id)
            return web.json_response((await asyncio.to_thread(file_digest, final)).to_result())
        partial = self.clips_dir / f"{final.name}{PARTIAL}{uuid.uuid4().hex}"
        try:
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    size, sha256 = await self._receive(request, partial)
            except TimeoutError:
                return web.Response(status=408, text="the upload took too long")
            except _TooLarge:
                return web.Response(status=413, text="clip too large")
            if sha256 != grant.sha256:
                return self._refuse(403, "the body is not the one the credential names", job_id, request)
            self._used.add(token)  # spent: whoever saw it on the wire cannot use it again
            try:
                os.link(partial, final)  # atomic, and fails if another upload won meanwhile
            except FileExistsError:
                return web.json_response((await asyncio.to_thread(file_digest, final)).to_result())
        finally:
            partial.unlink(missing_ok=True)
        if not self.expects(job_id):  # cancelled while the body was on its way: nothing may linger
            final.unlink(missing_ok=True)
            return web.Response(status=409, text=f"job {job_id} is not waiting for a clip")
        uploaded = self.accepted[job_id] = Uploaded(final.name, size, sha256)
        return web.json_response(uploaded.to_result())

    async def _receive(self, request: web.Request, partial: Path) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with partial.open("wb") as file:
            os.fchmod(file.fileno(), 0o600)
            async for chunk in request.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise _TooLarge()
                digest.update(chunk)
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        return size, digest.hexdigest()

    async def _drain(self, request: web.Request) -> None:
        read = 0
        async with asyncio.timeout(self.body_timeout_s):
            async for chunk in request.content.iter_chunked(CHUNK):
                read += len(chunk)
                if read > self.max_bytes:
                    return


class _TooLarge(Exception):
    pass
