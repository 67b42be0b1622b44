"""A loopback fake of Discord (REST under ``/api/v10`` and a JSON gateway) for real discord.py clients.

Point discord.py at it (the bot under test does this from its config)::

    discord.http.Route.BASE = fake.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

The world is small: one bot, guild 555 with text channel 777 (``GUILD_CREATE`` follows ``READY``),
users made up from their ids. Gateway frames are plain-text JSON (discord.py accepts them even
though it asks for zlib-stream).

Reconnects: ``drop_gateway()`` closes the socket with code 4000; discord.py reconnects to READY's
``resume_gateway_url`` and sends RESUME (op 6), which the fake answers with a ``RESUMED``
dispatch. ``drop_gateway(invalidate_session=True)`` makes the fake answer that RESUME with
op 9 (``d: false``) instead, so the client IDENTIFYs again and gets a fresh READY. Dispatches made
while no session is live (``slash()`` and friends are synchronous) are queued and delivered, in
order, as soon as one is.

Failed attempts (injected 429s and errors, 401s, 404s) are recorded in ``rest_calls`` with their
``status``; ``wait_for_rest`` skips them unless asked to include them. An exception inside the
fake's own handlers is appended to ``handler_errors`` and answered 400 (a 500 would make discord.py
retry for seconds).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import itertools
import json
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import BodyPartReader, WSMsgType, web

API_PREFIX = "/api/v10"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
EPHEMERAL = 1 << 6
LOADING = 1 << 7
# discord.py fires on_ready this long after the last GUILD_CREATE (its default is 2 s); this fake
# sends every guild in the frames right after READY, so a client of it need wait only 20 ms
GUILD_READY_S = 0.02
_DISCORD_EPOCH_MS = 1_420_070_400_000
_ALL_PERMISSIONS = (1 << 51) - 1


@dataclass
class RestCall:
    method: str
    path: str  # after /api/v10, without the query string
    json: Any  # decoded JSON body, or payload_json for multipart, or None
    files: dict[str, bytes] = field(default_factory=dict)  # part name ("files[0]") -> bytes
    filenames: dict[str, str] = field(default_factory=dict)  # part name -> filename
    response: Any = None  # decoded JSON answer (None for 204)
    status: int = 200
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Interaction:
    id: int
    token: str
    type: int  # 2 command, 3 component, 4 autocomplete
    payload: dict[str, Any]  # the INTERACTION_CREATE ``d``
    fake: FakeDiscord = field(repr=False)
    responded: bool = False
    original_message_id: int | None = None

    async def callback(self, timeout: float = 10.0) -> RestCall:
        """The (successful) interaction callback POST."""
        path = f"/interactions/{self.id}/{self.token}/callback"
        return await self.fake.wait_for_rest("POST", path, timeout=timeout)

    async def followup(self, timeout: float = 10.0) -> RestCall:
        """The next (successful) follow-up message POST not yet returned."""
        path = f"/webhooks/{self.fake.app_id}/{self.token}"
        return await self.fake.wait_for_rest("POST", path, lambda c: c.path == path, timeout=timeout)

    async def edit_original(self, timeout: float = 10.0) -> RestCall:
        """The next (successful) ``PATCH .../messages/@original`` not yet returned."""
        path = f"/webhooks/{self.fake.app_id}/{self.token}/messages/@original"
        return await self.fake.wait_for_rest("PATCH", path, timeout=timeout)


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.status, self.body = status, {"message": message, "code": code}


@dataclass
class _Injection:
    method: str
    path_contains: str
    remaining: int
    status: int
    retry_after: float = 0.0
    global_: bool = False


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(payload))


_Handler = Callable[[RestCall, re.Match[str]], Awaitable[tuple[int, Any]]]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _custom_ids(components: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for component in components:
        if "custom_id" in component:
            found.add(component["custom_id"])
        found |= _custom_ids(component.get("components", []))
        if isinstance(component.get("accessory"), dict):
            found |= _custom_ids([component["accessory"]])
    return found


def button_row(*custom_ids: str, label: str = "Button", style: int = 1) -> dict[str, Any]:
    """An action row of buttons, as a Message's ``components`` entry."""
    buttons = [{"type": 2, "style": style, "label": label, "custom_id": c} for c in custom_ids]
    return {"type": 1, "components": buttons}


