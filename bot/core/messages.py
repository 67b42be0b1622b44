"""Every word a user reads, in English and Italian.

The words live in gettext catalogues, `locale/<language>/LC_MESSAGES/videobot.po`, one entry per
message key; counted words are plural entries (`{votes:@vote}`: the entry "vote" in the form the
language's Plural-Forms rule picks for `votes`).  The catalogues are read once at import.
`text(key, locale, **values)` picks the user's language (from the platform's language code,
"it-IT" → "it") and falls back to English for anything not translated.
"""

from __future__ import annotations

import gettext
import io
import re
import unicodedata
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LOCALE = "en"
LOCALES = ("en", "it")
DOMAIN = "videobot"
LOCALE_DIR = Path(__file__).with_name("locale")


def read_catalogue(locale: str) -> Catalog:
    """One language's catalogue as written (tests check every message has each language's form)."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


def _compile(catalogue: Catalog, fallback: gettext.NullTranslations | None) -> gettext.GNUTranslations:
    """The catalogue compiled in memory (the .po is the only copy: no build step to forget)."""
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    translations = gettext.GNUTranslations(compiled)
    if fallback is not None:
        translations.add_fallback(fallback)  # a message not yet translated reads in English
    return translations


_SOURCE = read_catalogue(DEFAULT_LOCALE)
_ENGLISH = _compile(_SOURCE, None)
CATALOGUES: dict[str, gettext.GNUTranslations] = {
    locale: _ENGLISH if locale == DEFAULT_LOCALE else _compile(read_catalogue(locale), _ENGLISH)
    for locale in LOCALES
}
# Every message key; counted words (plural entries) are not messages of their own.
KEYS: frozenset[str] = frozenset(m.id for m in _SOURCE if isinstance(m.id, str) and m.id)


def normalise_locale(code: str | None) -> str:
    """Map a platform language code ("it-IT", "en_US", None) to one we speak."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


# `{votes:@vote}`: the plural entry "vote" in the form the language's rule picks for `votes`;
# a form may hold plain `{name}` fields ("All {count} videos are done").
_COUNTED = re.compile(r"\{(\w+):@([^{}]+)\}")


def _count(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0  # not a number: the form for "none", the plural in both languages


def text(key: str, locale: str = DEFAULT_LOCALE, **values: object) -> str:
    """The message `key` in `locale` (English if missing), filled with `values`, each counted
    word in its singular or plural form."""
    if key not in KEYS:
        raise KeyError(key)
    words = CATALOGUES[normalise_locale(locale)]
    template = words.gettext(key)
    if ":@" in template:
        template = _COUNTED.sub(lambda m: words.ngettext(m[2], m[2], _count(values.get(m[1]))), template)
    return template.format(**values)


# Long answers (lists) are cut to this many characters: within Discord's 2,000 and, even if every
# character took two UTF-16 units, within Telegram's 4,096.  Adapters still fit every text to
# their platform's own limit (`fit`) as the last word.
LIST_BUDGET = 1_900
ECHO_MAX = 60  # characters of the user's own input repeated back in an error


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit(text: str, limit: int, *, utf16: bool = False) -> str:
    """`text` cut to `limit` characters (or UTF-16 units, as Telegram counts), ending in "…"."""
    size = utf16_units if utf16 else len
    if size(text) <= limit:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if size(text[:middle]) + 1 <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def fit_lines(
    lines: list[str], budget: int = LIST_BUDGET, locale: str = DEFAULT_LOCALE, *, total: int | None = None
) -> str:
    """As many whole lines as fit in `budget`, then "…and N more" (of `total` items in all)."""
    total = len(lines) if total is None else total
    tail_room = len(text("and_more", locale, count=total)) + 1
    kept: list[str] = []
    used = 0
    for line in lines:
        last = len(kept) + 1 == total
        if used + len(line) + (0 if last else tail_room) > budget:
            break
        kept.append(line)
        used += len(line) + 1
    if total > len(kept):
        kept.append(text("and_more", locale, count=total - len(kept)))
    return "\n".join(kept)


ZWJ = "\u200d"
_EMOJI_PARTS = ("So", "Sk", "Mn")  # symbols, skin-tone modifiers, the emoji variation selector


def _joins_emoji(text: str, at: int) -> bool:
    """A zero-width joiner between two emoji (🏄‍♂️, 👩‍💻): part of one picture, not a trick."""
    return (
        0 < at < len(text) - 1
        and unicodedata.category(text[at - 1]) in _EMOJI_PARTS
        and unicodedata.category(text[at + 1]) == "So"
    )


def drop_invisible(text: str, *, keep: str = "") -> str:
    """Control, format and direction characters dropped (`keep`: ones to let through), except
    the zero-width joiners inside emoji sequences."""
    return "".join(
        ch
        for at, ch in enumerate(text)
        if ch in keep or unicodedata.category(ch)[0] != "C" or (ch == ZWJ and _joins_emoji(text, at))
    )


def echo(value: object) -> object:
    """User input repeated back: control and direction characters dropped, shortened."""
    if not isinstance(value, str):
        return value
    cleaned = " ".join(drop_invisible(value, keep=" ").split())
    return cleaned if len(cleaned) <= ECHO_MAX else cleaned[: ECHO_MAX - 1].rstrip() + "…"


def duration(seconds: float) -> str:
    """A short human duration: "45 s", "3 min", "2 h 13 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def progress_bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else 0
    return "▰" * filled + "▱" * (width - filled)
