"""Prompt policy: refuse prompts that hit the admins' blocklist or name a protected real person.

Blocklists are easy to dodge with capitals, accents, leetspeak ("n4z1"), spacing ("n.a.z.i"), stretching
("naaazi") and look-alike or invisible characters, so every prompt and every configured entry go through
the same `normalise`, and words and names are then matched on word boundaries in the result: "ass" refuses
"a$$" but not "class".  This module only returns data: the wording of refusals lives in bot/messages.py,
and logging the refusal and not charging quota are the core's job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# The common substitutions only; applied to a token only when it is mostly letters (see _deleet).
LEET = str.maketrans({
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "€": "e",
})  # fmt: skip
# Latin letters NFKD leaves whole, and the Cyrillic/Greek look-alikes used to dodge Latin entries.
LOOKALIKES = str.maketrans({
    "ø": "o", "ł": "l", "đ": "d", "ı": "i", "æ": "ae", "œ": "oe",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ѕ": "s", "ј": "j",
    "к": "k", "ο": "o", "α": "a", "ι": "i", "κ": "k", "ν": "v", "ρ": "p",
})  # fmt: skip

_ALNUM = r"[^\W_]"
_TOKEN = re.compile(rf"(?:{_ALNUM}|[@$!|€])+")
_SEP = r"[\s._\-*~]+"
# Three or more lone characters joined by separators: "n.a.z.i", "n a z i", "n-4-z-1".
_SINGLE = rf"(?:{_ALNUM}|[@$€])"
_SPACED = re.compile(rf"(?<!{_ALNUM}){_SINGLE}(?:{_SEP}{_SINGLE}(?!{_ALNUM})){{2,}}")
_WORD = re.compile(rf"{_ALNUM}+")
_RUN = re.compile(r"(.)\1*")


@dataclass(frozen=True)
class Refusal:
    """Why a prompt was refused; `matched` is the configured entry, for the user and the admin log."""

    kind: Literal["blocked", "person"]
    matched: str


def _deleet(match: re.Match[str]) -> str:
    """Undo leetspeak in one token, unless it is a number ("2024", "1960s", "8") rather than a word.

    A token counts as a word when at least a third of it is letters, so "a55" and "n4z1" are read as
    letters while "1960s" and "h264" are left alone.  A trailing "!" is punctuation, not an "i".
    """
    token = match.group()
    core = token.rstrip("!")
    letters = sum(c.isalpha() for c in core)
    if 3 * letters < len(core):
        return token
    return core.translate(LEET) + token[len(core) :]


def normalise(text: str) -> str:
    """The form that words and names are matched in: one spelling for all the ways to dodge a list.

    Steps: NFKC (full-width and compatibility forms), drop invisible format characters (zero-width
    space/joiners, soft hyphen), casefold, drop diacritics (NFKD minus combining marks), map look-alike
    letters, join lone characters spaced out with separators, then undo leetspeak inside words.
    Repeated letters are not collapsed here; matching allows them instead (see `_phrase`).
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) != "Mn")
    text = text.translate(LOOKALIKES)
    text = _SPACED.sub(lambda m: re.sub(_SEP, "", m.group()), text)
    return unicodedata.normalize("NFC", _TOKEN.sub(_deleet, text))


def _letters(run: str) -> str:
    """Regex for a run of one repeated character in an entry.

    A single letter also matches three or more ("naaazi"), a double letter two or more ("asss"); two of
    a single letter do not, so "god" does not refuse "good".  An "l" also matches "i", which is what
    leetspeak's "1" and "|" become.
    """
    char = "[li]" if run[0] == "l" else re.escape(run[0])
    if not run[0].isalpha():
        return char * len(run)
    return f"{char}{{{len(run)},}}" if len(run) > 1 else f"(?:{char}|{char}{{3,}})"


def _phrase(entry: str) -> re.Pattern[str] | None:
    """Compile a word, phrase or name to match whole words of normalised text.

    Words may be separated by any run of spaces or punctuation, and a plural or possessive ending
    ("nazis", "Macron's") still matches; None when the entry has no letters or digits.
    """
    words = _WORD.findall(normalise(entry))
    if not words:
        return None
    body = r"[\W_]+".join("".join(_letters(m.group()) for m in _RUN.finditer(word)) for word in words)
    return re.compile(rf"(?<!{_ALNUM}){body}(?:['’]?s|es)?(?!{_ALNUM})")


def _entries(values: Iterable[str]) -> list[str]:
    return [value.strip() for value in values if value.strip()]


class PromptPolicy:
    """The configured blocklist and protected names, compiled once and checked against every prompt."""

    def __init__(
        self,
        blocked_words: Iterable[str] = (),
        blocked_patterns: Iterable[str] = (),
        protected_names: Iterable[str] = (),
    ) -> None:
        """Compile every entry; a bad one raises ValueError naming it, so config loading fails loudly."""
        self._words: list[tuple[str, re.Pattern[str]]] = []
        for word in _entries(blocked_words):
            rx = _phrase(word)
            if rx is None:
                raise ValueError(f"blocked word {word!r} has no letters or digits to match")
            self._words.append((word, rx))
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for source in _entries(blocked_patterns):
            try:
                rx = re.compile(source, re.IGNORECASE)
            except re.error as err:
                raise ValueError(f"invalid blocked pattern {source!r}: {err}") from None
            if rx.search("") is not None:
                raise ValueError(f"blocked pattern {source!r} matches empty text, so would refuse everything")
            self._patterns.append((source, rx))
        # "Joe Biden|Biden": each alias is matched, the first one is what a refusal names.
        self._names: list[tuple[str, re.Pattern[str]]] = []
        for entry in _entries(protected_names):
            aliases = _entries(entry.split("|"))
            for alias in aliases:
                rx = _phrase(alias)
                if rx is None:
                    raise ValueError(f"protected name {entry!r} has an alias with no letters to match")
                self._names.append((aliases[0], rx))

    @property
    def empty(self) -> bool:
        """True when nothing is configured, so the core can skip checking and logging altogether."""
        return not (self._words or self._patterns or self._names)

    def check(self, *texts: str) -> Refusal | None:
        """The first refusal over the texts in order (prompt, negative prompt, ...), or None to allow.

        Within a text: blocked words, then patterns (on the original and the normalised text), then
        protected names.
        """
        for text in texts:
            if not text:
                continue
            norm = normalise(text)
            for word, rx in self._words:
                if rx.search(norm):
                    return Refusal("blocked", word)
            for source, rx in self._patterns:
                if rx.search(text) or rx.search(norm):
                    return Refusal("blocked", source)
            for name, rx in self._names:
                if rx.search(norm):
                    return Refusal("person", name)
        return None
