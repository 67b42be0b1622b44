"""A loopback stand-in for the Hugging Face hub: just what `snapshot_download` asks for.

huggingface_hub honours `HF_ENDPOINT`, so a real client talks to this server: repo info, the
recursive tree listing, and `resolve/` HEAD and GET with range requests. `cut_after` makes the
first GET of a file stop mid-body, as a dropped connection does, to prove a download resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    repos: dict[str, dict[str, bytes]]
    cut_after: dict[str, int] = field(default_factory=dict)  # file name → bytes sent before a cut
    gets: list[tuple[str, str | None]] = field(default_factory=list)  # (file, Range header)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/models/{owner}/{name}/revision/{rev}", self.info)
        app.router.add_get("/api/models/{owner}/{name}/tree/{rev}", self.tree)
        app.router.add_route("*", "/{owner}/{name}/resolve/{rev}/{path:.+}", self.resolve)
        return app

    def _repo(self, request: web.Request) -> dict[str, bytes]:
        repo = f"{request.match_info['owner']}/{request.match_info['name']}"
        if repo not in self.repos:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RepoNotFound"}, text="Repository not found")
        return self.repos[repo]

    async def info(self, request: web.Request) -> web.Response:
        files = self._repo(request)
        repo = f"{request.match_info['owner']}/{request.match_info['name']}"
        return web.json_response(
            {"id": repo, "sha": COMMIT, "private": False, "siblings": [{"rfilename": f} for f in files]}
        )

    async def tree(self, request: web.Request) -> web.Response:
        files = self._repo(request)
        return web.json_response(
            [
                {"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
                for name, body in files.items()
            ]
        )

    async def resolve(self, request: web.Request) -> web.StreamResponse:
        files = self._repo(request)
        name = request.match_info["path"]
        if name not in files:
            raise web.HTTPNotFound(headers={"X-Error-Code": "EntryNotFound"}, text="Entry not found")
        body = files[name]
        headers = {
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{hashlib.sha1(body).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return web.Response(status=200, headers=headers)
        range_header = request.headers.get("Range")
        self.gets.append((name, range_header))
        start = int(range_header.removeprefix("bytes=").split("-")[0]) if range_header else 0
        status = 206 if range_header else 200
        if range_header:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body) - start
        await response.prepare(request)
        cut = self.cut_after.pop(name, None)
        if cut is not None:  # send part of the body, then drop the connection
            await response.write(body[start:cut])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body[start:])
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def serving(fake: FakeHub) -> AsyncIterator[str]:
    """`fake` on a free loopback port, for as long as the block runs: its base URL (`HF_ENDPOINT`)."""
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
