"""deploy/: the compose file, its config and the systemd units hold together and run real commands.

No container engine runs here: the files are checked structurally (and by `docker compose config`
and `systemd-analyze verify` where those tools are installed); each command line is parsed by
videobot's own parser, and the compose config is loaded by videobot's own config loader.
"""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot.cli import COMMANDS, build_parser
from bot.settings.loading import load_config
from tests.harness.config import to_toml
from tests.harness.console import VIDEOBOT, ChildProcesses, child_env
from tests.harness.polling import eventually_blocking
from tests.harness.saq import StartRedis, free_port, redis_missing

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = DEPLOY / "systemd"
CONFIG_IN_CONTAINER = "/etc/videobot/config.toml"
SECRET = "s" * 40


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def videobot_services() -> dict[str, dict]:
    return {name: service for name, service in compose()["services"].items() if name != "redis"}


def parses_as_videobot(argv: list[str]) -> None:
    """`argv` (without the program name) is a real `videobot` subcommand line."""
    assert argv[0] in COMMANDS, argv
    build_parser().parse_args(argv)  # exits (SystemExit) on an unknown option


def test_compose_has_the_bot_redis_a_gpu_worker_and_a_one_shot_pull() -> None:
    services = compose()["services"]
    assert set(services) == {"bot", "redis", "worker", "pull"}
    commands = {name: service["command"][0] for name, service in videobot_services().items()}
    assert commands == {"bot": "run", "worker": "worker", "pull": "pull"}
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert services["pull"]["restart"] == "no" and services["pull"]["profiles"] == ["pull"]
    assert "ports" not in services["redis"]  # only the compose network reaches it


def test_every_compose_command_line_is_a_real_videobot_command() -> None:
    for name, service in videobot_services().items():
        argv = service["command"]
        parses_as_videobot(argv)
        assert argv[argv.index("--config") + 1] == CONFIG_IN_CONTAINER, name
        mounts = [m.split(":") for m in service["volumes"]]
        assert ["./config.toml", CONFIG_IN_CONTAINER, "ro"] in mounts, name


