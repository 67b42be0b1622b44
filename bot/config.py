"""Settings: `config.toml` read into frozen dataclasses, secrets from the environment.

Every default and limit lives here, once.  A wrong key, type or value raises
`ConfigError` whose message is one line naming the key and the file; the command line
prints it and exits, so the owner never sees a traceback for a typo.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.pipelines.loras import MAX_LORAS, LoraSpec, recorded_loras
from bot.pipelines.registry import CATALOGUE, FAMILIES, TINY_PRESETS, preset_for_unknown
from bot.pipelines.spec import ClipIdentity, Preset

DEFAULT_MODEL_ID = "damo-vilab/text-to-video-ms-1.7b"
LEGACY_MODEL_NAME = "default"  # what a `[model]` table is called
CONFIG_ENV = "VIDEOBOT_CONFIG"
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
WATERMARK_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
WATERMARK_MAX_CHARS = 24


class ConfigError(Exception):
    """A setting is wrong; the message is one line meant for the bot's owner."""


@dataclass(frozen=True)
class ModelConfig:
    id: str = DEFAULT_MODEL_ID
    path: str = ""
    device: str = "auto"
    cpu_offload: bool = False
    cpu_threads: int = 0  # torch threads for CPU renders; 0: every core but one (the chats')


# The [video] keys a model's family sets its own defaults for; one set in [video] applies to every model.
MODEL_SHAPE_KEYS = ("width", "height", "fps", "default_frames", "min_frames", "max_frames",
                    "default_steps", "default_guidance", "min_guidance")  # fmt: skip
MODEL_LIMIT_KEYS = (*MODEL_SHAPE_KEYS, "min_steps", "max_steps", "max_guidance")


@dataclass(frozen=True)
class ModelEntry:
    """One `[models.NAME]` table as written; 0 means "the family's (or [video]'s) value"."""

    id: str = ""
    path: str = ""
    family: str = ""  # for a hub id videobot does not know: modelscope, wan, ltx or cogvideox
    default: bool = False
    device: str = "auto"
    cpu_offload: bool = False
    cpu_threads: int = 0
    width: int = 0
    height: int = 0
    fps: int = 0
    default_frames: int = 0
    min_frames: int = 0
    max_frames: int = 0
    default_steps: int = 0
    min_steps: int = 0
    max_steps: int = 0
    default_guidance: float = 0.0
    min_guidance: float = 0.0
    max_guidance: float = 0.0
    audio: bool = True  # a family that makes sound (LTX-2) delivers it; false: silent clips
    loras: tuple[LoraSpec, ...] = ()  # [{ path = "…", scale = 1.0, weight_name = "…" }, …], fused at load
    cache: str = ""  # step caching for this model; "": [render] cache, but off for a few-step model
    scheduler_shift: float = 0.0  # flow-matching shift (few-step LoRAs name theirs); 0: the preset's


LORA_KEYS = ("path", "scale", "weight_name")
MAX_LORA_SCALE = 4.0  # beyond this a LoRA wrecks the model rather than steers it


@dataclass(frozen=True)
class RenderConfig:
    keep_loaded: tuple[str, ...] = ()  # models that stay in memory together; others are freed on a switch
    max_model_wait_s: float = 120.0  # a job waits at most this long for the loaded model's queue to drain
    # Batching: jobs of one model and shape that fair order put next share one pipeline call.
    max_batch: int = 0  # at most this many clips per call; 0 = auto: MAX_BATCH_CUDA on a GPU, 1 on the CPU
    batch_wait_ms: int = 50  # a lone job waits at most this long for company before it renders alone
    memory: str = "fast"  # fast | balanced (+ VAE slicing/tiling) | low (+ CPU offload, FP8 weights)
    compile: bool = False  # torch.compile the denoiser (its repeated blocks for the DiT families)
    cache: str = "off"  # off | first-block | pab: diffusers' step caching for Wan, LTX, CogVideoX
    cache_threshold: float = 0.1  # first-block: how little the first block's output may change to reuse
    warmup_steps: int = 2  # a render of this many steps right after loading; 0 = none


