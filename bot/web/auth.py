"""The /admin login: one token from the environment, a signed session cookie, CSRF tokens.

The cookie is `<issued>.<nonce>.<mac>`, signed with a key derived from `VIDEOBOT_ADMIN_TOKEN`
(changing the token ends every session); it is HttpOnly and SameSite=Strict.  Each form
carries a CSRF token, a MAC of the session's nonce, so a page elsewhere cannot post one.
Every comparison is constant-time, and after ten wrong tokens in a minute from one address no
login from that address is taken until that minute is over, so the token cannot be guessed at
speed, and a stranger's wrong tokens do not lock the owner out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable

COOKIE = "videobot_admin"
NOTICE_COOKIE = "videobot_notice"
WRONG_TRIES = 10  # wrong tokens within WRONG_WINDOW_S before every login waits out the window
WRONG_WINDOW_S = 60.0


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


class AdminAuth:
    def __init__(self, token: str, session_s: float, clock: Callable[[], float] = time.time) -> None:
        self._token_digest = _digest(token) if token else b""
        self._key = hmac.new(token.encode(), b"videobot web session", hashlib.sha256).digest()
        self.session_s = session_s
        self.clock = clock
        self._wrong: dict[str, deque[float]] = {}  # wrong tries by source address

    @property
    def enabled(self) -> bool:
        """False when no token is configured: then /admin is off, not open."""
        return bool(self._token_digest)

    def token_matches(self, given: str) -> bool:
        # Digests first: equal lengths, so not even the token's length leaks.
        return self.enabled and hmac.compare_digest(_digest(given), self._token_digest)

    def locked_for(self, source: str = "") -> float:
        """Seconds until logins from `source` are taken again after too many wrong tokens (0: now)."""
        now = self.clock()
        wrong = self._wrong.get(source)
        while wrong and now - wrong[0] > WRONG_WINDOW_S:
            wrong.popleft()
        if not wrong:
            self._wrong.pop(source, None)
            return 0.0
        if len(wrong) < WRONG_TRIES:
            return 0.0
        return WRONG_WINDOW_S - (now - wrong[0])

    def note_wrong(self, source: str = "") -> None:
        if len(self._wrong) > 10_000:  # many addresses: forget the quiet ones
            now = self.clock()
            self._wrong = {k: v for k, v in self._wrong.items() if v and now - v[-1] <= WRONG_WINDOW_S}
        self._wrong.setdefault(source, deque(maxlen=WRONG_TRIES)).append(self.clock())

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        body = f"{int(self.clock())}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac(body)}"

    def session(self, cookie: str | None) -> str | None:
        """The session's nonce if `cookie` is one we signed and it has not expired; else None."""
        if not self.enabled or not cookie or cookie.count(".") != 2:
            return None
        issued, nonce, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(f"{issued}.{nonce}").encode()):
            return None
        if not issued.isascii() or not issued.isdigit() or self.clock() - int(issued) > self.session_s:
            return None
        return nonce

    def csrf(self, nonce: str) -> str:
        return self._mac(f"csrf.{nonce}")

    def csrf_matches(self, nonce: str, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.csrf(nonce).encode())
