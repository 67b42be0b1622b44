"""`videobot run | console | demo | pull | admin | verify`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from bot import __version__
from bot.core.models import unnamed_model
from bot.core.options import ARG_OPTIONS, OPTIONS, Kind, VideoArgs
from bot.core.parsing import CommandError, validate_video
from bot.domain import Picture, conditioning
from bot.pipelines.registry import TINY_PRESETS
from bot.provenance import ContentCredentials
from bot.render import ModelUnavailable, OutOfMemory
from bot.settings.bounds import ConfigError
from bot.settings.loading import load_config
from bot.settings.models import ModelSettings
from bot.settings.root import Config
from bot.settings.sections import VideoConfig
from bot.store import StoreError
from bot.tryout import UnknownModel, extras_note, fallback_note, stand_ins, tiny_models, with_default

log = logging.getLogger("videobot")

COMMANDS = ("run", "console", "demo", "pull", "admin", "worker", "verify")
TINY_NAMES = "a built-in tiny one: " + ", ".join(TINY_PRESETS)


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run every enabled platform and the render worker")
    _config_arg(run)

    console = sub.add_parser("console", help="chat with the bot in this terminal (no tokens needed)")
    _config_arg(console)
    console.add_argument(
        "--tiny", action="store_true", help="use tiny random models (text, pictures, loops, sound): no GPU"
    )
    console.add_argument(
        "--model", default=None, help=f"the default model here: one from config.toml, or {TINY_NAMES}"
    )
    console.add_argument(
        "--web",
        action="store_true",
        help="also serve the web side ([web] host:port), the console's chat in the gallery",
    )

    admin = sub.add_parser(
        "admin",
        help="admin tools from the server's shell (quota, ban, unban, queue, purge, audit, model)",
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
    demo.add_argument(
        "--enhance",
        action="store_true",
        help="rewrite the prompt first ([enhance]; tiny-qwen3 with --tiny)",
    )
    demo.add_argument(
        "--tiny", action="store_true", help="render with the tiny random build of the model's family"
    )
    _option_flags(demo)

    pull = sub.add_parser(
        "pull",
        help="download the configured models' weights: exactly the files loading reads",
        description="Checks free disk space first; run it again to fetch what an interrupted run missed.",
    )
    _config_arg(pull)
    pull.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="models to fetch (default: every configured one); `post`: Smooth's and HD's weights",
    )
    pull.add_argument("--dry-run", action="store_true", help="print the files and their size, fetch nothing")

    verify = sub.add_parser(
        "verify",
        help="check a clip's Content Credentials (C2PA): who signed it, when, with what model, intact?",
        description="Exit status 0 when the clip carries an intact manifest, 1 otherwise.",
    )
    verify.add_argument("file", type=Path, help="the MP4 to check")
    return parser


def _trying(config: Config, force_tiny: bool, model: str | None, out: TextIO) -> Config:
    """The models `console` renders with (`bot.tryout`), each stand-in said once on `out`.

    Raises `UnknownModel` for a `--model` that is neither configured nor built in."""
    replaced = stand_ins(config, force_tiny)
    trying = tiny_models(config, replaced)
    if model is not None:
        trying = with_default(trying, model)
    default = trying.model_settings[trying.default_model]
    if force_tiny:
        print("Using tiny random models: clips show noise, not your prompt.", file=out)
    for name, tiny in replaced.items() if not force_tiny else ():
        print(fallback_note(config.model_settings[name], tiny), file=out)
    if not force_tiny and not replaced:
        what = "the tiny random model" if default.preset.tiny else "the model"
        note = ": clips show noise, not your prompt." if default.preset.tiny else "."
        print(f"Using {what} {default.source}{note}", file=out)
    extras = extras_note(config, trying)
    if extras:
        print(extras, file=out)
    return trying


class _StepPrinter:
    """Progress for `demo`: a tqdm bar (steps, rate, time left) on a terminal, plain lines otherwise."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.out = out
        self.bar: Any = None

    def __call__(self, step: int, total: int) -> None:
        if self.bar is None and self.out.isatty():
            from tqdm import tqdm

            # Drawn at the first step, not before the model loads (a stale 0 % bar meanwhile).
            # A pty that reports 0 columns (ssh -t, script) would draw an empty bar.
            width = shutil.get_terminal_size((80, 20)).columns
            self.bar = tqdm(total=total, unit="step", desc="rendering", file=self.out, ncols=width)
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
        else:
            print(f"step {step}/{total}", file=self.out, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _option_flags(demo: argparse.ArgumentParser) -> None:
    """`demo`'s clip flags, one per row of the option table (`bot.core.options`); ranges are the
    model's, checked once it is known."""
    from bot.core import messages

    kinds: dict[Kind, dict[str, Any]] = {
        Kind.INTEGER: {"type": int, "metavar": "N"},
        Kind.NUMBER: {"type": float, "metavar": "X"},
        Kind.TEXT: {"metavar": "TEXT"},
        Kind.NAME: {"metavar": "NAME"},
        Kind.CHOICE: {},
        Kind.FLAG: {"action": "store_true"},
        Kind.PICTURE: {"type": Path, "metavar": "FILE"},
    }
    for option in (o for o in OPTIONS if o.demo):
        ranged = {"low": "min", "high": "max", "default": "the model's"} if option.bounds else {}
        words = messages.text(option.words, "en", **{**option.word_values(VideoConfig()), **ranged})
        if option.field == "model":
            words = f"a model from config.toml, or {TINY_NAMES} (default: the default; with --image or --loop, one that can)"  # noqa: E501
        extra: dict[str, Any] = {"choices": option.choices} if option.choices else {}
        flags = (option.name, *option.aliases)
        demo.add_argument(*flags, dest=option.field, help=words, **kinds[option.kind], **extra)


def _video_args(args: argparse.Namespace) -> VideoArgs:
    """The demo's flags as the option table's values (the picture travels apart)."""
    return VideoArgs(args.prompt, **{o.field: getattr(args, o.field) for o in ARG_OPTIONS if o.demo})


def _demo(config: Config, args: argparse.Namespace) -> int:
    from bot import encode

    replaced = stand_ins(config, args.tiny)
    trying = tiny_models(config, replaced)
    name = args.model or unnamed_model(
        trying.model_settings,
        trying.default_model,
        trying.video.picture_model,
        picture=args.image is not None,
        loop=args.loop,
    )
    try:
        settings = trying.model_named(name)
    except KeyError:
        known = ", ".join(dict.fromkeys([*config.model_settings, *TINY_PRESETS]))
        print(f"videobot: there is no model called {args.model!r}; pick one of {known}", file=sys.stderr)
        return 2
    if args.out.is_dir():
        example = args.out / "clip.mp4"
        print(f"videobot: {args.out} is a folder; give --out a file name, e.g. {example}", file=sys.stderr)
        return 2
    video_args = _video_args(args)
    try:
        params = validate_video(video_args, settings.limits, model=settings)  # a bad option: one line
        if args.loop:
            params = dataclasses.replace(params, conditioning=conditioning(loop=_demo_loops(settings)))
        if args.image is not None:
            _demo_takes_pictures(trying, settings)
    except CommandError as error:
        print(_shell_words(error), file=sys.stderr)
        return 2
    except _DemoRefusal as refusal:
        print(f"videobot: {refusal}", file=sys.stderr)
        return 2
    source = settings.source
    print(_demo_model_words(config, replaced, settings, forced=args.tiny), file=sys.stderr)
    if args.enhance:
        from bot.tryout import demo_rewrite

        params, words = demo_rewrite(config, params, settings.identity.family, tiny=args.tiny)
        print(words)
    if args.image is not None:
        try:
            picture = _demo_picture(config, settings, args.image)
            params = dataclasses.replace(params, conditioning=conditioning(picture, loop=params.loop))
        except CommandError as error:
            print(f"videobot: {_shell_words(error)}", file=sys.stderr)
            return 2
        except _DemoRefusal as refusal:
            print(f"videobot: {refusal}", file=sys.stderr)
            return 2
    from bot.render import model_renderer

    tuning = dataclasses.replace(config.render, warmup_steps=0)  # one clip: warming first only costs
    renderer, made_by = model_renderer(settings, source, tuning)
    started = time.monotonic()
    progress = _StepPrinter(params.steps, sys.stderr)
    try:
        rendered = renderer.render(params, progress)
    except (ModelUnavailable, OutOfMemory) as error:
        print(f"videobot: {error}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    credentials = ContentCredentials.from_config(config)
    clip = encode.encode_clip(
        rendered, args.out, params, made_by=made_by, video=config.video, credentials=credentials
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
    return _demo_post(config, args, params, made_by, credentials)


def _demo_post(
    config: Config, args: argparse.Namespace, params: Any, made_by: Any, credentials: ContentCredentials
) -> int:
    """`demo --smooth/--hd`: each step a new clip made from the one before (docs/post.md)."""
    from bot.domain import PostKind, PostStep
    from bot.post import AlreadySmooth, AtSizeCap, PostEngine, PostWeightsMissing
    from bot.post.clip import run_post_step

    engine = PostEngine(config.post, memory=config.render.memory)
    current: Path = args.out
    for kind, asked in ((PostKind.SMOOTH, args.smooth), (PostKind.HD, args.hd)):
        if not asked:
            continue
        out = current.with_name(f"{current.stem}.{kind}.mp4")
        try:
            made = run_post_step(
                PostStep(kind, 0, str(current), loop=params.loop), params, made_by, engine, out,
                video=config.video, credentials=credentials,
            )  # fmt: skip
        except (AlreadySmooth, AtSizeCap, PostWeightsMissing) as error:
            print(f"videobot: {error}", file=sys.stderr)
            return 2
        clip = made.clip
        shape = f"{clip.frames} frames {clip.width}x{clip.height} @ {clip.fps} fps"
        print(f"Wrote {clip.path}: {shape} ({made.chain})")
        current = out
    return 0


def _verify(path: Path) -> int:
    """`videobot verify FILE`: what the clip's manifest says; 0 only when it is intact."""
    from bot.core.credentials import credentials_report
    from bot.provenance import check_clip

    if path.is_dir():
        print(f"videobot: {path} is a folder; give the path of an MP4 file", file=sys.stderr)
        return 1
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
        key = "admin_usage_shell" if error.key == "admin_usage" else error.key  # no replies on a shell
        print(messages.text(key, "en", **error.values), file=sys.stderr)
        return 2
    finally:
        store.close()
    print(result.text)
    return 0


def _demo_picture(config: Config, settings: ModelSettings, path: Path) -> Picture:
    """The picture for `videobot demo --image`, checked as a chat's would be; the shell user is
    an owner (as for `videobot admin`), so `[policy] faces = "owners"` lets them animate faces."""
    from bot.core.pictures import FacePolicy, check_faces
    from bot.faces import FaceDetector
    from bot.pictures import PictureInspector

    try:
        data = path.read_bytes()
    except OSError as error:
        raise _DemoRefusal(f"cannot read the picture {path}: {error.strerror or error}") from None
    size = (settings.limits.width, settings.limits.height)  # what the model will be given
    facts = PictureInspector(config.video.max_image_mb * 1_000_000, FaceDetector.shared())(data, (size,))
    check_faces(facts, FacePolicy(config.policy.faces), is_owner=True)
    return dataclasses.replace(facts.picture, path=str(path.resolve()))


def _shell_words(error: CommandError) -> str:
    """A refusal's sentence as the shell should read it: no quota was at stake here."""
    from bot.core import messages

    text = messages.text(error.key, "en", **error.values)
    return text.replace(" Nothing was charged.", "").replace("; nothing was charged.", ".")


class _DemoRefusal(Exception):
    """A `videobot demo` request that cannot be made, in command-line words (not a chat's)."""


def _demo_model_words(
    config: Config, replaced: dict[str, str], settings: ModelSettings, *, forced: bool
) -> str:
    """Which model `demo` renders with, and why when it is a stand-in for one not on disk."""
    # the configured model it stands in for (a lone [model] is renamed after its stand-in)
    original = next(
        (o for o, t in replaced.items() if settings.name == o or (config.model_table and settings.name == t)),
        None,
    )
    if original is not None and not forced:
        return fallback_note(config.model_settings[original], settings.source)
    if settings.preset.tiny:
        return f"Using the tiny random model {settings.source}: clips show noise, not your prompt."
    return f"Using the model {settings.source}."


def _demo_takes_pictures(config: Config, settings: ModelSettings) -> None:
    if not settings.preset.pictures.taken:
        able = [n for n, s in config.model_settings.items() if s.preset.pictures.taken] or ["tiny-ltx"]
        raise _DemoRefusal(
            f"{settings.name} makes clips from text only; give --model one that animates pictures: "
            + ", ".join(able)
        )


def _demo_loops(settings: ModelSettings) -> bool:
    if not settings.preset.loops:
        raise _DemoRefusal(f"{settings.name} cannot make loops; give --model one that can, e.g. tiny-ltx")
    return True


def _console_logging(config: Config, verbose: bool) -> None:
    """While the console has the terminal, logs go to a file; only warnings also reach stderr."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    log_file = logging.FileHandler(config.data_dir / "videobot.log", encoding="utf-8")
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.DEBUG if verbose else logging.WARNING)
    terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(log_file)
    root.addHandler(terminal)


async def _console(config: Config, *, web: bool = False) -> None:
    """The console over `config` as `_trying` made it (its models already chosen)."""
    from bot.app import build_service, run_console, running_worker, serving_web

    service = build_service(config)
    async with running_worker(service) as worker, serving_web(service, worker) as site:
        if site is not None:
            print(
                f"The web side, with your clips in its gallery: http://{config.web.host}:{config.web.port}/"
            )
        await run_console(service, web=site is not None)


def _run(config: Config) -> int:
    """`videobot run`: the bot until SIGINT/SIGTERM, then out at once (`leave_busy_threads`)."""
    from bot.app import StartupError, enabled_platforms, leave_busy_threads, run_bot

    if not enabled_platforms(config) and not config.web.enabled:
        from bot.settings.platforms import PLATFORMS

        switches = " or ".join(f"[{p.name}] enabled = true" for p in PLATFORMS)
        tokens = " / ".join(p.env for p in PLATFORMS)
        print(
            f"videobot: nothing to run in {config.source}: no chat platform and no web side; set "
            f"{switches} (with {tokens} in the environment) or [web] enabled = true, or try "
            "`videobot console`.",
            file=sys.stderr,
        )
        return 2
    try:
        return leave_busy_threads(asyncio.run(run_bot(config)))
    except StartupError as error:
        print(f"videobot: {error}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `videobot verify clip.mp4 | head -1`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `videobot` or `videobot --bogus`: say what there is to run
        parser.error(f"pick a command: {', '.join(COMMANDS)} (videobot COMMAND --help tells more)")
    # demo, pull and verify print their own lines; INFO logs would repeat them
    quiet = args.command in {"demo", "pull", "verify"}
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
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
        if args.command == "pull":
            from bot.pull import PullError, pull

            try:
                return pull(config, args.names, dry_run=args.dry_run)
            except PullError as error:
                print(f"videobot: {error}", file=sys.stderr)
                return 2
        from bot.app import StartupError, leave_busy_threads

        if args.command == "worker":
            from bot.dispatch.worker import run_worker

            # a render it was stopped in goes to another worker, as after a kill: not waited for
            return leave_busy_threads(asyncio.run(run_worker(config)))

        if args.command == "console":
            from bot.console_adapter import console_config

            _console_logging(config, args.verbose)
            try:
                config = _trying(console_config(config, web=args.web), args.tiny, args.model, sys.stderr)
                asyncio.run(_console(config, web=args.web))
            except (UnknownModel, StartupError) as error:
                print(f"videobot: {error}", file=sys.stderr)
                return 2
            return 0

        return _run(config)
    except StoreError as error:
        print(f"videobot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