def test_secrets_come_from_the_env_file_and_the_worker_renders_offline() -> None:
    services = videobot_services()
    assert all(service["env_file"] == "videobot.env" for service in services.values())
    assert services["worker"]["environment"]["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in services["pull"].get("environment", {})
    example = (DEPLOY / "videobot.env.example").read_text(encoding="utf-8")
    names = {line.split("=")[0] for line in example.splitlines() if line and not line.startswith("#")}
    assert {"TELEGRAM_TOKEN", "DISCORD_TOKEN", "VIDEOBOT_WORKER_SECRET", "VIDEOBOT_ADMIN_TOKEN"} <= names
    assert "deploy/videobot.env" in (DEPLOY.parent / ".gitignore").read_text(encoding="utf-8")


def test_pull_and_the_worker_share_the_hugging_face_cache_the_image_points_at() -> None:
    services = videobot_services()
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    hf_home = next(
        line.split("HF_HOME=")[1].split()[0] for line in dockerfile.splitlines() if "HF_HOME=" in line
    )
    for name in ("pull", "worker"):
        assert f"hf-cache:{hf_home}" in services[name]["volumes"], name
    assert not any("hf-cache" in volume for volume in services["bot"]["volumes"])


def test_the_compose_config_loads_and_names_the_compose_services() -> None:
    config = load_config(DEPLOY / "config.toml", {"VIDEOBOT_WORKER_SECRET": SECRET}, require_tokens=False)
    services = compose()["services"]
    assert config.queue.backend == "saq"
    assert urlsplit(config.queue.redis_url).hostname in services
    upload = urlsplit(config.queue.upload_url)
    assert upload.hostname == "bot" and upload.port == config.queue.upload_port
    data_volume = next(v for v in services["bot"]["volumes"] if v.startswith("data:"))
    assert data_volume.split(":")[1] == str(config.data_dir)
    assert f"127.0.0.1:{config.web.port}:{config.web.port}" in services["bot"]["ports"]


def _compose_tool() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    tool = _compose_tool()
    if tool is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    shutil.copytree(DEPLOY, tmp_path / "deploy", ignore=shutil.ignore_patterns("videobot.env"))
    shutil.copy(DEPLOY / "videobot.env.example", tmp_path / "deploy" / "videobot.env")
    result = subprocess.run(
        [*tool, "-f", "deploy/compose.yaml", "--profile", "pull", "config", "--services"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"bot", "redis", "worker", "pull"}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(UNITS / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(
    ("name", "command"), [("videobot.service", "run"), ("videobot-worker.service", "worker")]
)
def test_each_unit_runs_a_real_videobot_command_with_the_env_file(name: str, command: str) -> None:
    service = unit(name)["Service"]
    program, *argv = shlex.split(service["ExecStart"])
    assert program.endswith("/bin/videobot") and argv[0] == command
    parses_as_videobot(argv)
    assert service["EnvironmentFile"] == "/etc/videobot/videobot.env"
    assert service["RestartPreventExitStatus"] == "2"  # a config mistake is not retried forever
    offline = "HF_HUB_OFFLINE=1" in service["Environment"].split()
    assert offline == (command == "worker")


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    videobot = Path(sys.executable).parent / "videobot"
    if not videobot.exists():
        pytest.skip(f"{videobot} is not installed (pip install -e .)")
    for path in UNITS.glob("*.service"):  # the same unit, with this checkout's program in place of /srv's
        text = path.read_text(encoding="utf-8").replace("/srv/videobot/app/.venv/bin/videobot", str(videobot))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    assert len(units) == 2
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def _healthz(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as page:
            return json.loads(page.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def test_each_compose_command_line_runs_against_a_local_redis(
    tmp_path: Path, start_redis: StartRedis, child_processes: ChildProcesses
) -> None:
    """The bot, the worker and pull as compose starts them (same argv, env file and environment),
    outside a container: deploy/config.toml with loopback addresses, the tiny model and tmp paths."""
    if (why := redis_missing()) is not None:
        pytest.skip(why)
    redis = start_redis(tmp_path)
    web_port, upload_port = free_port(), free_port()
    settings = tomllib.loads((DEPLOY / "config.toml").read_text(encoding="utf-8"))
    settings["model"].update(id="tiny", device="cpu")
    settings["storage"]["dir"] = str(tmp_path / "data")
    settings["queue"].update(
        redis_url=redis.url,
        upload_listen="127.0.0.1",
        upload_port=upload_port,
        upload_url=f"http://127.0.0.1:{upload_port}",
    )
    settings["web"].update(host="127.0.0.1", port=web_port)
    config = tmp_path / "config.toml"
    config.write_text(to_toml(settings), encoding="utf-8")
    example = (DEPLOY / "videobot.env.example").read_text(encoding="utf-8").splitlines()
    env_file = dict(line.split("=", 1) for line in example if line and not line.startswith("#"))
    env_file["VIDEOBOT_WORKER_SECRET"] = SECRET  # what the owner fills in

    def start(name: str) -> subprocess.Popen[bytes]:
        service = videobot_services()[name]
        argv = [str(config) if word == CONFIG_IN_CONTAINER else word for word in service["command"]]
        env = {**child_env(), **env_file, "HF_HOME": str(tmp_path / "hf")}
        env.pop("HF_HUB_OFFLINE")  # only where compose sets it
        env.update(service.get("environment", {}))
        with (tmp_path / f"{name}.log").open("w") as log:  # a pipe nobody reads would fill and block it
            return child_processes.popen([str(VIDEOBOT), *argv], cwd=tmp_path, env=env, stderr=log)

    def said(name: str) -> str:
        return (tmp_path / f"{name}.log").read_text(encoding="utf-8")[-3000:]

    pull = start("pull")
    assert pull.wait(120) == 0, said("pull")
    bot, worker = start("bot"), start("worker")
    try:
        # the bot sees the worker's model through Redis: the whole path a compose deployment uses
        health = eventually_blocking(
            lambda: (_healthz(web_port) or {}).get("model_loaded") or bot.poll() or worker.poll(),
            timeout=180,
            what="the worker's model, seen by the bot",
        )
        assert health is True, (bot.poll(), worker.poll())
    finally:
        for child in (worker, bot):
            child.send_signal(signal.SIGTERM)
        codes = [child.wait(60) for child in (worker, bot)]
    assert codes == [0, 0], said("worker") + said("bot")
