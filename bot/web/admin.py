"""/admin: the whole queue with owners, recent failures, the audit log; cancel a job, ban a user.

The buttons go through the core's own admin tools, the same code `/admin ban` and `/cancel`
run in a chat, so the owner is told, quotas are refunded and the audit log says who did it
("web:admin", in "web").  Without `VIDEOBOT_ADMIN_TOKEN` the page does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from bot.core import messages
from bot.core.admin import AdminAction, AdminCommand
from bot.core.parsing import CommandError, parse_job_id
from bot.domain import JobStatus
from bot.web.auth import COOKIE, NOTICE_COOKIE
from bot.web.site import SITE, Site

ACTOR = "web:admin"
WHERE = "web"
LOCALE = "en"
QUEUE_ROWS = 200
FAILURES = 20
AUDIT_ROWS = 50

Handler = Callable[[Site, dict[str, str]], Awaitable[str]]


COOKIE_PATH = "/admin"
ADMIN_OFF = "it is off until VIDEOBOT_ADMIN_TOKEN is set in the bot's environment (16 characters or more)."


def _nonce(request: web.Request, site: Site) -> str | None:
    return site.auth.session(request.cookies.get(COOKIE))


def _same_origin(request: web.Request, site: Site) -> bool:
    """A browser names the page a form came from; it must be us (SameSite and the CSRF token
    are the main guards, this is one more)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent (an older browser, a script): the CSRF token still has to match
    allowed = {request.host}
    if site.config.web.public_url:
        allowed.add(urlsplit(site.config.web.public_url).netloc)
    return urlsplit(origin).netloc in allowed


def _redirect(notice: str = "") -> web.HTTPSeeOther:
    found = web.HTTPSeeOther("/admin")
    if notice:
        found.set_cookie(
            NOTICE_COOKIE, quote(notice[:500]), path=COOKIE_PATH, httponly=True, samesite="Strict"
        )
    return found


async def admin_page(request: web.Request) -> web.Response:
    site = request.app[SITE]
    if not site.auth.enabled:
        return site.not_found("admin page", ADMIN_OFF)
    nonce = _nonce(request, site)
    if nonce is None:
        return site.page("login.html", status=401, error="")
    store = site.store
    unfinished = store.jobs.with_status(JobStatus.RUNNING, JobStatus.ENCODING, JobStatus.DELIVERING)
    response = site.page(
        "admin.html",
        csrf=site.auth.csrf(nonce),
        notice=unquote(request.cookies.get(NOTICE_COOKIE, "")),
        unfinished=unfinished,
        queued=store.jobs.fair_order(limit=QUEUE_ROWS),
        waiting=store.jobs.waiting_count(),
        failures=store.jobs.recent_failed(FAILURES),
        audit=store.audit.entries(AUDIT_ROWS),
    )
    if NOTICE_COOKIE in request.cookies:
        response.del_cookie(NOTICE_COOKIE, path=COOKIE_PATH)
    return response


def client_address(request: web.Request) -> str:
    """Who is logging in: the peer, or behind a proxy on this machine the address it forwards
    (the last X-Forwarded-For entry is the one the proxy itself added)."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and peer in ("127.0.0.1", "::1"):
        return forwarded.split(",")[-1].strip()[:64]
    return peer


async def login(request: web.Request) -> web.Response:
    site = request.app[SITE]
    if not site.auth.enabled:
        return site.not_found("admin page", ADMIN_OFF)
    if not _same_origin(request, site):
        return site.page("login.html", status=403, error="That form did not come from this site.")
    source = client_address(request)
    locked = site.auth.locked_for(source)
    if locked > 0:
        wait = messages.duration(locked)
        return site.page("login.html", status=429, error=f"Too many wrong tokens; try again in {wait}.")
    form = await request.post()
    if not site.auth.token_matches(str(form.get("token", ""))):
        site.auth.note_wrong(source)
        return site.page("login.html", status=403, error="That token is wrong.")
    found = web.HTTPSeeOther("/admin")
    found.set_cookie(
        COOKIE,
        site.auth.new_session(),
        path=COOKIE_PATH,
        max_age=int(site.auth.session_s),
        httponly=True,
        samesite="Strict",
        secure=site.config.web.public_url.startswith("https://"),
    )
    raise found


async def logout(request: web.Request) -> web.Response:
    found = web.HTTPSeeOther("/admin")
    found.del_cookie(COOKIE, path=COOKIE_PATH)
    raise found


def _action(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A button's POST: logged in, from our own page (CSRF token), then `handler` → a notice."""

    async def post(request: web.Request) -> web.Response:
        site = request.app[SITE]
        if not site.auth.enabled:
            return site.not_found("admin page")
        nonce = _nonce(request, site)
        if nonce is None:
            return site.page("login.html", status=401, error="Your session ended; log in again.")
        form = await request.post()
        if not _same_origin(request, site) or not site.auth.csrf_matches(nonce, str(form.get("csrf", ""))):
            return web.Response(status=403, text="This form is stale or came from elsewhere; reload /admin.")
        fields = {name: str(value) for name, value in form.items()}
        try:
            notice = await handler(site, fields)
        except CommandError as error:
            values = {name: messages.echo(value) for name, value in error.values.items()}
            notice = messages.text(error.key, LOCALE, **values)
        raise _redirect(notice)

    return post


async def _cancel(site: Site, fields: dict[str, str]) -> str:
    value = fields.get("job", "").strip()
    try:
        job_id = parse_job_id(value[:40])
    except CommandError:
        raise CommandError("bad_job_id", value=value[:24]) from None
    result = await site.service.rooms.admin_tools.cancel_job(ACTOR, WHERE, job_id, LOCALE, everywhere=True)
    return result.text


async def _ban(site: Site, fields: dict[str, str]) -> str:
    user, reason = fields.get("user", "").strip(), fields.get("reason", "").strip()[:200]
    command = AdminCommand(AdminAction.BAN, user=user, reason=reason)
    result = await site.service.rooms.admin_tools.execute(ACTOR, WHERE, command, LOCALE, everywhere=True)
    return result.text


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin", admin_page)
    app.router.add_post("/admin/login", login)
    app.router.add_post("/admin/logout", logout)
    app.router.add_post("/admin/cancel", _action(_cancel))
    app.router.add_post("/admin/ban", _action(_ban))
