"""A small fake Telegram Bot API server for tests.

Start it (``async with FakeTelegram() as tg:``) and point python-telegram-bot at it::

    ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url)

Tests inject user activity (``send_message``, ``edit_message``, ``press_button``,
``create_topic``, ``set_member_status``), which the bot receives through ``getUpdates`` long
polling, and inspect what the bot did through ``calls`` / ``wait_for_call`` / ``messages``.
Faults (429, 5xx, ...) can be injected per method.

Modelled as Telegram does it: posts "as a channel" or "as the group" (``sender_chat``, with a
shared bot account as ``from``); forum topics (each message in one "replies" to the topic's
creation message; a bot's reply goes to the replied message's topic, or to General if that
message is gone and no ``message_thread_id`` is given); ``chat_member`` updates, delivered only
when ``allowed_updates`` names them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from aiohttp import web

JSON = dict[str, Any]

# Parameters that PTB always sends as raw strings, even when they look like JSON.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "action",
        "video",
        "animation",
        "thumbnail",
        "language_code",
        "inline_message_id",
        "secret_token",
        "business_connection_id",
    }
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_ALWAYS_TRUE = frozenset({"deleteWebhook", "sendChatAction", "answerCallbackQuery"})
# Sent unless allowed_updates asks for them by name.
_ONLY_ON_REQUEST = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Who `from` is on a message sent on behalf of a chat, as Telegram sends it.
CHANNEL_BOT: JSON = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
GROUP_ANONYMOUS_BOT: JSON = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
_ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)


@dataclass
class ApiCall:
    """One Bot API request the fake received, and what it answered.

    Calls are recorded when answered, so a long poll shows up when it returns.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None  # the answer's "result"; None for faults
    status: int = 0  # HTTP status answered; 0 if the client hung up first