class FakeDiscord:
    def __init__(
        self, *, app_id: int = 4242, bot_user_id: int = 4242, bot_name: str = "videobot", token: str = "TEST"
    ) -> None:
        self.app_id, self.bot_user_id, self.bot_name, self.token = app_id, bot_user_id, bot_name, token
        self.guild_id, self.channel_id = 555, 777
        self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT  # what interactions report (boosted guilds: more)
        self.port = 0
        self.rest_calls: list[RestCall] = []
        self.identify_count = 0
        self.resume_count = 0
        self.identify_payloads: list[dict[str, Any]] = []
        self.synced_commands: dict[str, list[dict[str, Any]]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted_message_ids: list[int] = []
        self.handler_errors: list[Exception] = []  # exceptions raised by the fake's own handlers
        self.attachment_data: dict[int, bytes] = {}
        self.interactions: dict[str, Interaction] = {}  # by token
        self.channels: dict[int, dict[str, Any]] = {}
        self.roles: dict[int, dict[str, Any]] = {}  # besides @everyone; sent in GUILD_CREATE
        self.member_roles: dict[int, list[int]] = {}  # user id -> role ids
        self.add_channel(self.channel_id, name="general")
        self._ids = itertools.count((int(time.time() * 1000) - _DISCORD_EPOCH_MS) << 22)
        self._cond = asyncio.Condition()
        self._consumed: set[int] = set()  # indexes into rest_calls returned by wait_for_rest
        self._injections: list[_Injection] = []
        self._live: _Conn | None = None  # connection with an IDENTIFYed/RESUMEd session
        self._conns: set[_Conn] = set()
        self._session_id: str | None = None
        self._seq = 0
        self._outbox: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._outbox_event = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        # Called with each REST request as it arrives, before it is answered (a benchmark times them).
        self.on_request: Callable[[RestCall], None] | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        for method, pattern, handler in [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/gateway(?:/bot)?", self._get_gateway),
            ("PUT", r"/applications/\d+(?:/guilds/(?P<guild>\d+))?/commands", self._put_commands),
            ("GET", r"/applications/\d+(?:/guilds/(?P<guild>\d+))?/commands", self._get_commands),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", self._followup),
            (
                "GET",
                r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                self._get_hook_msg,
            ),
            (
                "PATCH",
                r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                self._edit_hook_msg,
            ),
            (
                "DELETE",
                r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                self._del_hook_msg,
            ),
            ("GET", r"/channels/(?P<cid>\d+)", self._get_channel),
            ("POST", r"/channels/(?P<cid>\d+)/messages", self._create_message),
            ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._get_message),
            ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._edit_message),
            ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._delete_message),
            ("POST", r"/channels/(?P<cid>\d+)(?:/messages/(?P<mid>\d+))?/threads", self._create_thread),
            ("POST", r"/channels/(?P<cid>\d+)/typing", self._typing),
        ]:
            self._routes.append((method, re.compile(pattern), handler))

    # ----------------------------------------------------------------- lifecycle

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{aid}/{filename}", self._download)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self._pump_task = asyncio.create_task(self._pump())

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            await asyncio.gather(self._pump_task, return_exceptions=True)
            self._pump_task = None
        for conn in list(self._conns):
            await conn.ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- test helpers

    def next_id(self) -> int:
        return next(self._ids)

    def user(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_user_id:
            return {
                "id": str(user_id),
                "username": self.bot_name,
                "discriminator": "0",
                "avatar": None,
                "bot": True,
                "global_name": self.bot_name,
                "public_flags": 0,
            }
        return {
            "id": str(user_id),
            "username": f"user{user_id}",
            "discriminator": "0",
            "avatar": None,
            "global_name": f"User {user_id}",
            "public_flags": 0,
        }

    def member(self, user_id: int, permissions: int = 0) -> dict[str, Any]:
        roles = [str(r) for r in self.member_roles.get(user_id, [])]
        return {
            "user": self.user(user_id),
            "roles": roles,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "permissions": str(permissions),
        }

    def add_channel(
        self, channel_id: int, *, name: str | None = None, guild_id: int | None = None
    ) -> dict[str, Any]:
        channel = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id or self.guild_id),
            "name": name or f"channel-{channel_id}",
            "position": len(self.channels),
            "parent_id": None,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        self.channels[channel_id] = channel
        return channel

    def add_role(self, name: str, *, members: tuple[int, ...] = ()) -> int:
        """A guild role held by `members`; clients learn of it when they IDENTIFY (add it before)."""
        role_id = self.next_id()
        self.roles[role_id] = {
            "id": str(role_id),
            "name": name,
            "permissions": "0",
            "color": 0,
            "position": len(self.roles) + 1,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        for user_id in members:
            self.member_roles.setdefault(user_id, []).append(role_id)
        return role_id

    def add_message(
        self,
        *,
        content: str = "",
        components: list[dict[str, Any]] | None = None,
        channel_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Store a bot message as if sent earlier (e.g. by a previous process) and return it."""
        payload = {"content": content, "components": components or [], **extra}
        return self._store_message(channel_id or self.channel_id, payload, RestCall("POST", "", None))

    async def wait_for_rest(
        self,
        method: str,
        path_contains: str,
        predicate: Callable[[RestCall], bool] | None = None,
        timeout: float = 10.0,
        *,
        include_failed: bool = False,
    ) -> RestCall:
        """First matching call (past or future) not returned by an earlier wait_for_rest."""

        def find() -> int | None:
            for index, call in enumerate(self.rest_calls):
                if (
                    index not in self._consumed
                    and call.method == method
                    and path_contains in call.path
                    and (include_failed or call.status < 400)
                    and (predicate is None or predicate(call))
                ):
                    return index
            return None

        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    await self._cond.wait_for(lambda: find() is not None)
            except TimeoutError:
                seen = "\n  ".join(f"{c.status} {c.method} {c.path}" for c in self.rest_calls) or "(none)"
                raise TimeoutError(
                    f"no {method} *{path_contains}* within {timeout}s; seen:\n  {seen}"
                ) from None
            index = find()
            assert index is not None
            self._consumed.add(index)
            return self.rest_calls[index]

    async def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Until a client holds a live session (READY or RESUMED sent on the current socket)."""
        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    await self._cond.wait_for(lambda: self._live is not None)
            except TimeoutError:
                raise TimeoutError(
                    f"no client session within {timeout}s "
                    f"(identifies: {self.identify_count}, resumes: {self.resume_count})"
                ) from None

    def inject_429(
        self,
        method: str,
        path_contains: str,
        retry_after: float = 0.05,
        times: int = 1,
        global_: bool = False,
    ) -> None:
        self._injections.append(_Injection(method, path_contains, times, 429, retry_after, global_))

    def inject_error(self, method: str, path_contains: str, status: int, times: int = 1) -> None:
        self._injections.append(_Injection(method, path_contains, times, status))

    async def drop_gateway(self, *, code: int = 4000, invalidate_session: bool = False) -> None:
        """Close the live socket; the client RESUMEs (or, with invalidate_session, IDENTIFYs again)."""
        conn = self._live
        async with self._cond:
            self._live = None
        if invalidate_session:
            self._session_id = None
        if conn is not None:
            await conn.ws.close(code=code, message=b"dropped by fake")

    # ----------------------------------------------------------------- interactions

    def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int = 111,
        guild_id: int | None = 555,
        channel_id: int = 777,
        locale: str = "en-US",
        permissions: int = 0,
        subcommand: str | None = None,
    ) -> Interaction:
        """A slash command; `subcommand` is "start" or, inside a sub-group, "quota show".

        An option given as `user_option(id)` arrives as a user option, with the user (and, in a
        guild, the member) in ``resolved`` as Discord sends them.
        """
        data = self._command_data(name, options or {}, guild_id, subcommand)
        return self._dispatch_interaction(2, data, user_id, guild_id, channel_id, locale, permissions)

    def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user_id: int = 111,
        guild_id: int | None = 555,
        channel_id: int = 777,
        locale: str = "en-US",
        permissions: int = 0,
        subcommand: str | None = None,
    ) -> Interaction:
        data = self._command_data(name, options, guild_id, subcommand, focused=focused)
        return self._dispatch_interaction(4, data, user_id, guild_id, channel_id, locale, permissions)

    def click(
        self,
        custom_id: str,
        message: dict[str, Any],
        *,
        user_id: int = 111,
        guild_id: int | None = 555,
        channel_id: int = 777,
        permissions: int = 0,
        locale: str = "en-US",
    ) -> Interaction:
        if custom_id not in _custom_ids(message.get("components", [])):
            raise ValueError(
                f"message {message.get('id')} has no component {custom_id!r}; discord.py would drop it"
            )
        self.messages.setdefault(int(message["id"]), message)
        data = {"custom_id": custom_id, "component_type": 2}
        return self._dispatch_interaction(
            3, data, user_id, guild_id, channel_id, locale, permissions, message
        )

    def message_command(
        self,
        name: str,
        target: dict[str, Any],
        *,
        user_id: int = 111,
        guild_id: int | None = 555,
        channel_id: int = 777,
        locale: str = "en-US",
    ) -> Interaction:
        """A message context-menu command (Apps → `name`) used on `target`, resolved as Discord sends it."""
        scope = str(guild_id) if guild_id and str(guild_id) in self.synced_commands else "global"
        known = {c["name"]: c for c in self.synced_commands.get(scope, [])}
        data: dict[str, Any] = {
            "id": known[name]["id"] if name in known else str(self.next_id()),
            "name": name,
            "type": 3,
            "target_id": str(target["id"]),
            "resolved": {"messages": {str(target["id"]): target}},
        }
        if scope != "global":
            data["guild_id"] = scope
        return self._dispatch_interaction(2, data, user_id, guild_id, channel_id, locale, 0)

    def submit_modal(
        self,
        modal: dict[str, Any],
        values: dict[str, str],
        *,
        user_id: int = 111,
        guild_id: int | None = 555,
        channel_id: int = 777,
        locale: str = "en-US",
    ) -> Interaction:
        """A person filling in `modal` (the `data` of a type-9 callback): each text input's value."""
        rows = []
        for row in modal.get("components", []):
            inputs = [
                {"type": 4, "custom_id": field["custom_id"], "value": values.get(field["custom_id"], "")}
                for field in row.get("components", [])
            ]
            rows.append({"type": 1, "components": inputs})
        data = {"custom_id": modal["custom_id"], "components": rows}
        return self._dispatch_interaction(5, data, user_id, guild_id, channel_id, locale, 0)

    def user_message(
        self, data: bytes, filename: str, *, user_id: int = 222, channel_id: int | None = None
    ) -> dict[str, Any]:
        """A message a person posted with one attachment (a picture), downloadable like Discord's CDN."""
        attachment = self.attachment_option(data, filename)["attachment"]
        message = self.add_message(channel_id=channel_id, attachments=[attachment])
        message["author"] = self.user(user_id)
        return message

    @staticmethod
    def user_option(user_id: int) -> dict[str, Any]:
        """A slash command option of type USER naming `user_id`."""
        return {"type": 6, "value": str(user_id)}

    def attachment_option(self, data: bytes, filename: str) -> dict[str, Any]:
        """A slash command option of type ATTACHMENT: `data`, downloadable as Discord's CDN serves it."""
        aid = self.next_id()
        self.attachment_data[aid] = data
        url = f"http://127.0.0.1:{self.port}/attachments/{aid}/{filename}"
        attachment = {
            "id": str(aid), "filename": filename, "size": len(data), "url": url, "proxy_url": url,
            "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
        }  # fmt: skip
        return {"type": 11, "value": str(aid), "attachment": attachment}

    def _command_data(
        self,
        name: str,
        options: dict[str, Any],
        guild_id: int | None,
        subcommand: str | None,
        focused: str | None = None,
    ) -> dict[str, Any]:
        opts: list[dict[str, Any]] = []
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in options.items():
            opt = dict(value) if isinstance(value, dict) else {"type": _option_type(value), "value": value}
            opt["name"] = key
            if key == focused:
                opt["focused"] = True
            if opt["type"] == 11:
                resolved.setdefault("attachments", {})[str(opt["value"])] = opt.pop("attachment")
            if opt["type"] == 6:
                user_id = int(opt["value"])
                resolved.setdefault("users", {})[str(user_id)] = self.user(user_id)
                if guild_id is not None:  # members come without their user, which is in users
                    member = {k: v for k, v in self.member(user_id).items() if k != "user"}
                    resolved.setdefault("members", {})[str(user_id)] = member
            opts.append(opt)
        if subcommand is not None:  # "quota show": a subcommand inside a sub-group
            *groups, leaf = subcommand.split()
            opts = [{"type": 1, "name": leaf, "options": opts}]
            for group in reversed(groups):
                opts = [{"type": 2, "name": group, "options": opts}]
        data: dict[str, Any] = {"name": name, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        scope = str(guild_id) if guild_id and str(guild_id) in self.synced_commands else "global"
        known = {c["name"]: c for c in self.synced_commands.get(scope, [])}
        data["id"] = known[name]["id"] if name in known else str(self.next_id())
        if scope != "global":
            data["guild_id"] = scope
        return data

    def _dispatch_interaction(
        self,
        type_: int,
        data: dict[str, Any],
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        locale: str,
        permissions: int,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        iid = self.next_id()
        token = f"itoken-{iid}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": type_,
            "token": token,
            "version": 1,
            "attachment_size_limit": self.attachment_size_limit,
            "data": data,
            "locale": locale,
            "channel_id": str(channel_id),
            "app_permissions": str(_ALL_PERMISSIONS),
            "entitlements": [],
        }
        if guild_id is not None:
            channel = self.channels.get(channel_id) or self.add_channel(channel_id, guild_id=guild_id)
            payload.update(
                guild_id=str(guild_id),
                guild_locale="en-US",
                channel=channel,
                context=0,
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                member=self.member(user_id, permissions),
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            payload.update(
                user=self.user(user_id),
                context=1,
                authorizing_integration_owners={"1": str(user_id)},
                channel={
                    "id": str(channel_id),
                    "type": 1,
                    "flags": 0,
                    "last_message_id": None,
                    "recipients": [self.user(user_id)],
                },
            )
        if message is not None:
            payload["message"] = message
        interaction = Interaction(iid, token, type_, payload, self)
        self.interactions[token] = interaction
        self._outbox.append(("INTERACTION_CREATE", payload))
        self._outbox_event.set()
        return interaction

    # ----------------------------------------------------------------- gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoclose=True)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        try:
            await conn.send({"op": 10, "d": {"heartbeat_interval": 41250}})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_message(conn, json.loads(msg.data))
        finally:
            self._conns.discard(conn)
            if self._live is conn:
                async with self._cond:
                    self._live = None
        return ws

    async def _on_gateway_message(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d")
        d = d if isinstance(d, dict) else {}
        if op == 1:
            await conn.send({"op": 11})
        elif op == 2:
            self.identify_count += 1
            self.identify_payloads.append(d)
            self._session_id, self._seq = f"session-{self.next_id()}", 0
            await self._send_dispatch(
                conn,
                "READY",
                {
                    "v": 10,
                    "user": self.user(self.bot_user_id),
                    "session_id": self._session_id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(self.app_id), "flags": 0},
                    "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                    "private_channels": [],
                    "relationships": [],
                    "shard": [0, 1],
                },
            )
            await self._send_dispatch(conn, "GUILD_CREATE", self._guild_payload())
            await self._go_live(conn)
        elif op == 6:
            self.resume_count += 1
            if self._session_id is None or d.get("session_id") != self._session_id:
                await conn.send({"op": 9, "d": False})
                return
            await self._send_dispatch(conn, "RESUMED", {})
            await self._go_live(conn)

    def _guild_payload(self) -> dict[str, Any]:
        gid = str(self.guild_id)
        channels = [
            {k: v for k, v in c.items() if k != "guild_id"}
            for c in self.channels.values()
            if c["guild_id"] == gid and c["type"] == 0
        ]
        everyone = {
            "id": gid,
            "name": "@everyone",
            "permissions": "1071698660929",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": gid,
            "name": "Fake Guild",
            "owner_id": "1",
            "unavailable": False,
            "large": False,
            "member_count": 2,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "features": [],
            "roles": [everyone, *self.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": channels,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "members": [self.member(self.bot_user_id)],
            "preferred_locale": "en-US",
        }

    async def _send_dispatch(self, conn: _Conn, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await conn.send({"op": 0, "s": self._seq, "t": event, "d": data})

    async def _go_live(self, conn: _Conn) -> None:
        async with self._cond:
            self._live = conn
            self._cond.notify_all()
        self._outbox_event.set()

    async def _pump(self) -> None:
        """Deliver queued dispatches to the live session, in order, waiting for one when there is none."""
        while True:
            await self._outbox_event.wait()
            self._outbox_event.clear()
            while self._outbox:
                conn = self._live
                if conn is None or conn.ws.closed:
                    break  # _go_live sets the event again
                event, data = self._outbox[0]
                try:
                    await self._send_dispatch(conn, event, data)
                except ConnectionError:
                    break
                self._outbox.popleft()

    # ----------------------------------------------------------------- REST plumbing

    async def _rest(self, request: web.Request) -> web.Response:
        call = RestCall(request.method, "/" + request.match_info["tail"], None, query=dict(request.query))
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                raw = await part.read()
                if part.name == "payload_json":
                    call.json = json.loads(raw)
                else:
                    call.files[part.name] = bytes(raw)
                    call.filenames[part.name] = part.filename or part.name
        elif request.can_read_body:
            call.json = await request.json()
        if self.on_request is not None:
            self.on_request(call)

        headers: dict[str, str] = {}
        try:
            injection = self._take_injection(call)
            if injection is not None:
                status, body, headers = self._injected_answer(injection)
            else:
                status, body = await self._route(call, request.headers.get("Authorization"))
        except _HTTPError as exc:
            status, body = exc.status, exc.body
        except Exception as exc:  # a bug in the fake: fail fast (a 500 makes discord.py retry)
            self.handler_errors.append(exc)
            status, body = 400, {"message": f"fake discord crashed: {exc!r}", "code": 0}
        call.status, call.response = status, copy.deepcopy(body)  # a snapshot: stored messages change later
        async with self._cond:
            self.rest_calls.append(call)
            self._cond.notify_all()
        if body is None:
            return web.Response(status=status, headers=headers)
        # body=bytes: text= would make aiohttp send "application/json; charset=utf-8", which discord.py
        # does not take for JSON.
        return web.Response(
            status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers
        )

    async def _route(self, call: RestCall, authorization: str | None) -> tuple[int, Any]:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(call.path)
            if match is None or method != call.method:
                continue
            if (
                not call.path.startswith(("/webhooks/", "/interactions/"))
                and authorization != f"Bot {self.token}"
            ):
                raise _HTTPError(401, "401: Unauthorized")
            return await handler(call, match)
        raise _HTTPError(404, "404: Not Found")

    def _take_injection(self, call: RestCall) -> _Injection | None:
        for injection in self._injections:
            if (
                injection.method == call.method
                and injection.path_contains in call.path
                and injection.remaining > 0
            ):
                injection.remaining -= 1
                return injection
        return None

    @staticmethod
    def _injected_answer(injection: _Injection) -> tuple[int, Any, dict[str, str]]:
        if injection.status != 429:
            return injection.status, {"message": f"injected {injection.status}", "code": 0}, {}
        after = injection.retry_after
        headers = {"Via": "1.1 google", "Retry-After": str(after)}
        if injection.global_:
            headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + after:.3f}",
                    "X-RateLimit-Reset-After": str(after),
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "user",
                }
            )
        body = {"message": "You are being rate limited.", "retry_after": after, "global": injection.global_}
        return 429, body, headers

    async def _download(self, request: web.Request) -> web.Response:
        data = self.attachment_data.get(int(request.match_info["aid"]))
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")

    # ----------------------------------------------------------------- messages

    def _channel(self, channel_id: int) -> dict[str, Any]:
        if channel_id not in self.channels:
            raise _HTTPError(404, "Unknown Channel", 10003)
        return self.channels[channel_id]

    def _message(self, message_id: int) -> dict[str, Any]:
        if message_id not in self.messages:
            raise _HTTPError(404, "Unknown Message", 10008)
        return self.messages[message_id]

    def _attachments(
        self, entries: list[dict[str, Any]], call: RestCall, channel_id: int, current: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        existing = {str(a["id"]): a for a in current}
        result = []
        for entry in entries:
            part = f"files[{entry['id']}]"
            if part not in call.files or "url" in entry:
                result.append(existing.get(str(entry["id"]), entry))
                continue
            aid, filename = self.next_id(), entry.get("filename") or call.filenames[part]
            self.attachment_data[aid] = call.files[part]
            url = f"http://127.0.0.1:{self.port}/attachments/{aid}/{filename}"
            result.append(
                {
                    "id": str(aid),
                    "filename": filename,
                    "size": len(call.files[part]),
                    "url": url,
                    "proxy_url": url,
                    "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
                    "channel_id": str(channel_id),
                }
            )
        return result

    def _apply(self, message: dict[str, Any], payload: dict[str, Any], call: RestCall) -> None:
        for key in ("content", "embeds", "components", "tts"):
            if key in payload:
                message[key] = payload[key] if payload[key] is not None else ([] if key != "content" else "")
        if "flags" in payload:
            message["flags"] = (message["flags"] & (EPHEMERAL | LOADING)) | (payload["flags"] or 0)
        entries = payload.get("attachments")
        if entries is None and call.files:  # files without an attachments list: add them
            entries = [{"id": str(a["id"])} for a in message["attachments"]]
            entries += [{"id": int(p[6:-1]), "filename": n} for p, n in call.filenames.items()]
        if entries is not None:
            message["attachments"] = self._attachments(
                entries, call, int(message["channel_id"]), message["attachments"]
            )

    def _store_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        call: RestCall,
        *,
        type_: int = 0,
        interaction: Interaction | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        mid = self.next_id()
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.user(self.bot_user_id),
            "content": "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": type_,
            "components": [],
            "flags": flags,
        }
        guild_id = self.channels.get(channel_id, {}).get("guild_id")
        if guild_id is not None:
            message["guild_id"] = guild_id
        if interaction is not None:
            message["webhook_id"] = message["application_id"] = str(self.app_id)
        self._apply(message, payload, call)
        self.messages[mid] = message
        return message

    # ----------------------------------------------------------------- REST handlers

    async def _get_me(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return 200, self.user(self.bot_user_id)

    async def _get_application(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return 200, {
            "id": str(self.app_id),
            "name": self.bot_name,
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.user(1),
            "verify_key": "00" * 32,
            "flags": 0,
            "team": None,
            "summary": "",
        }

    async def _get_gateway(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    async def _put_commands(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        scope = m["guild"] or "global"
        answered = []
        for command in call.json or []:
            answer = {
                "type": 1,
                "options": [],
                "description": "",  # context-menu commands have none; Discord answers ""
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": str(self.next_id()),
                "application_id": str(self.app_id),
                "version": str(self.next_id()),
            }
            if m["guild"]:
                answer["guild_id"] = m["guild"]
            answered.append(answer)
        self.synced_commands[scope] = answered
        return 200, answered

    async def _get_commands(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return 200, self.synced_commands.get(m["guild"] or "global", [])

    def _interaction(self, token: str) -> Interaction:
        if token not in self.interactions:
            raise _HTTPError(404, "Unknown Webhook", 10015)
        return self.interactions[token]

    async def _callback(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        interaction = self.interactions.get(m["token"])
        if interaction is None or interaction.id != int(m["iid"]):
            raise _HTTPError(404, "Unknown interaction", 10062)
        if interaction.responded:
            raise _HTTPError(400, "Interaction has already been acknowledged.", 40060)
        interaction.responded = True
        kind, data = call.json["type"], call.json.get("data") or {}
        info: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        resource: dict[str, Any] = {"type": kind}
        channel_id = int(interaction.payload["channel_id"])
        if kind in (4, 5):  # message / deferred ("thinking") message: a new original message
            flags = (data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            message = self._store_message(
                channel_id,
                {k: v for k, v in data.items() if k != "flags"},
                call,
                type_=20 if interaction.type == 2 else 0,
                interaction=interaction,
                flags=flags,
            )
            interaction.original_message_id = int(message["id"])
            resource["message"] = message
            info.update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
        elif kind in (6, 7) and "message" in interaction.payload:  # (deferred) update of the clicked message
            interaction.original_message_id = int(interaction.payload["message"]["id"])
            if kind == 7:
                message = self.messages[interaction.original_message_id]
                self._apply(message, data, call)
                message["edited_timestamp"] = _now()
                resource["message"] = message
        return 200, {"interaction": info, "resource": resource}

    def _hook_message(self, m: re.Match[str]) -> dict[str, Any]:
        interaction = self._interaction(m["token"])
        if m["mid"] == "@original":
            if interaction.original_message_id is None:
                raise _HTTPError(404, "Unknown Message", 10008)
            return self._message(interaction.original_message_id)
        return self._message(int(m["mid"]))

    async def _followup(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        interaction = self._interaction(m["token"])
        if not interaction.responded:
            raise _HTTPError(404, "Unknown Webhook", 10015)
        message = self._store_message(
            int(interaction.payload["channel_id"]), call.json or {}, call, type_=0, interaction=interaction
        )
        return (200, message) if call.query.get("wait") in ("1", "true", "True") else (204, None)

    async def _get_hook_msg(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return 200, self._hook_message(m)

    async def _edit_hook_msg(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        message = self._hook_message(m)
        message["flags"] &= ~LOADING
        return await self._edit(message, call)

    async def _del_hook_msg(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return self._delete(self._hook_message(m))

    async def _get_channel(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return 200, self._channel(int(m["cid"]))

    async def _create_message(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        channel = self._channel(int(m["cid"]))
        payload = dict(call.json or {})
        reference = payload.pop("message_reference", None)
        replied = self._replied(int(m["cid"]), reference) if reference else None
        message = self._store_message(int(m["cid"]), payload, call, type_=19 if replied else 0)
        if replied is not None:
            message["message_reference"] = {
                "type": 0,
                "message_id": replied["id"],
                "channel_id": m["cid"],
                "guild_id": channel.get("guild_id"),
            }
            message["referenced_message"] = copy.deepcopy(replied)
        channel["last_message_id"] = message["id"]
        return 200, message

    def _replied(self, channel_id: int, reference: dict[str, Any]) -> dict[str, Any] | None:
        """The message a reply quotes; Discord replies only within a channel, to a message that exists.

        With ``fail_if_not_exists: false`` a missing one makes a plain message instead.
        """
        replied = self.messages.get(int(reference["message_id"]))
        elsewhere = reference.get("channel_id") is not None and str(reference["channel_id"]) != str(
            channel_id
        )
        if replied is not None and replied["channel_id"] == str(channel_id) and not elsewhere:
            return replied
        if reference.get("fail_if_not_exists", True):
            raise _HTTPError(400, "Invalid Form Body: Unknown message", 50035)
        return None

    def _channel_message(self, m: re.Match[str]) -> dict[str, Any]:
        message = self._message(int(m["mid"]))
        if message["channel_id"] != m["cid"]:
            raise _HTTPError(404, "Unknown Message", 10008)
        return message

    async def _get_message(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return 200, self._channel_message(m)

    async def _edit_message(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return await self._edit(self._channel_message(m), call)

    async def _delete_message(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        return self._delete(self._channel_message(m))

    async def _edit(self, message: dict[str, Any], call: RestCall) -> tuple[int, Any]:
        self._apply(message, call.json or {}, call)
        message["edited_timestamp"] = _now()
        return 200, message

    def _delete(self, message: dict[str, Any]) -> tuple[int, Any]:
        del self.messages[int(message["id"])]
        self.deleted_message_ids.append(int(message["id"]))
        return 204, None

    async def _create_thread(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        parent = self._channel(int(m["cid"]))
        body = call.json or {}
        if m["mid"] is not None:
            self._channel_message(m)
            thread_id = int(m["mid"])  # threads started from a message share its id
        else:
            thread_id = self.next_id()
        archive = body.get("auto_archive_duration") or 1440
        thread = {
            "id": str(thread_id),
            "type": body.get("type", 11),
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(self.bot_user_id),
            "name": body.get("name", "thread"),
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": archive,
                "archive_timestamp": _now(),
                "locked": False,
                "invitable": body.get("invitable", True),
            },
        }
        self.channels[thread_id] = thread
        return 201, thread

    async def _typing(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        self._channel(int(m["cid"]))
        return 204, None
