"""config.toml: the example loads, and every mistake is one line naming the key and the file."""

from __future__ import annotations

import sys
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bot.settings.bounds import BOUND, Bound, ConfigError
from bot.settings.checks import check
from bot.settings.loading import load_config, parse_config
from bot.settings.root import Config
from tests.harness.config import tiny_settings, to_toml
from tests.harness.console import VideobotRun

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.toml"
VIDEOBOT = Path(sys.executable).with_name("videobot")


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, env=env or {})
    message = str(error.value)
    assert "\n" not in message, f"the owner should see one line, got {message!r}"
    assert str(path) in message, f"{message!r} should name the file"
    return message


def test_the_example_config_in_the_repo_loads_and_matches_the_defaults() -> None:
    config = load_config(EXAMPLE, env={})

    assert config.source == str(EXAMPLE)
    assert config.model.id == "damo-vilab/text-to-video-ms-1.7b"
    assert config.model_source == config.model.id
    # "a missing key takes the default shown here": the file and the code must agree
    defaults = parse_config({}, str(EXAMPLE), {})
    assert config == defaults


def test_no_config_file_means_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config == Config()


def test_an_explicit_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", env={})


def test_the_config_env_variable_picks_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[model]\nid = "tiny"\n', "elsewhere.toml")
    monkeypatch.chdir(tmp_path)
    assert load_config(env={"VIDEOBOT_CONFIG": str(path)}).model.id == "tiny"


def test_tokens_come_from_the_environment_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[telegram]\nenabled = true\n")
    config = load_config(path, env={"TELEGRAM_TOKEN": " 123:abc \n"})
    assert config.secrets.telegram_token == "123:abc"


def test_a_test_config_round_trips_through_toml(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path / "data", quota={"daily": 2}, admin={"owners": ["telegram:42"]})
    config = load_config(write(tmp_path, to_toml(settings)), env={})
    assert (config.quota.daily, config.admin.owners, config.video.width) == (2, ("telegram:42",), 64)
    assert config.data_dir == tmp_path / "data"


def test_integers_are_accepted_where_a_float_is_expected(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[video]\ndefault_guidance = 9\n"), env={})
    assert config.video.default_guidance == 9.0
    assert isinstance(config.video.default_guidance, float)


MISTAKES: list[tuple[str, str, list[str]]] = [
    # (file contents, what it is, words the one line must contain)
    ("[vdeo]\nwidth = 256\n", "unknown section", ["[vdeo]", "video"]),
    ("[video]\nwidht = 256\n", "unknown key", ["'widht'", "[video]", "width"]),
    ("title = 'bot'\n", "top-level key", ["[title]"]),
    ("video = 3\n", "section that is not a table", ["[video]", "table"]),
    ('[video]\nwidth = "256"\n', "string for int", ["[video] width", "int", "'256'"]),
    ("[video]\nwidth = true\n", "bool for int", ["[video] width", "int", "bool"]),
    ("[video]\nwidth = 256.0\n", "float for int", ["[video] width", "int"]),
    ('[video]\ndefault_guidance = "high"\n', "string for float", ["[video] default_guidance", "float"]),
    ("[video]\ndefault_guidance = true\n", "bool for float", ["[video] default_guidance", "float"]),
    ('[telegram]\nenabled = "yes"\n', "string for bool", ["[telegram] enabled", "bool"]),
    ('[admin]\nowners = "telegram:1"\n', "string for list", ["[admin] owners", "list"]),
    ("[admin]\nowners = [1, 2]\n", "numbers in a list of names", ["[admin] owners", "str"]),
    ("[video]\nwidth = 250\n", "width not a multiple of 8", ["[video] width", "multiple of 8"]),
    ("[video]\nheight = 8\n", "height too small", ["[video] height", "at least 16"]),
    ("[video]\nmin_frames = 20\nmax_frames = 10\n", "min > max frames", ["[video] frames", "max_frames"]),
    ("[video]\ndefault_steps = 99\n", "default steps above max", ["[video] steps", "default_steps"]),
    ("[video]\nmin_guidance = 0.0\n", "zero guidance", ["[video] guidance", "min_guidance"]),
    ("[video]\nfps = 0\n", "fps zero", ["[video] fps"]),
    ("[video]\ncrf = 60\n", "crf out of range", ["[video] crf", "51"]),
    ('[quota]\ntimezone = "Mars/Olympus"\n', "bad timezone", ["[quota] timezone", "Mars/Olympus"]),
    ("[quota]\nreset_hour = 24\n", "bad reset hour", ["[quota] reset_hour", "23"]),
    ("[quota]\nmax_queued = 0\n", "no queue slots", ["[quota] max_queued"]),
    ("[quota]\ndaily = -1\n", "negative daily quota", ["[quota] daily"]),
    ("[queue]\nmax_attempts = 0\n", "no attempts", ["[queue] max_attempts"]),
    ('[admin]\nowners = ["alice"]\n', "owner without platform", ["[admin] owners", "'alice'"]),
    ('[admin]\nowners = ["telegram:"]\n', "owner without id", ["[admin] owners", "'telegram:'"]),
    ('[admin]\nowners = ["slack:42"]\n', "owner on unknown platform", ["[admin] owners", "'slack:42'"]),
    ('[admin]\nowners = ["telegram:@bob"]\n', "telegram owner by name", ["[admin] owners", "@bob"]),
    ("[telegram]\nmax_upload_mb = 0\n", "no upload room", ["[telegram] max_upload_mb"]),
    ("[video\nwidth = 256\n", "broken TOML", ["not valid TOML", "line 1"]),
]


@pytest.mark.parametrize(("text", "what", "words"), MISTAKES, ids=[m[1] for m in MISTAKES])
def test_a_mistake_in_the_config_is_one_line_naming_the_key(
    tmp_path: Path, text: str, what: str, words: list[str]
) -> None:
    message = config_error(tmp_path, text)
    for word in words:
        assert word in message, f"{what}: {message!r} should mention {word!r}"


@pytest.mark.parametrize(
    ("platform", "variable"), [("telegram", "TELEGRAM_TOKEN"), ("discord", "DISCORD_TOKEN")]
)
def test_an_enabled_platform_without_its_token_names_the_env_variable(
    tmp_path: Path, platform: str, variable: str
) -> None:
    message = config_error(tmp_path, f"[{platform}]\nenabled = true\n", env={variable: "   "})
    assert f"[{platform}] enabled" in message
    assert variable in message


def test_an_enabled_platform_with_its_token_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "[discord]\nenabled = true\n")
    assert load_config(path, env={"DISCORD_TOKEN": "abc"}).discord.enabled


