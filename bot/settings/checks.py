"""Rules between keys, each a small named function; ranges of single keys are on their fields
(`sections`) and checked by `bounds.check_bounds`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace

from bot.moderation import PromptPolicy
from bot.pipelines.registry import FAMILIES
from bot.settings.bounds import ConfigError, Need, check_bounds
from bot.settings.models import ModelSettings
from bot.settings.platforms import OWN_SECRETS, PLATFORMS
from bot.settings.root import Config
from bot.settings.sections import MIN_WORKER_SECRET_CHARS, WORKER_SECRET_ENV, RenderConfig

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
UNBOUNDED = ("models", "model", "secrets")  # tables whose keys are checked per model or not at all


def refused_render_settings(render: RenderConfig, families: Iterable[str]) -> tuple[str, str] | None:
    """The first `[render]` combination that cannot render, as (key, why), for models of `families`;
    None when they all can.  Start-up refuses these; the renderer refuses them too."""
    if render.compile and render.cache != "off":
        return "[render] compile = true", (
            f'cannot be combined with cache = "{render.cache}": its hooks break the compiled blocks; '
            "turn one off"
        )
    if render.compile and render.memory == "low":
        return "[render] compile = true", (
            'cannot be combined with memory = "low": its FP8 casting hooks break the compiled blocks; '
            'use memory = "balanced"'
        )
    if render.cache == "pab" and any(FAMILIES[f].guidance_pass_apart for f in families if f in FAMILIES):
        return '[render] cache = "pab"', (
            "does not work for Wan, which calls the transformer twice a step: PAB would reuse the "
            'conditional pass\'s attention for the unconditional one; use cache = "first-block" or "off"'
        )
    return None


def check(config: Config, require_tokens: bool) -> None:
    """Every rule, in order: each model, then each table's bounds, then the rules between keys."""
    src = config.source

    def need(ok: bool, key: str, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{src}: {key} {rule}")

    for settings in config.model_settings.values():
        check_model(config, settings, need)
    unknown = [name for name in config.render.keep_loaded if name not in config.model_settings]
    need(not unknown, "[render] keep_loaded", f"names no configured model: {', '.join(unknown)}")
    for table in fields(config):
        section = getattr(config, table.name)
        if table.name not in UNBOUNDED and is_dataclass(section):
            check_bounds(section, table.name, need)
    check_render_combinations(config, need)
    check_provenance_keys(config, need)
    check_remote(config, require_tokens, need)
    check_challenge_limits(config, need)
    check_policy(config, need)
    check_picture_model(config, need)
    check_tokens(config, require_tokens, need)


def check_render_combinations(config: Config, need: Need) -> None:
    r = config.render
    refused = refused_render_settings(r, {s.family for s in config.model_settings.values()})
    for model in config.model_settings.values():  # a model's own cache meets the same refusals
        if refused is None and model.cache:
            refused = refused_render_settings(replace(r, cache=model.cache), {model.family})
    need(refused is None, *(refused or ("", "")))


def check_provenance_keys(config: Config, need: Need) -> None:
    need(
        bool(config.provenance.cert_chain) == bool(config.provenance.private_key),
        "[provenance] cert_chain",
        "and private_key must be set together (or both left empty for the bot's own certificate)",
    )


def check_remote(config: Config, require_tokens: bool, need: Need) -> None:
    """`backend = "saq"`: a worker secret, an upload address workers can reach, its own port."""
    q = config.queue
    if q.backend == "saq" and require_tokens:
        need(
            bool(config.secrets.worker_secret),
            "[queue] backend",
            f'is "saq" but the {WORKER_SECRET_ENV} environment variable is empty',
        )
    need(
        config.enhance.device != "worker" or q.backend == "saq",
        "[enhance] device",
        'is "worker", but rewrites go to workers only with [queue] backend = "saq"',
    )
    secret = config.secrets.worker_secret
    need(
        not secret or len(secret) >= MIN_WORKER_SECRET_CHARS,
        WORKER_SECRET_ENV,
        f"is too short: use at least {MIN_WORKER_SECRET_CHARS} random characters (openssl rand -hex 16)",
    )
    if q.backend == "saq":
        need(
            bool(q.upload_url) or q.upload_listen not in ("0.0.0.0", "::", ""),
            "[queue] upload_url",
            f"must be set when upload_listen is {q.upload_listen!r}: workers cannot send clips to "
            'a wildcard address (e.g. upload_url = "https://bot.example.org:8765")',
        )
        need(
            not config.web.enabled or q.upload_port != config.web.port or q.upload_port == 0,
            "[queue] upload_port",
            f"is {q.upload_port}, the same as [web] port: give each its own port",
        )


def check_challenge_limits(config: Config, need: Need) -> None:
    c = config.challenges
    need(
        1 <= c.min_duration_s <= c.default_duration_s <= c.max_duration_s,
        "[challenges] durations",
        "need 1 <= min_duration_s <= default_duration_s <= max_duration_s",
    )
    need(
        1 <= c.default_max_entries <= c.max_entries,
        "[challenges] entries",
        "need 1 <= default_max_entries <= max_entries",
    )


def check_picture_model(config: Config, need: Need) -> None:
    """`[video] picture_model` names a configured model that takes pictures."""
    name = config.video.picture_model
    if not name:
        return
    models = config.model_settings
    need(
        name in models,
        "[video] picture_model",
        f"names no configured model: {name!r} (known: {', '.join(models)})",
    )
    takes = [n for n, settings in models.items() if settings.preset.pictures.taken]
    need(
        models[name].preset.pictures.taken,
        "[video] picture_model",
        f"{name!r} makes clips from text only; models that take pictures: {', '.join(takes) or 'none'}",
    )


def check_policy(config: Config, need: Need) -> None:
    """The blocklists compile (the same code that later checks every prompt)."""
    p = config.policy
    try:
        PromptPolicy(p.blocked_words, p.blocked_patterns, p.protected_names)
    except ValueError as error:
        need(False, "[policy]", str(error))


def check_tokens(config: Config, require_tokens: bool, need: Need) -> None:
    """The environment's tokens for what is switched on (only when serving chats)."""
    token = config.secrets.admin_token
    if token and len(token) < 16 and require_tokens:  # the environment's, not the file's
        raise ConfigError(
            f"{OWN_SECRETS['admin_token']} (in the environment) is too short to guard /admin: use at least "
            "16 characters (or leave it empty to turn /admin off)"
        )
    for platform in PLATFORMS:
        if platform.enabled(config) and require_tokens:
            need(
                bool(platform.token(config.secrets)),
                f"[{platform.name}] enabled",
                f"is true but the {platform.env} environment variable is empty",
            )


def check_model(config: Config, settings: ModelSettings, need: Need) -> None:
    """A model's limits make sense and obey its family's frame and size rules."""
    name, v, preset = settings.name, settings.limits, settings.preset
    entry = None if config.model_table else dict(config.models).get(name)
    where = "[model]" if config.model_table else f"[models.{name}]"

    def label(*keys: str, shown: str = "") -> str:
        """Name the table the owner wrote the offending key in: this model's, or [video]."""
        mine = entry is not None and any(getattr(entry, key) for key in keys)
        table = where if mine or not set(keys) & config.video_keys_set else "[video]"
        return f"{table} {shown or keys[0]}"

    need(MODEL_NAME.match(name) is not None, where, "names a model with lowercase letters, digits, - and _")
    if entry is not None:  # its own cache and scheduler_shift (a lone [model] has neither)
        check_bounds(entry, where.strip("[]"), need)
    multiple = preset.size_rule
    for side in ("width", "height"):
        size = getattr(v, side)
        need(size >= 16 and size % 8 == 0, label(side), "must be a multiple of 8, at least 16")
        fit = max(multiple, size - size % multiple)
        need(
            size % multiple == 0,
            label(side),
            f"is {size}, but {name} needs sizes that are multiples of {multiple} (try {fit})",
        )
    need(1 <= v.fps <= 60, label("fps"), "must be between 1 and 60")
    frame_keys = ("min_frames", "default_frames", "max_frames")
    need(
        1 <= v.min_frames <= v.default_frames <= v.max_frames,
        label(*frame_keys, shown="frames"),
        "need 1 <= min_frames <= default_frames <= max_frames",
    )
    need(
        preset.fixed_size is None or (v.width, v.height) == preset.fixed_size,
        label("width", "height", shown="size"),
        f"is {v.width}x{v.height}, but {name} renders only {'x'.join(map(str, preset.fixed_size or ()))} "
        "(its positional embeddings are learned at that size)",
    )
    rule = preset.frame_rule
    need(
        rule.fits(v.default_frames),
        label("default_frames"),
        f"is {v.default_frames}, but {name} takes {rule.describe()} frames: "
        f"try {rule.nearest(v.default_frames)}",
    )
    need(
        not rule.most or v.max_frames <= rule.most,
        label("max_frames"),
        f"is {v.max_frames}, but {name} makes at most {rule.most} frames",
    )
    need(
        1 <= v.min_steps <= v.default_steps <= v.max_steps,
        label("min_steps", "default_steps", "max_steps", shown="steps"),
        "need 1 <= min_steps <= default_steps <= max_steps",
    )
    need(
        0 < v.min_guidance <= v.default_guidance <= v.max_guidance,
        label("min_guidance", "default_guidance", "max_guidance", shown="guidance"),
        "need 0 < min_guidance <= default_guidance <= max_guidance",
    )
    need(
        re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", settings.device) is not None,
        f"{where} device",
        f"{settings.device!r} is not one of auto, cpu, mps, cuda, cuda:<n>",
    )
