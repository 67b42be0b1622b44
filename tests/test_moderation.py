"""Prompt policy: the usual ways to dodge a blocklist are refused, ordinary prompts are not."""

from __future__ import annotations

import re

import pytest

from bot.moderation import PromptPolicy, Refusal, normalise

POLICY = PromptPolicy(
    blocked_words=["nazi", "ass", "cunt", "bigot", "lewd", "nude child"],
    blocked_patterns=[r"\bkill(ing)?\s+all\b", r"sw[aá]stika", r"@[a-z]+"],
    protected_names=["Emmanuel Macron|Macron", "Joe Biden", "Recep Tayyip Erdoğan"],
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("äbc ÉMILIE", "abc emilie"),
        ("ＮＡＺＩ ﬁne", "nazi fine"),
        ("na\u200bzi\u00ad", "nazi"),
        ("n.a.z.i", "nazi"),
        ("n a z i party", "nazi party"),
        ("n-4-z-1", "nazi"),
        ("a55 and b1g0t", "ass and bigot"),
        ("nazi!", "nazi!"),
        ("nаzi", "nazi"),  # Cyrillic а
        ("8 frames of a 1960s car, year 2024, h264", "8 frames of a 1960s car, year 2024, h264"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("a NAZI parade", "nazi"),
        ("a nazí rally", "nazi"),
        ("n4z1 flag", "nazi"),
        ("N.A.Z.I flag", "nazi"),
        ("n-a-z-i flag", "nazi"),
        ("n_a_z_i flag", "nazi"),
        ("n a z i flag", "nazi"),
        ("naaazi flag", "nazi"),
        ("ｎａｚｉ flag", "nazi"),
        ("na\u200bzi flag", "nazi"),
        ("nаzi flag", "nazi"),  # Cyrillic а
        ("Nazis marching", "nazi"),
        ("the nazi's hat!", "nazi"),
        ("shouting nazi!", "nazi"),
        ("a$$ shot", "ass"),
        ("a55", "ass"),
        ("c*u*n*t", "cunt"),
        ("8!g0t", "bigot"),
        ("1ewd dance", "lewd"),
        ("NUDE   child", "nude child"),
        ("nude-child", "nude child"),
    ],
)
def test_blocked_word_variants_are_refused(text: str, matched: str) -> None:
    assert POLICY.check(text) == Refusal("blocked", matched)


@pytest.mark.parametrize(
    "text",
    [
        "a class of students",
        "an assistant at a desk",
        "bass guitar in a passage",
        "Scunthorpe United scoring",
        "sunrise over Nazareth",
        "a child drawing a horse",
        "8 frames of a 1960s car",
        "year 2024, 4k, 3d render, 60fps, 16mm film",
        "a skill all students share",
        "a macaroon on a plate",
        "Joe's garden",
        "Biden",  # no alias configured for Joe Biden
        "",
    ],
)
def test_innocent_prompts_pass(text: str) -> None:
    assert POLICY.check(text) is None


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("killing all the zombies", r"\bkill(ing)?\s+all\b"),
        ("k1lling   all", r"\bkill(ing)?\s+all\b"),  # only the normalised text matches
        ("a SWÁSTIKA", r"sw[aá]stika"),
        ("a sw4stika", r"sw[aá]stika"),
        ("in the style of @bob", r"@[a-z]+"),  # only the original text matches: "@" becomes "a"
    ],
)
def test_blocked_patterns(text: str, matched: str) -> None:
    assert POLICY.check(text) == Refusal("blocked", matched)


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("Emmanuel Macron giving a speech", "Emmanuel Macron"),
        ("emmanuel macrón", "Emmanuel Macron"),
        ("3mmanuel m4cron dancing", "Emmanuel Macron"),
        ("EMMANUEL-MACRON", "Emmanuel Macron"),
        ("Macron's dog", "Emmanuel Macron"),
        ("Macron’s dog", "Emmanuel Macron"),
        ("joe   biden eating ice cream", "Joe Biden"),
        ("Recep Tayyip Erdogan", "Recep Tayyip Erdoğan"),
    ],
)
def test_protected_names(text: str, matched: str) -> None:
    assert POLICY.check(text) == Refusal("person", matched)


def test_stretching_a_single_letter_needs_three() -> None:
    policy = PromptPolicy(blocked_words=["god"])
    assert policy.check("gooood") == Refusal("blocked", "god")
    assert policy.check("good morning") is None


def test_numbers_are_left_alone() -> None:
    policy = PromptPolicy(blocked_words=["bigot", "bob", "age"])
    assert policy.check("8 frames of a 1960s car, 808 drum, 4 9 3") is None


def test_check_covers_every_text_in_order() -> None:
    assert POLICY.check("a cat", "nazi") == Refusal("blocked", "nazi")
    assert POLICY.check("Macron", "nazi") == Refusal("person", "Emmanuel Macron")
    assert POLICY.check("a cat", "a dog, blurry") is None
    assert POLICY.check() is None


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"blocked_patterns": ["ok", "(unclosed"]}, "'(unclosed'"),
        ({"blocked_patterns": ["x*"]}, "'x*'"),
        ({"blocked_words": ["!!!"]}, "'!!!'"),
        ({"protected_names": ["Joe Biden|!!"]}, "'Joe Biden|!!'"),
    ],
)
def test_bad_entries_raise_naming_them(kwargs: dict[str, list[str]], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        PromptPolicy(**kwargs)


def test_empty_policy_allows_everything() -> None:
    policy = PromptPolicy(blocked_words=["", "  "], protected_names=[" "])
    assert policy.empty
    assert policy.check("nazi", "Emmanuel Macron") is None
    assert not POLICY.empty
    assert not PromptPolicy(protected_names=["Joe Biden"]).empty