def test_valid_owner_entries_load(tmp_path: Path) -> None:
    path = write(tmp_path, '[admin]\nowners = ["telegram:42", "discord:1234567890", "console:alice"]\n')
    assert load_config(path, env={}).admin.owners == ("telegram:42", "discord:1234567890", "console:alice")


def test_videobot_run_with_a_bad_config_prints_one_line_and_exits_2(
    tmp_path: Path, videobot_run: VideobotRun
) -> None:
    write(tmp_path, "[video]\nwidth = 250\n", "bad.toml")

    result = videobot_run("run", "--config", "bad.toml", cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["videobot: bad.toml: [video] width must be a multiple of 8, at least 16"]
    assert result.stdout == ""


def test_videobot_run_with_a_type_error_in_the_config_names_the_key(
    tmp_path: Path, videobot_run: VideobotRun
) -> None:
    write(tmp_path, '[quota]\ndaily = "lots"\n', "bad.toml")

    result = videobot_run("run", "--config", "bad.toml", cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "[quota] daily" in result.stderr and "bad.toml" in result.stderr


def test_videobot_run_with_no_platform_enabled_says_how_to_enable_one(
    tmp_path: Path, videobot_run: VideobotRun
) -> None:
    write(tmp_path, to_toml(tiny_settings(tmp_path / "data")), "ok.toml")

    result = videobot_run("run", "--config", "ok.toml", cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "TELEGRAM_TOKEN" in result.stderr and "videobot console" in result.stderr


def test_an_unknown_device_is_refused_in_one_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[model]\ndevice = "gpu"\n')
    assert "[model] device" in message and "'gpu'" in message


def test_the_shell_tools_need_no_chat_token(tmp_path: Path, videobot_run: VideobotRun) -> None:
    write(tmp_path, to_toml(tiny_settings(tmp_path / "data", telegram={"enabled": True})), "ok.toml")
    result = videobot_run("admin", "--config", "ok.toml", "audit", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "TELEGRAM_TOKEN" not in result.stderr


@pytest.mark.parametrize(
    ("queue", "web", "secret", "named"),
    [
        ({}, {}, "x", "VIDEOBOT_WORKER_SECRET is too short"),
        ({"upload_listen": "0.0.0.0"}, {}, "s" * 32, "[queue] upload_url must be set"),
        ({"upload_port": 8080}, {"enabled": True, "port": 8080}, "s" * 32, "[queue] upload_port is 8080"),
    ],
)
def test_scale_out_settings_that_cannot_work_or_are_weak_stop_the_start_in_one_line(
    tmp_path: Path, queue: dict[str, Any], web: dict[str, Any], secret: str, named: str
) -> None:
    settings = tiny_settings(tmp_path, queue={"backend": "saq", **queue}, web=web)
    with pytest.raises(ConfigError) as error:
        parse_config(settings, "t.toml", {"VIDEOBOT_WORKER_SECRET": secret})
    assert named in str(error.value) and "\n" not in str(error.value).strip()


def test_each_bound_sits_on_its_field_holds_for_its_default_and_is_checked() -> None:
    """Bounds live beside their keys (`setting(default, bound)`); the one checker reads every one:
    push each bounded key past what it allows and `check` names exactly that key."""
    config = Config()
    bounded = 0
    for table in fields(config):
        section: Any = getattr(config, table.name)
        if not is_dataclass(section) or table.name in ("model", "models", "secrets"):
            continue
        for spec in fields(section):
            bound: Bound | None = spec.metadata.get(BOUND)
            if bound is None:
                continue
            bounded += 1
            assert bound.ok(getattr(section, spec.name)), (
                f"[{table.name}] {spec.name}'s default breaks its bound"
            )
            wrong = {int: -1, float: -1.0, str: "\x00 nonsense", tuple: ("nobody",)}[
                type(getattr(section, spec.name))
            ]
            if bound.ok(wrong):
                wrong = {int: 10**9, float: 1e12, str: ""}[type(wrong)]
            changed: dict[str, Any] = {table.name: replace(getattr(config, table.name), **{spec.name: wrong})}
            broken = replace(config, **changed)
            with pytest.raises(ConfigError, match=rf"\[{table.name}\] {spec.name} "):
                check(broken, require_tokens=False)
    assert bounded >= 50
