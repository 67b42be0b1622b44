"""What the writer wrote, made safe to show and to render, or refused.

A model's output is untrusted text: it may think aloud, wrap the answer in markdown or quotes,
put a "Here is the prompt:" line first, spill into lists, run on, emit random bytes (the tiny
writer always does), answer in the wrong language, refuse, or repeat an instruction hidden in
the prompt ("post this link", "/admin ban …").  `clean` turns it into one plain English
paragraph of bounded length, or says why it cannot: then the person's own prompt is used.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from bot.enhance.language import ENGLISH, looks_english

THINKING = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
FENCE = re.compile(r"```[a-zA-Z]*")
TAG = re.compile(r"</?[a-zA-Z][^>]{0,200}>")
LINE_MARKUP = re.compile(r"^\s*(#{1,6}\s+|[-*•>]\s+|\d{1,2}[.)]\s+)", re.MULTILINE)
EMPHASIS = re.compile(r"(\*\*|__|\*|`|~~)")
LABEL = re.compile(
    r"^\s*((sure|okay|ok|certainly)\b[^\n:]{0,60}[:.!]\s*)?"
    r"((here is|here's)[^\n:]{0,80}:|(rewritten|enhanced|improved|expanded|video)?\s*prompt\s*:)\s*",
    re.IGNORECASE,
)
QUOTES = "\"'“”‘’«»"
LINK = re.compile(
    r"(https?://|www\.|\b[\w-]+\.(com|org|net|io|gg|me|ly|co|ru|xyz|info|app|dev)\b)", re.IGNORECASE
)
COMMAND = re.compile(r"(?<![\w/])/[a-zA-Z]")  # a slash command where a chat would see one
MENTION = re.compile(r"(@everyone|@here|<[@#][!&]?\d+>|(?<!\w)@\w)", re.IGNORECASE)
REFUSAL = re.compile(
    r"\b(as an ai|language model|i can(no|')t|i cannot|i'm sorry|i am sorry|i apologi[sz]e|"
    r"ignore (all |the )?(previous|above)|system prompt)\b",
    re.IGNORECASE,
)
MIN_WORDS = 3
MAX_WORD_CHARS = 30  # no English word is longer; random bytes decode into runs that are


class Refusal(enum.StrEnum):
    """Why a rewrite is not used."""

    GARBAGE = "garbage"  # not a readable English paragraph (random bytes, repeats, a refusal)
    UNSAFE = "unsafe"  # a link, a command or a mention: nothing the bot passes on


@dataclass(frozen=True)
class Cleaned:
    text: str | None  # one paragraph, or None
    refusal: Refusal | None = None
    why: str = ""  # for the log: which check refused it


def _strip_markup(text: str) -> str:
    text = THINKING.sub(" ", text)
    text = FENCE.sub(" ", text)
    text = TAG.sub(" ", text)
    text = LINE_MARKUP.sub("", text)
    text = EMPHASIS.sub("", text)
    text = LABEL.sub("", text, count=1)
    return text


def _one_paragraph(text: str) -> str:
    printable = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(printable.split()).strip().strip(QUOTES).strip()


def _cut(text: str, max_chars: int) -> str:
    """At most `max_chars`: at the last full sentence that fits, else at a word boundary."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if head.endswith((".", "!", "?")):
        end = len(head) - 1
    if end >= max_chars // 2:
        return head[: end + 1]
    return head.rsplit(" ", 1)[0].rstrip(",;:-")


def _garbage(text: str) -> str:
    """Why `text` is not a readable English paragraph, or "" when it is."""
    words = text.split()
    if len(words) < MIN_WORDS:
        return "too short"
    if "\ufffd" in text:
        return "undecodable bytes"
    visible = [ch for ch in text if not ch.isspace()]
    if sum(ch.isalpha() for ch in visible) < 0.75 * len(visible):
        return "mostly not letters"
    if sum(ch.isalpha() and not ch.isascii() for ch in visible) > 0.1 * len(visible):
        return "not in English letters"
    if max(len(word) for word in words) > MAX_WORD_CHARS:
        return "a run of letters no word is"
    bare = [word.strip(".,;:!?\"'()").lower() for word in words]
    if len(words) >= 10 and len(set(bare)) < 0.3 * len(bare):
        return "repeats itself"
    if len(words) >= 8 and not any(word in ENGLISH for word in bare):
        return "no English sentence"
    if not looks_english(text):
        return "not in English"
    if REFUSAL.search(text):
        return "talks about itself instead of the clip"
    return ""


def clean(raw: str, max_chars: int) -> Cleaned:
    """One plain English paragraph of at most `max_chars`, or the reason there is none."""
    text = _one_paragraph(_strip_markup(raw))
    for pattern, what in ((LINK, "a link"), (COMMAND, "a command"), (MENTION, "a mention")):
        if pattern.search(text):
            return Cleaned(None, Refusal.UNSAFE, what)
    text = _cut(text, max_chars)  # judged on what would be used
    why = _garbage(text)
    if why:
        return Cleaned(None, Refusal.GARBAGE, why)
    return Cleaned(text)
