"""`config.toml` in: each table read into its dataclass with every key's type checked, the
`[models.NAME]` tables and their LoRAs, secrets from the environment, then every rule checked."""

from __future__ import annotations

import os
import tomllib
import typing
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bot.pipelines.loras import EXPERTS, MAX_LORAS, LoraSpec, weight_name_problem
from bot.pipelines.registry import TINY_PRESETS
from bot.settings.bounds import ConfigError
from bot.settings.checks import MODEL_NAME, check
from bot.settings.platforms import SECRET_ENVS
from bot.settings.root import Config
from bot.settings.sections import MODEL_LIMIT_KEYS, ModelEntry, Secrets

CONFIG_ENV = "VIDEOBOT_CONFIG"
LORA_KEYS = ("path", "scale", "weight_name", "expert")
MAX_LORA_SCALE = 4.0  # beyond this a LoRA wrecks the model rather than steers it


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
            raise ConfigError(f"{source}: {where}: each needs path (and may have scale, weight_name, expert)")
        spec = _section(LoraSpec, item, f"models.{name}.loras", source)
        if problem := weight_name_problem(spec.weight_name):
            raise ConfigError(f"{source}: {where}: {problem}")
        if not -MAX_LORA_SCALE <= spec.scale <= MAX_LORA_SCALE:
            raise ConfigError(f"{source}: {where}: scale {spec.scale} must be between -4 and 4")
        if spec.expert not in EXPERTS:
            raise ConfigError(
                f"{source}: {where}: expert {spec.expert!r} must be one of {', '.join(EXPERTS)}"
            )
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
    secrets = Secrets(**{name: env.get(variable, "").strip() for name, variable in SECRET_ENVS.items()})
    config = Config(**sections, secrets=secrets, source=source)
    check(config, require_tokens)
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
