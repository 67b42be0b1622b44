"""Settings: `config.toml` read into frozen dataclasses, secrets from the environment.

The face of `bot.settings`, where the rooms are: `sections` holds each table's keys with their
types, defaults and bounds on the fields; `bounds` the one checker that reads them; `checks` the
rules between keys; `models` a model's resolved settings; `root` the whole `Config`; `loading`
the TOML in.  A wrong key, type or value raises `ConfigError` whose message is one line naming
the key and the file; the command line prints it and exits, so the owner never sees a traceback.
"""

from __future__ import annotations

from bot.pipelines.spec import MAX_PICTURE_ASPECT as MAX_PICTURE_ASPECT
from bot.pipelines.spec import MAX_PICTURE_PIXELS as MAX_PICTURE_PIXELS
from bot.pipelines.spec import MAX_PICTURE_SIDE as MAX_PICTURE_SIDE
from bot.pipelines.spec import MIN_PICTURE_SIDE as MIN_PICTURE_SIDE
from bot.settings.bounds import ConfigError as ConfigError
from bot.settings.checks import MODEL_NAME as MODEL_NAME
from bot.settings.checks import refused_render_settings as refused_render_settings
from bot.settings.enhance import ENHANCE_MODES as ENHANCE_MODES
from bot.settings.enhance import TINY_WRITER as TINY_WRITER
from bot.settings.enhance import EnhanceConfig as EnhanceConfig
from bot.settings.loading import CONFIG_ENV as CONFIG_ENV
from bot.settings.loading import LORA_KEYS as LORA_KEYS
from bot.settings.loading import MAX_LORA_SCALE as MAX_LORA_SCALE
from bot.settings.loading import default_config_path as default_config_path
from bot.settings.loading import load_config as load_config
from bot.settings.loading import parse_config as parse_config
from bot.settings.models import LEGACY_MODEL_NAME as LEGACY_MODEL_NAME
from bot.settings.models import ModelSettings as ModelSettings
from bot.settings.platforms import PLATFORMS as PLATFORMS
from bot.settings.platforms import PLATFORMS_BY_NAME as PLATFORMS_BY_NAME
from bot.settings.platforms import Platform as Platform
from bot.settings.platforms import redact as redact
from bot.settings.platforms import user_ref_pattern as user_ref_pattern
from bot.settings.root import Config as Config
from bot.settings.sections import CACHE_MODES as CACHE_MODES
from bot.settings.sections import DEFAULT_MODEL_ID as DEFAULT_MODEL_ID
from bot.settings.sections import FACE_POLICIES as FACE_POLICIES
from bot.settings.sections import MAX_BATCH_CUDA as MAX_BATCH_CUDA
from bot.settings.sections import MAX_BATCH_LIMIT as MAX_BATCH_LIMIT
from bot.settings.sections import MAX_HD_SIDE as MAX_HD_SIDE
from bot.settings.sections import MAX_IMAGE_MB_LIMIT as MAX_IMAGE_MB_LIMIT
from bot.settings.sections import MAX_SMOOTH_FPS as MAX_SMOOTH_FPS
from bot.settings.sections import MEMORY_MODES as MEMORY_MODES
from bot.settings.sections import MIN_WORKER_SECRET_CHARS as MIN_WORKER_SECRET_CHARS
from bot.settings.sections import MODEL_LIMIT_KEYS as MODEL_LIMIT_KEYS
from bot.settings.sections import MODEL_SHAPE_KEYS as MODEL_SHAPE_KEYS
from bot.settings.sections import WATERMARK_MAX_CHARS as WATERMARK_MAX_CHARS
from bot.settings.sections import WATERMARK_POSITIONS as WATERMARK_POSITIONS
from bot.settings.sections import WORKER_SECRET_ENV as WORKER_SECRET_ENV
from bot.settings.sections import AdminConfig as AdminConfig
from bot.settings.sections import ChallengeConfig as ChallengeConfig
from bot.settings.sections import DiscordConfig as DiscordConfig
from bot.settings.sections import ModelConfig as ModelConfig
from bot.settings.sections import ModelEntry as ModelEntry
from bot.settings.sections import PolicyConfig as PolicyConfig
from bot.settings.sections import PostConfig as PostConfig
from bot.settings.sections import ProvenanceConfig as ProvenanceConfig
from bot.settings.sections import QueueConfig as QueueConfig
from bot.settings.sections import QuotaConfig as QuotaConfig
from bot.settings.sections import RenderConfig as RenderConfig
from bot.settings.sections import Secrets as Secrets
from bot.settings.sections import StorageConfig as StorageConfig
from bot.settings.sections import TelegramConfig as TelegramConfig
from bot.settings.sections import VideoConfig as VideoConfig
from bot.settings.sections import WebConfig as WebConfig
from bot.settings.sections import WorkerConfig as WorkerConfig
