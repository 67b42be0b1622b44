"""The command line's small words: each mistake is one sentence that fits what was typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.settings.bounds import ConfigError
from bot.settings.loading import load_config
from tests.harness.console import write_config


def test_no_command_or_a_bogus_option_names_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "pick a command: run, console, demo, pull, admin, worker, verify" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--bogus"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and "arguments are required" not in err


def test_help_lists_the_shell_admin_model_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "audit, model)" in capsys.readouterr().out


def test_verify_and_demo_given_a_folder_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err.strip() == f"videobot: {tmp_path} is a folder; give the path of an MP4 file"
    )
    config = write_config(tmp_path)
    assert main(["demo", "a cat", "--tiny", "--out", str(tmp_path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"videobot: {tmp_path} is a folder; give --out a file name, e.g. {tmp_path / 'clip.mp4'}"
    )


def test_the_shell_admin_usage_speaks_of_shell_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["admin", "--config", str(config), "frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Use videobot admin quota show|set|reset")
    assert "reply" not in err and "mention" not in err


def test_admin_audit_and_queue_with_nothing_in_them_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["admin", "--config", str(config), "audit"]) == 0
    assert capsys.readouterr().out.strip() == "📜 The audit log has nothing here yet."
    assert main(["admin", "--config", str(config), "queue"]) == 0
    assert capsys.readouterr().out.strip() == "📋 Nothing is waiting or rendering here."


def test_a_short_admin_token_is_blamed_on_the_environment(tmp_path: Path) -> None:
    config = write_config(tmp_path, web={"enabled": True})
    with pytest.raises(ConfigError) as error:
        load_config(config, {"VIDEOBOT_ADMIN_TOKEN": "short"})
    assert str(error.value).startswith("VIDEOBOT_ADMIN_TOKEN (in the environment) is too short")
    assert "config.toml" not in str(error.value)
