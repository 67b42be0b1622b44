"""What people type after /video, and the one plain sentence they get back when it is wrong."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.core import messages
from bot.core.options import MAX_SEED, VideoArgs
from bot.core.parsing import (
    CommandError,
    clean_text,
    parse_job_id,
    parse_video_text,
    validate_video,
)
from bot.domain import RenderParams
from bot.settings.root import Config
from bot.settings.sections import VideoConfig


@pytest.fixture
def limits(make_config: Callable[..., Config]) -> VideoConfig:
    # tiny test limits: frames 2-16, steps 1-400, guidance 1-20, prompts up to 300 characters
    return make_config().video


def submit(text: str, limits: VideoConfig) -> RenderParams:
    return validate_video(parse_video_text(text), limits, random.Random(0))


def refusal(text: str, limits: VideoConfig) -> tuple[str, dict[str, Any], str]:
    with pytest.raises(CommandError) as error:
        submit(text, limits)
    sentence = messages.text(error.value.key, "en", **error.value.values)
    return error.value.key, error.value.values, sentence


BAD_INPUT = [
    # (what they typed, message key, words the sentence must contain)
    ("", "prompt_empty", ["/video a cat surfing"]),
    ("   \t  ", "prompt_empty", ["describe"]),
    ("\x00\x07 \u200b\x1b", "prompt_empty", ["describe"]),
    ("--seed 5", "prompt_empty", ["describe"]),
    ("x" * 301, "prompt_too_long", ["301", "300"]),
    ("a cat --neg " + "y" * 301, "prompt_too_long", ["301", "300"]),
    ("a cat --style anime", "unknown_option", ["--style", "--seed", "--guidance"]),
    ("a cat --seed", "missing_value", ["--seed"]),
    ("a cat --seed=", "missing_value", ["--seed"]),
    ("a cat --neg --seed 5", "missing_value", ["--neg"]),
    ("a cat --seed five", "not_integer", ["--seed", "whole number", "five"]),
    ("a cat --seed 5 6", "not_integer", ["--seed", "5 6"]),
    ("a cat --frames 2.5", "not_integer", ["--frames", "2.5"]),
    ("a cat --steps many", "not_integer", ["--steps", "many"]),
    ("a cat --guidance strong", "not_number", ["--guidance", "strong"]),
    ("a cat --guidance nan", "not_number", ["--guidance", "nan"]),
    ("a cat --guidance inf", "not_number", ["--guidance", "inf"]),
    ("a cat --frames 1", "frames_out_of_range", ["--frames", "between 2 and 16", "0.2–2.0 s at 8 fps", "1"]),
    ("a cat --frames 17", "frames_out_of_range", ["--frames", "between 2 and 16", "17"]),
    ("a cat --steps 0", "option_out_of_range", ["--steps", "between 1 and 400", "0"]),
    ("a cat --steps 401", "option_out_of_range", ["--steps", "between 1 and 400", "401"]),
    ("a cat --guidance 0.5", "option_out_of_range", ["--guidance", "between 1.0 and 20.0", "0.5"]),
    ("a cat --guidance -3", "option_out_of_range", ["--guidance", "between 1.0 and 20.0", "-3"]),
    ("a cat --guidance 25", "option_out_of_range", ["--guidance", "between 1.0 and 20.0", "25"]),
    ("a cat --seed -1", "option_out_of_range", ["--seed", f"between 0 and {MAX_SEED}", "-1"]),
    (f"a cat --seed {MAX_SEED + 1}", "option_out_of_range", ["--seed", str(MAX_SEED)]),
    ("a cat --seed 1 --seed 2", "repeated_option", ["--seed", "twice"]),
    ("a cat --neg dark --negative blurry", "repeated_option", ["--neg", "twice"]),
]


@pytest.mark.parametrize(
    ("typed", "key", "words"), BAD_INPUT, ids=[case[1] + ":" + case[0][:30] for case in BAD_INPUT]
)
def test_bad_input_gets_one_sentence_naming_the_problem(
    typed: str, key: str, words: list[str], limits: VideoConfig
) -> None:
    got_key, _values, sentence = refusal(typed, limits)

    assert got_key == key
    for word in words:
        assert word in sentence, f"{sentence!r} should mention {word!r}"
    assert "\n" not in sentence
    assert "Traceback" not in sentence and "Error" not in sentence


def test_every_refusal_reads_well_in_italian_too(limits: VideoConfig) -> None:
    for typed, _key, _words in BAD_INPUT:
        with pytest.raises(CommandError) as error:
            submit(typed, limits)
        sentence = messages.text(error.value.key, "it-IT", **error.value.values)
        assert sentence and "{" not in sentence


def test_a_plain_prompt_takes_the_defaults_and_draws_a_seed(limits: VideoConfig) -> None:
    params = submit("a cat surfing", limits)

    assert params.prompt == "a cat surfing"
    assert (params.frames, params.steps, params.guidance) == (8, 3, 9.0)
    assert (params.width, params.height, params.fps) == (64, 64, 8)
    assert 0 <= params.seed <= MAX_SEED


def test_every_option_is_read(limits: VideoConfig) -> None:
    params = submit("a cat surfing --seed 5 --neg blurry --frames 12 --steps 7 --guidance 6.5", limits)

    assert params == RenderParams(
        prompt="a cat surfing",
        negative="blurry",
        seed=5,
        frames=12,
        steps=7,
        guidance=6.5,
        width=64,
        height=64,
        fps=8,
    )


@pytest.mark.parametrize(
    "typed",
    [
        "a cat --seed=5",
        "a cat —seed 5",  # a phone keyboard turns -- into an em dash
        "a cat —seed=5",
        "a cat -seed 5",
        "a cat --SEED 5",
        "a cat —Seed 5",  # …and may capitalise the word after it
        "a cat –seed 5",  # some keyboards make an en dash instead
    ],
)
def test_the_ways_people_write_an_option_all_work(typed: str, limits: VideoConfig) -> None:
    params = submit(typed, limits)
    assert (params.prompt, params.seed) == ("a cat", 5)


def test_a_negative_prompt_can_hold_several_words_and_commas(limits: VideoConfig) -> None:
    params = submit("a cat surfing --neg blurry, dark, low quality --seed 3", limits)

    assert params.negative == "blurry, dark, low quality"
    assert params.seed == 3
    assert submit("a cat --neg=blurry, dark", limits).negative == "blurry, dark"


def test_negative_numbers_are_values_not_options(limits: VideoConfig) -> None:
    args = parse_video_text("a cat at -5 degrees --guidance -2.5")

    assert args.prompt == "a cat at -5 degrees"
    assert args.guidance == -2.5, "parsed as a number; validation then says it is out of range"


def test_a_comma_works_as_decimal_point_for_guidance(limits: VideoConfig) -> None:
    assert submit("a cat --guidance 7,5", limits).guidance == 7.5


def test_apostrophes_and_quotes_stay_in_the_prompt(limits: VideoConfig) -> None:
    params = submit("the cat's \"big\" day — it's sunny", limits)
    assert params.prompt == "the cat's \"big\" day — it's sunny"


def test_control_and_invisible_characters_are_stripped_and_spaces_collapsed(limits: VideoConfig) -> None:
    params = submit("a\x00 cat\u200b \x1b[31m   surfing\t\n at dawn", limits)
    assert params.prompt == "a cat [31m surfing at dawn"
    assert clean_text("  tab\tand\nnewline  ") == "tab and newline"


def test_emoji_joined_by_zero_width_joiners_are_kept_whole() -> None:
    surfer, coder, family = "🏄\u200d♂️", "👩\u200d💻", "👨\u200d👩\u200d👧"
    assert clean_text(f"a {surfer} and a {coder} with {family}") == f"a {surfer} and a {coder} with {family}"
    assert messages.echo(surfer) == surfer
    # a joiner anywhere else is still an invisible trick
    assert clean_text("ad\u200dmin \u200d🏄 🏄\u200d") == "admin 🏄 🏄"
    assert clean_text("\u202eevil") == "evil"


def test_prompt_length_is_counted_after_cleaning(limits: VideoConfig) -> None:
    padded = "a" * 300 + " " * 50 + "\x00" * 20
    assert submit(padded, limits).prompt == "a" * 300


def test_guidance_is_rounded_to_two_decimals(limits: VideoConfig) -> None:
    assert submit("a cat --guidance 7.123456", limits).guidance == 7.12


def test_discord_typed_options_go_through_the_same_limits(limits: VideoConfig) -> None:
    with pytest.raises(CommandError) as error:
        validate_video(VideoArgs("a cat", frames=99), limits)
    assert error.value.key == "frames_out_of_range"
    assert error.value.values["high"] == 16


def test_default_and_forced_limits_come_from_the_config(make_config: Callable[..., Config]) -> None:
    limits = make_config(video={"default_negative": "watermark"}).video
    assert submit("a cat", limits).negative == "watermark"
    assert submit("a cat --neg blur", limits).negative == "blur"


def test_the_drawn_seed_comes_from_the_given_random_source(limits: VideoConfig) -> None:
    first = validate_video(VideoArgs("a cat"), limits, random.Random(42)).seed
    again = validate_video(VideoArgs("a cat"), limits, random.Random(42)).seed
    assert first == again


@pytest.mark.parametrize(("typed", "job"), [("12", 12), ("#12", 12), (" 7 ", 7), ("#1", 1)])
def test_job_numbers_are_read_with_or_without_hash(typed: str, job: int) -> None:
    assert parse_job_id(typed) == job


@pytest.mark.parametrize("typed", ["", "0", "-3", "abc", "1.5", "#", "12a", "²", "9" * 30])
def test_anything_else_is_not_a_job_number(typed: str) -> None:
    with pytest.raises(CommandError) as error:
        parse_job_id(typed)
    assert error.value.key == "bad_job_id"
    assert "is not a video number" in messages.text("bad_job_id", "en", **error.value.values)


def test_counted_words_take_their_singular_for_one_in_every_language() -> None:
    assert messages.text("challenge_rules", "en", entries=1) == "Up to 1 entry each; no voting for yourself."
    assert (
        messages.text("challenge_rules", "en", entries=3) == "Up to 3 entries each; no voting for yourself."
    )
    assert (
        messages.text("leaderboard_row", "en", place=1, name="Ann", wins=1, votes=0)
        == "1. Ann · 1 win · 0 votes"
    )
    assert (
        messages.text("leaderboard_row", "it", place=1, name="Ann", wins=1, votes=2)
        == "1. Ann · 1 vittoria · 2 voti"
    )
    assert messages.text("board_title", "en", count=1) == "📋 1 video on its way in this chat:"
    assert messages.text("board_all_done", "en", count=1) == "✅ The video is done."
    assert messages.text("board_all_done", "en", count=4) == "✅ All 4 videos are done."


def test_no_message_a_user_can_reach_says_one_of_a_plural() -> None:
    """Every counted message, filled with 1: never "1 entries", "1 wins", "1 videos"."""
    plural_after_one = re.compile(
        r"(?<![\w+])1 (?:waiting )?(entries|wins|videos|votes|tries|clips|times|steps|frames|jobs|characters|"
        r"voci|vittorie|voti|tentativi|volte|passi|lavori|caratteri)\b"
    )
    for key in messages.KEYS:
        for locale in messages.LOCALES:
            fields = set(re.findall(r"\{(\w+)", messages.CATALOGUES[locale].gettext(key)))
            values: dict[str, object] = dict.fromkeys(fields, 1)
            if "rule" in values:  # a frame rule ("4k+1"), not a count
                values["rule"] = "4k+1"
            said = messages.text(key, locale, **values)
            assert not plural_after_one.search(said), f"{key} ({locale}): {said!r}"
