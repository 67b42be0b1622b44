"""Content Credentials as the core sees them: the result of checking a clip, and saying it.

The checking itself (c2pa) lives in `bot.provenance`; the core gets it as a `ClipChecker`
so `/info` and a clip sent back to the bot are answered the same way on every platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.core import messages


class CredentialsState(StrEnum):
    VALID = "valid"  # signed, and not a byte changed since
    ALTERED = "altered"  # signed, but the file or the manifest changed after signing
    MISSING = "missing"  # no manifest at all
    UNREADABLE = "unreadable"  # not a file we can read as a video


@dataclass(frozen=True)
class CredentialsCheck:
    state: CredentialsState
    signer: str = ""  # the certificate's common name
    issuer: str = ""  # the certificate's organisation
    signed_at: str = ""  # a trusted timestamp if there is one, else the creation time it states
    model: str = ""
    ai_generated: bool = False  # the created action says trainedAlgorithmicMedia
    trusted: bool = False  # the certificate chains to an issuer on the reader's trust list
    problems: tuple[str, ...] = ()  # the validation codes that failed (untrusted excluded)
    from_picture: bool = False  # the manifest names a picture as an input (an `inputTo` ingredient)
    picture_had_credentials: bool = False  # … and that picture carried a manifest of its own
    loras: tuple[str, ...] = ()  # "name ×scale sha256:…" of each LoRA the manifest names
    sound: bool = False  # the manifest says the clip's soundtrack is AI-generated too
    extends_clip: bool = False  # an extension: the manifest names the clip it continues (`parentOf`)
    parent_had_credentials: bool = False  # … with that clip's own manifest kept (the chain verifies)

    @property
    def valid(self) -> bool:
        return self.state == CredentialsState.VALID


# Reads a clip's manifest from a file or from bytes sent to the bot; never raises.
ClipChecker = Callable[[Path | bytes], CredentialsCheck]


@dataclass(frozen=True)
class Upload:
    """A file someone sent the bot, fetched only once the core has seen its size."""

    size: int  # as the platform declares it (0: not declared)
    fetch: Callable[[], Awaitable[bytes]]


def credentials_line(check: CredentialsCheck, locale: str) -> str:
    """One line: "Content Credentials: signed by … · valid" (or altered, or none)."""
    if check.state == CredentialsState.MISSING:
        return messages.text("credentials_missing", locale)
    if check.state == CredentialsState.UNREADABLE:
        return messages.text("credentials_unreadable", locale)
    key = "credentials_valid" if check.valid else "credentials_altered"
    trust = messages.text("credentials_trusted" if check.trusted else "credentials_untrusted", locale)
    return messages.text(key, locale, signer=signer_words(check), trust=trust)


def credentials_report(check: CredentialsCheck, locale: str) -> str:
    """The line and, for a signed clip, when, with what model, and what failed."""
    lines = [credentials_line(check, locale)]
    if check.state in (CredentialsState.VALID, CredentialsState.ALTERED):
        if check.ai_generated:
            lines.append(messages.text("credentials_ai", locale, model=check.model or "?"))
            if check.loras:
                lines.append(messages.text("credentials_loras", locale, loras=", ".join(check.loras)))
            if check.sound:
                lines.append(messages.text("credentials_sound", locale))
        if check.from_picture:
            key = "credentials_picture_signed" if check.picture_had_credentials else "credentials_picture"
            lines.append(messages.text(key, locale))
        if check.extends_clip:
            key = "credentials_parent_signed" if check.parent_had_credentials else "credentials_parent"
            lines.append(messages.text(key, locale))
        if check.signed_at:
            lines.append(messages.text("credentials_when", locale, when=check.signed_at))
        if check.problems:
            lines.append(messages.text("credentials_problems", locale, codes=", ".join(check.problems)))
    return "\n".join(lines)


def signer_words(check: CredentialsCheck) -> str:
    """`Example Org (DigiCert)`; a self-issued certificate's issuer already names the signer."""
    if check.issuer and check.signer and check.issuer.startswith(check.signer):
        return check.issuer  # "videobot (self-issued)", not "videobot (videobot (self-issued))"
    if check.issuer and check.issuer != check.signer:
        return f"{check.signer or '?'} ({check.issuer})"
    return check.signer or "?"