class ApiError(Exception):
    """Raised inside a method handler to answer ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _decode(key: str, value: str) -> Any:
    """Decode a form field the way PTB encoded it: strings raw, everything else JSON."""
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _text_fields(text: str) -> JSON:
    """``text`` plus the bot_command entity Telegram adds for a leading ``/command``."""
    if not text.startswith("/"):
        return {"text": text}
    command = text.split(maxsplit=1)[0]
    length = len(command.encode("utf-16-le")) // 2  # entity offsets count UTF-16 units
    return {"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": length}]}


class FakeTelegram:
    """Fake Bot API on 127.0.0.1 (free port); usable as an async context manager."""

    def __init__(
        self, token: str = "123:TEST", bot_username: str = "videobot_test_bot", bot_id: int = 999
    ) -> None:
        self.token = token
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "VideoBot",
            "username": bot_username,
        }
        self.port = 0
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[int, int], JSON] = {}  # bot messages: (chat_id, message_id)
        self.user_messages: dict[tuple[int, int], JSON] = {}  # injected user messages
        self.admins: dict[int, set[int]] = {}
        self.owners: dict[int, int] = {}  # chat_id -> user id reported as "creator"
        self.commands: dict[tuple[str, str], list[JSON]] = {}  # (scope json, lang) -> commands
        self.allowed_updates: list[str] = []  # as the bot last set it; empty: Telegram's default
        self.max_upload_bytes = 50_000_000
        self._chats: dict[int, JSON] = {}
        self._users: dict[int, JSON] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._next_callback_id = 1
        self._next_file_id = 1
        self.files: dict[str, bytes] = {}  # file_id -> bytes, for getFile and its download URL
        self._faults: dict[str, list[ApiError]] = {}  # method -> errors for its next calls
        self._consumed: dict[str, set[int]] = {}  # method -> indexes in calls already returned
        self._update_waiters: set[asyncio.Event] = set()
        self._call_waiters: set[asyncio.Event] = set()
        self._poll_waiters: set[asyncio.Event] = set()
        self._closing = False
        self._runner: web.AppRunner | None = None
        # Called with each request as it arrives, before it is answered (a benchmark times them).
        self.on_request: Callable[[ApiCall], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self, port: int = 0) -> None:
        """Bind to a loopback port (a free one by default) and start serving."""
        app = web.Application(client_max_size=3 * 1024**3)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{file_id}", self._download)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._closing = False

    async def stop(self) -> None:
        """Wake pending long polls and shut the server down."""
        self._closing = True
        self._wake(self._update_waiters)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ inspection
    @property
    def videos(self) -> list[ApiCall]:
        return self.calls_of("sendVideo")

    @property
    def animations(self) -> list[ApiCall]:
        return self.calls_of("sendAnimation")

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def calls_of(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    async def wait_until_polling(self, timeout: float = 10.0) -> None:
        """Wait until a getUpdates long poll is parked with no updates left to deliver.

        The bot then has fetched (and confirmed) every queued update; its handlers may
        still be running.
        """
        async with asyncio.timeout(timeout):
            while not self._update_waiters:
                event = asyncio.Event()
                self._poll_waiters.add(event)
                await event.wait()

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 10.0,
    ) -> ApiCall:
        """Return the first call of ``method`` (past or future) matching ``predicate``.

        Each returned call is consumed: later waits for the same method skip it.
        """
        consumed = self._consumed.setdefault(method, set())
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for index, call in enumerate(self.calls):
                        if (
                            call.method == method
                            and index not in consumed
                            and (predicate is None or predicate(call))
                        ):
                            consumed.add(index)
                            return call
                    event = asyncio.Event()
                    self._call_waiters.add(event)
                    await event.wait()
        except TimeoutError:
            seen = ", ".join(c.method for c in self.calls if c.method != "getUpdates")
            raise TimeoutError(f"no matching {method} call within {timeout}s; calls seen: [{seen}]") from None

    # ------------------------------------------------------------------ faults
    def inject_fault(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with HTTP ``status``.

        A getUpdates fault also ends the long poll in flight, like a dropped connection.
        """
        if description is None:
            description = HTTPStatus(status).phrase
            if retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        parameters = None if retry_after is None else {"retry_after": retry_after}
        self._faults.setdefault(method, []).extend(
            ApiError(status, description, parameters) for _ in range(times)
        )
        if method == "getUpdates":
            self._wake(self._update_waiters)

    def fail_get_updates(self, times: int) -> None:
        """Make the next ``times`` getUpdates calls answer 502 Bad Gateway."""
        self.inject_fault("getUpdates", 502, times=times)

    def _take_fault(self, method: str) -> ApiError | None:
        faults = self._faults.get(method)
        return faults.pop(0) if faults else None

    # ------------------------------------------------------------------ user activity
    def send_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str = "group",
        first_name: str = "Ann",
        username: str | None = None,
        language_code: str = "en",
        reply_to_message_id: int | None = None,
        sender_chat: int | None = None,
        topic: int | None = None,
    ) -> int:
        """Queue a message from a user; returns its message_id.

        With ``sender_chat`` the user posts as that chat: as the group itself (an anonymous
        admin) if it is ``chat_id``, else as a channel of that id. With ``topic`` the message
        is in that forum topic (see ``create_topic``).
        """
        chat = self._chat(chat_id, chat_type, first_name, username)
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, first_name, username, language_code),
            **_text_fields(text),
        }
        if sender_chat is not None:
            anonymous = sender_chat == chat_id
            message["from"] = GROUP_ANONYMOUS_BOT if anonymous else CHANNEL_BOT
            message["sender_chat"] = chat if anonymous else self._chat(sender_chat, "channel", "", None)
        if topic is not None:
            message.update(message_thread_id=topic, is_topic_message=True)
            message["reply_to_message"] = self._find_message(chat_id, topic)
        return self._post_from_user(chat_id, message, reply_to_message_id)

    def _post_from_user(self, chat_id: int, message: JSON, reply_to_message_id: int | None) -> int:
        """Deliver a user's message as an update (as a reply when it names one); its message_id."""
        if reply_to_message_id is not None:
            replied = self._find_message(chat_id, reply_to_message_id)
            if replied is not None:
                message["reply_to_message"] = replied
        self.user_messages[(chat_id, message["message_id"])] = message
        self._push_update({"message": message})
        return int(message["message_id"])

    def send_user_video(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        *,
        chat_type: str = "group",
        caption: str | None = None,
        reply_to_message_id: int | None = None,
        first_name: str = "Ann",
    ) -> int:
        """Queue a video a user sends (its bytes downloadable through getFile); returns its message_id."""
        file_id = f"user-video{self._next_file_id}"
        self._next_file_id += 1
        self.files[file_id] = data
        chat = self._chat(chat_id, chat_type, first_name, None)
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, first_name, None, "en"),
            "video": {
                "file_id": file_id, "file_unique_id": f"u{file_id}", "width": 64, "height": 64,
                "duration": 1, "mime_type": "video/mp4", "file_size": len(data),
            },
        }  # fmt: skip
        if caption is not None:
            message["caption"] = caption
        return self._post_from_user(chat_id, message, reply_to_message_id)

    def send_user_photo(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        as_file: bool = False,
        chat_type: str = "group",
        reply_to_message_id: int | None = None,
        first_name: str = "Ann",
        username: str | None = None,
    ) -> int:
        """Queue a photo a user sends, as Telegram does: `photo` as several sizes (the largest
        last, each downloadable through getFile), or with `as_file` an image `document`; a
        caption starting with `/command` gets its `caption_entities`.  Returns its message_id."""
        file_id = f"user-photo{self._next_file_id}"
        self._next_file_id += 1
        self.files[file_id] = data
        self.files[file_id + "-thumb"] = data[: len(data) // 8]  # a smaller size nobody should pick
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id, chat_type, first_name, username),
            "from": self._user(user_id, first_name, username, "en"),
        }
        if as_file:
            message["document"] = {
                "file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": "picture.jpg",
                "mime_type": "image/jpeg", "file_size": len(data),
            }  # fmt: skip
        else:
            message["photo"] = [
                {"file_id": file_id + "-thumb", "file_unique_id": f"t{file_id}", "width": 90, "height": 90,
                 "file_size": len(data) // 8},
                {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 512, "height": 512,
                 "file_size": len(data)},
            ]  # fmt: skip
        if caption is not None:
            fields = _text_fields(caption)
            message["caption"] = fields["text"]
            if "entities" in fields:
                message["caption_entities"] = fields["entities"]
        return self._post_from_user(chat_id, message, reply_to_message_id)

    def create_topic(self, chat_id: int, user_id: int, name: str, *, first_name: str = "Ann") -> int:
        """A user opens a forum topic in supergroup ``chat_id``; returns its id (message_thread_id).

        The topic's id is the id of its creation service message, which every message in the
        topic then carries as ``reply_to_message`` (unless it replies to another).
        """
        chat = self._chat(chat_id, "supergroup", first_name, None)
        chat["is_forum"] = True
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, first_name, None, "en"),
            "forum_topic_created": {"name": name, "icon_color": 7322096},
        }
        message.update(message_thread_id=message["message_id"], is_topic_message=True)
        self.user_messages[(chat_id, message["message_id"])] = message
        self._push_update({"message": message})
        return int(message["message_id"])

    def disable_topics(self, chat_id: int) -> None:
        """The group's owner turns topics off: sends naming a message_thread_id now fail."""
        self._chats[chat_id]["is_forum"] = False

    def forget_message(self, chat_id: int, message_id: int) -> None:
        """The user deletes a message (an update already queued still carries it)."""
        self.user_messages.pop((chat_id, message_id), None)
        self.messages.pop((chat_id, message_id), None)

    def set_member_status(self, chat_id: int, user_id: int, status: str, *, first_name: str = "Ann") -> None:
        """Promote ("administrator"), demote ("member"), make owner ("creator"), or remove
        ("left", "kicked") a user; queues the ``chat_member`` update Telegram sends admin bots."""
        user = self._users.get(user_id) or self._user(user_id, first_name, None, "en")
        old = self._member(chat_id, user_id)
        self.admins.setdefault(chat_id, set()).discard(user_id)
        if self.owners.get(chat_id) == user_id:
            del self.owners[chat_id]
        if status == "administrator":
            self.admins[chat_id].add(user_id)
        elif status == "creator":
            self.owners[chat_id] = user_id
        change: JSON = {
            "chat": self._chat_for_bot(chat_id),
            "from": user,
            "date": int(time.time()),
            "old_chat_member": old,
            "new_chat_member": self._member(chat_id, user_id, status),
        }
        self._push_update({"chat_member": change})

    def edit_message(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        new_text: str,
        *,
        chat_type: str = "group",
        first_name: str = "Ann",
        username: str | None = None,
        language_code: str = "en",
    ) -> None:
        """Queue an ``edited_message`` update for a user message."""
        old = self.user_messages.get((chat_id, message_id))
        message: JSON = (
            dict(old)
            if old
            else {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(chat_id, chat_type, first_name, username),
                "from": self._user(user_id, first_name, username, language_code),
            }
        )
        message.pop("entities", None)
        message.update(_text_fields(new_text), edit_date=int(time.time()))
        self.user_messages[(chat_id, message_id)] = message
        self._push_update({"edited_message": message})

    def press_button(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str = "Ann",
        language_code: str = "en",
    ) -> str:
        """Queue a ``callback_query`` for an inline button; returns the query id."""
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        chat = self._chat(chat_id, "group", first_name, None)
        # Unknown messages are sent as InaccessibleMessage (date 0), as Telegram does.
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": 0,
            "chat": chat,
        }
        self._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id, first_name, None, language_code),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                    "message": message,
                }
            }
        )
        return query_id

    # ------------------------------------------------------------------ helpers
    def _chat(self, chat_id: int, chat_type: str, first_name: str, username: str | None) -> JSON:
        """The chat's dict, created on first sight (later type/name arguments are ignored)."""
        if chat_id not in self._chats:
            chat: JSON = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = first_name
                if username:
                    chat["username"] = username
            else:
                chat["title"] = f"Test chat {chat_id}"
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def _chat_for_bot(self, chat_id: int) -> JSON:
        """The chat a bot call targets; unseen ids are private if positive, else a group."""
        return self._chat(chat_id, "private" if chat_id > 0 else "group", "Ann", None)

    def _user(self, user_id: int, first_name: str, username: str | None, language_code: str) -> JSON:
        user: JSON = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _find_message(self, chat_id: int, message_id: int) -> JSON | None:
        key = (chat_id, message_id)
        return self.messages.get(key) or self.user_messages.get(key)

    def _push_update(self, payload: JSON) -> None:
        self._updates.append({"update_id": self._next_update_id, **payload})
        self._next_update_id += 1
        self._wake(self._update_waiters)

    @staticmethod
    def _wake(waiters: set[asyncio.Event]) -> None:
        for event in waiters:
            event.set()
        waiters.clear()

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.Response:
        params, files = await self._read_body(request)
        call = ApiCall(request.match_info["method"], params, files)
        if self.on_request is not None:
            self.on_request(call)
        try:
            call.result = await self._dispatch(call, request.match_info["token"])
            call.status = 200
            return web.json_response({"ok": True, "result": call.result})
        except ApiError as err:
            call.status = err.status
            return web.json_response(err.body(), status=err.status)
        finally:
            self.calls.append(call)
            self._wake(self._call_waiters)

    async def _dispatch(self, call: ApiCall, token: str) -> Any:
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        if fault := self._take_fault(call.method):
            raise fault
        if call.method in _ALWAYS_TRUE:
            return True
        handler = getattr(self, f"_api_{call.method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return await handler(call)

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[JSON, dict[str, bytes]]:
        if request.content_type == "application/json":
            return dict(await request.json()), {}
        params: JSON = {}
        files: dict[str, bytes] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                params[key] = _decode(key, str(value))
        return params, files

    # ------------------------------------------------------------------ Bot API methods
    # Each takes the call and returns its "result" or raises ApiError.
    async def _api_getMe(self, call: ApiCall) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, call: ApiCall) -> list[JSON]:
        offset = int(call.params.get("offset") or 0)
        limit = int(call.params.get("limit") or 100)
        if "allowed_updates" in call.params:
            self.allowed_updates = list(call.params["allowed_updates"] or [])
        if offset:  # confirms (drops) every update below the offset, like Telegram
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._updates = [u for u in self._updates if self._wanted(u)]
        deadline = asyncio.get_running_loop().time() + float(call.params.get("timeout") or 0)
        while not self._updates and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            event = asyncio.Event()
            self._update_waiters.add(event)
            self._wake(self._poll_waiters)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                break
            finally:
                self._update_waiters.discard(event)
            if fault := self._take_fault("getUpdates"):
                raise fault
            self._updates = [u for u in self._updates if self._wanted(u)]
        return self._updates[:limit]

    def _wanted(self, update: JSON) -> bool:
        """Whether Telegram would send this update, given allowed_updates (others are dropped)."""
        kind = next(key for key in update if key != "update_id")
        return kind in self.allowed_updates if self.allowed_updates else kind not in _ONLY_ON_REQUEST

    async def _api_setWebhook(self, call: ApiCall) -> bool:
        if "allowed_updates" in call.params:
            self.allowed_updates = list(call.params["allowed_updates"] or [])
        return True

    async def _api_sendMessage(self, call: ApiCall) -> JSON:
        return self._new_bot_message(call.params, text=call.params["text"])

    async def _api_sendVideo(self, call: ApiCall) -> JSON:
        params, ref = call.params, str(call.params.get("video", ""))  # ref: a file_id if no upload
        data = call.files.get(ref.removeprefix("attach://")) or call.files.get("video")
        if data is not None and len(data) > self.max_upload_bytes:
            raise ApiError(413, "Request Entity Too Large")
        if data is None and not ref:
            raise ApiError(400, "Bad Request: there is no video in the request")
        n, self._next_file_id = self._next_file_id, self._next_file_id + 1
        video: JSON = {
            "file_id": ref if data is None else f"video{n}",
            "file_unique_id": f"uv{n}",
            "width": int(params.get("width") or 0),
            "height": int(params.get("height") or 0),
            "duration": int(params.get("duration") or 0),
            "mime_type": "video/mp4",
        }
        if data is not None:
            video["file_size"] = len(data)
            self.files[video["file_id"]] = data
        return self._new_bot_message(params, video=video, caption=params.get("caption"))

    async def _api_sendAnimation(self, call: ApiCall) -> JSON:
        """A silent MP4 sent as an animation: Telegram answers with `animation` and, for older
        clients, the same file as `document`."""
        params, ref = call.params, str(call.params.get("animation", ""))
        data = call.files.get(ref.removeprefix("attach://")) or call.files.get("animation")
        if data is not None and len(data) > self.max_upload_bytes:
            raise ApiError(413, "Request Entity Too Large")
        if data is None and not ref:
            raise ApiError(400, "Bad Request: there is no animation in the request")
        n, self._next_file_id = self._next_file_id, self._next_file_id + 1
        animation: JSON = {
            "file_id": ref if data is None else f"animation{n}",
            "file_unique_id": f"ua{n}",
            "width": int(params.get("width") or 0),
            "height": int(params.get("height") or 0),
            "duration": int(params.get("duration") or 0),
            "file_name": "animation.mp4",
            "mime_type": "video/mp4",
        }
        if data is not None:
            animation["file_size"] = len(data)
            self.files[animation["file_id"]] = data
        document = {k: v for k, v in animation.items() if k not in ("width", "height", "duration")}
        return self._new_bot_message(
            params, animation=animation, document=document, caption=params.get("caption")
        )

    async def _api_getFile(self, call: ApiCall) -> JSON:
        file_id = str(call.params["file_id"])
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        if size > 20_000_000:  # what Telegram lets bots download
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size, "file_path": file_id}

    async def _download(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["file_id"])
        if request.match_info["token"] != self.token or data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")

    async def _api_editMessageText(self, call: ApiCall) -> JSON | bool:
        return self._edit(call.params, "text", call.params["text"])

    async def _api_editMessageCaption(self, call: ApiCall) -> JSON | bool:
        return self._edit(call.params, "caption", call.params.get("caption"))

    async def _api_editMessageReplyMarkup(self, call: ApiCall) -> JSON | bool:
        return self._edit(call.params, None, None)

    async def _api_deleteMessage(self, call: ApiCall) -> bool:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        if self.messages.pop(key, None) is None and self.user_messages.pop(key, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _api_setMyCommands(self, call: ApiCall) -> bool:
        self.commands[self._commands_key(call.params)] = list(call.params["commands"])
        return True

    async def _api_deleteMyCommands(self, call: ApiCall) -> bool:
        self.commands.pop(self._commands_key(call.params), None)
        return True

    async def _api_getMyCommands(self, call: ApiCall) -> list[JSON]:
        return self.commands.get(self._commands_key(call.params), [])

    async def _api_getChatMember(self, call: ApiCall) -> JSON:
        return self._member(int(call.params["chat_id"]), int(call.params["user_id"]))

    def _member(self, chat_id: int, user_id: int, status: str | None = None) -> JSON:
        """A ChatMember: with ``status``, that one; else what ``owners``/``admins`` say."""
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "User"}
        if status is None:
            status = "member"
            if self.owners.get(chat_id) == user_id:
                status = "creator"
            elif user_id in self.admins.get(chat_id, set()):
                status = "administrator"
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = dict.fromkeys(_ADMIN_RIGHTS, False) | {"can_manage_chat": True}
            return {"status": "administrator", "user": user, **rights}
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": status, "user": user}

    async def _api_getChat(self, call: ApiCall) -> JSON:
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return {
            **self._chat_for_bot(int(call.params["chat_id"])),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }

    # ------------------------------------------------------------------ message bookkeeping
    def _new_bot_message(self, params: JSON, **content: Any) -> JSON:
        chat_id = int(params["chat_id"])
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat_for_bot(chat_id),
            "from": self.bot_user,
        }
        message.update({k: v for k, v in content.items() if v is not None})
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id") or params.get("reply_to_message_id")
        topic = params.get("message_thread_id")
        if topic is not None and not message["chat"].get("is_forum"):
            raise ApiError(400, "Bad Request: message thread not found")
        if reply_id:
            replied = self._find_message(int(reply.get("chat_id", chat_id)), int(reply_id))
            if replied is not None:
                message["reply_to_message"] = replied
                if topic is None and replied.get("is_topic_message"):
                    topic = replied["message_thread_id"]  # a reply goes where its message is
            elif not (reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")):
                raise ApiError(400, "Bad Request: message to be replied not found")
        if topic is not None:
            message.update(message_thread_id=int(topic), is_topic_message=True)
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _edit(self, params: JSON, key: str | None, value: Any) -> JSON | bool:
        if "inline_message_id" in params:
            return True
        message = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup") or None
        if (key is None or message.get(key) == value) and message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        updated = {**message, "edit_date": int(time.time())}
        if key is not None:
            updated[key] = value
        updated.pop("reply_markup", None)
        if markup:
            updated["reply_markup"] = markup
        self.messages[(message["chat"]["id"], message["message_id"])] = updated
        return updated

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


__all__ = ["ApiCall", "ApiError", "FakeTelegram"]