MEMORY_MODES = ("fast", "balanced", "low")  # each lower one saves memory at some speed
CACHE_MODES = ("off", "first-block", "pab")
MAX_BATCH_CUDA = 4  # auto batch size on a GPU
MAX_BATCH_LIMIT = 32


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
    if render.cache == "first-block" and render.max_batch > 1:
        return '[render] cache = "first-block"', (
            "renders one clip per call (its skip decision would be one for the whole batch); "
            "set max_batch = 0"
        )
    if render.cache == "pab" and "wan" in set(families):
        return '[render] cache = "pab"', (
            "does not work for Wan, which calls the transformer twice a step: PAB would reuse the "
            'conditional pass\'s attention for the unconditional one; use cache = "first-block" or "off"'
        )
    return None


@dataclass(frozen=True)
class VideoConfig:
    width: int = 256
    height: int = 256
    fps: int = 8
    default_frames: int = 16
    min_frames: int = 8
    max_frames: int = 32
    default_steps: int = 25
    min_steps: int = 1
    max_steps: int = 50
    default_guidance: float = 9.0
    min_guidance: float = 1.0
    max_guidance: float = 20.0
    max_prompt_chars: int = 300
    default_negative: str = ""
    forced_negative: str = ""
    crf: int = 23
    hash_prompt_in_metadata: bool = False
    watermark: str = ""  # a short visible mark burned into every frame ("AI"); "" = none
    watermark_position: str = "bottom-right"
    max_image_mb: int = 20  # a picture to animate, at most (Telegram lets bots download 20 MB)
    max_extended_s: float = 20.0  # an extended clip's whole length, at most (docs/extend.md)


# A picture's own bounds (beside [video] max_image_mb): Pillow's decompression-bomb limit is
# set to MAX_PICTURE_PIXELS on purpose, and anything past these sides is refused unread.
MAX_PICTURE_PIXELS = 40_000_000
MAX_PICTURE_SIDE = 12_000
MIN_PICTURE_SIDE = 16
MAX_PICTURE_ASPECT = 8.0  # a 1×8 strip is still a picture; a 1×100 one is not
MAX_IMAGE_MB_LIMIT = 200


@dataclass(frozen=True)
class StorageConfig:
    dir: str = "./data"
    keep_clips_hours: int = 72
    keep_jobs_days: int = 30
    keep_audit_days: int = 180
    busy_timeout_ms: int = 50  # the bot waits this long for another process's lock, then retries later


@dataclass(frozen=True)
class ProvenanceConfig:
    cert_chain: str = ""  # PEM chain (signing certificate first); "" = the bot's own, made at first start
    private_key: str = ""  # its EC P-256 private key, PEM, unencrypted
    max_verify_mb: int = 20  # largest clip people may send back to be checked (Telegram bots: 20 MB)
    verify_threads: int = 1  # threads that read files people send (their own pool: renders never wait)
    verify_backlog: int = 4  # checks that may wait for one; past it people are asked to try later
    verify_every_s: float = 20.0  # one check per person this often
    verify_timeout_s: float = 30.0  # a check taking longer is answered "took too long"


@dataclass(frozen=True)
class QueueConfig:
    max_attempts: int = 3
    max_total: int = 500  # jobs waiting at once, everyone's together; past it "the queue is full"
    progress_interval_s: float = 3.0
    group_progress_interval_s: float = 10.0
    delivery_tries: int = 3  # uploads tried at once before the clip waits for the next round
    redeliver_every_s: float = 30.0  # how often clips that could not be sent are tried again
    busy_group_jobs: int = 3  # a group with this many unfinished jobs shares one board message
    board_interval_s: float = 6.0  # a busy group's board is edited at most this often
    delivery_rounds: int = 10  # rounds (30 s, 1 min, 2 min … at most 1 h apart) before giving up
    model_retry_s: float = 60.0  # how often a model that failed to load is tried again
    model_missing_wait_s: float = 900.0  # a job for a model that cannot load fails (refunded) after this
    # Where jobs render: "local" (in this process) or "saq" (`videobot worker` processes through Redis).
    backend: str = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    heartbeat_s: float = 10.0  # a remote job silent this long counts as lost (its worker died)
    sweep_s: float = 5.0  # how often lost jobs are looked for and retried on another worker
    poll_s: float = 0.5  # how often the bot reads its remote jobs' progress from Redis
    job_timeout_s: int = 3600  # a remote render running longer than this is stopped; 0: no limit
    upload_listen: str = "127.0.0.1"  # where the bot takes clips from workers (HTTP PUT)
    upload_port: int = 8765
    upload_url: str = ""  # how workers reach that endpoint; empty: http://<upload_listen>:<upload_port>
    upload_timeout_s: float = 300.0  # a worker retries an upload this long (the bot restarting)
    max_upload_mb: int = 200  # largest clip a worker may upload (bigger bodies are refused unread)
    upload_body_s: float = 120.0  # an upload's body must arrive within this (slow senders are cut off)
    max_upload_connections: int = 64  # open connections on the upload port, per worker address


