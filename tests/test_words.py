"""The catalogues: every message in every language, counted words in the right form."""

from __future__ import annotations

import re
import string

import pytest

from bot.core import messages

FIELDS = string.Formatter()


def _filled(string: object) -> bool:
    """A translation written out: the message, or every plural form."""
    return all(string) if isinstance(string, tuple) else bool(string)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in FIELDS.parse(template) if name}


@pytest.mark.parametrize("locale", [loc for loc in messages.LOCALES if loc != messages.DEFAULT_LOCALE])
def test_every_message_and_counted_word_has_each_languages_form(locale: str) -> None:
    """A translation is complete: no message falls back to English, no field is lost or invented."""
    source = messages.read_catalogue(messages.DEFAULT_LOCALE)
    translated = messages.read_catalogue(locale)
    missing = [
        m.id
        for m in source
        if m.id
        and (translated.get(m.id) is None or not _filled(translated[m.id].string) or translated[m.id].fuzzy)
    ]
    assert missing == []
    for key in messages.KEYS:
        english, other = source[key].string, translated[key].string
        assert isinstance(english, str) and isinstance(other, str)
        # the same values fill both (a counted word's own fields are the count, checked below)
        assert {f.split(":")[0] for f in _fields(other)} <= {f.split(":")[0] for f in _fields(english)}, key


def test_every_counted_word_is_a_plural_entry_in_every_language() -> None:
    for locale in messages.LOCALES:
        catalogue = messages.read_catalogue(locale)
        plurals = {m.id[0] for m in catalogue if isinstance(m.id, tuple)}
        for key in messages.KEYS:
            template = catalogue[key].string
            assert isinstance(template, str), key
            for count, unit in re.findall(r"\{(\w+):@([^{}]+)\}", template):
                assert unit in plurals, f"{key} ({locale}) counts {count} with unknown entry {unit!r}"


@pytest.mark.parametrize(
    ("locale", "one", "two"),
    [
        ("en", "with 1 vote (entry #7)", "with 2 votes (entry #7)"),
        ("it", "con 1 voto (voce #7)", "con 2 voti (voce #7)"),
    ],
)
def test_one_and_two_take_the_singular_and_the_plural(locale: str, one: str, two: str) -> None:
    said = {
        n: messages.text("challenge_winner", locale, theme="t", names="Ann", votes=n, job=7) for n in (1, 2)
    }
    assert one in said[1] and two in said[2]
    rows = [messages.text("leaderboard_row", locale, place=1, name="Ann", wins=n, votes=n) for n in (1, 2)]
    assert rows == (
        ["1. Ann · 1 win · 1 vote", "1. Ann · 2 wins · 2 votes"]
        if locale == "en"
        else ["1. Ann · 1 vittoria · 1 voto", "1. Ann · 2 vittorie · 2 voti"]
    )


def test_a_form_may_hold_the_count_and_a_language_code_picks_its_catalogue() -> None:
    assert messages.text("board_all_done", "it-IT", count=3) == "✅ Tutti i 3 video sono pronti."
    assert messages.text("board_all_done", "it_IT", count=1) == "✅ Il video è pronto."
    assert messages.text("board_all_done", "fr", count=1) == "✅ The video is done."


def test_an_unknown_key_is_an_error_not_its_own_name() -> None:
    with pytest.raises(KeyError):
        messages.text("no_such_message")
    with pytest.raises(KeyError):
        messages.text("vote", "en")  # a counted word is not a message
