"""Who may do what: owners, a chat's admins, priority in the queue."""

from __future__ import annotations

from bot.domain import Job, Request
from bot.settings.sections import AdminConfig


def is_owner(req: Request, admin: AdminConfig) -> bool:
    """The bot's owners from config: admins in every chat."""
    return req.user.key in admin.owners


def is_admin(req: Request, admin: AdminConfig) -> bool:
    """An admin of the chat `req` comes from: platform admins, admin roles, owners."""
    return req.is_admin or is_owner(req, admin) or bool(set(req.roles) & set(admin.admin_roles))


def may_moderate(req: Request, job: Job, admin: AdminConfig) -> bool:
    """Owners anywhere; a chat's admins only for jobs in their chat (on Discord: their server)."""
    return is_owner(req, admin) or (is_admin(req, admin) and job.chat.scope_key == req.chat.scope_key)


def priority(req: Request, admin: AdminConfig) -> int:
    """0 goes first: owners (if configured) and members of priority roles.

    Not a chat's admins: anyone can make a chat of their own and jump the shared queue.
    """
    if (is_owner(req, admin) and admin.owners_first) or set(req.roles) & set(admin.priority_roles):
        return 0
    return 1
