"""The bot's end of the clip path: remote workers PUT finished MP4s here over HTTP.

`PUT /clips/{job_id}` with `X-Videobot-Signature: HMAC-SHA256(secret, job id)`.  The file
lands as `<clips>/<job_id>.mp4`, written to a temporary name and linked into place, so a
second upload for the same job (SAQ can run a job twice, saq issues #124/#277) never
replaces the first: it is read and dropped, and the answer describes the clip already held.
Only jobs the bot is waiting for are taken (409 otherwise), so a stale worker cannot fill
the disk.  The answer (key, size, SHA-256) is what the worker returns as its SAQ result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.dispatch.remote import SIGNATURE_HEADER, Uploaded, clip_key, signature_ok

log = logging.getLogger(__name__)

MAX_CLIP_BYTES = 2**31  # far above any platform's upload limit
CHUNK = 1 << 16


def file_digest(path: Path) -> Uploaded:
    """Size and SHA-256 of a clip on disk (blocking)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return Uploaded(path.name, size, digest.hexdigest())


class ClipInbox:
    """Takes signed clip uploads for the jobs `expects` says are rendering remotely."""

    def __init__(self, clips_dir: Path, secret: str, expects: Callable[[int], bool]) -> None:
        self.clips_dir = clips_dir
        self.secret = secret
        self.expects = expects
        self.received: Counter[int] = Counter()  # signed uploads per job, refused duplicates included
        self.accepted: dict[int, Uploaded] = {}  # the clip each job's first upload left, as received
        self._refused_signature = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_CLIP_BYTES)
        app.router.add_put("/clips/{job_id}", self.put_clip)
        return app

    async def put_clip(self, request: web.Request) -> web.Response:
        raw_id = request.match_info["job_id"]
        if not (raw_id.isascii() and raw_id.isdigit()):
            return web.Response(status=400, text="the job id must be a number")
        job_id = int(raw_id)
        if not signature_ok(self.secret, job_id, request.headers.get(SIGNATURE_HEADER, "")):
            if not self._refused_signature:  # once: a misconfigured worker retries
                log.warning(
                    "refused a clip upload for job %d from %s: bad signature (is VIDEOBOT_WORKER_SECRET "
                    "the same on that worker?)",
                    job_id,
                    request.remote,
                )
                self._refused_signature = True
            return web.Response(status=403, text="bad signature: VIDEOBOT_WORKER_SECRET differs")
        self.received[job_id] += 1
        if not self.expects(job_id):
            return web.Response(status=409, text=f"job {job_id} is not waiting for a clip")
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        final = self.clips_dir / clip_key(job_id)
        if final.exists():
            await request.read()  # drain it: the first upload stands
            log.info("job %d: a second upload arrived (a double execution); keeping the first", job_id)
            return web.json_response(file_digest(final).to_result())
        partial = self.clips_dir / f"{clip_key(job_id)}.upload-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        try:
            with partial.open("wb") as file:
                async for chunk in request.content.iter_chunked(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    if size > MAX_CLIP_BYTES:
                        return web.Response(status=413, text="clip too large")
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(partial, final)  # atomic, and fails if another upload won meanwhile
            except FileExistsError:
                return web.json_response(file_digest(final).to_result())
        finally:
            partial.unlink(missing_ok=True)
        uploaded = self.accepted[job_id] = Uploaded(final.name, size, digest.hexdigest())
        return web.json_response(uploaded.to_result())
