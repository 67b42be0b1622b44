"""The whole configuration: one field per `config.toml` table, and what is derived from them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.pipelines.registry import TINY_PRESETS
from bot.settings.enhance import EnhanceConfig
from bot.settings.models import LEGACY_MODEL_NAME, ModelSettings, legacy_entry, resolve
from bot.settings.platforms import PLATFORMS
from bot.settings.sections import (
    AdminConfig,
    ChallengeConfig,
    DiscordConfig,
    ModelConfig,
    ModelEntry,
    PolicyConfig,
    PostConfig,
    ProvenanceConfig,
    QueueConfig,
    QuotaConfig,
    RenderConfig,
    Secrets,
    StorageConfig,
    TelegramConfig,
    VideoConfig,
    WebConfig,
    WorkerConfig,
)


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
    post: PostConfig = field(default_factory=PostConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    web: WebConfig = field(default_factory=WebConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)
    secrets: Secrets = field(default_factory=Secrets)
    source: str = "<defaults>"

    def __post_init__(self) -> None:
        if not self.models:  # the old single [model] table is [models.default], from here on
            object.__setattr__(self, "models", ((LEGACY_MODEL_NAME, legacy_entry(self.model)),))
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
            name: replace(self._resolve(name, entry, self.video_keys_set), legacy=self.model_table)
            for name, entry in self.models
        }

    def _resolve(self, name: str, entry: ModelEntry, video_keys_set: frozenset[str]) -> ModelSettings:
        return resolve(name, entry, self.video, video_keys_set, self.source)

    @property
    def chat_platforms(self) -> frozenset[str]:
        """The chat platforms switched on: `videobot run` keeps trying to connect each."""
        return frozenset(platform.name for platform in PLATFORMS if platform.enabled(self))

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
            return self._resolve(name, ModelEntry(id=name), frozenset())
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