@dataclass(frozen=True)
class ChallengeConfig:
    default_duration_s: int = 24 * 3600
    min_duration_s: int = 60
    max_duration_s: int = 30 * 24 * 3600
    default_max_entries: int = 1
    max_entries: int = 10
    max_theme_chars: int = 200
    vote_label_interval_s: float = 3.0  # vote-count button edits, at most one per entry this often
    check_every_s: float = 60.0  # deadlines re-check the clock this often (it may jump)


@dataclass(frozen=True)
class QuotaConfig:
    daily: int = 20
    reset_hour: int = 0
    timezone: str = "UTC"
    max_queued: int = 3
    per_minute: float = 2.0
    burst: int = 3


@dataclass(frozen=True)
class AdminConfig:
    owners: tuple[str, ...] = ()
    admin_roles: tuple[str, ...] = ()
    priority_roles: tuple[str, ...] = ()
    owners_first: bool = True


@dataclass(frozen=True)
class PolicyConfig:
    blocked_words: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = ()
    protected_names: tuple[str, ...] = ()
    faces: str = "refuse"  # a picture showing a real person's face: "refuse" | "owners" | "allow"


FACE_POLICIES = ("refuse", "owners", "allow")


@dataclass(frozen=True)
class TelegramConfig:
    enabled: bool = False
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    max_upload_mb: int = 50
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"  # behind the owner's TLS proxy; "0.0.0.0" to face the internet
    webhook_port: int = 8443
    poll_timeout_s: int = 30
    max_retries: int = 3
    admin_cache_s: float = 60.0  # how long "is this user a chat admin" is remembered
    admin_cache_max: int = 4096  # (chat, user) answers remembered at most; the oldest go first


@dataclass(frozen=True)
class DiscordConfig:
    enabled: bool = False
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    test_guild_id: int = 0
    max_upload_mb: int = 10


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = False
    host: str = "127.0.0.1"  # behind the owner's TLS proxy; "0.0.0.0" to face the network
    port: int = 8080
    public_url: str = ""  # how people reach it ("https://videos.example.org"); links in chat replies
    gallery_size: int = 24  # clips on the front page
    admin_session_hours: float = 12.0  # how long an /admin login lasts


@dataclass(frozen=True)
class WorkerConfig:
    """`videobot worker`: one job at a time on this machine's GPU."""

    models: tuple[str, ...] = ()  # model names it may load; empty: the default model
    name: str = ""  # how it appears in logs and in Redis; empty: host name and process id


WORKER_SECRET_ENV = "VIDEOBOT_WORKER_SECRET"
MIN_WORKER_SECRET_CHARS = 32  # `openssl rand -hex 16` is 32 characters


