"""`videobot run | console | demo | admin | verify`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.config import Config, ConfigError, load_config
from bot.core.parsing import CommandError, VideoArgs, validate_video
from bot.pipelines.tiny import TINY_MODEL_ID
from bot.provenance import ContentCredentials
from bot.render import ModelMissing, Renderer, check_weights_on_disk
from bot.store import StoreError

log = logging.getLogger("videobot")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default: $VIDEOBOT_CONFIG or ./config.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videobot", description="Text-to-video chat bot.")
    parser.add_argument("--version", action="version", version=f"videobot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run every enabled platform and the render worker")
    _config_arg(run)

    console = sub.add_parser("console", help="chat with the bot in this terminal (no tokens needed)")
    _config_arg(console)
    console.add_argument("--tiny", action="store_true", help="use the tiny random model")

    admin = sub.add_parser(
        "admin",
        help="admin tools from the server's shell (quota, ban, unban, queue, purge, audit)",
        description="Same as /admin in a chat, e.g. `videobot admin ban telegram:42 spam`.",
    )
    _config_arg(admin)
    admin.add_argument("words", nargs=argparse.REMAINDER, help="quota show|set|reset <user> [n], …")

    worker = sub.add_parser(
        "worker",
        help='render jobs for a bot on this machine\'s GPU, through Redis ([queue] backend = "saq")',
        description="Needs [queue] redis_url and VIDEOBOT_WORKER_SECRET (the bot's) in the environment.",
    )
    _config_arg(worker)

    demo = sub.add_parser("demo", help="render one clip to a file, no chat involved")
    _config_arg(demo)
    demo.add_argument("prompt", help="what the clip shows")
    demo.add_argument("--out", type=Path, default=Path("clip.mp4"), help="MP4 to write")
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument("--neg", default=None, help="negative prompt")
    demo.add_argument("--frames", type=int, default=None)
    demo.add_argument("--steps", type=int, default=None)
    demo.add_argument("--guidance", type=float, default=None)
    demo.add_argument("--tiny", action="store_true", help="use the tiny random model")

    verify = sub.add_parser(
        "verify",
        help="check a clip's Content Credentials (C2PA): who signed it, when, with what model, intact?",
        description="Exit status 0 when the clip carries an intact manifest, 1 otherwise.",
    )
    verify.add_argument("file", type=Path, help="the MP4 to check")
    return parser


def _pick_model(config: Config, force_tiny: bool, out: TextIO = sys.stderr) -> str:
    """The configured model if its weights are on disk, else the tiny one, saying which.

    For demo and console only: they never start a multi-gigabyte download by surprise.
    """
    if force_tiny or config.model_source == TINY_MODEL_ID:
        print("Using the tiny random model: clips show noise, not your prompt.", file=out)
        return TINY_MODEL_ID
    try:
        check_weights_on_disk(config.model_source)
    except ModelMissing as missing:
        print(f"{missing}\nFalling back to the tiny random model for now.", file=out)
        return TINY_MODEL_ID
    print(f"Using the model {config.model_source}.", file=out)
    return config.model_source


def _demo(config: Config, args: argparse.Namespace) -> int:
    from bot import encode

    video_args = VideoArgs(args.prompt, args.seed, args.neg, args.frames, args.steps, args.guidance)
    try:
        params = validate_video(video_args, config.video)
    except CommandError as error:
        from bot.core import messages

        print(messages.text(error.key, "en", **error.values), file=sys.stderr)
        return 2
    source = _pick_model(config, args.tiny)
    renderer = Renderer(source, device=config.model.device, cpu_offload=config.model.cpu_offload)
    started = time.monotonic()

    def on_step(step: int, total: int) -> None:
        print(f"\rstep {step}/{total}", end="", file=sys.stderr, flush=True)

    frames = renderer.render(params, on_step)
    print(file=sys.stderr)
    credentials = ContentCredentials.from_config(config, source)
    clip = encode.encode_clip(
        frames, args.out, params, model=source, video=config.video, credentials=credentials
    )
    if credentials.counts.signed:
        print(f"Signed with Content Credentials as {credentials.identity_words}.", file=sys.stderr)
    else:
        print("The clip is NOT signed (see the error above).", file=sys.stderr)
    print(
        f"Wrote {clip.path}: {clip.frames} frames {clip.width}x{clip.height} @ {clip.fps} fps, "
        f"{clip.size_bytes} bytes, seed {params.seed}, model {source}, "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0


def _verify(path: Path) -> int:
    """`videobot verify FILE`: what the clip's manifest says; 0 only when it is intact."""
    from bot.core.credentials import credentials_report
    from bot.provenance import check_clip

    if not path.is_file():
        print(f"videobot: {path}: no such file", file=sys.stderr)
        return 1
    check = check_clip(path)
    print(f"{path}: {check.state.value}")
    print(credentials_report(check, "en"))
    return 0 if check.valid else 1


def _admin(config: Config, words: list[str]) -> int:
    """`videobot admin …`: the owner's way in when locked out of chat; audited as the shell user."""
    import getpass

    from bot.core import messages
    from bot.core.admin import AdminTools
    from bot.core.endings import Endings, RunningJobs
    from bot.core.notify import Notifier
    from bot.store import DB_FILE, Store

    store = Store(config.data_dir / DB_FILE)
    # No chat is connected here and nothing renders: jobs are cancelled and refunded in the database.
    endings = Endings(store, Notifier(store), RunningJobs(lambda job_id: None))
    tools = AdminTools(store, config, endings)
    try:
        result = asyncio.run(tools.run(f"shell:{getpass.getuser()}", None, " ".join(words)))
    except CommandError as error:
        print(messages.text(error.key, "en", **error.values), file=sys.stderr)
        return 2
    finally:
        store.close()
    print(result.text)
    return 0


async def _console(config: Config, tiny: bool) -> None:
    from bot.app import build_service, run_console, running_worker

    service = build_service(config, model_source=_pick_model(config, tiny))
    async with running_worker(service):
        await run_console(service)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO, and Telegram's URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    if args.command == "verify":  # needs no settings: anyone may check a clip anywhere
        return _verify(args.file)
    try:
        # The shell's admin tools, the console and the demo need no chat tokens.
        config = load_config(args.config, require_tokens=args.command == "run")
    except ConfigError as error:
        print(f"videobot: {error}", file=sys.stderr)
        return 2
    from bot.logs import redact_secrets

    redact_secrets(config.secrets)  # libraries log URLs with the token in them, even at DEBUG
    try:
        if args.command == "demo":
            return _demo(config, args)
        if args.command == "admin":
            return _admin(config, args.words)
        if args.command == "worker":
            from bot.dispatch.worker import run_worker

            return asyncio.run(run_worker(config))
        if args.command == "console":
            asyncio.run(_console(config, args.tiny))
            return 0
        from bot.app import enabled_platforms, run_bot

        if not enabled_platforms(config):
            print(
                f"videobot: no platform is enabled in {config.source}; set [telegram] enabled = true "
                "or [discord] enabled = true (with TELEGRAM_TOKEN / DISCORD_TOKEN in the "
                "environment), or try `videobot console`.",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(run_bot(config))
    except StoreError as error:
        print(f"videobot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
