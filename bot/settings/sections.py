"""Every `config.toml` table as a frozen dataclass: each key's type, default and bound on its field
(`setting(default, bound)`), its meaning in the comment beside it.  `bounds.check_bounds` reads
the bounds; rules between keys are named functions in `checks`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.pipelines.loras import LoraSpec
from bot.pipelines.spec import ASPECTS
from bot.settings.bounds import Bound, above, at_least, not_negative, one_of, setting, tcp_port, within
from bot.settings.platforms import is_owner_ref

DEFAULT_MODEL_ID = "damo-vilab/text-to-video-ms-1.7b"
WATERMARK_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
WATERMARK_MAX_CHARS = 24
MEMORY_MODES = ("fast", "balanced", "low")  # each lower one saves memory at some speed
CACHE_MODES = ("off", "first-block", "pab")
MAX_BATCH_CUDA = 4  # auto batch size on a GPU
MAX_BATCH_LIMIT = 32
MAX_IMAGE_MB_LIMIT = 200
FACE_POLICIES = ("refuse", "owners", "allow")
# The [video] keys a model's family sets its own defaults for; one set in [video] applies to every model.
MODEL_SHAPE_KEYS = ("width", "height", "fps", "default_frames", "min_frames", "max_frames",
                    "default_steps", "default_guidance", "min_guidance")  # fmt: skip
MODEL_LIMIT_KEYS = (*MODEL_SHAPE_KEYS, "min_steps", "max_steps", "max_guidance")


@dataclass(frozen=True)
class ModelConfig:
    id: str = DEFAULT_MODEL_ID
    path: str = ""
    device: str = "auto"
    cpu_offload: bool = False
    cpu_threads: int = 0  # torch threads for CPU renders; 0: every core but one (the chats')


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
    # step caching for this model; "": [render] cache, but off for a few-step model
    cache: str = setting(
        "", Bound(lambda v: not v or v in CACHE_MODES, f"must be one of {', '.join(CACHE_MODES)}")
    )
    # flow-matching shift (few-step LoRAs name theirs); 0: the preset's
    scheduler_shift: float = setting(0.0, within(0, 20))


@dataclass(frozen=True)
class RenderConfig:
    keep_loaded: tuple[str, ...] = ()  # models that stay in memory together; others are freed on a switch
    # a job waits at most this long for the loaded model's queue to drain
    max_model_wait_s: float = setting(120.0, not_negative())
    # Batching: jobs of one model and shape that fair order put next share one pipeline call.
    # at most this many clips per call; 0 = auto: MAX_BATCH_CUDA on a GPU, 1 on the CPU
    max_batch: int = setting(0, within(0, MAX_BATCH_LIMIT, f"must be 0 (auto) to {MAX_BATCH_LIMIT}"))
    batch_wait_ms: int = setting(50, within(0, 10_000))  # a lone job waits this long for company
    # fast | balanced (+ VAE slicing/tiling) | low (+ CPU offload, FP8 weights)
    memory: str = setting("fast", one_of(MEMORY_MODES))
    compile: bool = False  # torch.compile the denoiser (its repeated blocks for the DiT families)
    cache: str = setting("off", one_of(CACHE_MODES))  # diffusers' step caching for Wan, LTX, CogVideoX
    # first-block: how little the first block's output may change to reuse
    cache_threshold: float = setting(0.1, Bound(lambda v: 0 < v < 1, "must be between 0 and 1"))
    warmup_steps: int = setting(2, within(0, 50))  # a render of this many steps right after loading; 0 = none


def _watermark_ok(text: str) -> bool:
    return len(text) <= WATERMARK_MAX_CHARS and text.isprintable()


@dataclass(frozen=True)
class VideoConfig:
    """Shape and limit keys (width … max_guidance) are checked per model, against its family's rules
    (`checks.check_model`); the rest here."""

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
    max_prompt_chars: int = setting(300, at_least(1))
    default_negative: str = ""
    forced_negative: str = ""
    crf: int = setting(23, within(0, 51))
    hash_prompt_in_metadata: bool = False
    # a short visible mark burned into every frame ("AI"); "" = none
    watermark: str = setting(
        "", Bound(_watermark_ok, f"must be printable text of at most {WATERMARK_MAX_CHARS} characters")
    )
    watermark_position: str = setting("bottom-right", one_of(WATERMARK_POSITIONS))
    # a picture to animate, at most (Telegram lets bots download 20 MB)
    max_image_mb: int = setting(20, within(1, MAX_IMAGE_MB_LIMIT))
    # the model for a picture or a --loop that names none ("": the default if it can, else the first
    # configured model that can); checked against the models in `checks.check_picture_model`
    picture_model: str = ""
    # the shape of a clip that asks for none: "" (each model's own width and height) or an --aspect
    aspect: str = setting("", one_of(("", *ASPECTS)))
    # one new picture per person this often (checked before it is downloaded; a reroll is free of it)
    picture_every_s: float = setting(5.0, not_negative())
    # an extended clip's whole length, at most (docs/extend.md)
    max_extended_s: float = setting(20.0, Bound(lambda v: 0 < v <= 600, "must be between 0 and 600 seconds"))


SMOOTH_METHODS = ("auto", "rife", "minterpolate")  # auto: RIFE when its weights are on disk
HD_METHODS = ("auto", "spandrel", "ltx")  # auto: the LTX upsampler for LTX models, spandrel otherwise
MIN_SMOOTH_FPS = 12
MAX_SMOOTH_FPS = 60  # past this nobody sees a difference and clips only grow
MAX_HD_SIDE = 2048  # HD stops where a clip's longer side would pass this


@dataclass(frozen=True)
class PostConfig:
    """🎞 Smooth and 🔍 HD (docs/post.md): weights from `videobot pull post`, never at run time."""

    smooth: bool = False  # every new clip is followed by its smoothed one, as with --smooth
    hd: bool = False  # … and by its ×2 one, as with --hd
    # frames a second a smoothed clip aims at; always a whole multiple of the clip's, at least ×2
    smooth_fps: int = setting(24, within(MIN_SMOOTH_FPS, MAX_SMOOTH_FPS))
    smooth_method: str = setting("auto", one_of(SMOOTH_METHODS))
    hd_method: str = setting("auto", one_of(HD_METHODS))
    rife_repo: str = "Upsampler/rife-4-25"  # Practical-RIFE 4.25 (MIT) on the hub
    rife_file: str = "flownet.pkl"  # read with torch's weights-only unpickler; .safetensors preferred
    rife_path: str = ""  # a local IFNet file instead of the hub's (.safetensors or .pkl)
    upscaler_repo: str = "nateraw/real-esrgan"  # any ×2/×4 image model spandrel knows
    upscaler_file: str = "RealESRGAN_x2plus.pth"  # Real-ESRGAN ×2 (BSD-3)
    upscaler_path: str = ""  # a local file instead (.safetensors, .pth)
    # hub id or folder in diffusers' layout (a latent_upsampler/ sub-folder)
    ltx_upsampler: str = "Lightricks/ltxv-spatial-upscaler-0.9.7"
    free: bool = False  # true: a post step costs no quota


@dataclass(frozen=True)
class StorageConfig:
    dir: str = "./data"
    keep_clips_hours: int = setting(72, at_least(1))
    keep_jobs_days: int = setting(30, at_least(1))
    keep_audit_days: int = setting(180, at_least(1))
    # the bot waits this long for another process's lock, then retries later
    busy_timeout_ms: int = setting(50, within(1, 60_000, "must be 1 to 60000"))


@dataclass(frozen=True)
class ProvenanceConfig:
    cert_chain: str = ""  # PEM chain (signing certificate first); "" = the bot's own, made at first start
    private_key: str = ""  # its EC P-256 private key, PEM, unencrypted
    # largest clip people may send back to be checked (Telegram bots: 20 MB)
    max_verify_mb: int = setting(20, within(1, 2000, "must be 1 to 2000"))
    # threads that read files people send (their own pool: renders never wait)
    # (and pictures to animate; two, so one person's hostile file never holds up another's check)
    verify_threads: int = setting(2, within(1, 16, "must be 1 to 16"))
    verify_backlog: int = setting(4, not_negative())  # checks that may wait; past it: "try later"
    verify_every_s: float = setting(20.0, not_negative())  # one check per person this often
    verify_timeout_s: float = setting(30.0, above(0))  # a check taking longer is answered "took too long"


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class QueueConfig:
    max_attempts: int = setting(3, at_least(1))
    max_total: int = setting(
        500, at_least(1)
    )  # jobs waiting at once, everyone's; past it "the queue is full"
    progress_interval_s: float = setting(3.0, not_negative())
    group_progress_interval_s: float = 10.0
    delivery_tries: int = setting(3, at_least(1))  # uploads tried at once before the clip waits a round
    # the wait before each of those tries after a failure: this, then twice it, four times …
    delivery_backoff_s: float = setting(0.5, within(0, 60, "must be 0 to 60"))
    redeliver_every_s: float = setting(30.0, above(0))  # how often unsent clips are tried again
    busy_group_jobs: int = setting(3, at_least(1))  # a group with this many unfinished jobs shares a board
    board_interval_s: float = setting(
        6.0, not_negative()
    )  # a busy group's board is edited at most this often
    delivery_rounds: int = setting(
        10, at_least(1)
    )  # rounds (30 s, 1 min, 2 min … ≤ 1 h apart) before giving up
    model_retry_s: float = setting(60.0, above(0))  # how often a model that failed to load is tried again
    # a job for a model that cannot load fails (refunded) after this
    model_missing_wait_s: float = setting(900.0, above(0))
    # Where jobs render: "local" (in this process) or "saq" (`videobot worker` processes through Redis).
    backend: str = setting(
        "local", Bound(lambda v: v in ("local", "saq"), lambda v: f'{v!r} is not "local" or "saq"')
    )
    redis_url: str = setting(
        "redis://127.0.0.1:6379/0",
        Bound(
            lambda v: v.startswith(REDIS_SCHEMES),
            lambda v: f"{v!r} must start with redis://, rediss:// or unix://",
        ),
    )
    heartbeat_s: float = setting(10.0, above(0))  # a remote job silent this long counts as lost (worker died)
    sweep_s: float = setting(5.0, above(0))  # how often lost jobs are looked for and retried elsewhere
    poll_s: float = setting(0.5, above(0))  # how often the bot reads its remote jobs' progress from Redis
    job_timeout_s: int = setting(
        3600, not_negative()
    )  # a remote render running longer is stopped; 0: no limit
    upload_listen: str = "127.0.0.1"  # where the bot takes clips from workers (HTTP PUT)
    upload_port: int = setting(8765, tcp_port(any_free=True))
    # how workers reach that endpoint; empty: http://<upload_listen>:<upload_port>
    upload_url: str = setting(
        "",
        Bound(
            lambda v: not v or v.startswith(("http://", "https://")), "must start with http:// or https://"
        ),
    )
    upload_timeout_s: float = setting(
        300.0, above(0)
    )  # a worker retries an upload this long (bot restarting)
    # largest clip a worker may upload (bigger bodies are refused unread)
    max_upload_mb: int = setting(200, at_least(1))
    upload_body_s: float = setting(120.0, above(0))  # an upload's body must arrive within this
    max_upload_connections: int = setting(64, at_least(1))  # open connections on the upload port, per worker


@dataclass(frozen=True)
class ChallengeConfig:
    default_duration_s: int = 24 * 3600
    min_duration_s: int = 60
    max_duration_s: int = 30 * 24 * 3600
    default_max_entries: int = 1
    max_entries: int = 10
    max_theme_chars: int = setting(200, at_least(1))
    vote_label_interval_s: float = setting(3.0, above(0))  # vote-count button edits, one per entry this often
    check_every_s: float = setting(60.0, above(0))  # deadlines re-check the clock this often (it may jump)


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class QuotaConfig:
    daily: int = setting(20, not_negative())
    reset_hour: int = setting(0, within(0, 23))
    timezone: str = setting("UTC", Bound(_known_zone, lambda v: f"{v!r} is not a known time zone"))
    max_queued: int = setting(3, at_least(1))
    per_minute: float = setting(2.0, above(0))
    burst: int = setting(3, at_least(1))


def _bad_owner(owners: tuple[str, ...]) -> str | None:
    """The first `[admin] owners` entry that is not telegram:<id>, discord:<id> or console:<name>."""
    return next((owner for owner in owners if not is_owner_ref(owner)), None)


@dataclass(frozen=True)
class AdminConfig:
    owners: tuple[str, ...] = setting(
        (),
        Bound(
            lambda v: _bad_owner(v) is None,
            lambda v: f"entry {_bad_owner(v)!r} must look like telegram:<id> or discord:<id>",
        ),
    )
    admin_roles: tuple[str, ...] = ()
    priority_roles: tuple[str, ...] = ()
    owners_first: bool = True


@dataclass(frozen=True)
class PolicyConfig:
    blocked_words: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = ()
    protected_names: tuple[str, ...] = ()
    # a picture showing a real person's face: "refuse" | "owners" | "allow"
    faces: str = setting("refuse", one_of(FACE_POLICIES))


@dataclass(frozen=True)
class TelegramConfig:
    enabled: bool = False
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    max_upload_mb: int = setting(50, at_least(1))
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"  # behind the owner's TLS proxy; "0.0.0.0" to face the internet
    webhook_port: int = setting(8443, tcp_port())
    poll_timeout_s: int = setting(30, within(1, 600, "must be 1 to 600"))
    max_retries: int = setting(3, within(0, 10, "must be 0 to 10"))
    # Telegram's budget for one group (20 messages a minute); 0 lifts it, for a test server only
    group_per_min: int = setting(20, within(0, 6000, "must be 0 to 6000"))
    admin_cache_s: float = 60.0  # how long "is this user a chat admin" is remembered
    admin_cache_max: int = setting(4096, at_least(1))  # (chat, user) answers remembered; the oldest go first


@dataclass(frozen=True)
class DiscordConfig:
    enabled: bool = False
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    test_guild_id: int = 0
    max_upload_mb: int = setting(10, at_least(1))


def _public_url_ok(url: str) -> bool:
    return url == "" or re.fullmatch(r"https?://[^\s/]+(/\S*)?", url) is not None


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = False
    # behind the owner's TLS proxy; "0.0.0.0" to face the network
    host: str = setting("127.0.0.1", Bound(lambda v: bool(v.strip()), "must not be empty"))
    port: int = setting(8080, tcp_port())
    # how people reach it ("https://videos.example.org"); links in chat replies
    public_url: str = setting(
        "", Bound(_public_url_ok, lambda v: f"{v!r} must start with http:// or https:// (or be empty)")
    )
    gallery_size: int = setting(24, within(1, 200, "must be 1 to 200"))  # clips on the front page
    admin_session_hours: float = setting(12.0, above(0))  # how long an /admin login lasts


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