@dataclass(frozen=True)
class Secrets:
    telegram_token: str = ""
    discord_token: str = ""
    worker_secret: str = ""  # VIDEOBOT_WORKER_SECRET: signs clip uploads between workers and the bot
    admin_token: str = ""  # VIDEOBOT_ADMIN_TOKEN: the web side's /admin; empty = /admin is off


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    models: tuple[tuple[str, ModelEntry], ...] = ()  # [models.NAME] tables, in file order
    model_table: bool = False  # `models` is a lone [model] table, read as [models.default]
    render: RenderConfig = field(default_factory=RenderConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    video_keys_set: frozenset[str] = frozenset()  # [video] keys the file sets (they override families)
    storage: StorageConfig = field(default_factory=StorageConfig)
    provenance: ProvenanceConfig = field(default_factory=ProvenanceConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    quota: QuotaConfig = field(default_factory=QuotaConfig)
    challenges: ChallengeConfig = field(default_factory=ChallengeConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    web: WebConfig = field(default_factory=WebConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    secrets: Secrets = field(default_factory=Secrets)
    source: str = "<defaults>"

    def __post_init__(self) -> None:
        if not self.models:  # the old single [model] table is [models.default], from here on
            object.__setattr__(self, "models", ((LEGACY_MODEL_NAME, _legacy_entry(self.model)),))
            object.__setattr__(self, "model_table", True)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.dir)

    @property
    def worker_models(self) -> tuple[str, ...]:
        return self.worker.models or (self.default_model,)

    @property
    def upload_url(self) -> str:
        """Where workers PUT finished clips (the bot's endpoint)."""
        q = self.queue
        return (q.upload_url or f"http://{q.upload_listen}:{q.upload_port}").rstrip("/")

    @property
    def model_source(self) -> str:
        """The default model's weights: a local folder if set, else the hub id."""
        return self.model_settings[self.default_model].source

    @functools.cached_property
    def model_settings(self) -> dict[str, ModelSettings]:
        """Every configured model by name, in file order ([model] alone: one named "default")."""
        return {
            name: replace(_resolve(name, entry, self), legacy=self.model_table) for name, entry in self.models
        }

    @property
    def chat_platforms(self) -> frozenset[str]:
        """The chat platforms switched on: `videobot run` keeps trying to connect each."""
        on = (("telegram", self.telegram.enabled), ("discord", self.discord.enabled))
        return frozenset(name for name, enabled in on if enabled)

    @property
    def default_model(self) -> str:
        """The model `/video` uses unless told otherwise: the one marked default, else the first."""
        marked = [name for name, entry in self.models if entry.default]
        return marked[0] if marked else next(iter(self.model_settings))

    def model_named(self, name: str) -> ModelSettings:
        """A configured model, or a built-in tiny one (`tiny`, `tiny-wan` …) by its own name."""
        if name in self.model_settings:
            return self.model_settings[name]
        if name in TINY_PRESETS:
            return _resolve(name, ModelEntry(id=name), replace(self, video_keys_set=frozenset()))
        raise KeyError(name)

    def widest_limits(self) -> VideoConfig:
        """The loosest frame, step and guidance limits over every model: one range for a whole
        command (Discord's declared options, a chat's caps); each model's own still applies."""
        every = [settings.limits for settings in self.model_settings.values()]
        return replace(
            every[0],
            min_frames=min(v.min_frames for v in every),
            max_frames=max(v.max_frames for v in every),
            min_steps=min(v.min_steps for v in every),
            max_steps=max(v.max_steps for v in every),
            min_guidance=min(v.min_guidance for v in every),
            max_guidance=max(v.max_guidance for v in every),
        )


@dataclass(frozen=True)
class ModelSettings:
    """One model as the bot uses it: its preset (family rules, licence) and its limits."""

    name: str
    id: str
    path: str
    preset: Preset
    limits: VideoConfig
    device: str = "auto"
    cpu_offload: bool = False
    cpu_threads: int = 0
    legacy: bool = False  # from a lone [model] table
    audio: bool = True  # deliver the soundtrack of a family that makes one
    loras: tuple[LoraSpec, ...] = ()
    cache: str = ""  # explicit per-model step caching; "" = [render] cache unless few-step
    scheduler_shift: float = 0.0

    @property
    def key(self) -> str:
        """What a job stores, metrics label and manifests name: the model's name, or for a lone
        [model] its hub id (as before names existed; "default" would say nothing)."""
        return self.id if self.legacy else self.name

    @property
    def source(self) -> str:
        """What loading is given: a local folder if set, else the hub id (or a tiny name)."""
        return self.path or self.id

    @property
    def licence(self) -> str:
        return self.preset.licence

    @property
    def family(self) -> str:
        return self.preset.family.name

    @property
    def identity(self) -> ClipIdentity:
        """What clips of this model say made them (a folder is named by its hub id, when it has one)."""
        return self.preset.identity(self.key, self.id, recorded_loras(self.loras))

    def seconds(self, frames: int) -> float:
        return frames / self.limits.fps


def _legacy_entry(model: ModelConfig) -> ModelEntry:
    return ModelEntry(
        id=model.id,
        path=model.path,
        device=model.device,
        cpu_offload=model.cpu_offload,
        cpu_threads=model.cpu_threads,
    )


def _preset_for(name: str, entry: ModelEntry, source: str) -> Preset:
    where = f"[models.{name}]" if name != LEGACY_MODEL_NAME else "[model]"
    if entry.family and entry.family not in FAMILIES:
        raise ConfigError(f"{source}: {where} family {entry.family!r} is not one of {', '.join(FAMILIES)}")
    known = CATALOGUE.find(entry.id) if entry.id else None
    if known is not None and (not entry.family or entry.family == known.family.name):
        return known
    if entry.family:
        return preset_for_unknown(entry.id or entry.path, FAMILIES[entry.family])
    if not entry.id and not entry.path:
        raise ConfigError(f"{source}: {where} needs id (a hub id) or path (a folder)")
    raise ConfigError(
        f"{source}: {where} {entry.id or entry.path!r} is not a model videobot knows; "
        f"add family = one of {', '.join(FAMILIES)}"
    )


def _resolve(name: str, entry: ModelEntry, config: Config) -> ModelSettings:
    """Family defaults, then the [video] keys the file set, then this model's own keys."""
    preset = _preset_for(name, entry, config.source)
    video = config.video
    own: dict[str, Any] = {
        "width": preset.width,
        "height": preset.height,
        "fps": preset.fps,
        "default_frames": preset.frames,
        "min_frames": preset.family.frames.least if preset.family.frames.step > 1 else video.min_frames,
        "max_frames": preset.max_frames,
        "default_steps": preset.steps,
        "default_guidance": preset.guidance,
        "min_guidance": min(preset.min_guidance, preset.guidance),
    }
    if preset.tiny and preset.family.frames.any:
        own["min_frames"] = 2
    for key in MODEL_SHAPE_KEYS:
        if key in config.video_keys_set:
            own[key] = getattr(video, key)
    for key in MODEL_LIMIT_KEYS:
        value = getattr(entry, key)
        if value:
            own[key] = value
    limits = replace(video, **own)
    return ModelSettings(
        name=name,
        id=entry.id or entry.path,
        path=entry.path,
        preset=preset,
        limits=limits,
        device=entry.device,
        cpu_offload=entry.cpu_offload,
        cpu_threads=entry.cpu_threads,
        audio=entry.audio,
        loras=entry.loras,
        cache=entry.cache,
        scheduler_shift=entry.scheduler_shift or preset.scheduler_shift,
    )


T = TypeVar("T")


def _convert(value: Any, kind: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        (item_kind, _ellipsis) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} must be a list")
        return tuple(_convert(item, item_kind, key, source) for item in value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind in (int, float) and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{source}: {key} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _section(cls: type[T], raw: Any, name: str, source: str) -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {key!r} in [{name}] (known: {', '.join(sorted(known))})"
            )
    values = {key: _convert(raw[key], hints[key], f"[{name}] {key}", source) for key in raw}
    return cls(**values)


def _check(config: Config, require_tokens: bool) -> None:
    """Cross-field rules: ranges that would make the bot misbehave later."""
    src, v = config.source, config.video

    def need(ok: bool, key: str, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{src}: {key} {rule}")

    for settings in config.model_settings.values():
        _check_model(config, settings, need)
    unknown = [name for name in config.render.keep_loaded if name not in config.model_settings]
    need(not unknown, "[render] keep_loaded", f"names no configured model: {', '.join(unknown)}")
    r = config.render
    need(r.max_model_wait_s >= 0, "[render] max_model_wait_s", "must be >= 0")
    need(0 <= r.max_batch <= MAX_BATCH_LIMIT, "[render] max_batch", f"must be 0 (auto) to {MAX_BATCH_LIMIT}")
    need(0 <= r.batch_wait_ms <= 10_000, "[render] batch_wait_ms", "must be between 0 and 10000")
    need(r.memory in MEMORY_MODES, "[render] memory", f"must be one of {', '.join(MEMORY_MODES)}")
    need(r.cache in CACHE_MODES, "[render] cache", f"must be one of {', '.join(CACHE_MODES)}")
    need(0 < r.cache_threshold < 1, "[render] cache_threshold", "must be between 0 and 1")
    refused = refused_render_settings(r, {s.family for s in config.model_settings.values()})
    for model in config.model_settings.values():  # a model's own cache meets the same refusals
        if refused is None and model.cache:
            refused = refused_render_settings(replace(r, cache=model.cache), {model.family})
    need(refused is None, *(refused or ("", "")))
    need(0 <= r.warmup_steps <= 50, "[render] warmup_steps", "must be between 0 and 50")
    need(v.max_prompt_chars >= 1, "[video] max_prompt_chars", "must be at least 1")
    need(
        1 <= v.max_image_mb <= MAX_IMAGE_MB_LIMIT,
        "[video] max_image_mb",
        f"must be between 1 and {MAX_IMAGE_MB_LIMIT}",
    )
    need(0 < v.max_extended_s <= 600, "[video] max_extended_s", "must be between 0 and 600 seconds")
    need(0 <= v.crf <= 51, "[video] crf", "must be between 0 and 51")
    need(
        len(v.watermark) <= WATERMARK_MAX_CHARS and v.watermark.isprintable(),
        "[video] watermark",
        f"must be printable text of at most {WATERMARK_MAX_CHARS} characters",
    )
    need(
        v.watermark_position in WATERMARK_POSITIONS,
        "[video] watermark_position",
        f"must be one of {', '.join(WATERMARK_POSITIONS)}",
    )
    need(1 <= config.provenance.max_verify_mb <= 2000, "[provenance] max_verify_mb", "must be 1 to 2000")
    need(1 <= config.provenance.verify_threads <= 16, "[provenance] verify_threads", "must be 1 to 16")
    need(config.provenance.verify_backlog >= 0, "[provenance] verify_backlog", "must be >= 0")
    need(config.provenance.verify_every_s >= 0, "[provenance] verify_every_s", "must be >= 0")
    need(config.provenance.verify_timeout_s > 0, "[provenance] verify_timeout_s", "must be above 0")
    need(
        bool(config.provenance.cert_chain) == bool(config.provenance.private_key),
        "[provenance] cert_chain",
        "and private_key must be set together (or both left empty for the bot's own certificate)",
    )
    need(1 <= config.storage.busy_timeout_ms <= 60_000, "[storage] busy_timeout_ms", "must be 1 to 60000")
    for key in ("keep_clips_hours", "keep_jobs_days", "keep_audit_days"):
        need(getattr(config.storage, key) >= 1, f"[storage] {key}", "must be at least 1")
    need(config.queue.max_attempts >= 1, "[queue] max_attempts", "must be at least 1")
    need(config.queue.progress_interval_s >= 0, "[queue] progress_interval_s", "must be >= 0")
    need(config.queue.max_total >= 1, "[queue] max_total", "must be at least 1")
    need(config.queue.delivery_tries >= 1, "[queue] delivery_tries", "must be at least 1")
    need(config.queue.delivery_rounds >= 1, "[queue] delivery_rounds", "must be at least 1")
    need(config.queue.busy_group_jobs >= 1, "[queue] busy_group_jobs", "must be at least 1")
    need(config.queue.board_interval_s >= 0, "[queue] board_interval_s", "must be >= 0")
    for key in ("redeliver_every_s", "model_retry_s", "model_missing_wait_s",
                "heartbeat_s", "sweep_s", "poll_s", "upload_timeout_s"):  # fmt: skip
        need(getattr(config.queue, key) > 0, f"[queue] {key}", "must be above 0")
    q = config.queue
    need(q.backend in ("local", "saq"), "[queue] backend", f'{q.backend!r} is not "local" or "saq"')
    need(
        q.redis_url.startswith(("redis://", "rediss://", "unix://")),
        "[queue] redis_url",
        f"{q.redis_url!r} must start with redis://, rediss:// or unix://",
    )
    need(0 <= q.upload_port <= 65535, "[queue] upload_port", "must be a TCP port (0: any free one)")
    need(q.job_timeout_s >= 0, "[queue] job_timeout_s", "must be >= 0")
    need(
        not q.upload_url or q.upload_url.startswith(("http://", "https://")),
        "[queue] upload_url",
        "must start with http:// or https://",
    )
    if q.backend == "saq" and require_tokens:
        need(
            bool(config.secrets.worker_secret),
            "[queue] backend",
            f'is "saq" but the {WORKER_SECRET_ENV} environment variable is empty',
        )
    secret = config.secrets.worker_secret
    need(
        not secret or len(secret) >= MIN_WORKER_SECRET_CHARS,
        WORKER_SECRET_ENV,
        f"is too short: use at least {MIN_WORKER_SECRET_CHARS} random characters (openssl rand -hex 16)",
    )
    need(q.max_upload_mb >= 1, "[queue] max_upload_mb", "must be at least 1")
    need(q.upload_body_s > 0, "[queue] upload_body_s", "must be above 0")
    need(q.max_upload_connections >= 1, "[queue] max_upload_connections", "must be at least 1")
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
    need(c.max_theme_chars >= 1, "[challenges] max_theme_chars", "must be at least 1")
    for key in ("vote_label_interval_s", "check_every_s"):
        need(getattr(c, key) > 0, f"[challenges] {key}", "must be above 0")
    need(config.quota.daily >= 0, "[quota] daily", "must be >= 0")
    need(0 <= config.quota.reset_hour <= 23, "[quota] reset_hour", "must be between 0 and 23")
    need(config.quota.max_queued >= 1, "[quota] max_queued", "must be at least 1")
    need(config.quota.per_minute > 0, "[quota] per_minute", "must be above 0")
    need(config.quota.burst >= 1, "[quota] burst", "must be at least 1")
    from bot.moderation import PromptPolicy

    p = config.policy
    need(p.faces in FACE_POLICIES, "[policy] faces", f"must be one of {', '.join(FACE_POLICIES)}")
    try:
        PromptPolicy(p.blocked_words, p.blocked_patterns, p.protected_names)
    except ValueError as error:
        need(False, "[policy]", str(error))
    try:
        ZoneInfo(config.quota.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        need(False, "[quota] timezone", f"{config.quota.timezone!r} is not a known time zone")
    for owner in config.admin.owners:
        platform, _, user_id = owner.partition(":")
        need(
            (platform in ("telegram", "discord") and user_id.isascii() and user_id.isdigit())
            or (platform == "console" and bool(user_id)),
            "[admin] owners",
            f"entry {owner!r} must look like telegram:<id> or discord:<id>",
        )
    need(1 <= config.telegram.webhook_port <= 65535, "[telegram] webhook_port", "must be a TCP port")
    need(1 <= config.telegram.poll_timeout_s <= 600, "[telegram] poll_timeout_s", "must be 1 to 600")
    need(0 <= config.telegram.max_retries <= 10, "[telegram] max_retries", "must be 0 to 10")
    need(config.telegram.admin_cache_max >= 1, "[telegram] admin_cache_max", "must be at least 1")
    need(config.telegram.max_upload_mb >= 1, "[telegram] max_upload_mb", "must be at least 1")
    need(config.discord.max_upload_mb >= 1, "[discord] max_upload_mb", "must be at least 1")
    w = config.web
    need(1 <= w.port <= 65535, "[web] port", "must be a TCP port")
    need(bool(w.host.strip()), "[web] host", "must not be empty")
    need(
        w.public_url == "" or re.fullmatch(r"https?://[^\s/]+(/\S*)?", w.public_url) is not None,
        "[web] public_url",
        f"{w.public_url!r} must start with http:// or https:// (or be empty)",
    )
    need(1 <= w.gallery_size <= 200, "[web] gallery_size", "must be 1 to 200")
    need(w.admin_session_hours > 0, "[web] admin_session_hours", "must be above 0")
    token = config.secrets.admin_token
    if token and len(token) < 16 and require_tokens:  # the environment's, not the file's
        raise ConfigError(
            "VIDEOBOT_ADMIN_TOKEN (in the environment) is too short to guard /admin: use at least "
            "16 characters (or leave it empty to turn /admin off)"
        )
    if config.telegram.enabled and require_tokens:
        need(
            bool(config.secrets.telegram_token),
            "[telegram] enabled",
            "is true but the TELEGRAM_TOKEN environment variable is empty",
        )
    if config.discord.enabled and require_tokens:
        need(
            bool(config.secrets.discord_token),
            "[discord] enabled",
            "is true but the DISCORD_TOKEN environment variable is empty",
        )


def _check_model(config: Config, settings: ModelSettings, need: Callable[[bool, str, str], None]) -> None:
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
    need(
        not settings.cache or settings.cache in CACHE_MODES,
        f"{where} cache",
        f"must be one of {', '.join(CACHE_MODES)}",
    )
    need(0 <= settings.scheduler_shift <= 20, f"{where} scheduler_shift", "must be between 0 and 20")
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
    rule = preset.family.frames
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


def _lora_specs(raw: Any, name: str, source: str) -> tuple[LoraSpec, ...]:
    """`loras = [{ path = "…", scale = 1.0 }, …]` → specs, each key checked."""
    where = f"[models.{name}] loras"
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigError(f'{source}: {where} must be a list of tables like {{ path = "…", scale = 1.0 }}')
    if len(raw) > MAX_LORAS:
        raise ConfigError(f"{source}: {where} lists {len(raw)} LoRAs; at most {MAX_LORAS}")
    specs = []
    for item in raw:
        unknown = set(item) - set(LORA_KEYS)
        if unknown or not isinstance(item.get("path"), str) or not item["path"]:
            raise ConfigError(f"{source}: {where}: each needs path (and may have scale, weight_name)")
        spec = _section(LoraSpec, item, f"models.{name}.loras", source)
        if not -MAX_LORA_SCALE <= spec.scale <= MAX_LORA_SCALE:
            raise ConfigError(f"{source}: {where}: scale {spec.scale} must be between -4 and 4")
        specs.append(spec)
    return tuple(specs)


def _model_tables(raw: dict[str, Any], source: str) -> tuple[tuple[str, ModelEntry], ...]:
    """`[models.NAME]` tables → entries; `[model]` may then hold only device settings."""
    tables = raw.pop("models", None)
    if tables is None:
        return ()
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{source}: [models] must hold tables like [models.ms]")
    legacy = raw.get("model", {})
    if isinstance(legacy, dict) and {"id", "path"} & set(legacy):
        raise ConfigError(
            f"{source}: [model] id/path and [models.NAME] both name models; "
            "move [model] into [models.default]"
        )
    entries = []
    for name, table in tables.items():
        if not MODEL_NAME.match(name) or (name in TINY_PRESETS and table.get("id", name) != name):
            raise ConfigError(
                f"{source}: [models.{name}] is not a usable name (lowercase letters, digits, - and _)"
            )
        table = dict(table) if isinstance(table, dict) else table
        loras = _lora_specs(table.pop("loras", []) if isinstance(table, dict) else [], name, source)
        entry = replace(_section(ModelEntry, table, f"models.{name}", source), loras=loras)
        entries.append((name, entry))
    marked = [name for name, entry in entries if entry.default]
    if len(marked) > 1:
        raise ConfigError(
            f"{source}: default = true is set for several models ({', '.join(marked)}); keep one"
        )
    return tuple(entries)


def parse_config(
    raw: dict[str, Any], source: str, env: typing.Mapping[str, str], *, require_tokens: bool = True
) -> Config:
    """Build a checked `Config` from already-parsed TOML; tokens are needed only to serve chats."""
    raw = dict(raw)
    sections: dict[str, Any] = {"models": _model_tables(raw, source)}
    if isinstance(raw.get("video"), dict):
        sections["video_keys_set"] = frozenset(raw["video"]) & frozenset(MODEL_LIMIT_KEYS)
    hints = typing.get_type_hints(Config)
    for name, section in raw.items():
        kind = hints.get(name)
        if name in ("secrets", "source", "model_table") or kind is None or not is_dataclass(kind):
            hidden = ("secrets", "source", "video_keys_set", "model_table")
            known = [f.name for f in fields(Config) if f.name not in hidden]
            raise ConfigError(f"{source}: unknown section [{name}] (known: {', '.join(known)})")
        sections[name] = _section(kind, section, name, source)  # type: ignore[arg-type]
    secrets = Secrets(
        telegram_token=env.get("TELEGRAM_TOKEN", "").strip(),
        discord_token=env.get("DISCORD_TOKEN", "").strip(),
        admin_token=env.get("VIDEOBOT_ADMIN_TOKEN", "").strip(),
        worker_secret=env.get(WORKER_SECRET_ENV, "").strip(),
    )
    config = Config(**sections, secrets=secrets, source=source)
    _check(config, require_tokens)
    return config


def default_config_path(env: typing.Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(CONFIG_ENV) or "config.toml")


def load_config(
    path: Path | None = None, env: typing.Mapping[str, str] | None = None, *, require_tokens: bool = True
) -> Config:
    """Read `path` (default: $VIDEOBOT_CONFIG or ./config.toml); missing file → defaults."""
    env = os.environ if env is None else env
    path = path or default_config_path(env)
    if not path.exists():
        if path == default_config_path(env) and CONFIG_ENV not in env:
            return parse_config({}, "<defaults>", env, require_tokens=require_tokens)
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return parse_config(raw, str(path), env, require_tokens=require_tokens)
